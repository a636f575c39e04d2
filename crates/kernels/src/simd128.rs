//! Pieces the WebAssembly SIMD128 kernels share.

use std::arch::wasm32::*;

/// `v` clamped to `[lo, hi]` with `Clamp::apply`'s bits (NaN becomes `lo`): `pmin(hi)`, then
/// `pmax(lo)`. Each is one x86 instruction in V8 (`f32x4.min`/`max` need NaN fix-ups), and in
/// this order LLVM keeps `pmax`, where `pmax(lo, sum)` became `lt` + `bitselect` (four).
#[target_feature(enable = "simd128")]
#[inline]
pub(crate) fn clamp(v: v128, lo: v128, hi: v128) -> v128 {
    f32x4_pmax(lo, f32x4_pmin(hi, v))
}
