//! Memory-efficient execution of an inverted residual (paper section 5.1): output rows are
//! produced band by band, and only a sliding window of expanded input rows and one band of
//! depthwise output exist at a time, so a block needs |input| + |output| + a few rows.

use mnv2_arch::Bottleneck;
use mnv2_kernels::dwconv::{DwLayer, dwconv3x3_ring, dwconv3x3_window};
use mnv2_kernels::gemm::{PackedB, gemm};
use mnv2_kernels::{Clamp, Isa};

/// Output rows per band: enough pixels to keep the GEMM tiles full (at least 48).
fn band_rows(out_w: usize) -> usize {
    48usize.div_ceil(out_w.max(1)).max(1)
}

/// The most scratch elements (window + band) one worker may use; bands shrink to fit. With it,
/// a 1.0-224 block never needs more than its input, its output and 160 KB (fp32).
pub(crate) const SCRATCH_BUDGET: usize = 40_000;

/// One bottleneck prepared for banded execution.
pub(crate) struct FusedBlock {
    pub expand: Option<PackedB>,
    pub dw: DwLayer,
    pub project: PackedB,
    pub residual: bool,
    /// Output rows per band.
    band: usize,
    /// Input rows the window holds (what one band reads).
    window_rows: usize,
}

impl FusedBlock {
    pub fn new(b: &Bottleneck, expand: Option<PackedB>, dw: DwLayer, project: PackedB) -> FusedBlock {
        let (_, _, _, ow) = dw.shape.geometry();
        let mut block = FusedBlock { expand, dw, project, residual: b.residual, band: band_rows(ow), window_rows: 0 };
        loop {
            block.window_rows =
                ((block.band - 1) * block.dw.shape.stride + 2 * block.dw.shape.dilation + 1).min(block.dw.shape.in_h);
            if block.band == 1 || block.scratch_len() <= SCRATCH_BUDGET {
                return block;
            }
            block.band -= 1;
        }
    }

    /// Floats of scratch one worker needs: the expanded window and a band of depthwise output.
    pub fn scratch_len(&self) -> usize {
        let s = &self.dw.shape;
        let (_, _, _, ow) = s.geometry();
        let window = if self.expand.is_some() { self.window_rows * s.in_w * s.channels } else { 0 };
        window + self.band * ow * s.channels
    }

    /// Output rows `rows` of one image; `x` is the image's whole block input, `out` exactly those
    /// output rows. Each output value is computed as in the layer-by-layer order, so the bits do
    /// not depend on how rows are split.
    pub fn run_rows(&self, isa: Isa, x: &[f32], rows: std::ops::Range<usize>, out: &mut [f32], scratch: &mut [f32]) {
        let s = &self.dw.shape;
        let (_, _, _, ow) = s.geometry();
        let hidden = s.channels;
        let in_row = s.in_w * hidden; // one expanded input row
        let x_row = self.expand.as_ref().map_or(in_row, |e| s.in_w * e.k());
        let out_row = ow * self.project.n();
        let (window, dband) = scratch.split_at_mut(if self.expand.is_some() { self.window_rows * in_row } else { 0 });
        let (mut win_lo, mut win_n) = (0usize, 0usize);
        let mut start = rows.start;
        while start < rows.end {
            let band = start..(start + self.band).min(rows.end);
            let (need_lo, need_hi) = s.input_rows(&band);
            let d = &mut dband[..band.len() * ow * hidden];
            match &self.expand {
                Some(e) => {
                    // The window is a ring: input row iy in slot iy % window_rows. Rows above
                    // the band leave it, the new ones below are expanded into their slots.
                    if win_n > 0 && win_lo < need_lo {
                        let drop = (need_lo - win_lo).min(win_n);
                        win_lo += drop;
                        win_n -= drop;
                    }
                    if win_n == 0 {
                        win_lo = need_lo;
                    }
                    let mut from = win_lo + win_n;
                    while from <= need_hi {
                        // A run of rows up to the ring's end.
                        let slot = from % self.window_rows;
                        let n = (need_hi + 1 - from).min(self.window_rows - slot);
                        let dst = &mut window[slot * in_row..(slot + n) * in_row];
                        gemm(isa, &x[from * x_row..(from + n) * x_row], e, None, Clamp::RELU6, dst);
                        (from, win_n) = (from + n, win_n + n);
                    }
                    dwconv3x3_ring(isa, &self.dw, window, band.clone(), d);
                }
                None => dwconv3x3_window(isa, &self.dw, x, 0, band.clone(), d),
            }
            let o = &mut out[(band.start - rows.start) * out_row..(band.end - rows.start) * out_row];
            let res = self.residual.then(|| &x[band.start * out_row..band.end * out_row]);
            gemm(isa, d, &self.project, res, Clamp::NONE, o);
            start = band.end;
        }
    }
}
