//! Memory-efficient execution of an integer inverted residual: as `fused.rs`, band by band,
//! with a sliding window of expanded rows; every byte equals the layer-by-layer result.

use mnv2_arch::Bottleneck;
use mnv2_kernels::Isa;
use mnv2_kernels::q8::add::{QAdd, qadd_in_place};
use mnv2_kernels::q8::dwconv::{QDwLayer, qdwconv3x3_ring, qdwconv3x3_window};
use mnv2_kernels::q8::gemm::{QPackedB, qgemm};

use crate::fused::SCRATCH_BUDGET;

/// One integer bottleneck, prepared for banded execution.
pub(crate) struct QFusedBlock {
    pub expand: Option<QPackedB>,
    pub dw: QDwLayer,
    pub project: QPackedB,
    pub add: Option<QAdd>,
    band: usize,
    window_rows: usize,
}

impl QFusedBlock {
    pub fn new(
        _b: &Bottleneck,
        expand: Option<QPackedB>,
        dw: QDwLayer,
        project: QPackedB,
        add: Option<QAdd>,
    ) -> QFusedBlock {
        let (_, _, _, ow) = dw.shape.geometry();
        let band = 48usize.div_ceil(ow.max(1)).max(1);
        let mut block = QFusedBlock { expand, dw, project, add, band, window_rows: 0 };
        loop {
            let s = &block.dw.shape;
            block.window_rows = ((block.band - 1) * s.stride + 2 * s.dilation + 1).min(s.in_h);
            if block.band == 1 || block.scratch_len() <= SCRATCH_BUDGET {
                return block;
            }
            block.band -= 1;
        }
    }

    /// Bytes of scratch one worker needs.
    pub fn scratch_len(&self) -> usize {
        let s = &self.dw.shape;
        let (_, _, _, ow) = s.geometry();
        let window = if self.expand.is_some() { self.window_rows * s.in_w * s.channels } else { 0 };
        window + self.band * ow * s.channels
    }

    /// Output rows `rows` of one image (`x` its whole block input) into `out`.
    pub fn run_rows(&self, isa: Isa, x: &[u8], rows: std::ops::Range<usize>, out: &mut [u8], scratch: &mut [u8]) {
        let s = &self.dw.shape;
        let (_, _, _, ow) = s.geometry();
        let hidden = s.channels;
        let in_row = s.in_w * hidden;
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
                        qgemm(isa, &x[from * x_row..(from + n) * x_row], e, dst);
                        (from, win_n) = (from + n, win_n + n);
                    }
                    qdwconv3x3_ring(isa, &self.dw, window, band.clone(), d);
                }
                None => qdwconv3x3_window(isa, &self.dw, x, 0, band.clone(), d),
            }
            let o = &mut out[(band.start - rows.start) * out_row..(band.end - rows.start) * out_row];
            qgemm(isa, d, &self.project, o);
            if let Some(p) = &self.add {
                qadd_in_place(isa, p, &x[band.start * out_row..band.end * out_row], o);
            }
            start = band.end;
        }
    }
}
