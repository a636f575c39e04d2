//! The int8 kernels of a fused block.

use crate::fused::BlockKernels;
use mnv2_kernels::Isa;
use mnv2_kernels::dwconv::DwShape;
use mnv2_kernels::q8::add::{QAdd, qadd_in_place};
use mnv2_kernels::q8::dwconv::{QDwLayer, qdwconv3x3_ring, qdwconv3x3_window};
use mnv2_kernels::q8::gemm::{QPackedB, qgemm};
use std::ops::Range;

/// int8 blocks: the residual is TFLite's ADD after the projection, with its own requantization.
pub(crate) struct Q8Block;

impl BlockKernels for Q8Block {
    type Elem = u8;
    type Pointwise = QPackedB;
    type Depthwise = QDwLayer;
    type Residual = QAdd;
    // With bytes, more fit: measured best of 48, 96, 160.
    const BAND_PIXELS: usize = 640;
    const WHOLE_SLACK: usize = 0;
    fn k_n(w: &QPackedB) -> (usize, usize) {
        (w.k(), w.n())
    }
    fn dw_shape(dw: &QDwLayer) -> DwShape {
        dw.shape
    }
    fn expand(isa: Isa, x: &[u8], w: &QPackedB, out: &mut [u8]) {
        qgemm(isa, x, w, out)
    }
    fn dw_ring(isa: Isa, dw: &QDwLayer, ring: &[u8], rows: Range<usize>, out: &mut [u8]) {
        qdwconv3x3_ring(isa, dw, ring, rows, out)
    }
    fn dw_whole(isa: Isa, dw: &QDwLayer, x: &[u8], rows: Range<usize>, out: &mut [u8]) {
        qdwconv3x3_window(isa, dw, x, 0, rows, out)
    }
    fn project(isa: Isa, d: &[u8], w: &QPackedB, residual: Option<(&QAdd, &[u8])>, out: &mut [u8]) {
        qgemm(isa, d, w, out);
        if let Some((add, x)) = residual {
            qadd_in_place(isa, add, x, out);
        }
    }
}
