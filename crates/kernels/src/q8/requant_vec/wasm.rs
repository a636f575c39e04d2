//! Vector requantization with WebAssembly SIMD128, four channels a step. SIMD128 shifts every
//! lane by the same count, so the per-channel shifts become multiplies: the left shift by
//! `2^left` (wrapping, as a shift is), the right shift as the high half of the 64-bit product
//! with `2^(32 - right)` (a floor division by `2^right`, exact for any i32). The doubling high
//! multiply takes 64-bit products as the AVX2 code does: the scalar form's bits.

use super::{OutputStage, RequantVec};
use std::arch::wasm32::*;

/// Whole groups of 8; returns how many values were written.
///
/// # Safety
/// SIMD128 must be available (the module is built for it); `out` holds `acc.len()` bytes and
/// `rq` the channels `first..first + acc.len()`.
#[target_feature(enable = "simd128")]
pub unsafe fn requantize(acc: &[i32], rq: &RequantVec, first: usize, stage: OutputStage, out: &mut [u8]) -> usize {
    let n = acc.len() / 8 * 8;
    assert!(out.len() >= n && first + n <= rq.multiplier.len(), "requantize lengths");
    let (zp, lo, hi) = (i32x4_splat(stage.zero_point), i32x4_splat(stage.min), i32x4_splat(stage.max));
    for i in (0..n).step_by(8) {
        let mut halves = [i32x4_splat(0); 2];
        for (h, half) in halves.iter_mut().enumerate() {
            let (at, ch) = (i + 4 * h, first + i + 4 * h);
            let lanes = |v: &[i32]| [v[ch], v[ch + 1], v[ch + 2], v[ch + 3]];
            let (left, right, m) = (lanes(&rq.left), lanes(&rq.right), lanes(&rq.multiplier));
            // SAFETY: at + 4 <= n <= acc.len().
            let x = unsafe { v128_load(acc.as_ptr().add(at) as *const v128) };
            let x = i32x4_mul(x, i32x4(1 << left[0], 1 << left[1], 1 << left[2], 1 << left[3]));
            let high = srdhm(x, i32x4(m[0], m[1], m[2], m[3]));
            let y = if rq.half_up { shift_half_up(high, right) } else { shift_away(high, right) };
            *half = i32x4_min(i32x4_max(i32x4_add(y, zp), lo), hi);
        }
        // Lanes are in 0..=255: saturating narrowing keeps them.
        let bytes = u8x16_narrow_i16x8(i16x8_narrow_i32x4(halves[0], halves[1]), i16x8_splat(0));
        // SAFETY: i + 8 <= n <= out.len(): the low eight bytes.
        unsafe { v128_store64_lane::<0>(bytes, out.as_mut_ptr().add(i) as *mut u64) };
    }
    n
}

/// gemmlowp's saturating rounding doubling high multiply, lane by lane (a != b != i32::MIN).
#[inline]
#[target_feature(enable = "simd128")]
fn srdhm(a: v128, b: v128) -> v128 {
    let low = high_of_products(i64x2_extmul_low_i32x4(a, b));
    let high = high_of_products(i64x2_extmul_high_i32x4(a, b));
    i32x4_shuffle::<0, 2, 4, 6>(low, high)
}

/// (ab + nudge) / 2^31, truncated toward zero, for two 64-bit products.
#[inline]
#[target_feature(enable = "simd128")]
fn high_of_products(ab: v128) -> v128 {
    let negative = i64x2_lt(ab, i64x2_splat(0));
    let v = i64x2_add(ab, v128_bitselect(i64x2_splat(1 - (1 << 30)), i64x2_splat(1 << 30), negative));
    // An arithmetic shift floors: add 2^31 - 1 to negative values to truncate instead.
    let v = i64x2_add(v, v128_and(i64x2_lt(v, i64x2_splat(0)), i64x2_splat((1 << 31) - 1)));
    i64x2_shr(v, 31)
}

/// floor(x / 2^right) per lane: the high halves of the 64-bit products x * 2^(32 - right).
#[inline]
#[target_feature(enable = "simd128")]
fn floor_shift(x: v128, right: [i32; 4]) -> v128 {
    let down = |r: i32| 1i64 << (32 - r);
    let low = i64x2_mul(i64x2_extend_low_i32x4(x), i64x2(down(right[0]), down(right[1])));
    let high = i64x2_mul(i64x2_extend_high_i32x4(x), i64x2(down(right[2]), down(right[3])));
    // The high 32 bits of each 64-bit lane.
    i32x4_shuffle::<1, 3, 5, 7>(low, high)
}

/// gemmlowp's RoundingDivideByPOT (ties away from zero) with per-lane exponents.
#[inline]
#[target_feature(enable = "simd128")]
fn shift_away(x: v128, right: [i32; 4]) -> v128 {
    let mask = i32x4((1 << right[0]) - 1, (1 << right[1]) - 1, (1 << right[2]) - 1, (1 << right[3]) - 1);
    let remainder = v128_and(x, mask);
    // + 1 where negative (the comparison's all-ones lane is -1)
    let threshold = i32x4_sub(i32x4_shr(mask, 1), i32x4_lt(x, i32x4_splat(0)));
    let up = i32x4_gt(remainder, threshold);
    i32x4_sub(floor_shift(x, right), up)
}

/// Rounding shift with ties toward +infinity.
#[inline]
#[target_feature(enable = "simd128")]
fn shift_half_up(x: v128, right: [i32; 4]) -> v128 {
    // 1 << (r - 1), and 0 where r == 0
    let half = |r: i32| (1 << r) >> 1;
    floor_shift(i32x4_add(x, i32x4(half(right[0]), half(right[1]), half(right[2]), half(right[3]))), right)
}
