//! Vector requantization with NEON: the AVX2 arithmetic lane for lane (64-bit products for the
//! doubling high multiply, then the rounding shift of the layer's kind), eight channels a step.
//! NEON's own `vqrdmulhq_s32` is not used: it rounds negative ties up where gemmlowp's reference
//! rounds them away from zero.

use super::{OutputStage, RequantVec};
use std::arch::aarch64::*;

/// Whole groups of 8; returns how many values were written.
///
/// # Safety
/// The CPU must have NEON (every aarch64 CPU does); `out` holds `acc.len()` bytes and `rq` the
/// channels `first..first + acc.len()` (padded to 16 beyond).
#[target_feature(enable = "neon")]
pub unsafe fn requantize(acc: &[i32], rq: &RequantVec, first: usize, stage: OutputStage, out: &mut [u8]) -> usize {
    let n = acc.len() / 8 * 8;
    assert!(out.len() >= n && first + n <= rq.multiplier.len(), "requantize lengths");
    let (zp, lo, hi) = (vdupq_n_s32(stage.zero_point), vdupq_n_s32(stage.min), vdupq_n_s32(stage.max));
    for i in (0..n).step_by(8) {
        let mut halves = [vdupq_n_s32(0); 2];
        for (h, half) in halves.iter_mut().enumerate() {
            let at = i + 4 * h;
            // SAFETY: at + 4 <= n: four lanes of acc and of the (padded) requantization arrays.
            let (x, m, l, r) = unsafe {
                (
                    vld1q_s32(acc.as_ptr().add(at)),
                    vld1q_s32(rq.multiplier.as_ptr().add(first + at)),
                    vld1q_s32(rq.left.as_ptr().add(first + at)),
                    vld1q_s32(rq.right.as_ptr().add(first + at)),
                )
            };
            let high = srdhm(vshlq_s32(x, l), m);
            let y = if rq.half_up { shift_half_up(high, r) } else { shift_away(high, r) };
            *half = vminq_s32(vmaxq_s32(vaddq_s32(y, zp), lo), hi);
        }
        // Lanes are in 0..=255: narrowing keeps them.
        let bytes = vmovn_u16(vcombine_u16(
            vmovn_u32(vreinterpretq_u32_s32(halves[0])),
            vmovn_u32(vreinterpretq_u32_s32(halves[1])),
        ));
        // SAFETY: i + 8 <= n <= out.len().
        unsafe { vst1_u8(out.as_mut_ptr().add(i), bytes) };
    }
    n
}

/// gemmlowp's saturating rounding doubling high multiply, lane by lane (a != b != i32::MIN).
#[inline]
#[target_feature(enable = "neon")]
fn srdhm(a: int32x4_t, b: int32x4_t) -> int32x4_t {
    let low = high_of_products(vmull_s32(vget_low_s32(a), vget_low_s32(b)));
    let high = high_of_products(vmull_high_s32(a, b));
    vcombine_s32(vmovn_s64(low), vmovn_s64(high))
}

/// (ab + nudge) / 2^31, truncated toward zero, for two 64-bit products.
#[inline]
#[target_feature(enable = "neon")]
fn high_of_products(ab: int64x2_t) -> int64x2_t {
    let nudge = vbslq_s64(vcltzq_s64(ab), vdupq_n_s64(1 - (1 << 30)), vdupq_n_s64(1 << 30));
    let v = vaddq_s64(ab, nudge);
    // An arithmetic shift floors: add 2^31 - 1 to negative values to truncate instead.
    let v = vaddq_s64(v, vandq_s64(vreinterpretq_s64_u64(vcltzq_s64(v)), vdupq_n_s64((1 << 31) - 1)));
    vshrq_n_s64::<31>(v)
}

/// gemmlowp's RoundingDivideByPOT (ties away from zero) with per-lane exponents.
#[inline]
#[target_feature(enable = "neon")]
fn shift_away(x: int32x4_t, r: int32x4_t) -> int32x4_t {
    let one = vdupq_n_s32(1);
    let mask = vsubq_s32(vshlq_s32(one, r), one);
    let remainder = vandq_s32(x, mask);
    // + 1 where negative (the comparison's all-ones lane is -1)
    let threshold = vsubq_s32(vshrq_n_s32::<1>(mask), vreinterpretq_s32_u32(vcltzq_s32(x)));
    let up = vreinterpretq_s32_u32(vcgtq_s32(remainder, threshold));
    // vshlq by a negative count shifts right (arithmetic, truncating as srav does).
    vsubq_s32(vshlq_s32(x, vnegq_s32(r)), up)
}

/// Rounding shift with ties toward +infinity.
#[inline]
#[target_feature(enable = "neon")]
fn shift_half_up(x: int32x4_t, r: int32x4_t) -> int32x4_t {
    // 1 << (r - 1), and 0 where r == 0
    let half = vshrq_n_s32::<1>(vshlq_s32(vdupq_n_s32(1), r));
    vshlq_s32(vaddq_s32(x, half), vnegq_s32(r))
}
