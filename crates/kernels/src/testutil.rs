//! Deterministic pseudo-random data and closeness checks for kernel tests.

/// xorshift64*: reproducible, dependency-free test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [-1, 1).
    pub fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f32()).collect()
    }
}

/// Integer weights with their zero point removed, of one of three kinds by `kind % 3`: int8
/// (-128..=127), uint8 minus a random zero point (256 values somewhere in -255..=255), or any of
/// -255..=255 (wider than either, for the general paths).
pub fn quant_weights(rng: &mut Rng, n: usize, kind: u64) -> Vec<i16> {
    let zero_point = (rng.next_u64() % 256) as i16;
    (0..n)
        .map(|_| match kind % 3 {
            0 => (rng.next_u64() % 256) as i16 - 128,
            1 => (rng.next_u64() % 256) as i16 - zero_point,
            _ => (rng.next_u64() % 511) as i16 - 255,
        })
        .collect()
}

/// Requantization of a test case: both roundings in turn (`seed / 2`, so that it does not follow
/// the ReLU6 choice of `seed % 2`).
pub fn rounding(seed: u64) -> crate::q8::Rounding {
    if (seed / 2).is_multiple_of(2) { crate::q8::Rounding::HalfUp } else { crate::q8::Rounding::AwayFromZero }
}

/// Asserts |a - b| <= tol * (1 + |b|) elementwise, naming the first index that differs.
pub fn assert_close(a: &[f32], b: &[f32], tol: f32, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{what}: index {i}: {x} vs reference {y}");
    }
}

/// The padding of the `seed`th random shape: every third one PyTorch's symmetric padding.
pub fn padding_for(seed: u64) -> crate::Padding {
    if seed.is_multiple_of(3) { crate::Padding::Symmetric } else { crate::Padding::Same }
}
