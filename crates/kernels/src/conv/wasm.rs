//! The fp32 stem convolution with WebAssembly SIMD128: the register-blocked kernel on v128 for
//! output channels in multiples of 4, else the portable body. SIMD128 has no fused multiply-add:
//! a multiply, then an add.

use super::blocked::{lanes, rows_blocked};
use super::*;
use std::arch::wasm32::*;

/// `a * b + c`, rounded twice.
///
/// # Safety
/// SIMD128 must be available (the module is built for it).
#[inline]
#[target_feature(enable = "simd128")]
unsafe fn mul_add(a: v128, b: v128, c: v128) -> v128 {
    f32x4_add(f32x4_mul(a, b), c)
}

/// `v > lo ? v : lo`, as `Clamp::apply` (NaN becomes `lo`).
///
/// # Safety
/// SIMD128 must be available.
#[inline]
#[target_feature(enable = "simd128")]
unsafe fn max_lo(v: v128, lo: v128) -> v128 {
    f32x4_pmax(lo, v)
}

/// `v < hi ? v : hi`, as `Clamp::apply`.
///
/// # Safety
/// SIMD128 must be available.
#[inline]
#[target_feature(enable = "simd128")]
unsafe fn min_hi(v: v128, hi: v128) -> v128 {
    f32x4_pmin(hi, v)
}

/// Four copies of `x`.
///
/// # Safety
/// SIMD128 must be available.
#[inline]
#[target_feature(enable = "simd128")]
unsafe fn splat(x: f32) -> v128 {
    f32x4_splat(x)
}

/// Four floats from `p`.
///
/// # Safety
/// `p` readable for four floats.
#[inline]
#[target_feature(enable = "simd128")]
unsafe fn load(p: *const f32) -> v128 {
    // SAFETY: the caller's contract; v128_load takes unaligned addresses.
    unsafe { v128_load(p as *const v128) }
}

/// Stores four floats at `p`.
///
/// # Safety
/// `p` writable for four floats.
#[inline]
#[target_feature(enable = "simd128")]
unsafe fn store(p: *mut f32, v: v128) {
    // SAFETY: the caller's contract.
    unsafe { v128_store(p as *mut v128, v) }
}

// Four fp32 lanes.
lanes!(W, v128, 4, load, splat, mul_add, store, min_hi, max_lo);

/// Output channels four or eight at a time (see [`rows_blocked`]); needs `out_c` a multiple of 4
/// (the caller checks).
///
/// # Safety
/// SIMD128 must be available (a wasm32 build made for it); `input` and `out` checked by the
/// caller as for the portable body.
#[target_feature(enable = "simd128")]
pub(super) unsafe fn rows_simd128_blocks(
    shape: &ConvShape,
    input: &[f32],
    w: &PackedConv,
    clamp: Clamp,
    rows: std::ops::Range<usize>,
    out: &mut [f32],
) {
    // SAFETY: compiled for SIMD128, which the engine running this module has.
    unsafe { rows_blocked::<W>(shape, input, w, clamp, rows, out) }
}
