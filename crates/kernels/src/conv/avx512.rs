//! The fp32 stem convolution at the AVX-512 level: the register-blocked kernel on zmm.

use super::blocked::{lanes, rows_blocked};
use super::*;
use std::arch::x86_64::*;

// Sixteen fp32 lanes.
lanes!(
    Zmm,
    __m512,
    16,
    _mm512_loadu_ps,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_storeu_ps,
    _mm512_min_ps,
    _mm512_max_ps
);

/// Output channels sixteen or thirty-two at a time (see [`rows_blocked`]); needs `out_c` a
/// multiple of 16 (the caller checks).
///
/// # Safety
/// The CPU must have AVX-512F, AVX2 and FMA; `input` and `out` checked by the caller as for the
/// portable body.
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) unsafe fn rows_avx512(
    shape: &ConvShape,
    input: &[f32],
    w: &PackedConv,
    clamp: Clamp,
    rows: std::ops::Range<usize>,
    out: &mut [f32],
) {
    // SAFETY: compiled for AVX-512F, which the caller's CPU has.
    unsafe { rows_blocked::<Zmm>(shape, input, w, clamp, rows, out) }
}
