//! AVX2+FMA register tile: up to 6 rows x 16 columns held in 12 ymm accumulators.

use super::{MR, NR};
use std::arch::x86_64::*;

/// acc[i][j] = bias[j] + sum_kk a[i][kk] * panel[kk][j] for i < rows.
///
/// # Safety
/// The CPU must support AVX2 and FMA; `a` holds `rows * k`, `panel` `k * NR` and `bias` `NR` floats.
#[target_feature(enable = "avx2,fma")]
pub unsafe fn tile(a: &[f32], rows: usize, k: usize, panel: &[f32], bias: &[f32], acc: &mut [[f32; NR]; MR]) {
    debug_assert!(a.len() >= rows * k && panel.len() >= k * NR && bias.len() >= NR);
    // SAFETY: lengths as documented; dispatch to a const row count lets the compiler keep every
    // accumulator in a register.
    unsafe {
        match rows {
            6 => tile_rows::<6>(a.as_ptr(), k, panel.as_ptr(), bias.as_ptr(), acc),
            5 => tile_rows::<5>(a.as_ptr(), k, panel.as_ptr(), bias.as_ptr(), acc),
            4 => tile_rows::<4>(a.as_ptr(), k, panel.as_ptr(), bias.as_ptr(), acc),
            3 => tile_rows::<3>(a.as_ptr(), k, panel.as_ptr(), bias.as_ptr(), acc),
            2 => tile_rows::<2>(a.as_ptr(), k, panel.as_ptr(), bias.as_ptr(), acc),
            1 => tile_rows::<1>(a.as_ptr(), k, panel.as_ptr(), bias.as_ptr(), acc),
            _ => {}
        }
    }
}

/// `R` rows of `a` against one packed panel into `acc`.
///
/// # Safety
/// The CPU must have AVX2 and FMA; `a` valid for `R` rows of `k` floats, `b` for the panel's
/// `k` x 16 floats, `bias` for 16.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn tile_rows<const R: usize>(
    a: *const f32,
    k: usize,
    b: *const f32,
    bias: *const f32,
    acc: &mut [[f32; NR]; MR],
) {
    // SAFETY: the caller upholds this function's `# Safety` contract.
    unsafe {
        let b0 = _mm256_loadu_ps(bias);
        let b1 = _mm256_loadu_ps(bias.add(8));
        let mut c0 = [b0; R];
        let mut c1 = [b1; R];
        for kk in 0..k {
            let w0 = _mm256_loadu_ps(b.add(kk * NR));
            let w1 = _mm256_loadu_ps(b.add(kk * NR + 8));
            for i in 0..R {
                let av = _mm256_broadcast_ss(&*a.add(i * k + kk));
                c0[i] = _mm256_fmadd_ps(av, w0, c0[i]);
                c1[i] = _mm256_fmadd_ps(av, w1, c1[i]);
            }
        }
        for i in 0..R {
            _mm256_storeu_ps(acc[i].as_mut_ptr(), c0[i]);
            _mm256_storeu_ps(acc[i].as_mut_ptr().add(8), c1[i]);
        }
    }
}

/// A full 16-column tile with the epilogue fused: `out[i][0..16] = clamp(acc + residual)`, stored
/// straight from registers. `out` and `residual` point at the tile's first element, rows `ld` apart.
///
/// # Safety
/// The CPU must support AVX2 and FMA; `a` holds `rows * k` floats, `panel` `k * NR`, `bias` `NR`;
/// `out` (and `residual` when given) are valid for `rows` rows of 16 floats at stride `ld`.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn tile_full(
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
    // SAFETY: the caller upholds this function's `# Safety` contract.
    unsafe {
        match rows {
            6 => full_rows::<6>(a.as_ptr(), k, panel.as_ptr(), bias.as_ptr(), out, residual, ld, lo, hi),
            5 => full_rows::<5>(a.as_ptr(), k, panel.as_ptr(), bias.as_ptr(), out, residual, ld, lo, hi),
            4 => full_rows::<4>(a.as_ptr(), k, panel.as_ptr(), bias.as_ptr(), out, residual, ld, lo, hi),
            3 => full_rows::<3>(a.as_ptr(), k, panel.as_ptr(), bias.as_ptr(), out, residual, ld, lo, hi),
            2 => full_rows::<2>(a.as_ptr(), k, panel.as_ptr(), bias.as_ptr(), out, residual, ld, lo, hi),
            1 => full_rows::<1>(a.as_ptr(), k, panel.as_ptr(), bias.as_ptr(), out, residual, ld, lo, hi),
            _ => {}
        }
    }
}

/// `R` rows of `a` against one full panel, clamped (and the residual added) into `out`.
///
/// # Safety
/// The CPU must have AVX2 and FMA; `a` valid for `R` rows of `k` floats, `b` for the panel's
/// `k` x 16 floats, `bias` for 16, `out` (and `residual`) for `R` rows of 16 floats at stride `ld`.
#[target_feature(enable = "avx2,fma")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn full_rows<const R: usize>(
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
        let mut c0 = [_mm256_loadu_ps(bias); R];
        let mut c1 = [_mm256_loadu_ps(bias.add(8)); R];
        for kk in 0..k {
            let w0 = _mm256_loadu_ps(b.add(kk * NR));
            let w1 = _mm256_loadu_ps(b.add(kk * NR + 8));
            for i in 0..R {
                let av = _mm256_broadcast_ss(&*a.add(i * k + kk));
                c0[i] = _mm256_fmadd_ps(av, w0, c0[i]);
                c1[i] = _mm256_fmadd_ps(av, w1, c1[i]);
            }
        }
        let (vlo, vhi) = (_mm256_set1_ps(lo), _mm256_set1_ps(hi));
        for i in 0..R {
            let (mut v0, mut v1) = (c0[i], c1[i]);
            if let Some(r) = residual {
                v0 = _mm256_add_ps(v0, _mm256_loadu_ps(r.add(i * ld)));
                v1 = _mm256_add_ps(v1, _mm256_loadu_ps(r.add(i * ld + 8)));
            }
            _mm256_storeu_ps(out.add(i * ld), _mm256_min_ps(_mm256_max_ps(v0, vlo), vhi));
            _mm256_storeu_ps(out.add(i * ld + 8), _mm256_min_ps(_mm256_max_ps(v1, vlo), vhi));
        }
    }
}
