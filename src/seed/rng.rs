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
///
/// Rejection-inversion (Hörmann and Derflinger, "Rejection-inversion to generate variates
/// from monotone discrete distributions", 1996): a continuous envelope whose integral can
/// be inverted in closed form, with a cheap acceptance test. O(1) memory whatever `n`, and
/// about one uniform per draw.
#[derive(Debug, Clone)]
pub struct Zipf {
    n: usize,
    s: f64,
    /// H(1.5) - 1 and H(n + 0.5): the ends of the envelope's integral.
    h_x1: f64,
    h_n: f64,
    /// Acceptance shortcut: any k with k - x <= `shortcut` is accepted outright.
    shortcut: f64,
}

impl Zipf {
    pub fn new(n: usize, exponent: f64) -> Self {
        let mut z = Self {
            n,
            s: exponent,
            h_x1: 0.0,
            h_n: 0.0,
            shortcut: 0.0,
        };
        z.h_x1 = z.h_integral(1.5) - 1.0;
        #[allow(clippy::cast_precision_loss)]
        let top = n as f64 + 0.5;
        z.h_n = z.h_integral(top);
        z.shortcut = 2.0 - z.h_integral_inverse(z.h_integral(2.5) - z.h(2.0));
        z
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The unnormalised density 1 / x^s.
    fn h(&self, x: f64) -> f64 {
        (-self.s * x.ln()).exp()
    }

    /// H(x) = integral of h: (x^(1-s) - 1) / (1 - s), or ln x when s = 1, computed
    /// without cancellation near s = 1.
    fn h_integral(&self, x: f64) -> f64 {
        let ln_x = x.ln();
        expm1_over_x((1.0 - self.s) * ln_x) * ln_x
    }

    fn h_integral_inverse(&self, y: f64) -> f64 {
        let t = (y * (1.0 - self.s)).max(-1.0);
        (ln1p_over_x(t) * y).exp()
    }

    /// Draws a rank in `0..n` (0 when `n` is 0).
    pub fn sample(&self, rng: &mut GenRng) -> usize {
        if self.n <= 1 {
            return 0;
        }
        #[allow(clippy::cast_precision_loss)]
        let top = self.n as f64;
        loop {
            let u: f64 = rng.random();
            let y = self.h_n + u * (self.h_x1 - self.h_n);
            let x = self.h_integral_inverse(y);
            let k = (x + 0.5).floor().clamp(1.0, top);
            if k - x <= self.shortcut || y >= self.h_integral(k + 0.5) - self.h(k) {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                return k as usize - 1;
            }
        }
    }
}

/// (e^x - 1) / x, continuous at 0.
fn expm1_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + x * 0.25))
    }
}

/// ln(1 + x) / x, continuous at 0.
fn ln1p_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - x * 0.25))
    }
}

/// A seeded bijection of `0..n` that needs no table: a four-round Feistel network over
/// the smallest even number of bits that covers `n`, with cycle-walking back into range.
/// Both directions cost a few hashes, so rank -> user and user -> rank need O(1) memory
/// at any scale.
#[derive(Debug, Clone)]
pub struct Permutation {
    n: u64,
    half: u32,
    keys: [u64; 4],
}

impl Permutation {
    pub fn new(seed: u64, label: &str, n: u32) -> Self {
        let bits = (64 - u64::from(n.max(2) - 1).leading_zeros()).max(2);
        let half = bits.div_ceil(2);
        let keys = [0, 1, 2, 3].map(|i| mix(seed, label, i));
        Self {
            n: u64::from(n),
            half,
            keys,
        }
    }

    fn round(&self, x: u64, key: u64) -> u64 {
        splitmix(x ^ key) & ((1u64 << self.half) - 1)
    }

    fn encrypt(&self, v: u64) -> u64 {
        let mask = (1u64 << self.half) - 1;
        let (mut l, mut r) = (v >> self.half, v & mask);
        for &k in &self.keys {
            (l, r) = (r, l ^ self.round(r, k));
        }
        (l << self.half) | r
    }

    fn decrypt(&self, v: u64) -> u64 {
        let mask = (1u64 << self.half) - 1;
        let (mut l, mut r) = (v >> self.half, v & mask);
        for &k in self.keys.iter().rev() {
            (l, r) = (r ^ self.round(l, k), l);
        }
        (l << self.half) | r
    }

    /// The image of `i` (< n).
    pub fn apply(&self, i: u32) -> u32 {
        let mut x = self.encrypt(u64::from(i));
        while x >= self.n {
            x = self.encrypt(x);
        }
        u32::try_from(x).unwrap_or(u32::MAX)
    }

    /// The `i` whose image is `j` (< n).
    pub fn invert(&self, j: u32) -> u32 {
        let mut x = self.decrypt(u64::from(j));
        while x >= self.n {
            x = self.decrypt(x);
        }
        u32::try_from(x).unwrap_or(u32::MAX)
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
    fn zipf_matches_its_exact_probabilities() {
        for s in [0.9, 1.0, 1.1] {
            let n = 20;
            let z = Zipf::new(n, s);
            let mut rng = stream(2, "zipf-exact", 0);
            let draws = 200_000;
            let mut counts = vec![0u32; n];
            for _ in 0..draws {
                counts[z.sample(&mut rng)] += 1;
            }
            let weights: Vec<f64> = (1..=n).map(|k| 1.0 / (k as f64).powf(s)).collect();
            let total: f64 = weights.iter().sum();
            for (k, (&c, w)) in counts.iter().zip(&weights).enumerate() {
                let expected = w / total;
                let got = f64::from(c) / f64::from(draws);
                assert!(
                    (got - expected).abs() < 0.01,
                    "s {s}, rank {k}: {got} vs {expected}"
                );
            }
        }
        assert_eq!(Zipf::new(1, 1.0).sample(&mut stream(1, "z", 0)), 0);
    }

    #[test]
    fn feistel_permutation_is_a_bijection_with_an_inverse() {
        for n in [1u32, 2, 3, 17, 1000, 1024, 1025, 4099] {
            let p = Permutation::new(9, "perm", n);
            let mut seen = vec![false; n as usize];
            for i in 0..n {
                let j = p.apply(i);
                assert!(j < n);
                assert!(!seen[j as usize], "n {n}: {j} twice");
                seen[j as usize] = true;
                assert_eq!(p.invert(j), i);
            }
        }
        // Another seed, another order.
        let (a, b) = (
            Permutation::new(1, "p", 1000),
            Permutation::new(2, "p", 1000),
        );
        assert!((0..1000).any(|i| a.apply(i) != b.apply(i)));
    }
}
