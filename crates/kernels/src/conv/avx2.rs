//! The fp32 stem convolution at the AVX2 level: the register-blocked kernel on ymm for output
//! channels in multiples of 8, else the portable body compiled with AVX2 and FMA.

use super::blocked::{lanes, rows_blocked};
use super::*;
use std::arch::x86_64::*;

/// # Safety
/// The CPU must have AVX2 and FMA; `input` and `out` checked by the caller as for the portable body.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn rows_avx2(
    shape: &ConvShape,
    input: &[f32],
    w: &PackedConv,
    clamp: Clamp,
    rows: std::ops::Range<usize>,
    out: &mut [f32],
) {
    rows_portable(shape, input, w, clamp, rows, out)
}

// Eight fp32 lanes.
lanes!(
    Ymm,
    __m256,
    8,
    _mm256_loadu_ps,
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    _mm256_storeu_ps,
    _mm256_min_ps,
    _mm256_max_ps
);

/// Output channels eight or sixteen at a time (see [`rows_blocked`]); needs `out_c` a multiple
/// of 8 (the caller checks).
///
/// # Safety
/// The CPU must have AVX2 and FMA; `input` and `out` checked by the caller as for the portable
/// body.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn rows_avx2_blocks(
    shape: &ConvShape,
    input: &[f32],
    w: &PackedConv,
    clamp: Clamp,
    rows: std::ops::Range<usize>,
    out: &mut [f32],
) {
    // SAFETY: compiled for AVX2 and FMA, which the caller's CPU has.
    unsafe { rows_blocked::<Ymm>(shape, input, w, clamp, rows, out) }
}
