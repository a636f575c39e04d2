//! The fp32 stem convolution with NEON: the register-blocked kernel on q registers for output
//! channels in multiples of 4, else the portable body.

use super::blocked::{lanes, rows_blocked};
use super::*;
use std::arch::aarch64::*;

/// `a * b + c` in the argument order the blocked kernel uses (NEON's own takes the addend first).
///
/// # Safety
/// The CPU must have NEON.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn fma_abc(a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
    vfmaq_f32(c, a, b)
}

// Four fp32 lanes.
lanes!(Q, float32x4_t, 4, vld1q_f32, vdupq_n_f32, fma_abc, vst1q_f32, vminq_f32, vmaxq_f32);

/// Output channels four or eight at a time (see [`rows_blocked`]); needs `out_c` a multiple of 4
/// (the caller checks).
///
/// # Safety
/// The CPU must have NEON (every aarch64 CPU does); `input` and `out` checked by the caller as
/// for the portable body.
#[target_feature(enable = "neon")]
pub(super) unsafe fn rows_neon_blocks(
    shape: &ConvShape,
    input: &[f32],
    w: &PackedConv,
    clamp: Clamp,
    rows: std::ops::Range<usize>,
    out: &mut [f32],
) {
    // SAFETY: compiled for NEON, which the caller's CPU has.
    unsafe { rows_blocked::<Q>(shape, input, w, clamp, rows, out) }
}
