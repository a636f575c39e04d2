//! TFLite's reference quantized softmax (`reference_ops::Softmax` for 8-bit input and output):
//! gemmlowp fixed-point exp of the scaled differences, a fixed-point reciprocal of their sum.

use super::requant::{quantize_multiplier, rounding_divide_by_pot, saturating_rounding_doubling_high_mul as srdhm};

const SCALED_DIFF_INTEGER_BITS: i32 = 5;
const ACCUMULATION_INTEGER_BITS: i32 = 12;

/// Parameters from the input scale (beta = 1), as `SoftmaxPrepare` computes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QSoftmax {
    multiplier: i32,
    left_shift: i32,
    diff_min: i32,
}

impl QSoftmax {
    pub fn new(input_scale: f32, beta: f64) -> QSoftmax {
        let max_real = ((1i64 << 31) - 1) as f64;
        let real = (beta * input_scale as f64 * (1i64 << (31 - SCALED_DIFF_INTEGER_BITS)) as f64).min(max_real);
        let (multiplier, left_shift) = quantize_multiplier(real);
        // CalculateInputRadius(5, left_shift)
        let radius = (((1i64 << SCALED_DIFF_INTEGER_BITS) - 1) as f64
            * (1i64 << (31 - SCALED_DIFF_INTEGER_BITS)) as f64
            / (1i64 << left_shift) as f64)
            .floor() as i32;
        QSoftmax { multiplier, left_shift, diff_min: -radius }
    }

    /// Softmax of each row of `n` bytes into uint8 probabilities (scale 1/256, zero point 0;
    /// also the bytes of an int8 output with zero point -128 in the u8 representation).
    pub fn run(&self, input: &[u8], n: usize, out: &mut [u8]) {
        // A byte input has at most 256 differences from the row's maximum: their exponentials
        // come from a table (0: below diff_min, which contributes nothing).
        let mut exp = [0i32; 256];
        for (row, o) in input.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
            let max = *row.iter().max().expect("non-empty row") as i32;
            for (d, e) in exp.iter_mut().enumerate().take(max as usize + 1) {
                let diff = -(d as i32);
                *e = if diff >= self.diff_min { exp_on_negative_values(self.scaled(diff)) } else { 0 };
            }
            let at = |v: u8| exp[(max - v as i32) as usize];
            let mut sum = 0i32; // Q12.19
            for &v in row {
                sum += rescale_pot(at(v), -ACCUMULATION_INTEGER_BITS);
            }
            let (reciprocal, bits_over_unit) = reciprocal(sum, ACCUMULATION_INTEGER_BITS);
            let exponent = bits_over_unit + 31 - 8;
            for (&v, dst) in row.iter().zip(o.iter_mut()) {
                let diff = v as i32 - max;
                *dst = if diff >= self.diff_min {
                    rounding_divide_by_pot(srdhm(reciprocal, at(v)), exponent).clamp(0, 255) as u8
                } else {
                    0
                };
            }
        }
    }

    /// `MultiplyByQuantizedMultiplierGreaterThanOne`: the difference as Q5.26.
    fn scaled(&self, diff: i32) -> i32 {
        srdhm(diff.wrapping_mul(1 << self.left_shift), self.multiplier)
    }
}

/// `SaturatingRoundingMultiplyByPOT<exponent>` on a raw value.
fn rescale_pot(x: i32, exponent: i32) -> i32 {
    if exponent < 0 {
        rounding_divide_by_pot(x, -exponent)
    } else if exponent == 0 {
        x
    } else {
        let threshold = (1i32 << (31 - exponent)) - 1;
        if x > threshold {
            i32::MAX
        } else if x < -threshold {
            i32::MIN
        } else {
            x << exponent
        }
    }
}

/// gemmlowp `exp_on_interval_between_negative_one_quarter_and_0_excl` (Q0.31 in and out).
fn exp_on_quarter_interval(a: i32) -> i32 {
    const CONSTANT_TERM: i32 = 1_895_147_668; // exp(-1/8)
    const ONE_THIRD: i32 = 715_827_883;
    let x = a.wrapping_add(1 << 28); // a + 1/8
    let x2 = srdhm(x, x);
    let x3 = srdhm(x2, x);
    let x4 = srdhm(x2, x2);
    let x4_over_4 = rounding_divide_by_pot(x4, 2);
    let poly = rounding_divide_by_pot(srdhm(x4_over_4.wrapping_add(x3), ONE_THIRD).wrapping_add(x2), 1);
    CONSTANT_TERM.wrapping_add(srdhm(CONSTANT_TERM, x.wrapping_add(poly)))
}

