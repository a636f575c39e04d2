//! TFLite's fixed-point requantization: a real multiplier as a 31-bit fraction and a power of two,
//! applied with a saturating rounding doubling high multiply and a rounding right shift
//! (`tensorflow/lite/kernels/internal/common.h`, the default build without
//! `TFLITE_SINGLE_ROUNDING`: the references in `../shared/reference` match this double rounding).

/// `QuantizeMultiplier`: `m = q * 2^shift` with `q` in [0.5, 1) stored as round(q * 2^31).
pub fn quantize_multiplier(m: f64) -> (i32, i32) {
    if m == 0.0 || !m.is_finite() {
        return (0, 0);
    }
    let (q, mut shift) = frexp(m);
    let mut q_fixed = (q * (1i64 << 31) as f64).round() as i64;
    if q_fixed == 1i64 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        shift = 0;
        q_fixed = 0;
    }
    (q_fixed as i32, shift)
}

/// `std::frexp` for finite non-zero values: `x = q * 2^e`, |q| in [0.5, 1).
fn frexp(x: f64) -> (f64, i32) {
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        // Subnormal: scale into the normal range first.
        let (q, e) = frexp(x * (1u64 << 54) as f64);
        return (q, e - 54);
    }
    let q = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
    (q, exp - 1022)
}

/// gemmlowp's `SaturatingRoundingDoublingHighMul`.
#[inline(always)]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == b && a == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // C++ integer division truncates toward zero, as Rust's does.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp's `RoundingDivideByPOT`: round to nearest, ties away from zero.
#[inline(always)]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + (x < 0) as i32;
    (x >> exponent) + (remainder > threshold) as i32
}

/// TFLite's `MultiplyByQuantizedMultiplier(x, multiplier, shift)`.
#[inline(always)]
pub fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left = shift.max(0);
    let right = (-shift).max(0);
    rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x.wrapping_mul(1 << left), multiplier), right)
}

/// `MultiplyByQuantizedMultiplier` whose final shift rounds ties toward +infinity rather than away
/// from zero: what TFLite's optimized int8 per-channel kernels compute (the references show it:
/// an int8 conv output of -4.5 becomes -4 there, where the reference kernel gives -5).
#[inline(always)]
pub fn multiply_by_quantized_multiplier_half_up(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left = shift.max(0);
    let right = (-shift).max(0);
    let high = saturating_rounding_doubling_high_mul(x.wrapping_mul(1 << left), multiplier);
    if right == 0 { high } else { ((high as i64 + (1i64 << (right - 1))) >> right) as i32 }
}

/// How the final rounding shift treats ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// gemmlowp's `RoundingDivideByPOT`: ties away from zero (TFLite's reference kernels).
    AwayFromZero,
    /// Ties toward +infinity (TFLite's optimized int8 per-channel kernels).
    HalfUp,
}

/// One channel's requantization: multiplier and shift of `input_scale * weight_scale / output_scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requant {
    pub multiplier: i32,
    pub shift: i32,
    pub rounding: Rounding,
}

impl Requant {
    /// With TFLite's reference rounding (ties away from zero).
    pub fn new(real: f64) -> Requant {
        Requant::with_rounding(real, Rounding::AwayFromZero)
    }
    pub fn with_rounding(real: f64, rounding: Rounding) -> Requant {
        let (multiplier, shift) = quantize_multiplier(real);
        Requant { multiplier, shift, rounding }
    }
    #[inline(always)]
    pub fn apply(&self, x: i32) -> i32 {
        match self.rounding {
            Rounding::AwayFromZero => multiply_by_quantized_multiplier(x, self.multiplier, self.shift),
            Rounding::HalfUp => multiply_by_quantized_multiplier_half_up(x, self.multiplier, self.shift),
        }
    }
}

/// Zero point and clamp of an output, in the u8 representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputStage {
    pub zero_point: i32,
    pub min: i32,
    pub max: i32,
}

impl OutputStage {
    /// `CalculateActivationRangeQuantized`: no activation clamps to the type's range; ReLU6
    /// clamps to [zp + round(0 / s), zp + round(6 / s)] (the quotient in float32, as TFLite does).
    pub fn new(zero_point: i32, scale: f32, relu6: bool) -> OutputStage {
        if relu6 {
            let top = zero_point + (6.0f32 / scale).round() as i32;
            OutputStage { zero_point, min: zero_point.max(0), max: top.min(255) }
        } else {
            OutputStage { zero_point, min: 0, max: 255 }
        }
    }
    /// Requantized accumulator to the output byte.
    #[inline(always)]
    pub fn finish(&self, requantized: i32) -> u8 {
        (requantized + self.zero_point).clamp(self.min, self.max) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_multiplier_by_hand() {
        assert_eq!(quantize_multiplier(0.5), (1 << 30, 0));
        assert_eq!(quantize_multiplier(1.0), (1 << 30, 1));
        assert_eq!(quantize_multiplier(0.75), (0x6000_0000, 0));
        assert_eq!(quantize_multiplier(0.1), (1_717_986_918, -3)); // 0.8 * 2^31 rounded, 2^-3
        assert_eq!(quantize_multiplier(0.0), (0, 0));
        assert_eq!(quantize_multiplier(1e-12), (0, 0)); // shift below -31 flushes to zero
    }

    #[test]
    fn fixed_point_helpers_by_hand() {
        assert_eq!(saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN), i32::MAX);
        assert_eq!(saturating_rounding_doubling_high_mul(1 << 30, 1 << 30), 1 << 29);
        assert_eq!(rounding_divide_by_pot(5, 1), 3); // 2.5 -> 3
        assert_eq!(rounding_divide_by_pot(-5, 1), -3); // -2.5 -> -3
        assert_eq!(rounding_divide_by_pot(-3, 2), -1); // -0.75 -> -1
        assert_eq!(rounding_divide_by_pot(6, 2), 2); // 1.5 -> 2
        // 1000 * 0.1 = 100
        let (m, s) = quantize_multiplier(0.1);
        assert_eq!(multiply_by_quantized_multiplier(1000, m, s), 100);
        // -100.49999998: the high multiply rounds to -804 (= -100.5 * 8), the shift away from zero.
        assert_eq!(multiply_by_quantized_multiplier(-1005, m, s), -101);
        // Double rounding: 13327 * 0.0118175276 = 157.492, but the high multiply gives
        // 10079.5 -> 10080 = 157.5 * 64, which rounds to 158.
        let (m, s) = quantize_multiplier(0.011817527619317323);
        assert_eq!(multiply_by_quantized_multiplier(13327, m, s), 158);
        let (m, s) = quantize_multiplier(3.0);
        assert_eq!(multiply_by_quantized_multiplier(7, m, s), 21);
        // Ties in the shift: -18 * 0.25 = -4.5 goes to -5 away from zero, to -4 half up;
        // 4.5 to 5 either way.
        let (m, s) = quantize_multiplier(0.25);
        assert_eq!(multiply_by_quantized_multiplier(-18, m, s), -5);
        assert_eq!(multiply_by_quantized_multiplier_half_up(-18, m, s), -4);
        assert_eq!(multiply_by_quantized_multiplier_half_up(18, m, s), 5);
    }

    #[test]
    fn relu6_range() {
        // scale 6/255, zero point 0: [0, 255]
        assert_eq!(OutputStage::new(0, 6.0 / 255.0, true), OutputStage { zero_point: 0, min: 0, max: 255 });
        let s = OutputStage::new(10, 0.1, true);
        assert_eq!((s.min, s.max), (10, 70));
        assert_eq!(s.finish(100), 70);
        assert_eq!(s.finish(-20), 10);
    }
}
