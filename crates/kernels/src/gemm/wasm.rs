//! WebAssembly SIMD128 register tiles: 8 columns (half a panel) by up to 4 rows, the six rows
//! of a full tile as 4 + 2. Eight accumulators, two weight vectors, the broadcasts and a
//! product fit V8's 15 allocatable xmm registers; six rows (12 accumulators) did not, and V8
//! kept four of them on the stack. SIMD128 has no fused multiply-add: a multiply then an add, in
//! the order of the portable tile, so the results are the portable tile's bits.

use super::{MR, NR};
use crate::simd128;
use std::arch::wasm32::*;

/// acc[i][j] = bias[j] + sum_kk a[i][kk] * panel[kk][j] for i < rows and j < 8 (`cols` <= 8: a
/// part-filled panel) or j < 16.
///
/// # Safety
/// SIMD128 must be available (the module is built for it); `a` holds `rows * k`, `panel`
/// `k * NR` and `bias` `NR` floats.
#[target_feature(enable = "simd128")]
pub unsafe fn tile<const FUSED: bool>(
    a: &[f32],
    rows: usize,
    k: usize,
    panel: &[f32],
    bias: &[f32],
    cols: usize,
    acc: &mut [[f32; NR]; MR],
) {
    debug_assert!(a.len() >= rows * k && panel.len() >= k * NR && bias.len() >= NR);
    let halves: &[usize] = if cols <= NR / 2 { &[0] } else { &[0, NR / 2] };
    for &half in halves {
        // SAFETY: lengths as documented; a const row count keeps the accumulators in registers.
        unsafe {
            let (a, b, bias) = (a.as_ptr(), panel.as_ptr().add(half), bias.as_ptr().add(half));
            // Rows in passes of at most four (see the module's comment).
            let mut r0 = 0;
            while r0 < rows {
                let (a, acc) = (a.add(r0 * k), &mut acc[r0..]);
                match rows - r0 {
                    1 => tile_rows::<1, FUSED>(a, k, b, bias, acc, half),
                    2 => tile_rows::<2, FUSED>(a, k, b, bias, acc, half),
                    3 => tile_rows::<3, FUSED>(a, k, b, bias, acc, half),
                    _ => tile_rows::<4, FUSED>(a, k, b, bias, acc, half),
                }
                r0 += 4;
            }
        }
    }
}

/// `c + a * b`: a multiply then an add (the portable tile's bits), or with `FUSED` relaxed
/// SIMD's `f32x4.relaxed_madd` (fused where the CPU has FMA; only in a relaxed-SIMD build).
#[target_feature(enable = "simd128")]
#[inline]
fn madd<const FUSED: bool>(a: v128, b: v128, c: v128) -> v128 {
    #[cfg(target_feature = "relaxed-simd")]
    if FUSED {
        return f32x4_relaxed_madd(a, b, c);
    }
    f32x4_add(c, f32x4_mul(a, b))
}

/// Two vectors of four floats from `p`.
///
/// # Safety
/// `p` readable for eight floats.
#[target_feature(enable = "simd128")]
#[inline]
unsafe fn load8(p: *const f32) -> [v128; 2] {
    // SAFETY: the caller's contract; v128_load takes unaligned addresses.
    unsafe { [v128_load(p as *const v128), v128_load(p.add(4) as *const v128)] }
}

/// The sums of `R` rows of `a` against eight columns of a packed panel (from `b`, stride NR),
/// from the bias, in registers: two vectors a row.
///
/// # Safety
/// `a` valid for `R` rows of `k` floats, `b` for `k` rows of the panel, `bias` for 8.
#[target_feature(enable = "simd128")]
#[inline]
unsafe fn sums<const R: usize, const FUSED: bool>(
    a: *const f32,
    k: usize,
    b: *const f32,
    bias: *const f32,
) -> [[v128; 2]; R] {
    // SAFETY: the caller upholds this function's `# Safety` contract.
    unsafe {
        let mut c = [load8(bias); R];
        for kk in 0..k {
            let w = load8(b.add(kk * NR));
            for (r, row) in c.iter_mut().enumerate() {
                let av = v128_load32_splat(a.add(r * k + kk) as *const u32);
                row[0] = madd::<FUSED>(av, w[0], row[0]);
                row[1] = madd::<FUSED>(av, w[1], row[1]);
            }
        }
        c
    }
}