/// gemmlowp `exp_on_negative_values` for a Q5.26 input; result Q0.31.
fn exp_on_negative_values(a: i32) -> i32 {
    const INTEGER_BITS: i32 = SCALED_DIFF_INTEGER_BITS;
    const FRACTIONAL_BITS: i32 = 31 - INTEGER_BITS;
    let one_quarter = 1i32 << (FRACTIONAL_BITS - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_quarter = (a & mask) - one_quarter;
    // Rescale<0> from Q5.26 to Q0.31: multiply by 2^5, saturating.
    let mut result = exp_on_quarter_interval(rescale_pot(a_mod_quarter_minus_quarter, INTEGER_BITS));
    let remainder = a_mod_quarter_minus_quarter.wrapping_sub(a);
    // Barrel shifter: exp(-2^e) for each set bit of the remainder.
    const MULTIPLIERS: [(i32, i32); 7] = [
        (-2, 1_672_461_947),
        (-1, 1_302_514_674),
        (0, 790_015_084),
        (1, 290_630_308),
        (2, 39_332_535),
        (3, 720_401),
        (4, 242),
    ];
    for (exponent, multiplier) in MULTIPLIERS {
        if INTEGER_BITS > exponent {
            let shift = FRACTIONAL_BITS + exponent;
            if remainder & (1 << shift) != 0 {
                result = srdhm(result, multiplier);
            }
        }
    }
    // INTEGER_BITS (5) is not above 5: no clamp at -32.
    if a == 0 { i32::MAX } else { result }
}

/// TFLite `GetReciprocal`: 1/x for x in Q(integer_bits), as a Q0.31 value and a power of two.
fn reciprocal(x: i32, integer_bits: i32) -> (i32, i32) {
    let headroom_plus_one = (x as u32).leading_zeros() as i32;
    let bits_over_unit = integer_bits - headroom_plus_one;
    let shifted_minus_one = ((x as u32) << headroom_plus_one).wrapping_sub(1u32 << 31) as i32;
    (one_over_one_plus_x_for_x_in_0_1(shifted_minus_one), bits_over_unit)
}

/// gemmlowp `one_over_one_plus_x_for_x_in_0_1` (Newton-Raphson in Q2.29).
fn one_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    // RoundingHalfSum(a, One) with One = i32::MAX in Q0.31.
    let sum = a as i64 + i32::MAX as i64;
    let half_denominator = ((sum + if sum >= 0 { 1 } else { -1 }) / 2) as i32;
    const C48_OVER_17: i32 = 1_515_870_810;
    const CNEG32_OVER_17: i32 = -1_010_580_540;
    const ONE_Q2: i32 = 1 << 29;
    let mut x = C48_OVER_17.wrapping_add(srdhm(half_denominator, CNEG32_OVER_17));
    for _ in 0..3 {
        let half_denominator_times_x = srdhm(half_denominator, x);
        let one_minus = ONE_Q2.wrapping_sub(half_denominator_times_x);
        x = x.wrapping_add(rescale_pot(srdhm(x, one_minus), 2));
    }
    // Rescale<0>(ExactMulByPot<-1>(x)): Q1.30 -> Q0.31 is a saturating shift left by 1.
    rescale_pot(x, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_float() {
        for d in [0.0f64, -0.1, -0.25, -0.5, -1.0, -2.5, -7.0, -15.9] {
            let raw = (d * (1i64 << 26) as f64) as i32;
            let e = exp_on_negative_values(raw) as f64 / (1u64 << 31) as f64;
            assert!((e - d.exp()).abs() < 1e-6, "exp({d}) = {e}");
        }
    }

    #[test]
    fn reciprocal_matches_float() {
        for v in [1.0f64, 1.5, 3.0, 100.25, 1000.0] {
            let raw = (v * (1i64 << 19) as f64) as i32; // Q12.19
            let (r, bits) = reciprocal(raw, 12);
            let got = r as f64 / (1u64 << 31) as f64 / (1u64 << bits) as f64;
            assert!((got - 1.0 / v).abs() < 1e-6 / v, "1/{v} = {got}");
        }
    }

    #[test]
    fn probabilities_of_two_equal_logits() {
        let s = QSoftmax::new(0.1, 1.0);
        let mut out = [0u8; 2];
        s.run(&[50, 50], 2, &mut out);
        assert_eq!(out, [128, 128]);
        // One far above the rest takes everything.
        let mut out = [0u8; 3];
        s.run(&[255, 0, 0], 3, &mut out);
        assert_eq!(out, [255, 0, 0]);
    }
}
