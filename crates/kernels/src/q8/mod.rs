//! 8-bit integer kernels with TFLite's exact arithmetic.
//!
//! Activations are stored as `u8` whatever the model's type: an int8 tensor with zero point `z`
//! is the same numbers as a uint8 tensor with zero point `z + 128` (`q_u8 = q_i8 + 128`), and every
//! TFLite integer kernel used here computes identical results in that representation (they only
//! ever use `q - zero_point`, clamp to a shifted range, or take differences). Weights arrive as
//! `i16` values with their zero point already subtracted and are packed per kernel: where the CPU
//! has VNNI, as i8 (uint8 weights shifted into i8, the shift's share added back per row: see
//! `i8_shift`) in the layouts of `vnni_slot`; otherwise as 16-bit pairs for `vpmaddwd`.

pub mod add;
pub mod conv;
pub mod dwconv;
pub mod gemm;
pub mod pool;
pub mod requant;
pub mod requant_vec;
pub mod softmax;
pub mod table;

pub use requant::{OutputStage, Requant, Rounding, multiply_by_quantized_multiplier, quantize_multiplier};

/// The constant `o` that puts weights spanning `lo..=hi` into i8 as `w - o` (0 when they already
/// fit), or None when they span more than 256 values. The VNNI kernels multiply `w - o` and add
/// `o * (sum of the inputs)` back: uint8 weights minus their zero point take the shift.
pub(crate) fn i8_shift(lo: i32, hi: i32) -> Option<i32> {
    let offset = if lo >= -128 && hi <= 127 { 0 } else { lo + 128 };
    (hi - offset <= 127).then_some(offset)
}

/// Where channel `j` of `n` lives in the VNNI layouts of the GEMM and the depthwise conv, as
/// (block of 16, slot). Whole groups of 64 channels are stored in the order two saturating packs
/// put back in place: block `4 g + b` holds, in its 128-bit lane `l`, channels
/// `64 g + 16 l + 4 b .. + 4`; after requantizing the four blocks to i32, `packs(b0, b1)` and
/// `packs(b2, b3)` then `packus` of the two give the group's 64 bytes in channel order (the
/// packs work within 128-bit lanes). Channels after the last whole group keep their order.
pub(crate) fn vnni_slot(j: usize, n: usize) -> (usize, usize) {
    if j < n / 64 * 64 {
        let (group, r) = (j / 64, j % 64);
        let (lane, block, e) = (r / 16, r % 16 / 4, r % 4);
        (group * 4 + block, 4 * lane + e)
    } else {
        (j / 16, j % 16)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn vnni_slots_are_a_permutation() {
        for n in [1usize, 16, 63, 64, 96, 144, 200] {
            let mut seen = vec![false; n.div_ceil(16) * 16];
            for j in 0..n {
                let (b, s) = super::vnni_slot(j, n);
                assert!(s < 16 && !std::mem::replace(&mut seen[b * 16 + s], true), "n={n} j={j}");
            }
        }
        // Block 1 of group 0 holds channels 4..8, 20..24, 36..40, 52..56 lane by lane.
        assert_eq!(super::vnni_slot(21, 64), (1, 5));
        assert_eq!(super::vnni_slot(64, 96), (4, 0));
    }

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