/// `R` rows of `a` against eight columns of a packed panel (from `b`, stride NR) into
/// `acc[..][half..half + 8]`.
///
/// # Safety
/// `a` valid for `R` rows of `k` floats, `b` for `k` rows of the panel from column `half`,
/// `bias` for 8.
#[target_feature(enable = "simd128")]
#[inline]
unsafe fn tile_rows<const R: usize, const FUSED: bool>(
    a: *const f32,
    k: usize,
    b: *const f32,
    bias: *const f32,
    acc: &mut [[f32; NR]],
    half: usize,
) {
    // SAFETY: the caller upholds this function's `# Safety` contract; `acc` rows hold 16 floats.
    unsafe {
        let c = sums::<R, FUSED>(a, k, b, bias);
        for (row, out) in c.iter().zip(acc.iter_mut()) {
            v128_store(out.as_mut_ptr().add(half) as *mut v128, row[0]);
            v128_store(out.as_mut_ptr().add(half + 4) as *mut v128, row[1]);
        }
    }
}

/// A full 16-column tile with the epilogue fused: `out[i][0..16] = clamp(acc + residual)`, stored
/// straight from registers (each half of the panel in turn). `out` and `residual` point at the
/// tile's first element, rows `ld` apart. The same bits as [`tile`] followed by the scalar
/// epilogue: the add of the residual, then `Clamp::apply`'s comparisons.
///
/// # Safety
/// SIMD128 must be available (the module is built for it); `a` holds `rows * k` floats, `panel`
/// `k * NR`, `bias` `NR`; `out` (and `residual` when given) are valid for `rows` rows of 16 floats
/// at stride `ld`.
#[target_feature(enable = "simd128")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn tile_full<const FUSED: bool>(
    a: &[f32],
    rows: usize,
    k: usize,
    panel: &[f32],
    bias: &[f32],
    out: *mut f32,
    residual: Option<*const f32>,
    ld: usize,
    lo: f32,
    hi: f32,
) {
    debug_assert!(a.len() >= rows * k && panel.len() >= k * NR && bias.len() >= NR);
    for half in [0, NR / 2] {
        // SAFETY: the caller's contract; the half stays inside the 16 columns of each row.
        unsafe {
            let (a, b, bias) = (a.as_ptr(), panel.as_ptr().add(half), bias.as_ptr().add(half));
            let (out, residual) = (out.add(half), residual.map(|r| r.add(half)));
            // Rows in passes of at most four (see the module's comment).
            let mut r0 = 0;
            while r0 < rows {
                let (a, out, residual) = (a.add(r0 * k), out.add(r0 * ld), residual.map(|r| r.add(r0 * ld)));
                match rows - r0 {
                    1 => full_rows::<1, FUSED>(a, k, b, bias, out, residual, ld, lo, hi),
                    2 => full_rows::<2, FUSED>(a, k, b, bias, out, residual, ld, lo, hi),
                    3 => full_rows::<3, FUSED>(a, k, b, bias, out, residual, ld, lo, hi),
                    _ => full_rows::<4, FUSED>(a, k, b, bias, out, residual, ld, lo, hi),
                }
                r0 += 4;
            }
        }
    }
}

/// `R` rows of `a` against eight columns of a packed panel, clamped (the residual added first)
/// into `out`.
///
/// # Safety
/// `a` valid for `R` rows of `k` floats, `b` for `k` rows of the panel (stride NR), `bias` for 8,
/// `out` (and `residual`) for `R` rows of 8 floats at stride `ld`.
#[target_feature(enable = "simd128")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn full_rows<const R: usize, const FUSED: bool>(
    a: *const f32,
    k: usize,
    b: *const f32,
    bias: *const f32,
    out: *mut f32,
    residual: Option<*const f32>,
    ld: usize,
    lo: f32,
    hi: f32,
) {
    // SAFETY: the caller upholds this function's `# Safety` contract.
    unsafe {
        let c = sums::<R, FUSED>(a, k, b, bias);
        let (lo, hi) = (f32x4_splat(lo), f32x4_splat(hi));
        for (r, row) in c.iter().enumerate() {
            let mut v = *row;
            if let Some(res) = residual {
                let add = load8(res.add(r * ld));
                v = [f32x4_add(v[0], add[0]), f32x4_add(v[1], add[1])];
            }
            v128_store(out.add(r * ld) as *mut v128, simd128::clamp(v[0], lo, hi));
            v128_store(out.add(r * ld + 4) as *mut v128, simd128::clamp(v[1], lo, hi));
        }
    }
}
