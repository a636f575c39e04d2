//! The fp32 stem convolution at the AVX2 level: the portable body compiled with AVX2 and FMA.

use super::*;

/// # Safety
/// The CPU must have AVX2 and FMA; `input` and `out` checked by the caller as for the portable body.
#[cfg(target_arch = "x86_64")]
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
