//! Memory-efficient execution of an inverted residual (paper section 5.1), fp32 or int8: output
//! rows are produced band by band, and only a sliding window of expanded input rows and one band
//! of depthwise output exist at a time, so a block needs |input| + |output| + a few rows. Each
//! output value is computed as in the layer-by-layer order, so the result does not depend on how
//! rows are split.

use crate::bands::{self, BandWork, Banded, Bands, SCRATCH_BUDGET};
use crate::threads::Threads;
use mnv2_kernels::Isa;
use mnv2_kernels::aligned::Zeroable;
use mnv2_kernels::dwconv::DwShape;
use std::ops::Range;

/// The kernels a fused block runs with in one arithmetic (see `f32plan/block.rs`,
/// `q8plan/block.rs`).
pub(crate) trait BlockKernels {
    type Elem: Zeroable + Copy + Send + Sync;
    /// Packed 1x1 convolution weights.
    type Pointwise: Send + Sync;
    /// A prepared 3x3 depthwise layer.
    type Depthwise: Send + Sync;
    /// What the residual add needs besides the block input (fp32: nothing; int8: its requantization).
    type Residual: Send + Sync;
    /// Output pixels a band aims at: enough rows for the GEMMs' register tiles to fill and each
    /// weight panel to serve many rows once it is in cache.
    const BAND_PIXELS: usize;
    /// Tail elements [`FusedBlock::run_whole`] needs beyond [`Bands::whole_len`] (alignment).
    const WHOLE_SLACK: usize;
    /// Input and output channels of a 1x1 convolution.
    fn k_n(w: &Self::Pointwise) -> (usize, usize);
    fn dw_shape(dw: &Self::Depthwise) -> DwShape;
    /// `out = x * w` with ReLU6, whole pixels.
    fn expand(isa: Isa, x: &[Self::Elem], w: &Self::Pointwise, out: &mut [Self::Elem]);
    /// Depthwise output `rows` from a ring of expanded rows.
    fn dw_ring(isa: Isa, dw: &Self::Depthwise, ring: &[Self::Elem], rows: Range<usize>, out: &mut [Self::Elem]);
    /// Depthwise output `rows` from whole input rows starting at row 0.
    fn dw_whole(isa: Isa, dw: &Self::Depthwise, x: &[Self::Elem], rows: Range<usize>, out: &mut [Self::Elem]);
    /// The linear projection of `d` into `out`, plus `residual` (its parameters and the block input rows).
    fn project(
        isa: Isa,
        d: &[Self::Elem],
        w: &Self::Pointwise,
        residual: Option<(&Self::Residual, &[Self::Elem])>,
        out: &mut [Self::Elem],
    );
}

/// One bottleneck prepared for banded execution.
pub(crate) struct FusedBlock<K: BlockKernels> {
    pub expand: Option<K::Pointwise>,
    pub dw: K::Depthwise,
    pub project: K::Pointwise,
    pub residual: Option<K::Residual>,
    bands: Bands,
}

impl<K: BlockKernels> FusedBlock<K> {
    pub fn new(
        expand: Option<K::Pointwise>,
        dw: K::Depthwise,
        project: K::Pointwise,
        residual: Option<K::Residual>,
    ) -> FusedBlock<K> {
        let bands = Bands::fit(K::dw_shape(&dw), expand.is_some(), Self::band_pixels(expand.is_some()), SCRATCH_BUDGET);
        FusedBlock { expand, dw, project, residual, bands }
    }

    /// Output pixels a band aims at. A block without an expansion reads its input in place, so
    /// taller bands cost only depthwise output rows, and they let the depthwise conv keep each
    /// channel block's weights over more rows (MobileNetV2's block 1, 112 wide: four rows a band
    /// rather than one took it from about 270 to 240 us in fp32, 330 to 260 in int8).
    fn band_pixels(expands: bool) -> usize {
        if expands { K::BAND_PIXELS } else { 4 * K::BAND_PIXELS }
    }

    /// Output rows and elements per output row.
    pub fn output_rows(&self) -> (usize, usize) {
        let (_, oh, _, ow) = K::dw_shape(&self.dw).geometry();
        (oh, ow * K::k_n(&self.project).1)
    }

