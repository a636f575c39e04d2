//! Depthwise 3x3 convolution, NHWC, "same" padding, any stride and dilation, bias and clamp fused.

mod reference;
#[cfg(test)]
mod tests;

pub use reference::dwconv3x3_reference;

use crate::{Clamp, Isa};

/// Geometry of one depthwise conv over one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DwShape {
    pub in_h: usize,
    pub in_w: usize,
    pub channels: usize,
    pub stride: usize,
    pub dilation: usize,
}

impl DwShape {
    /// (pad_top, out_h, pad_left, out_w) with TensorFlow's "same" rule.
    pub fn geometry(&self) -> (usize, usize, usize, usize) {
        let (pt, oh) = crate::same_padding(self.in_h, 3, self.stride, self.dilation);
        let (pl, ow) = crate::same_padding(self.in_w, 3, self.stride, self.dilation);
        (pt, oh, pl, ow)
    }
    pub fn out_len(&self) -> usize {
        let (_, oh, _, ow) = self.geometry();
        oh * ow * self.channels
    }
}

/// A depthwise 3x3 conv layer: geometry, weights laid out `[ky][kx][c]` (TFLite's 1x3x3xC),
/// bias (C entries) and the clamp after it.
#[derive(Debug, Clone)]
pub struct DwLayer {
    pub shape: DwShape,
    pub w: Vec<f32>,
    pub bias: Vec<f32>,
    pub clamp: Clamp,
}

/// Computes output rows `rows.start..rows.end` of a depthwise 3x3 conv into `out` (which holds
/// exactly those rows).
pub fn dwconv3x3(isa: Isa, layer: &DwLayer, input: &[f32], rows: std::ops::Range<usize>, out: &mut [f32]) {
    assert_eq!(input.len(), layer.shape.in_h * layer.shape.in_w * layer.shape.channels, "depthwise input size");
    dwconv3x3_window(isa, layer, input, 0, rows, out)
}

/// As [`dwconv3x3`] reading from a window of the input: `window` holds input rows
/// `row0..row0 + window.len() / (in_w * channels)`, which must cover every row the output rows
/// read (padding is still decided by the full input height).
pub fn dwconv3x3_window(
    isa: Isa,
    layer: &DwLayer,
    window: &[f32],
    row0: usize,
    rows: std::ops::Range<usize>,
    out: &mut [f32],
) {
    let DwLayer { shape, w, bias, .. } = layer;
    let c = shape.channels;
    let (pt, oh, _, ow) = shape.geometry();
    let row_len = shape.in_w * c;
    assert!(window.len().is_multiple_of(row_len.max(1)), "window is not whole rows");
    assert!(w.len() == 9 * c && bias.len() == c, "depthwise weight size");
    assert!(rows.end <= oh && out.len() == rows.len() * ow * c, "depthwise output rows");
    if !rows.is_empty() {
        let first = (rows.start * shape.stride).saturating_sub(pt);
        let last = ((rows.end - 1) * shape.stride + 2 * shape.dilation).saturating_sub(pt).min(shape.in_h - 1);
        assert!(
            row0 <= first && last < row0 + window.len() / row_len.max(1),
            "window misses input rows {first}..={last}"
        );
    }
    match isa.or_scalar() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: or_scalar() returned Avx2, so the CPU has AVX2 and FMA.
        Isa::Avx2 => unsafe { rows_avx2(layer, window, row0, rows, out) },
        _ => rows_portable(layer, window, row0, rows, out),
    }
}

/// AVX2: eight channels at a time held in a register across the nine taps (one FMA each),
/// stored once; the channels past the last multiple of eight run the portable way.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn rows_avx2(layer: &DwLayer, input: &[f32], row0: usize, rows: std::ops::Range<usize>, out: &mut [f32]) {
    use std::arch::x86_64::*;
    let DwLayer { shape, w, bias, clamp } = layer;
    let c = shape.channels;
    let c8 = c / 8 * 8;
    let (pt, _, pl, ow) = shape.geometry();
    let (s, d) = (shape.stride, shape.dilation);
    let (vlo, vhi) = (_mm256_set1_ps(clamp.lo), _mm256_set1_ps(clamp.hi));
    for (ro, oy) in rows.enumerate() {
        for ox in 0..ow {
            // The taps inside the image: (input offset, weight offset).
            let mut taps = [(0usize, 0usize); 9];
            let mut n = 0;
            for ky in 0..3 {
                let iy = (oy * s + ky * d) as isize - pt as isize;
                if iy < 0 || iy >= shape.in_h as isize {
                    continue;
                }
                for kx in 0..3 {
                    let ix = (ox * s + kx * d) as isize - pl as isize;
                    if ix < 0 || ix >= shape.in_w as isize {
                        continue;
                    }
                    taps[n] = (((iy as usize - row0) * shape.in_w + ix as usize) * c, (ky * 3 + kx) * c);
                    n += 1;
                }
            }
            let o = (ro * ow + ox) * c;
            assert!(o + c <= out.len() && taps[..n].iter().all(|&(p, _)| p + c <= input.len()));
            // SAFETY: every offset + c is within its slice (asserted; weights are 9 * c long).
            unsafe {
                for ch in (0..c8).step_by(8) {
                    let mut acc = _mm256_loadu_ps(bias.as_ptr().add(ch));
                    for &(p, t) in &taps[..n] {
                        let x = _mm256_loadu_ps(input.as_ptr().add(p + ch));
                        acc = _mm256_fmadd_ps(x, _mm256_loadu_ps(w.as_ptr().add(t + ch)), acc);
                    }
                    _mm256_storeu_ps(out.as_mut_ptr().add(o + ch), _mm256_min_ps(_mm256_max_ps(acc, vlo), vhi));
                }
            }
            for ch in c8..c {
                let mut acc = bias[ch];
                for &(p, t) in &taps[..n] {
                    acc += input[p + ch] * w[t + ch];
                }
                out[o + ch] = clamp.apply(acc);
            }
        }
    }
}

/// Written so the channel loops vectorise: the AVX2 entry compiles this same body with AVX2.
/// (Rust never contracts a*b+c into an FMA, so both entries give identical bits.)
#[inline(always)]
fn rows_portable(layer: &DwLayer, input: &[f32], row0: usize, rows: std::ops::Range<usize>, out: &mut [f32]) {
    let DwLayer { shape, w, bias, clamp } = layer;
    let c = shape.channels;
    let (pt, _, pl, ow) = shape.geometry();
    let (s, d) = (shape.stride, shape.dilation);
    for (ro, oy) in rows.enumerate() {
        for ox in 0..ow {
            let o = &mut out[(ro * ow + ox) * c..(ro * ow + ox + 1) * c];
            o.copy_from_slice(bias);
            for ky in 0..3 {
                let iy = (oy * s + ky * d) as isize - pt as isize;
                if iy < 0 || iy >= shape.in_h as isize {
                    continue;
                }
                for kx in 0..3 {
                    let ix = (ox * s + kx * d) as isize - pl as isize;
                    if ix < 0 || ix >= shape.in_w as isize {
                        continue;
                    }
                    let px = ((iy as usize - row0) * shape.in_w + ix as usize) * c;
                    let inp = &input[px..px + c];
                    let wk = &w[(ky * 3 + kx) * c..(ky * 3 + kx + 1) * c];
                    for ((acc, &x), &wv) in o.iter_mut().zip(inp).zip(wk) {
                        *acc += x * wv;
                    }
                }
            }
            for v in o.iter_mut() {
                *v = clamp.apply(*v);
            }
        }
    }
}
