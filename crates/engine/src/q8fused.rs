//! Memory-efficient execution of an integer inverted residual: as `fused.rs`, band by band,
//! with a sliding window of expanded rows; every byte equals the layer-by-layer result.

use crate::bands::{self, BandWork, Banded, Bands, SCRATCH_BUDGET};
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

    /// The depthwise conv of output rows `band` (by `dw`, into `dband`), then the projection and
    /// residual add into those rows of `out`, which starts at output row `row0`.
    fn project_band(
        &self,
        isa: Isa,
        x: &[u8],
        (band, row0): (std::ops::Range<usize>, usize),
        out: &mut [u8],
        dband: &mut [u8],
        dw: impl FnOnce(std::ops::Range<usize>, &mut [u8]),
    ) {
        let (_, _, _, ow) = self.dw.shape.geometry();
        let out_row = ow * self.project.n();
        let d = &mut dband[..band.len() * ow * self.dw.shape.channels];
        dw(band.clone(), d);
        let o = &mut out[(band.start - row0) * out_row..(band.end - row0) * out_row];
        qgemm(isa, d, &self.project, o);
        if let Some(p) = &self.add {
            qadd_in_place(isa, p, &x[band.start * out_row..band.end * out_row], o);
        }
    }
}

impl bands::FusedRun for QFusedBlock {
    type Elem = u8;
    const WHOLE_SLACK: usize = 0;
    fn output_rows(&self) -> (usize, usize) {
        let (_, oh, _, ow) = self.dw.shape.geometry();
        (oh, ow * self.project.n())
    }
    /// Bytes [`QFusedBlock::run_whole`] needs in its `tail` with `workers` workers.
    fn whole_len(&self, workers: usize) -> usize {
        self.bands.whole_len::<u8>(workers)
    }
    /// The whole block on `th`'s workers, whole tensors at a time (see [`bands::run_whole`]).
    /// Same bytes as [`QFusedBlock::run_rows`].
    fn run_whole(&self, th: &Threads, isa: Isa, x: &[u8], out: &mut [u8], tail: &mut [u8]) {
        let (_, _, _, ow) = self.dw.shape.geometry();
        let expand = |pixels: &[u8], dst: &mut [u8]| {
            qgemm(isa, pixels, self.expand.as_ref().expect("only expanding blocks expand"), dst)
        };
        let expand: Option<bands::WholeExpand<'_, u8>> = self.expand.as_ref().map(|e| (e.k(), e.n(), &expand as _));
        bands::run_whole(
            th,
            &self.bands,
            (x, out, tail),
            ow * self.project.n(),
            expand,
            |band, row0, src, o, dband| {
                let dw = |b, d: &mut [u8]| qdwconv3x3_window(isa, &self.dw, src, 0, b, d);
                self.project_band(isa, x, (band, row0), o, dband, dw);
            },
        );
    }
    /// Output rows `rows` of one image (`x` its whole block input) into `out`.
    fn run_rows(&self, isa: Isa, x: &[u8], rows: std::ops::Range<usize>, out: &mut [u8], scratch: &mut [u8]) {
        let s = &self.dw.shape;
        let in_row = s.in_w * s.channels;
        let x_row = self.expand.as_ref().map_or(in_row, |e| s.in_w * e.k());
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
                let dw = |b, d: &mut [u8]| match self.expand {
                    Some(_) => qdwconv3x3_ring(isa, &self.dw, window, b, d),
                    None => qdwconv3x3_window(isa, &self.dw, x, 0, b, d),
                };
                self.project_band(isa, x, (band, row0), out, dband, dw);
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
