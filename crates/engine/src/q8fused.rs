//! Memory-efficient execution of an integer inverted residual: as `fused.rs`, band by band,
//! with a sliding window of expanded rows; every byte equals the layer-by-layer result.

use crate::bands::{BandWork, Banded, Bands, SCRATCH_BUDGET};
use crate::threads::Threads;
use mnv2_kernels::Isa;
use mnv2_kernels::q8::add::{QAdd, qadd_in_place};
use mnv2_kernels::q8::dwconv::{QDwLayer, qdwconv3x3_ring, qdwconv3x3_window};
use mnv2_kernels::q8::gemm::{QPackedB, qgemm};

/// Output pixels a band aims at (as in `fused.rs`; with bytes, more fit: measured best of 48, 96, 160).
const BAND_PIXELS: usize = 160;

/// One integer bottleneck, prepared for banded execution.
pub(crate) struct QFusedBlock {
    pub expand: Option<QPackedB>,
    pub dw: QDwLayer,
    pub project: QPackedB,
    pub add: Option<QAdd>,
    bands: Bands,
}

impl QFusedBlock {
    pub fn new(expand: Option<QPackedB>, dw: QDwLayer, project: QPackedB, add: Option<QAdd>) -> QFusedBlock {
        let bands = Bands::fit(dw.shape, expand.is_some(), BAND_PIXELS, SCRATCH_BUDGET);
        QFusedBlock { expand, dw, project, add, bands }
    }

    /// Bytes [`QFusedBlock::run_whole`] needs in its `tail` with `workers` workers.
    pub fn whole_len(&self, workers: usize) -> usize {
        self.expanded_len() + workers * self.band_len()
    }

    /// Bytes of the whole expanded tensor (none without an expansion).
    fn expanded_len(&self) -> usize {
        let s = &self.dw.shape;
        if self.expand.is_some() { s.in_h * s.in_w * s.channels } else { 0 }
    }

    /// Bytes of one band of depthwise output.
    fn band_len(&self) -> usize {
        let (_, _, _, ow) = self.dw.shape.geometry();
        (self.bands.band() * ow * self.dw.shape.channels).next_multiple_of(64)
    }

    /// The whole block of one image on `th`'s workers in two parallel steps, with the whole
    /// expanded tensor in `tail` (at least [`QFusedBlock::whole_len`] bytes): expand, split by
    /// pixels; then depthwise and project band by band, split by output rows. For small maps,
    /// where splitting bands alone would have each worker expand the rows at its boundary again
    /// (a 7-row map split 4 + 3 expands 9 rows). Same bytes as [`QFusedBlock::run_rows`], as in
    /// `fused.rs`.
    pub fn run_whole(&self, th: &Threads, isa: Isa, x: &[u8], out: &mut [u8], tail: &mut [u8]) {
        let s = &self.dw.shape;
        let (_, oh, _, ow) = s.geometry();
        let (expanded, rest) = tail.split_at_mut(self.expanded_len());
        let src: &[u8] = match &self.expand {
            Some(e) => {
                let per_task = (s.in_h * s.in_w).div_ceil(th.count());
                th.for_chunks(expanded, per_task * e.n(), |t, chunk| {
                    let (p0, p1) = (t * per_task, t * per_task + chunk.len() / e.n());
                    qgemm(isa, &x[p0 * e.k()..p1 * e.k()], e, chunk);
                });
                expanded
            }
            None => x,
        };
        let out_row = ow * self.project.n();
        let rows_per_task = oh.div_ceil(th.count());
        th.for_chunks_with(out, rows_per_task * out_row, rest, self.band_len(), |t, chunk, dband| {
            let rows = t * rows_per_task..t * rows_per_task + chunk.len() / out_row;
            // The expansion is done: only the bands' depthwise and projection remain.
            self.bands.walk(rows.clone(), |work| {
                if let BandWork::Band(band) = work {
                    let d = &mut dband[..band.len() * ow * s.channels];
                    qdwconv3x3_window(isa, &self.dw, src, 0, band.clone(), d);
                    let o = &mut chunk[(band.start - rows.start) * out_row..(band.end - rows.start) * out_row];
                    qgemm(isa, d, &self.project, o);
                    if let Some(p) = &self.add {
                        qadd_in_place(isa, p, &x[band.start * out_row..band.end * out_row], o);
                    }
                }
            });
        });
    }

    /// Output rows `rows` of one image (`x` its whole block input) into `out`.
    pub fn run_rows(&self, isa: Isa, x: &[u8], rows: std::ops::Range<usize>, out: &mut [u8], scratch: &mut [u8]) {
        let s = &self.dw.shape;
        let (_, _, _, ow) = s.geometry();
        let in_row = s.in_w * s.channels;
        let x_row = self.expand.as_ref().map_or(in_row, |e| s.in_w * e.k());
        let out_row = ow * self.project.n();
        let (window, dband) = self.bands.split(scratch);
        let row0 = rows.start;
        self.bands.walk(rows, |work| match work {
            BandWork::Expand { rows: r, slot } => {
                let e = self.expand.as_ref().expect("only expanding blocks expand");
                qgemm(
                    isa,
                    &x[r.start * x_row..r.end * x_row],
                    e,
                    &mut window[slot * in_row..(slot + r.len()) * in_row],
                );
            }
            BandWork::Band(band) => {
                let d = &mut dband[..band.len() * ow * s.channels];
                match self.expand {
                    Some(_) => qdwconv3x3_ring(isa, &self.dw, window, band.clone(), d),
                    None => qdwconv3x3_window(isa, &self.dw, x, 0, band.clone(), d),
                }
                let o = &mut out[(band.start - row0) * out_row..(band.end - row0) * out_row];
                qgemm(isa, d, &self.project, o);
                if let Some(p) = &self.add {
                    qadd_in_place(isa, p, &x[band.start * out_row..band.end * out_row], o);
                }
            }
        });
    }
}

impl Banded for QFusedBlock {
    fn fit(&mut self, budget: usize) {
        self.bands = Bands::fit(self.dw.shape, self.expand.is_some(), BAND_PIXELS, budget);
    }
    fn scratch_len(&self) -> usize {
        self.bands.scratch_len()
    }
}
