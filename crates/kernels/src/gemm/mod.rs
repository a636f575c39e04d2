//! Dense matrix multiply with a fused epilogue: the pointwise (1x1) convs and the classifier.
//!
//! `out[m][n] = clamp(bias[n] + sum_k a[m][k] * b[k][n] + residual[m][n])`, with `a` the NHWC
//! activations seen as (pixels x channels) and `b` the weights prepacked once at model load into
//! panels of [`NR`] columns. Every output element is summed in the same order whatever rows a call
//! covers, so splitting rows across threads never changes a bit.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "aarch64")]
mod neon;
mod reference;
mod scalar;
#[cfg(test)]
mod tests;
#[cfg(target_arch = "wasm32")]
mod wasm;

pub use reference::gemm_reference;

use crate::aligned::AlignedVec;
use crate::{Clamp, Isa};

/// The levels the fp32 GEMM has its own code for (tests and benches run each).
pub const VARIANTS: [Isa; 6] = [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon, Isa::Simd128, Isa::RelaxedSimd];

/// Columns per packed panel (two AVX2 registers).
pub const NR: usize = 16;
/// Rows per register tile.
pub const MR: usize = 6;
/// Rows per AVX-512 register tile (24 of the 32 zmm registers accumulate).
const MR_WIDE: usize = 12;

/// Weights (k x n) and bias (n) packed into zero-padded panels of `NR` columns.
#[derive(Debug, Clone)]
pub struct PackedB {
    k: usize,
    n: usize,
    /// panel p, row kk, column j at `(p * k + kk) * NR + j`
    data: AlignedVec<f32>,
    /// bias padded to a multiple of `NR`
    bias: Vec<f32>,
}

impl PackedB {
    /// Packs `w`, given as `w(kk, j)` for row kk < k (input channel) and column j < n (output channel).
    pub fn new(k: usize, n: usize, w: impl Fn(usize, usize) -> f32, bias: &[f32]) -> PackedB {
        assert_eq!(bias.len(), n, "bias length");
        let panels = n.div_ceil(NR);
        let mut data = AlignedVec::zeroed(panels * k * NR);
        for p in 0..panels {
            for kk in 0..k {
                for j in 0..NR.min(n - p * NR) {
                    data[(p * k + kk) * NR + j] = w(kk, p * NR + j);
                }
            }
        }
        let mut padded = vec![0.0; panels * NR];
        padded[..n].copy_from_slice(bias);
        PackedB { k, n, data, bias: padded }
    }
    pub fn k(&self) -> usize {
        self.k
    }
    pub fn n(&self) -> usize {
        self.n
    }
    /// Panels of `NR` columns (the last may be part-filled).
    pub fn panels(&self) -> usize {
        self.n.div_ceil(NR)
    }
    fn panel(&self, p: usize) -> &[f32] {
        &self.data[p * self.k * NR..(p + 1) * self.k * NR]
    }
    /// Unpacked weight (kk, j), for references and tests.
    pub fn weight(&self, kk: usize, j: usize) -> f32 {
        self.data[((j / NR) * self.k + kk) * NR + j % NR]
    }
    pub fn bias(&self) -> &[f32] {
        &self.bias[..self.n]
    }
}

/// Rows of the A matrix processed per cache block.
const MC: usize = 72;

/// `out = clamp(a * b + bias + residual)` for `m` rows; `a` is m x k, `out` and `residual` m x n,
/// all row-major and contiguous.
pub fn gemm(isa: Isa, a: &[f32], b: &PackedB, residual: Option<&[f32]>, clamp: Clamp, out: &mut [f32]) {
    gemm_tiles(isa, true, a, b, 0..b.panels(), residual, clamp, out)
}

/// [`gemm`] for the output columns of `panels` only (a range of `0..b.panels()`): `out` and
/// `residual` hold m rows of just those columns. Each element is computed as by [`gemm`], so
/// workers may share a product's columns as well as its rows.
pub fn gemm_panels(
    isa: Isa,
    a: &[f32],
    b: &PackedB,
    panels: std::ops::Range<usize>,
    residual: Option<&[f32]>,
    clamp: Clamp,
    out: &mut [f32],
) {
    gemm_tiles(isa, true, a, b, panels, residual, clamp, out)
}

