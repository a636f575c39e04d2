//! Vector requantization with WebAssembly SIMD128, four channels a step. SIMD128 shifts every
//! lane by the same count, so the per-channel shifts become multiplies, prepared per channel
//! ([`ShiftsAsMultiplies`]): the left shift by `2^left` (wrapping, as a shift is), the right
//! shift as the 64-bit product with `2^(30 - right)` shifted right by 30 (a floor division by
//! `2^right`, exact for any i32). The doubling high multiply takes 64-bit products as the AVX2
//! code does: the scalar form's bits.

use super::{OutputStage, Requant, RequantVec};
use std::arch::wasm32::*;

/// Per channel (padded as the other arrays): `2^left`, `2^(30 - right)`, `2^right - 1`, and
/// `2^(right - 1)` (0 where right is 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShiftsAsMultiplies {
    up: Vec<i32>,
    down: Vec<i32>,
    mask: Vec<i32>,
    half: Vec<i32>,
}

impl ShiftsAsMultiplies {
    /// None when a right shift exceeds 30 (scales below 2^-31: the scalar form takes those).
    pub fn new<'a>(channels: impl Iterator<Item = &'a Requant> + Clone) -> Option<ShiftsAsMultiplies> {
        let (left, right) = (|r: &Requant| r.shift.max(0), |r: &Requant| (-r.shift).max(0));
        if channels.clone().any(|r| right(r) > 30 || left(r) > 30) {
            return None;
        }
        let each = |f: &dyn Fn(&Requant) -> i32| channels.clone().map(f).collect::<Vec<i32>>();
        Some(ShiftsAsMultiplies {
            up: each(&|r| 1 << left(r)),
            down: each(&|r| 1 << (30 - right(r))),
            mask: each(&|r| (1 << right(r)) - 1),
            half: each(&|r| (1 << right(r)) >> 1),
        })
    }
}

/// Whole groups of 8; returns how many values were written (0 when the shifts do not allow it).
///
/// # Safety
/// SIMD128 must be available (the module is built for it); `out` holds `acc.len()` bytes and
/// `rq` the channels `first..first + acc.len()`.
#[target_feature(enable = "simd128")]
pub unsafe fn requantize(acc: &[i32], rq: &RequantVec, first: usize, stage: OutputStage, out: &mut [u8]) -> usize {
    let Some(k) = &rq.by_multiplies else { return 0 };
    let n = acc.len() / 8 * 8;
    assert!(out.len() >= n && first + n <= k.up.len() && first + n <= rq.multiplier.len(), "requantize lengths");
    let (zp, lo, hi) = (i32x4_splat(stage.zero_point), i32x4_splat(stage.min), i32x4_splat(stage.max));
    // SAFETY (load): every array read holds the four lanes from `at` (asserted above).
    let load = |v: &[i32], at: usize| unsafe { v128_load(v.as_ptr().add(at) as *const v128) };
    for i in (0..n).step_by(8) {
        let mut halves = [i32x4_splat(0); 2];
        for (h, half) in halves.iter_mut().enumerate() {
            let (at, ch) = (i + 4 * h, first + i + 4 * h);
            let x = i32x4_mul(load(acc, at), load(&k.up, ch));
            let high = srdhm(x, load(&rq.multiplier, ch));
            let down = load(&k.down, ch);
            let y = if rq.half_up {
                floor_shift(i32x4_add(high, load(&k.half, ch)), down)
            } else {
                shift_away(high, down, load(&k.mask, ch))
            };
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

/// floor(x / 2^right) per lane, from `down` = 2^(30 - right): (x * down) >> 30 in 64 bits.
#[inline]
#[target_feature(enable = "simd128")]
fn floor_shift(x: v128, down: v128) -> v128 {
    let low = i64x2_shr(i64x2_extmul_low_i32x4(x, down), 30);
    let high = i64x2_shr(i64x2_extmul_high_i32x4(x, down), 30);
    i32x4_shuffle::<0, 2, 4, 6>(low, high)
}

/// gemmlowp's RoundingDivideByPOT (ties away from zero) with per-lane exponents.
#[inline]
#[target_feature(enable = "simd128")]
fn shift_away(x: v128, down: v128, mask: v128) -> v128 {
    let remainder = v128_and(x, mask);
    // + 1 where negative (the comparison's all-ones lane is -1)
    let threshold = i32x4_sub(i32x4_shr(mask, 1), i32x4_lt(x, i32x4_splat(0)));
    let up = i32x4_gt(remainder, threshold);
    i32x4_sub(floor_shift(x, down), up)
}
