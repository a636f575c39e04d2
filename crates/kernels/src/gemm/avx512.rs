//! AVX-512 register tiles: up to 12 rows x 32 columns (two adjacent packed panels, the second
//! possibly part-filled) in 24 zmm accumulators, or 12 rows of one panel. Each output element is
//! the same chain of fused multiply-adds in the same order as in the AVX2 and scalar tiles, so
//! results are bit-identical whichever runs.

use super::NR;
use std::arch::x86_64::*;

/// Calls `f::<R>(args)` with the tile's row count `rows` (1..=12) as the constant `R`, so the
/// accumulators stay in registers; other counts do nothing.
macro_rules! with_rows {
    ($rows:expr, $f:ident($($arg:expr),*)) => {
        match $rows {
            12 => $f::<12>($($arg),*),
            11 => $f::<11>($($arg),*),
            10 => $f::<10>($($arg),*),
            9 => $f::<9>($($arg),*),
            8 => $f::<8>($($arg),*),
            7 => $f::<7>($($arg),*),
            6 => $f::<6>($($arg),*),
            5 => $f::<5>($($arg),*),
            4 => $f::<4>($($arg),*),
            3 => $f::<3>($($arg),*),
            2 => $f::<2>($($arg),*),
            1 => $f::<1>($($arg),*),
            _ => {}
        }
    };
}

/// Panel rows (cache lines) to prefetch ahead of the one being multiplied.
const PREFETCH: usize = 32;

/// `out[i][0..16 + cols1] = clamp(bias + a[i] * [panel0 | panel1] + residual)` for `rows` rows:
/// a full panel and the first `cols1` (1..=16) columns of the next in one pass, the second
/// through a lane mask, each broadcast of `a` feeding both (so MobileNetV2's 24-channel
/// projections take one pass over the rows, not a full and a half-empty one).
///
/// # Safety
/// The CPU must support AVX-512F and AVX-512VL; `a` holds `rows * k` floats, `panel0` and `panel1` `k * NR`,
/// `bias` `2 * NR`; `out` (and `residual` when given) are valid for `rows` rows of `16 + cols1`
/// floats at stride `ld`.
#[target_feature(enable = "avx512f,avx512vl")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn tile2(
    a: &[f32],
    rows: usize,
    k: usize,
    panel0: &[f32],
    panel1: &[f32],
    bias: &[f32],
    out: *mut f32,
    residual: Option<*const f32>,
    (ld, cols1): (usize, usize),
    lo: f32,
    hi: f32,
) {
    debug_assert!(a.len() >= rows * k && panel0.len() >= k * NR && panel1.len() >= k * NR && bias.len() >= 2 * NR);
    debug_assert!((1..=NR).contains(&cols1));
    let (a, p0, p1, b) = (a.as_ptr(), panel0.as_ptr(), panel1.as_ptr(), bias.as_ptr());
    let mask1 = ((1u32 << cols1) - 1) as u16;
    // SAFETY: as documented; a const row count keeps the accumulators in registers.
    unsafe {
        if cols1 <= NR / 2 {
            with_rows!(rows, rows2_half(a, k, p0, p1, b, out, residual, (ld, mask1 as u8), lo, hi));
        } else {
            with_rows!(rows, rows2(a, k, p0, p1, b, out, residual, (ld, mask1), lo, hi));
        }
    }
}

/// As [`rows2`] with at most 8 columns of the second panel, accumulated in ymm registers: where a
/// zmm FMA is two 256-bit halves (AMD Zen 4), a 24-column tile then costs 18 FMA slots per `k`
/// rather than 24. Same FMA chain per element, so the same bits.
///
/// # Safety
/// As [`rows2`], and the CPU must have AVX-512VL; `mask1` covers at most the first 8 columns.
#[target_feature(enable = "avx512f,avx512vl")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn rows2_half<const R: usize>(
    a: *const f32,
    k: usize,
    p0: *const f32,
    p1: *const f32,
    bias: *const f32,
    out: *mut f32,
    residual: Option<*const f32>,
    (ld, mask1): (usize, u8),
    lo: f32,
    hi: f32,
) {
    // SAFETY: the caller upholds this function's `# Safety` contract.
    unsafe {
        let mut c0 = [_mm512_loadu_ps(bias); R];
        let mut c1 = [_mm256_loadu_ps(bias.add(NR)); R];
        for kk in 0..k {
            _mm_prefetch::<_MM_HINT_T0>(p0.wrapping_add((kk + PREFETCH) * NR).cast());
            _mm_prefetch::<_MM_HINT_T0>(p1.wrapping_add((kk + PREFETCH) * NR).cast());
            let w0 = _mm512_loadu_ps(p0.add(kk * NR));
            let w1 = _mm256_loadu_ps(p1.add(kk * NR));
            for i in 0..R {
                let ai = a.add(i * k + kk);
                c0[i] = _mm512_fmadd_ps(_mm512_set1_ps(*ai), w0, c0[i]);
                // The ymm FMA broadcasts from memory itself: given one broadcast for both, LLVM
                // widens a ymm broadcast to zmm with a shuffle, which costs more than it saves.
                std::arch::asm!(
                    "vfmadd231ps {c}, {w}, dword ptr [{a}]{{1to8}}",
                    c = inout(ymm_reg) c1[i],
                    w = in(ymm_reg) w1,
                    a = in(reg) ai,
                    options(pure, readonly, nostack, preserves_flags),
                );
            }
        }
        let (vlo, vhi) = (_mm512_set1_ps(lo), _mm512_set1_ps(hi));
        let (hlo, hhi) = (_mm256_set1_ps(lo), _mm256_set1_ps(hi));
        for i in 0..R {
            let (mut v0, mut v1) = (c0[i], c1[i]);
            if let Some(r) = residual {
                v0 = _mm512_add_ps(v0, _mm512_loadu_ps(r.add(i * ld)));
                v1 = _mm256_add_ps(v1, _mm256_maskz_loadu_ps(mask1, r.add(i * ld + NR)));
            }
            _mm512_storeu_ps(out.add(i * ld), _mm512_min_ps(_mm512_max_ps(v0, vlo), vhi));
            _mm256_mask_storeu_ps(out.add(i * ld + NR), mask1, _mm256_min_ps(_mm256_max_ps(v1, hlo), hhi));
        }
    }
}

