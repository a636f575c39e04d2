//! The fp32 kernels of a fused block.

use crate::fused::BlockKernels;
use mnv2_kernels::dwconv::{DwLayer, DwShape, dwconv3x3_ring, dwconv3x3_window};
use mnv2_kernels::gemm::{PackedB, gemm};
use mnv2_kernels::{Clamp, Isa};
use std::ops::Range;

/// fp32 blocks: the residual is added inside the projection GEMM.
pub(crate) struct F32Block;

impl BlockKernels for F32Block {
    type Elem = f32;
    type Pointwise = PackedB;
    type Depthwise = DwLayer;
    type Residual = ();
    // Measured best of 48, 96, 160, 256.
    const BAND_PIXELS: usize = 96;
    const WHOLE_SLACK: usize = 16;
    fn k_n(w: &PackedB) -> (usize, usize) {
        (w.k(), w.n())
    }
    fn dw_shape(dw: &DwLayer) -> DwShape {
        dw.shape
    }
    fn expand(isa: Isa, x: &[f32], w: &PackedB, out: &mut [f32]) {
        gemm(isa, x, w, None, Clamp::RELU6, out)
    }
    fn dw_ring(isa: Isa, dw: &DwLayer, ring: &[f32], rows: Range<usize>, out: &mut [f32]) {
        dwconv3x3_ring(isa, dw, ring, rows, out)
    }
    fn dw_whole(isa: Isa, dw: &DwLayer, x: &[f32], rows: Range<usize>, out: &mut [f32]) {
        dwconv3x3_window(isa, dw, x, 0, rows, out)
    }
    fn project(isa: Isa, d: &[f32], w: &PackedB, residual: Option<(&(), &[f32])>, out: &mut [f32]) {
        gemm(isa, d, w, residual.map(|(_, x)| x), Clamp::NONE, out)
    }
}
