//! Seeded randomness: one independent, portable stream per (seed, purpose), plus the skewed
//! distributions the generators draw from.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The generator RNG. ChaCha8 is portable: the same seed gives the same stream on every
/// platform and in every release of `rand_chacha`, which `StdRng` does not promise.
pub type GenRng = ChaCha8Rng;

/// A stream keyed by the run seed and a purpose label (a table name, a group index...), so
/// generators never share a stream and their output does not depend on scheduling.
pub fn stream(seed: u64, label: &str, index: u64) -> GenRng {
    GenRng::seed_from_u64(mix(seed, label, index))
}

/// A 64-bit hash of (seed, label, index): FNV-1a over the label, then SplitMix64 finalisation.
pub fn mix(seed: u64, label: &str, index: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in label.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    splitmix(splitmix(seed ^ h) ^ index)
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform f64 in [0, 1) that is a pure function of its inputs (no stream needed), for
/// per-entity flags every generator must agree on (is user 17 dormant?).
pub fn unit(seed: u64, label: &str, index: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let v = (mix(seed, label, index) >> 11) as f64;
    v / (1u64 << 53) as f64
}

/// Zipf-like sampler over ranks `0..n`: P(rank k) proportional to 1 / (k + 1)^s.
/// Inverse-CDF over a cumulative table: O(n) memory, O(log n) per draw.
#[derive(Debug, Clone)]
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    pub fn new(n: usize, exponent: f64) -> Self {
        let mut cdf = Vec::with_capacity(n);
        let mut total = 0.0;
        for k in 0..n {
            #[allow(clippy::cast_precision_loss)]
            let w = 1.0 / ((k + 1) as f64).powf(exponent);
            total += w;
            cdf.push(total);
        }
        for c in &mut cdf {
            *c /= total;
        }
        Self { cdf }
    }

    pub fn len(&self) -> usize {
        self.cdf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cdf.is_empty()
    }

    /// Draws a rank in `0..n`.
    pub fn sample(&self, rng: &mut GenRng) -> usize {
        let u: f64 = rng.random();
        self.cdf
            .partition_point(|&c| c < u)
            .min(self.cdf.len().saturating_sub(1))
    }
}

/// A standard normal draw (Box-Muller).
pub fn normal(rng: &mut GenRng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A log-normal count with the given median and spread, clamped to `[lo, hi]`.
pub fn lognormal_count(rng: &mut GenRng, median: f64, sigma: f64, lo: u64, hi: u64) -> u64 {
    let v = (median.ln() + sigma * normal(rng)).exp();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let n = v.round().max(0.0) as u64;
    n.clamp(lo, hi.max(lo))
}

/// A random permutation of `0..n` (Fisher-Yates), e.g. rank -> user.
pub fn permutation(rng: &mut GenRng, n: usize) -> Vec<u32> {
    #[allow(clippy::cast_possible_truncation)]
    let mut v: Vec<u32> = (0..n as u32).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        v.swap(i, j);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_independent() {
        let a: Vec<u32> = (0..4).map(|_| stream(7, "users", 0).random()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let x: u64 = stream(7, "users", 0).random();
        let y: u64 = stream(7, "posts", 0).random();
        let z: u64 = stream(8, "users", 0).random();
        assert_ne!(x, y);
        assert_ne!(x, z);
    }

    #[test]
    fn zipf_puts_most_mass_on_the_head() {
        let z = Zipf::new(1000, 1.1);
        let mut rng = stream(1, "zipf", 0);
        let draws = 20_000;
        let head = (0..draws).filter(|_| z.sample(&mut rng) < 10).count();
        // Exact head mass for s = 1.1, n = 1000 is about 0.45.
        assert!(head > draws * 35 / 100 && head < draws * 55 / 100, "{head}");
        assert!((0..1000).all(|_| z.sample(&mut rng) < 1000));
    }

    #[test]
    fn unit_is_in_range_and_pure() {
        for i in 0..1000 {
            let u = unit(3, "dormant", i);
            assert!((0.0..1.0).contains(&u));
            assert_eq!(u, unit(3, "dormant", i));
        }
    }

    #[test]
    fn permutation_is_a_permutation() {
        let mut p = permutation(&mut stream(1, "p", 0), 500);
        p.sort_unstable();
        assert!(p.iter().enumerate().all(|(i, &v)| v as usize == i));
    }
}
