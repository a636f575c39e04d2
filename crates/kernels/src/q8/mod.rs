//! 8-bit integer kernels with TFLite's exact arithmetic.
//!
//! Activations are stored as `u8` whatever the model's type: an int8 tensor with zero point `z`
//! is the same numbers as a uint8 tensor with zero point `z + 128` (`q_u8 = q_i8 + 128`), and every
//! TFLite integer kernel used here computes identical results in that representation (they only
//! ever use `q - zero_point`, clamp to a shifted range, or take differences). Weights are kept as
//! `i16` values with their zero point already subtracted.

pub mod add;
pub mod conv;
pub mod dwconv;
pub mod gemm;
pub mod pool;
pub mod requant;
pub mod requant_vec;
pub mod softmax;

pub use requant::{OutputStage, Requant, Rounding, multiply_by_quantized_multiplier, quantize_multiplier};

/// The constant `o` that puts weights spanning `lo..=hi` into i8 as `w - o` (0 when they already
/// fit), or None when they span more than 256 values. The VNNI kernels multiply `w - o` and add
/// `o * (sum of the inputs)` back: uint8 weights minus their zero point take the shift.
pub(crate) fn i8_shift(lo: i32, hi: i32) -> Option<i32> {
    let offset = if lo >= -128 && hi <= 127 { 0 } else { lo + 128 };
    (hi - offset <= 127).then_some(offset)
}

#[cfg(test)]
mod tests {
    #[test]
    fn i8_shift_by_hand() {
        use super::i8_shift;
        assert_eq!(i8_shift(-128, 127), Some(0));
        assert_eq!(i8_shift(0, 3), Some(0));
        // uint8 weights with zero point 10: -10..=245, shifted by 118 into -128..=127.
        assert_eq!(i8_shift(-10, 245), Some(118));
        assert_eq!(i8_shift(-255, 0), Some(-127));
        assert_eq!(i8_shift(-255, 255), None);
        assert_eq!(i8_shift(-10, 246), None);
    }
}
