//! Compute kernels for MobileNetV2, NHWC: float32 (`gemm`, `dwconv`, `conv`, `pool`), 8-bit
//! integer with TFLite's exact requantization (`q8`), segmentation's resize + argmax
//! (`upsample`), and the machine's measured multiply-add peak (`peak`).
//!
//! Each kernel family keeps a textbook reference beside the fast code, and tests that compare the
//! two on many shapes. The instruction set is chosen once ([`Isa::detect`]), honouring
//! `MNV2_ISA=scalar|avx2` (and `MNV2_AVX512=0`), and passed explicitly to every call so that every
//! path stays reachable from tests.

pub mod aligned;
pub mod conv;
pub mod dwconv;
pub mod gemm;
mod isa;
pub mod peak;
pub mod pool;
pub mod q8;
pub mod upsample;

pub use isa::{Isa, has_avx512};

/// Lower and upper clamp applied after a kernel's sum (ReLU6 is `Clamp::RELU6`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clamp {
    pub lo: f32,
    pub hi: f32,
}

impl Clamp {
    pub const NONE: Clamp = Clamp { lo: f32::NEG_INFINITY, hi: f32::INFINITY };
    pub const RELU6: Clamp = Clamp { lo: 0.0, hi: 6.0 };
    pub fn relu6(on: bool) -> Clamp {
        if on { Clamp::RELU6 } else { Clamp::NONE }
    }
    #[inline(always)]
    pub fn apply(&self, v: f32) -> f32 {
        v.max(self.lo).min(self.hi)
    }
}

/// "Same" padding as TensorFlow computes it: the total padding, with the extra pixel (when the
/// total is odd) at the bottom/right. Returns (pad_before, output_size).
pub fn same_padding(input: usize, kernel: usize, stride: usize, dilation: usize) -> (usize, usize) {
    let out = input.div_ceil(stride);
    let span = (kernel - 1) * dilation + 1;
    let total = ((out - 1) * stride + span).saturating_sub(input);
    (total / 2, out)
}

#[cfg(test)]
pub(crate) mod testutil;
