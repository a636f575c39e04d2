//! Full KxK convolution with few input channels (the 3x3 stride-2 stem), NHWC, "same" padding.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "wasm32"))]
mod blocked;
#[cfg(target_arch = "aarch64")]
mod neon;
mod reference;
#[cfg(test)]
mod tests;
#[cfg(target_arch = "wasm32")]
mod wasm;

pub use reference::conv_reference;

use crate::{Clamp, Isa};

/// The levels the fp32 stem convolution has its own code for (tests and benches run each).
pub const VARIANTS: [Isa; 5] = [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon, Isa::Simd128];

/// Geometry of one full conv over one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvShape {
    pub in_h: usize,
    pub in_w: usize,
    pub in_c: usize,
    pub out_c: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: crate::Padding,
}

impl ConvShape {
    /// (pad_top, out_h, pad_left, out_w) as `padding` says.
    pub fn geometry(&self) -> (usize, usize, usize, usize) {
        let (pt, oh) = self.padding.geometry(self.in_h, self.kernel, self.stride, 1);
        let (pl, ow) = self.padding.geometry(self.in_w, self.kernel, self.stride, 1);
        (pt, oh, pl, ow)
    }
    pub fn out_len(&self) -> usize {
        let (_, oh, _, ow) = self.geometry();
        oh * ow * self.out_c
    }
}

/// Weights repacked from OHWI (TFLite, TF) to HWIO so the output-channel loop is contiguous.
#[derive(Debug, Clone)]
pub struct PackedConv {
    pub shape_k: usize,
    pub in_c: usize,
    pub out_c: usize,
    hwio: Vec<f32>,
    bias: Vec<f32>,
}

impl PackedConv {
    /// `ohwi[((o * k + y) * k + x) * in_c + i]`.
    pub fn from_ohwi(out_c: usize, k: usize, in_c: usize, ohwi: &[f32], bias: &[f32]) -> PackedConv {
        assert_eq!(ohwi.len(), out_c * k * k * in_c, "conv weight size");
        assert_eq!(bias.len(), out_c, "conv bias size");
        let mut hwio = vec![0.0; ohwi.len()];
        for o in 0..out_c {
            for t in 0..k * k {
                for i in 0..in_c {
                    hwio[(t * in_c + i) * out_c + o] = ohwi[(o * k * k + t) * in_c + i];
                }
            }
        }
        PackedConv { shape_k: k, in_c, out_c, hwio, bias: bias.to_vec() }
    }
    /// Weight (o, y, x, i).
    pub fn weight(&self, o: usize, y: usize, x: usize, i: usize) -> f32 {
        self.hwio[((y * self.shape_k + x) * self.in_c + i) * self.out_c + o]
    }
    pub fn bias(&self) -> &[f32] {
        &self.bias
    }
}

/// Computes output rows `rows` of the conv into `out` (which holds exactly those rows).
pub fn conv2d(
    isa: Isa,
    shape: &ConvShape,
    input: &[f32],
    w: &PackedConv,
    clamp: Clamp,
    rows: std::ops::Range<usize>,
    out: &mut [f32],
) {
    let (_, oh, _, ow) = shape.geometry();
    assert_eq!(input.len(), shape.in_h * shape.in_w * shape.in_c, "conv input size");
    assert!(w.in_c == shape.in_c && w.out_c == shape.out_c && w.shape_k == shape.kernel, "conv weights");
    assert!(rows.end <= oh && out.len() == rows.len() * ow * shape.out_c, "conv output rows");
    match crate::isa::pick(&VARIANTS, isa) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: pick() returns only levels the CPU has: AVX-512 (and AVX2 and FMA).
        Isa::Avx512 if shape.out_c.is_multiple_of(16) && shape.kernel <= 16 => unsafe {
            avx512::rows_avx512(shape, input, w, clamp, rows, out)
        },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: pick() returns only levels the CPU has: AVX2 and FMA at least.
        Isa::Avx2 | Isa::Avx512 if shape.out_c.is_multiple_of(8) && shape.kernel <= 16 => unsafe {
            avx2::rows_avx2_blocks(shape, input, w, clamp, rows, out)
        },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: pick() returns only levels the CPU has: AVX2 and FMA at least.
        Isa::Avx2 | Isa::Avx512 => unsafe { avx2::rows_avx2(shape, input, w, clamp, rows, out) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: pick() returns only levels the CPU has: this is an aarch64 CPU, with NEON.
        Isa::Neon if shape.out_c.is_multiple_of(4) && shape.kernel <= 16 => unsafe {
            neon::rows_neon_blocks(shape, input, w, clamp, rows, out)
        },
        #[cfg(target_arch = "wasm32")]
        // SAFETY: pick() returns only levels the CPU has: a wasm32 build, made for SIMD128.
        Isa::Simd128 if shape.out_c.is_multiple_of(4) && shape.kernel <= 16 => unsafe {
            wasm::rows_simd128_blocks(shape, input, w, clamp, rows, out)
        },
        _ => rows_portable(shape, input, w, clamp, rows, out),
    }
}

#[inline(always)]
fn rows_portable(
    shape: &ConvShape,
    input: &[f32],
    w: &PackedConv,
    clamp: Clamp,
    rows: std::ops::Range<usize>,
    out: &mut [f32],
) {
    let (pt, _, pl, ow) = shape.geometry();
    let (k, ic, oc) = (shape.kernel, shape.in_c, shape.out_c);
    for (ro, oy) in rows.enumerate() {
        for ox in 0..ow {
            let o = &mut out[(ro * ow + ox) * oc..(ro * ow + ox + 1) * oc];
            o.copy_from_slice(&w.bias);
            for ky in 0..k {
                let iy = (oy * shape.stride + ky) as isize - pt as isize;
                if iy < 0 || iy >= shape.in_h as isize {
                    continue;
                }
                for kx in 0..k {
                    let ix = (ox * shape.stride + kx) as isize - pl as isize;
                    if ix < 0 || ix >= shape.in_w as isize {
                        continue;
                    }
                    let px = (iy as usize * shape.in_w + ix as usize) * ic;
                    for i in 0..ic {
                        let x = input[px + i];
                        let wrow = &w.hwio[((ky * k + kx) * ic + i) * oc..((ky * k + kx) * ic + i + 1) * oc];
                        for (acc, &wv) in o.iter_mut().zip(wrow) {
                            *acc += x * wv;
                        }
                    }
                }
            }
            for v in o.iter_mut() {
                *v = clamp.apply(*v);
            }
        }
    }
}
