//! Key and value generation.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::Distribution;

/// Formats key number `k` as a fixed-size key: zero-padded decimal, like db_bench.
pub fn key(k: u64, size: usize) -> Vec<u8> {
    let digits = format!("{k:0width$}", width = size).into_bytes();
    digits[digits.len() - size..].to_vec()
}

/// Picks key numbers in `[0, n)` uniformly or Zipf-distributed.
pub struct KeyGen {
    rng: StdRng,
    n: u64,
    zipf: Option<Zipf>,
}

impl KeyGen {
    pub fn new(seed: u64, n: u64, dist: Distribution) -> Self {
        let zipf = (dist == Distribution::Zipfian).then(|| Zipf::new(n, 0.99));
        KeyGen { rng: StdRng::seed_from_u64(seed), n: n.max(1), zipf }
    }

    pub fn next(&mut self) -> u64 {
        match &self.zipf {
            Some(z) => {
                let u: f64 = self.rng.random();
                // Scatter hot ranks over the key space so they do not cluster at the start.
                z.sample(u).wrapping_mul(0x9E37_79B9_7F4A_7C15) % self.n
            }
            None => self.rng.random_range(0..self.n),
        }
    }
}

/// Zipfian sampling by Gray et al.'s method (as YCSB does).
struct Zipf {
    n: f64,
    theta: f64,
    alpha: f64,
    zetan: f64,
    eta: f64,
}

impl Zipf {
    fn new(n: u64, theta: f64) -> Self {
        let zeta = |n: u64| (1..=n.min(10_000_000)).map(|i| 1.0 / (i as f64).powf(theta)).sum::<f64>();
        let zetan = zeta(n);
        let zeta2 = zeta(2);
        let nf = n as f64;
        let eta = (1.0 - (2.0 / nf).powf(1.0 - theta)) / (1.0 - zeta2 / zetan);
        Zipf { n: nf, theta, alpha: 1.0 / (1.0 - theta), zetan, eta }
    }

    fn sample(&self, u: f64) -> u64 {
        let uz = u * self.zetan;
        if uz < 1.0 {
            return 0;
        }
        if uz < 1.0 + 0.5f64.powf(self.theta) {
            return 1;
        }
        (self.n * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64
    }
}

/// A pool of random value bytes; values are windows into it (half-compressible, like
/// db_bench's default compression ratio of 0.5).
pub struct Values {
    pool: Vec<u8>,
    size: usize,
    pos: usize,
}

impl Values {
    pub fn new(seed: u64, size: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(seed ^ 0xdead_beef);
        let len = (1 << 20).max(size * 4);
        let mut pool = Vec::with_capacity(len);
        while pool.len() < len {
            let chunk: Vec<u8> = (0..50).map(|_| rng.random_range(b' '..=b'~')).collect();
            pool.extend_from_slice(&chunk);
            pool.extend_from_slice(&chunk);
        }
        Values { pool, size, pos: 0 }
    }

    pub fn next(&mut self) -> &[u8] {
        if self.pos + self.size > self.pool.len() {
            self.pos = 0;
        }
        let v = &self.pool[self.pos..self.pos + self.size];
        self.pos += self.size.max(1) % 97 + 1;
        v
    }
}
