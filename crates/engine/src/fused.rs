//! Memory-efficient execution of an inverted residual (paper section 5.1): output rows are
//! produced band by band, and only a sliding window of expanded input rows and one band of
//! depthwise output exist at a time, so a block needs |input| + |output| + a few rows.

use crate::bands::{self, BandWork, Banded, Bands, SCRATCH_BUDGET};
use mnv2_arch::Bottleneck;
use mnv2_kernels::dwconv::{DwLayer, dwconv3x3_ring, dwconv3x3_window};
use mnv2_kernels::gemm::{PackedB, gemm};
use mnv2_kernels::{Clamp, Isa};

use crate::threads::Threads;

/// Output pixels a band aims at: enough rows for the GEMMs' register tiles to fill and each
/// weight panel to serve many rows once it is in cache (measured best of 48, 96, 160, 256).
const BAND_PIXELS: usize = 96;

/// One bottleneck prepared for banded execution.
pub(crate) struct FusedBlock {
    pub expand: Option<PackedB>,
    pub dw: DwLayer,
    pub project: PackedB,
    pub residual: bool,
    bands: Bands,
}

impl FusedBlock {
    pub fn new(b: &Bottleneck, expand: Option<PackedB>, dw: DwLayer, project: PackedB) -> FusedBlock {
        let bands = Bands::fit(dw.shape, expand.is_some(), BAND_PIXELS, SCRATCH_BUDGET);
        FusedBlock { expand, dw, project, residual: b.residual, bands }
    }

    /// The depthwise conv of output rows `band` (by `dw`, into `dband`), then the projection and
    /// residual into those rows of `out`, which starts at output row `row0`.
    fn project_band(
        &self,
        isa: Isa,
        x: &[f32],
        (band, row0): (std::ops::Range<usize>, usize),
        out: &mut [f32],
        dband: &mut [f32],
        dw: impl FnOnce(std::ops::Range<usize>, &mut [f32]),
    ) {
        let (_, _, _, ow) = self.dw.shape.geometry();
        let out_row = ow * self.project.n();
        let d = &mut dband[..band.len() * ow * self.dw.shape.channels];
        dw(band.clone(), d);
        let o = &mut out[(band.start - row0) * out_row..(band.end - row0) * out_row];
        let res = self.residual.then(|| &x[band.start * out_row..band.end * out_row]);
        gemm(isa, d, &self.project, res, Clamp::NONE, o);
    }
}

impl bands::FusedRun for FusedBlock {
    type Elem = f32;
    const WHOLE_SLACK: usize = 16;
    fn output_rows(&self) -> (usize, usize) {
        let (_, oh, _, ow) = self.dw.shape.geometry();
        (oh, ow * self.project.n())
    }
    /// Floats of `tail` that [`FusedBlock::run_whole`] needs with `workers` workers.
    fn whole_len(&self, workers: usize) -> usize {
        self.bands.whole_len::<f32>(workers)
    }
    /// The whole block on `th`'s workers, whole tensors at a time (see [`bands::run_whole`]).
    /// Same bits as [`FusedBlock::run_rows`].
    fn run_whole(&self, th: &Threads, isa: Isa, x: &[f32], out: &mut [f32], tail: &mut [f32]) {
        let (_, _, _, ow) = self.dw.shape.geometry();
        let expand = |pixels: &[f32], dst: &mut [f32]| {
            let e = self.expand.as_ref().expect("only expanding blocks expand");
            gemm(isa, pixels, e, None, Clamp::RELU6, dst)
        };
        let expand: Option<bands::WholeExpand<'_, f32>> = self.expand.as_ref().map(|e| (e.k(), e.n(), &expand as _));
        bands::run_whole(
            th,
            &self.bands,
            (x, out, tail),
            ow * self.project.n(),
            expand,
            |band, row0, src, o, dband| {
                let dw = |b, d: &mut [f32]| dwconv3x3_window(isa, &self.dw, src, 0, b, d);
                self.project_band(isa, x, (band, row0), o, dband, dw);
            },
        );
    }
    /// Output rows `rows` of one image; `x` is the image's whole block input, `out` exactly those
    /// output rows. Each output value is computed as in the layer-by-layer order, so the bits do
    /// not depend on how rows are split.
    fn run_rows(&self, isa: Isa, x: &[f32], rows: std::ops::Range<usize>, out: &mut [f32], scratch: &mut [f32]) {
        let s = &self.dw.shape;
        let in_row = s.in_w * s.channels; // one expanded input row
        let x_row = self.expand.as_ref().map_or(in_row, |e| s.in_w * e.k());
        let (window, dband) = self.bands.split(scratch);
        let row0 = rows.start;
        self.bands.walk(rows, |work| match work {
            BandWork::Expand { rows: r, slot } => {
                let e = self.expand.as_ref().expect("only expanding blocks expand");
                let dst = &mut window[slot * in_row..(slot + r.len()) * in_row];
                gemm(isa, &x[r.start * x_row..r.end * x_row], e, None, Clamp::RELU6, dst);
            }
            BandWork::Band(band) => {
                let dw = |b, d: &mut [f32]| match self.expand {
                    Some(_) => dwconv3x3_ring(isa, &self.dw, window, b, d),
                    None => dwconv3x3_window(isa, &self.dw, x, 0, b, d),
                };
                self.project_band(isa, x, (band, row0), out, dband, dw);
            }
        });
    }
}

impl Banded for FusedBlock {
    fn fit(&mut self, budget: usize) {
        self.bands = Bands::fit(self.dw.shape, self.expand.is_some(), BAND_PIXELS, budget);
    }
    fn scratch_len(&self) -> usize {
        self.bands.scratch_len()
    }
}