/// [`gemm_panels`] choosing whether AVX2 work may use AVX-512 tiles (`wide`; ignored without AVX-512).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_tiles(
    isa: Isa,
    wide: bool,
    a: &[f32],
    b: &PackedB,
    panels: std::ops::Range<usize>,
    residual: Option<&[f32]>,
    clamp: Clamp,
    out: &mut [f32],
) {
    let isa = crate::isa::pick(&VARIANTS, isa);
    assert!(panels.start < panels.end && panels.end <= b.panels(), "panels {panels:?} of {}", b.panels());
    let (k, n) = (b.k, b.n.min(panels.end * NR));
    let ld = n - panels.start * NR;
    let m = out.len() / ld;
    assert_eq!(out.len(), m * ld, "output is not a whole number of rows");
    assert_eq!(a.len(), m * k, "A has {} elements, expected {m}x{k}", a.len());
    if let Some(r) = residual {
        assert_eq!(r.len(), out.len(), "residual shape");
    }
    let ctx = Ctx { isa, a, b, residual, clamp, p0: panels.start, ld };
    let wide = wide && isa == Isa::Avx512;
    for m0 in (0..m).step_by(MC) {
        let rows = MC.min(m - m0);
        // Row tiles of as even a height as MR allows (49 rows: 7 x 7 rather than 8 x 6 and a
        // one-row tile that streams the whole panel for one row).
        let tiles = rows.div_ceil(if wide { MR_WIDE } else { MR });
        let tile = |t: usize| {
            let (base, extra) = (rows / tiles, rows % tiles);
            (m0 + t * base + t.min(extra), base + usize::from(t < extra))
        };
        let mut p = panels.start;
        while p < panels.end {
            // Two full panels at once in zmm registers where the CPU has AVX-512.
            if wide && (p + 2) * NR <= n {
                for (row0, rows) in (0..tiles).map(tile) {
                    run_tile2(&ctx, out, Tile { rows, cols: 2 * NR, row0, panel: p });
                }
                p += 2;
                continue;
            }
            // A full panel and a part-filled last one (24 outputs: 16 + 8) in one pass.
            if wide && (p + 1) * NR < n {
                for (row0, rows) in (0..tiles).map(tile) {
                    run_tile2(&ctx, out, Tile { rows, cols: n - p * NR, row0, panel: p });
                }
                p += 2;
                continue;
            }
            let cols = NR.min(n - p * NR);
            for (row0, rows) in (0..tiles).map(tile) {
                run_tile(&ctx, out, Tile { rows, cols, row0, panel: p }, wide);
            }
            p += 1;
        }
    }
}

/// Where a full tile `cols` wide starts in the output (and its residual), after checking that all
/// its rows lie inside both.
#[cfg(any(target_arch = "x86_64", target_arch = "wasm32"))]
fn tile_span(ctx: &Ctx, out_len: usize, t: Tile, cols: usize) -> (usize, Option<*const f32>) {
    let o = ctx.offset(t.row0, t.panel);
    let end = ctx.offset(t.row0 + t.rows - 1, t.panel) + cols;
    assert!(end <= out_len && ctx.residual.is_none_or(|r| end <= r.len()), "tile outside the output");
    (o, ctx.residual.map(|r| r[o..].as_ptr()))
}

/// A tile over panels `t.panel` and `t.panel + 1` (`t.cols` columns: the first full, the
/// second full or part-filled), with AVX-512.
#[cfg(target_arch = "x86_64")]
fn run_tile2(ctx: &Ctx, out: &mut [f32], t: Tile) {
    let (k, ld) = (ctx.b.k, ctx.ld);
    let (o, residual) = tile_span(ctx, out.len(), t, t.cols);
    let a_rows = &ctx.a[t.row0 * k..(t.row0 + t.rows) * k];
    let bias = &ctx.b.bias[t.panel * NR..(t.panel + 2) * NR];
    let (p0, p1) = (ctx.b.panel(t.panel), ctx.b.panel(t.panel + 1));
    let (lo, hi) = (ctx.clamp.lo, ctx.clamp.hi);
    // SAFETY: gemm() only asks for wide tiles when the CPU has AVX-512F and VL (Isa::Avx512); the tile's rows of
    // t.cols lie inside `out` and `residual` (tile_span asserts it); the panels hold k * NR
    // floats, bias 2 * NR (padded).
    unsafe {
        avx512::tile2(a_rows, t.rows, k, p0, p1, bias, out[o..].as_mut_ptr(), residual, (ld, t.cols - NR), lo, hi)
    };
}

#[cfg(not(target_arch = "x86_64"))]
fn run_tile2(_: &Ctx, _: &mut [f32], _: Tile) {
    unreachable!("wide tiles are x86-64 only")
}

/// The operands of one GEMM call.
struct Ctx<'a> {
    isa: Isa,
    a: &'a [f32],
    b: &'a PackedB,
    residual: Option<&'a [f32]>,
    clamp: Clamp,
    /// The first panel computed, and the output's row stride (the columns computed).
    p0: usize,
    ld: usize,
}

impl Ctx<'_> {
    /// Where output row `row`, column 0 of panel `panel` is in `out`.
    fn offset(&self, row: usize, panel: usize) -> usize {
        row * self.ld + (panel - self.p0) * NR
    }
}

/// Position and size of one register tile.
#[derive(Clone, Copy)]
struct Tile {
    rows: usize,
    cols: usize,
    row0: usize,
    panel: usize,
}