    /// Tail elements [`FusedBlock::run_whole`] needs with `workers` workers.
    pub fn whole_len(&self, workers: usize) -> usize {
        self.bands.whole_len::<K::Elem>(workers) + K::WHOLE_SLACK
    }

    /// The depthwise conv of output rows `band` (by `dw`, into `dband`), then the projection and
    /// residual into those rows of `out`, which starts at output row `row0`.
    fn project_band(
        &self,
        isa: Isa,
        x: &[K::Elem],
        (band, row0): (Range<usize>, usize),
        out: &mut [K::Elem],
        dband: &mut [K::Elem],
        dw: impl FnOnce(Range<usize>, &mut [K::Elem]),
    ) {
        let shape = K::dw_shape(&self.dw);
        let (_, _, _, ow) = shape.geometry();
        let out_row = ow * K::k_n(&self.project).1;
        let d = &mut dband[..band.len() * ow * shape.channels];
        dw(band.clone(), d);
        let o = &mut out[(band.start - row0) * out_row..(band.end - row0) * out_row];
        let res = self.residual.as_ref().map(|r| (r, &x[band.start * out_row..band.end * out_row]));
        K::project(isa, d, &self.project, res, o);
    }

    /// The whole block on `th`'s workers, whole tensors at a time (see [`bands::run_whole`]).
    /// Same results as [`FusedBlock::run_rows`].
    pub fn run_whole(&self, th: &Threads, isa: Isa, x: &[K::Elem], out: &mut [K::Elem], tail: &mut [K::Elem]) {
        let (_, out_row) = self.output_rows();
        let expand = |pixels: &[K::Elem], dst: &mut [K::Elem]| {
            K::expand(isa, pixels, self.expand.as_ref().expect("only expanding blocks expand"), dst)
        };
        let expand: Option<bands::WholeExpand<'_, K::Elem>> = self.expand.as_ref().map(|e| {
            let (k, n) = K::k_n(e);
            (k, n, &expand as _)
        });
        bands::run_whole(th, &self.bands, (x, out, tail), out_row, expand, |band, row0, src, o, dband| {
            let dw = |b, d: &mut [K::Elem]| K::dw_whole(isa, &self.dw, src, b, d);
            self.project_band(isa, x, (band, row0), o, dband, dw);
        });
    }

    /// Output rows `rows` of one image; `x` is the image's whole block input, `out` exactly those
    /// output rows, `scratch` the ring window and the depthwise band.
    pub fn run_rows(&self, isa: Isa, x: &[K::Elem], rows: Range<usize>, out: &mut [K::Elem], scratch: &mut [K::Elem]) {
        let s = K::dw_shape(&self.dw);
        let in_row = s.in_w * s.channels; // one expanded input row
        let x_row = self.expand.as_ref().map_or(in_row, |e| s.in_w * K::k_n(e).0);
        let (window, dband) = self.bands.split(scratch);
        let row0 = rows.start;
        self.bands.walk(rows, |work| match work {
            BandWork::Expand { rows: r, slot } => {
                let e = self.expand.as_ref().expect("only expanding blocks expand");
                let dst = &mut window[slot * in_row..(slot + r.len()) * in_row];
                K::expand(isa, &x[r.start * x_row..r.end * x_row], e, dst);
            }
            BandWork::Band(band) => {
                let dw = |b, d: &mut [K::Elem]| match self.expand {
                    Some(_) => K::dw_ring(isa, &self.dw, window, b, d),
                    None => K::dw_whole(isa, &self.dw, x, b, d),
                };
                self.project_band(isa, x, (band, row0), out, dband, dw);
            }
        });
    }
}

impl<K: BlockKernels> Banded for FusedBlock<K> {
    fn fit(&mut self, budget: usize) {
        let expands = self.expand.is_some();
        self.bands = Bands::fit(K::dw_shape(&self.dw), expands, Self::band_pixels(expands), budget);
    }
    fn scratch_len(&self) -> usize {
        self.bands.scratch_len()
    }
}