/// `R` rows of `a` against two panels (the second part-filled by `mask1`) into `out`.
///
/// # Safety
/// The CPU must have AVX-512F; `a` valid for `R` rows of `k` floats, each panel for `k` x 16
/// floats, `bias` for 32, `out` (and `residual`) for `R` rows of the masked columns at stride `ld`.
#[target_feature(enable = "avx512f")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn rows2<const R: usize>(
    a: *const f32,
    k: usize,
    p0: *const f32,
    p1: *const f32,
    bias: *const f32,
    out: *mut f32,
    residual: Option<*const f32>,
    (ld, mask1): (usize, u16),
    lo: f32,
    hi: f32,
) {
    // SAFETY: the caller upholds this function's `# Safety` contract.
    unsafe {
        let mut c0 = [_mm512_loadu_ps(bias); R];
        let mut c1 = [_mm512_loadu_ps(bias.add(NR)); R];
        for kk in 0..k {
            // The first row tile over a pair of panels streams them from L3: ask ahead.
            _mm_prefetch::<_MM_HINT_T0>(p0.wrapping_add((kk + PREFETCH) * NR).cast());
            _mm_prefetch::<_MM_HINT_T0>(p1.wrapping_add((kk + PREFETCH) * NR).cast());
            let w0 = _mm512_loadu_ps(p0.add(kk * NR));
            let w1 = _mm512_loadu_ps(p1.add(kk * NR));
            for i in 0..R {
                let av = _mm512_set1_ps(*a.add(i * k + kk));
                c0[i] = _mm512_fmadd_ps(av, w0, c0[i]);
                c1[i] = _mm512_fmadd_ps(av, w1, c1[i]);
            }
        }
        let (vlo, vhi) = (_mm512_set1_ps(lo), _mm512_set1_ps(hi));
        for i in 0..R {
            let (mut v0, mut v1) = (c0[i], c1[i]);
            if let Some(r) = residual {
                v0 = _mm512_add_ps(v0, _mm512_loadu_ps(r.add(i * ld)));
                v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(mask1, r.add(i * ld + NR)));
            }
            _mm512_storeu_ps(out.add(i * ld), _mm512_min_ps(_mm512_max_ps(v0, vlo), vhi));
            _mm512_mask_storeu_ps(out.add(i * ld + NR), mask1, _mm512_min_ps(_mm512_max_ps(v1, vlo), vhi));
        }
    }
}

/// One full panel (16 columns, one zmm per row): `out[i][0..16] = clamp(bias + a[i] * panel +
/// residual)`, the same FMA chain per element as the other tiles.
///
/// One panel, of which the first `cols` columns exist (a part-filled last panel is read and
/// written through a lane mask).
///
/// # Safety
/// As [`tile2`] with one panel of `k * NR` floats and `NR` bias values; `out` and `residual`
/// are valid for `rows` rows of `cols <= 16` floats at stride `ld`.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn tile1(
    a: &[f32],
    rows: usize,
    k: usize,
    panel: &[f32],
    bias: &[f32],
    out: *mut f32,
    residual: Option<*const f32>,
    (ld, cols): (usize, usize),
    lo: f32,
    hi: f32,
) {
    debug_assert!(a.len() >= rows * k && panel.len() >= k * NR && bias.len() >= NR && cols <= NR);
    let (a, p, b) = (a.as_ptr(), panel.as_ptr(), bias.as_ptr());
    let mask = ((1u32 << cols) - 1) as u16;
    // SAFETY: as documented.
    unsafe {
        with_rows!(rows, rows1(a, k, p, b, out, residual, (ld, mask), lo, hi));
    }
}

/// `R` rows of `a` against one panel (part-filled by `mask`) into `out`.
///
/// # Safety
/// The CPU must have AVX-512F; `a` valid for `R` rows of `k` floats, the panel for `k` x 16 floats,
/// `bias` for 16, `out` (and `residual`) for `R` rows of the masked columns at stride `ld`.
#[target_feature(enable = "avx512f")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn rows1<const R: usize>(
    a: *const f32,
    k: usize,
    p: *const f32,
    bias: *const f32,
    out: *mut f32,
    residual: Option<*const f32>,
    (ld, mask): (usize, u16),
    lo: f32,
    hi: f32,
) {
    // SAFETY: the caller upholds this function's `# Safety` contract.
    unsafe {
        let mut c = [_mm512_loadu_ps(bias); R];
        for kk in 0..k {
            _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add((kk + PREFETCH) * NR).cast());
            let w = _mm512_loadu_ps(p.add(kk * NR));
            for (i, ci) in c.iter_mut().enumerate() {
                *ci = _mm512_fmadd_ps(_mm512_set1_ps(*a.add(i * k + kk)), w, *ci);
            }
        }
        let (vlo, vhi) = (_mm512_set1_ps(lo), _mm512_set1_ps(hi));
        for (i, &ci) in c.iter().enumerate() {
            let mut v = ci;
            if let Some(r) = residual {
                v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, r.add(i * ld)));
            }
            _mm512_mask_storeu_ps(out.add(i * ld), mask, _mm512_min_ps(_mm512_max_ps(v, vlo), vhi));
        }
    }
}