#[inline]
#[allow(unused_variables)]
fn run_tile(ctx: &Ctx, out: &mut [f32], t: Tile, wide: bool) {
    let (k, ld) = (ctx.b.k, ctx.ld);
    let panel = ctx.b.panel(t.panel);
    let bias = &ctx.b.bias[t.panel * NR..(t.panel + 1) * NR];
    let a_rows = &ctx.a[t.row0 * k..(t.row0 + t.rows) * k];
    #[cfg(target_arch = "x86_64")]
    if wide {
        // One panel, part-filled or not, through a lane mask.
        let (o, residual) = tile_span(ctx, out.len(), t, t.cols);
        let (lo, hi) = (ctx.clamp.lo, ctx.clamp.hi);
        // SAFETY: `wide` only with AVX-512F (gemm() checked); the tile's rows of t.cols lie
        // inside `out` and `residual` (tile_span asserts it); a_rows/panel/bias have the
        // documented lengths.
        unsafe { avx512::tile1(a_rows, t.rows, k, panel, bias, out[o..].as_mut_ptr(), residual, (ld, t.cols), lo, hi) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if t.cols == NR && ctx.isa >= Isa::Avx2 {
        let (o, residual) = tile_span(ctx, out.len(), t, NR);
        let (lo, hi) = (ctx.clamp.lo, ctx.clamp.hi);
        // SAFETY: AVX2+FMA (gemm() checked the Isa); the tile's rows lie inside `out` and
        // `residual` (tile_span asserts it); a_rows/panel/bias have the documented lengths.
        unsafe { avx2::tile_full(a_rows, t.rows, k, panel, bias, out[o..].as_mut_ptr(), residual, ld, lo, hi) };
        return;
    }
    #[cfg(target_arch = "wasm32")]
    if t.cols == NR && matches!(ctx.isa, Isa::Simd128 | Isa::RelaxedSimd) {
        let (o, residual) = tile_span(ctx, out.len(), t, NR);
        let (lo, hi) = (ctx.clamp.lo, ctx.clamp.hi);
        let dst = out[o..].as_mut_ptr();
        // SAFETY: a wasm32 build, made for engines with SIMD128 (and relaxed SIMD when gemm()
        // let RelaxedSimd through); the tile's rows lie inside `out` and `residual` (tile_span
        // asserts it); a_rows/panel/bias have the documented lengths.
        unsafe {
            match ctx.isa {
                Isa::RelaxedSimd => wasm::tile_full::<true>(a_rows, t.rows, k, panel, bias, dst, residual, ld, lo, hi),
                _ => wasm::tile_full::<false>(a_rows, t.rows, k, panel, bias, dst, residual, ld, lo, hi),
            }
        };
        return;
    }
    // Accumulate the full NR-wide tile into registers (or this array), then store the valid part.
    let mut acc = [[0f32; NR]; MR];
    match ctx.isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 | Isa::Avx512 => {
            // SAFETY: gemm() turned an unavailable Isa into Scalar, so the CPU has avx2 and fma;
            // a_rows holds rows*k, panel k*NR and bias NR floats.
            unsafe { avx2::tile(a_rows, t.rows, k, panel, bias, &mut acc) }
        }
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => {
            // SAFETY: gemm() turned an unavailable Isa into Scalar, so this is an aarch64 CPU
            // (NEON is part of every one); a_rows holds rows*k, panel k*NR and bias NR floats.
            unsafe { neon::tile(a_rows, t.rows, k, panel, bias, &mut acc) }
        }
        #[cfg(target_arch = "wasm32")]
        Isa::Simd128 => {
            // SAFETY: gemm() turned an unavailable Isa into Scalar, so this is a wasm32 build,
            // made for engines with SIMD128; a_rows holds rows*k, panel k*NR and bias NR floats.
            unsafe { wasm::tile::<false>(a_rows, t.rows, k, panel, bias, t.cols, &mut acc) }
        }
        #[cfg(target_arch = "wasm32")]
        Isa::RelaxedSimd => {
            // SAFETY: as for Simd128, in a build made for relaxed SIMD (gemm() let it through).
            unsafe { wasm::tile::<true>(a_rows, t.rows, k, panel, bias, t.cols, &mut acc) }
        }
        _ => scalar::tile(a_rows, t.rows, k, panel, bias, &mut acc),
    }
    for (i, acc_row) in acc.iter().enumerate().take(t.rows) {
        let o = ctx.offset(t.row0 + i, t.panel);
        let dst = &mut out[o..o + t.cols];
        match ctx.residual {
            Some(r) => {
                for ((d, &v), &rv) in dst.iter_mut().zip(acc_row).zip(&r[o..o + t.cols]) {
                    *d = ctx.clamp.apply(v + rv);
                }
            }
            None => {
                for (d, &v) in dst.iter_mut().zip(acc_row) {
                    *d = ctx.clamp.apply(v);
                }
            }
        }
    }
}
