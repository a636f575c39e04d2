//! Compute kernels for MobileNetV2, NHWC: float32 (`gemm`, `dwconv`, `conv`, `pool`), 8-bit
//! integer with TFLite's exact requantization (`q8`), segmentation's resize + argmax
//! (`upsample`), PIL's bilinear resize of the input images (`resize`), the pointwise conv's
//! weight gradient for training (`wgrad`), and the machine's measured multiply-add peak (`peak`).
//!
//! Each kernel family keeps a textbook reference beside the fast code, and tests that compare the
//! two on many shapes. Instruction sets are explicit levels ([`Isa`]: scalar, avx2, avx512,
//! avx512-vnni), detected once ([`Isa::detect`], `MNV2_ISA=<level>` forces any level the CPU has)
//! and passed to every call, weight packing included. Each family lists the levels it has its own
//! code for ([`FAMILIES`]); a call runs the highest of them at or below its level ([`isa::pick`]),
//! and the tests and benches run every level the CPU has, so every variant is checked.

pub mod aligned;
pub mod conv;
pub mod dwconv;
pub mod gemm;
pub mod isa;
pub mod jpeg;
pub mod peak;
pub mod pool;
pub mod q8;
pub mod resize;
#[cfg(target_arch = "wasm32")]
mod simd128;
pub mod upsample;
pub mod wgrad;

pub use isa::Isa;

/// Every kernel family and the levels it has its own code for (the others run the highest of
/// these below them).
pub const FAMILIES: [(&str, &[Isa]); 13] = [
    ("f32 gemm", &gemm::VARIANTS),
    ("f32 depthwise 3x3", &dwconv::VARIANTS),
    ("f32 stem conv", &conv::VARIANTS),
    ("int8 gemm (and the int8 stem on it)", &q8::gemm::VARIANTS),
    ("int8 depthwise 3x3", &q8::dwconv::VARIANTS),
    ("int8 add", &q8::add::VARIANTS),
    ("int8 table lookup", &q8::table::VARIANTS),
    ("int8 requantization", &q8::requant_vec::VARIANTS),
    ("f32 pointwise weight gradient", &wgrad::VARIANTS),
    ("u8 RGB resize, horizontal pass", &resize::HORIZONTAL_VARIANTS),
    ("u8 RGB resize, vertical pass", &resize::VERTICAL_VARIANTS),
    ("JPEG inverse DCT (libjpeg's islow)", &jpeg::IDCT_VARIANTS),
    ("JPEG YCbCr to RGB", &jpeg::YCC_VARIANTS),
];

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
    /// `v` clamped to `[lo, hi]` by comparisons, as the SIMD kernels' max/min instructions do
    /// it (NaN becomes `lo`): `f32::max` would be a libm call on WebAssembly.
    #[inline(always)]
    pub fn apply(&self, v: f32) -> f32 {
        let v = if v > self.lo { v } else { self.lo };
        if v < self.hi { v } else { self.hi }
    }
}

/// Where convolutions pad (see `mnv2_arch::Padding`): TensorFlow's "same", or `kernel / 2` on
/// every side (PyTorch). The output sizes are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Padding {
    #[default]
    Same,
    Symmetric,
}

impl Padding {
    /// (pad_before, output_size) of a convolution over `input` pixels.
    pub fn geometry(self, input: usize, kernel: usize, stride: usize, dilation: usize) -> (usize, usize) {
        let (same_before, out) = same_padding(input, kernel, stride, dilation);
        match self {
            Padding::Same => (same_before, out),
            // (in + 2p - span) / stride + 1 equals ceil(in / stride) for p = span / 2.
            Padding::Symmetric => ((kernel - 1) * dilation / 2, out),
        }
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

#[cfg(test)]
mod variants {
    use super::*;
    use std::cmp::Ordering;

    /// Every table starts with the portable code and lists each architecture's levels in
    /// increasing order (no level at or below an earlier one), and the levels the family tests
    /// run (every one this CPU has) reach each variant the CPU can run.
    #[test]
    fn tables_are_ordered_and_every_variant_is_reached() {
        for (family, variants) in FAMILIES {
            assert_eq!(variants.first(), Some(&Isa::Scalar), "{family}");
            for (i, later) in variants.iter().enumerate() {
                let above_or_beside =
                    |earlier: &Isa| matches!(later.partial_cmp(earlier), Some(Ordering::Greater) | None);
                assert!(variants[..i].iter().all(above_or_beside), "{family}: levels out of order");
            }
            let reached: Vec<Isa> = Isa::all_available().into_iter().map(|i| isa::pick(variants, i)).collect();
            for v in variants.iter().filter(|v| v.available()) {
                assert!(reached.contains(v), "{family}: {} is never run", v.name());
            }
        }
    }
}
