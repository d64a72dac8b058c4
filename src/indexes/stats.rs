//! The statistical verdict between two latency samples: a two-sided Mann-Whitney U test
//! (normal approximation with tie correction) — no assumption of normality, robust to the
//! long right tail of latencies — plus a minimum effect size on the medians, so that a
//! significant but negligible shift is still "no difference".

use serde::{Deserialize, Serialize};

/// Significance level of the test.
pub const ALPHA: f64 = 0.01;
/// Smallest median change that counts (5%).
pub const MIN_EFFECT: f64 = 0.05;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Faster,
    NoDifference,
    Slower,
    Baseline,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Self::Faster => "faster",
            Self::NoDifference => "no difference",
            Self::Slower => "slower",
            Self::Baseline => "baseline",
        }
    }
}

/// Two-sided p-value of the Mann-Whitney U test between `a` and `b`.
pub fn mann_whitney_p(a: &[u64], b: &[u64]) -> f64 {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return 1.0;
    }
    let mut all: Vec<(u64, bool)> = a
        .iter()
        .map(|&x| (x, true))
        .chain(b.iter().map(|&x| (x, false)))
        .collect();
    all.sort_by_key(|&(x, _)| x);
    let n = all.len();
    let (mut rank_sum_a, mut tie_term) = (0.0f64, 0.0f64);
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        #[allow(clippy::cast_precision_loss)]
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        #[allow(clippy::cast_precision_loss)]
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        rank_sum_a += all[i..=j].iter().filter(|e| e.1).count() as f64 * avg_rank;
        i = j + 1;
    }
    #[allow(clippy::cast_precision_loss)]
    let (n1f, n2f, nf) = (n1 as f64, n2 as f64, n as f64);
    let u = rank_sum_a - n1f * (n1f + 1.0) / 2.0;
    let mean = n1f * n2f / 2.0;
    let var = n1f * n2f / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)));
    if var <= 0.0 {
        return 1.0;
    }
    let z = (u - mean).abs() / var.sqrt();
    (2.0 * (1.0 - normal_cdf(z))).clamp(0.0, 1.0)
}

/// Standard normal CDF (Abramowitz-Stegun 7.1.26 erf approximation, |error| < 1.5e-7).
fn normal_cdf(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    let erf = if x >= 0.0 { erf } else { -erf };
    0.5 * (1.0 + erf)
}

/// Median of a sample.
pub fn median(v: &[u64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_unstable();
    let m = s.len() / 2;
    #[allow(clippy::cast_precision_loss)]
    if s.len().is_multiple_of(2) {
        (s[m - 1] as f64 + s[m] as f64) / 2.0
    } else {
        s[m] as f64
    }
}

/// Compares a candidate's sample with the baseline's: (median ratio, p-value, verdict).
pub fn compare(baseline: &[u64], candidate: &[u64]) -> (f64, f64, Verdict) {
    let ratio = median(candidate) / median(baseline).max(1e-9);
    let p = mann_whitney_p(baseline, candidate);
    let verdict = if p < ALPHA && ratio < 1.0 - MIN_EFFECT {
        Verdict::Faster
    } else if p < ALPHA && ratio > 1.0 + MIN_EFFECT {
        Verdict::Slower
    } else {
        Verdict::NoDifference
    };
    (ratio, p, verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_samples_are_no_difference() {
        let a: Vec<u64> = (100..200).collect();
        let (ratio, p, v) = compare(&a, &a);
        assert_eq!(v, Verdict::NoDifference);
        assert!((ratio - 1.0).abs() < 1e-9);
        assert!(p > 0.9, "{p}");
    }

    #[test]
    fn a_clear_shift_is_detected_both_ways() {
        let slow: Vec<u64> = (0..100).map(|i| 1000 + i * 3).collect();
        let fast: Vec<u64> = (0..100).map(|i| 500 + i * 3).collect();
        assert_eq!(compare(&slow, &fast).2, Verdict::Faster);
        assert_eq!(compare(&fast, &slow).2, Verdict::Slower);
        assert!(compare(&slow, &fast).1 < 1e-6);
    }

    #[test]
    fn a_tiny_significant_shift_is_no_difference() {
        let a: Vec<u64> = (0..400).map(|i| 1000 + i % 7).collect();
        let b: Vec<u64> = (0..400).map(|i| 1010 + i % 7).collect();
        assert_eq!(compare(&a, &b).2, Verdict::NoDifference);
    }

    #[test]
    fn normal_cdf_known_values() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.96) - 0.975).abs() < 1e-4);
    }
}
