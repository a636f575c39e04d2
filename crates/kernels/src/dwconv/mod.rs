//! Depthwise 3x3 convolution, NHWC, "same" padding, any stride and dilation, bias and clamp fused.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "aarch64")]
mod neon;
mod reference;
#[cfg(test)]
mod tests;
#[cfg(target_arch = "wasm32")]
mod wasm;

pub use reference::dwconv3x3_reference;

use crate::{Clamp, Isa};

/// The levels the fp32 depthwise 3x3 has its own code for (tests and benches run each).
pub const VARIANTS: [Isa; 5] = [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon, Isa::Simd128];

/// Geometry of one depthwise conv over one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DwShape {
    pub in_h: usize,
    pub in_w: usize,
    pub channels: usize,
    pub stride: usize,
    pub dilation: usize,
    pub padding: crate::Padding,
}

impl DwShape {
    /// (pad_top, out_h, pad_left, out_w) as `padding` says.
    pub fn geometry(&self) -> (usize, usize, usize, usize) {
        let (pt, oh) = self.padding.geometry(self.in_h, 3, self.stride, self.dilation);
        let (pl, ow) = self.padding.geometry(self.in_w, 3, self.stride, self.dilation);
        (pt, oh, pl, ow)
    }
    pub fn out_len(&self) -> usize {
        let (_, oh, _, ow) = self.geometry();
        oh * ow * self.channels
    }

    /// The input rows output row `oy` reads that lie inside the image, as (row, ky) in ky order,
    /// taken from `window` (input rows from `row0`, each `in_w * channels` elements); the first
    /// `n` entries of the array are valid.
    pub fn tap_rows<'a, T>(&self, oy: usize, window: &'a [T], row0: usize) -> ([(&'a [T], usize); 3], usize) {
        let (pt, ..) = self.geometry();
        let row_len = self.in_w * self.channels;
        let mut rows: [(&[T], usize); 3] = [(&[], 0); 3];
        let mut n = 0;
        for ky in 0..3 {
            let iy = (oy * self.stride + ky * self.dilation) as isize - pt as isize;
            if iy >= 0 && (iy as usize) < self.in_h {
                let start = self.row_start(iy as usize, window.len(), row0);
                rows[n] = (&window[start..start + row_len], ky);
                n += 1;
            }
        }
        (rows, n)
    }

    /// The taps of output column `ox` that lie inside the image, from the rows [`DwShape::tap_rows`]
    /// gave: (input row, input column, weight index `ky * 3 + kx`), in `ky`, then `kx` order.
    pub fn taps<'a, 'b, T>(
        &self,
        valid: &'b [(&'a [T], usize)],
        ox: usize,
    ) -> impl Iterator<Item = (&'a [T], usize, usize)> + use<'a, 'b, T> {
        let (_, _, pl, _) = self.geometry();
        let (s, d, in_w) = (self.stride, self.dilation, self.in_w);
        valid.iter().flat_map(move |&(r, ky)| {
            (0..3).filter_map(move |kx| {
                let ix = (ox * s + kx * d) as isize - pl as isize;
                (ix >= 0 && (ix as usize) < in_w).then_some((r, ix as usize, ky * 3 + kx))
            })
        })
    }

    /// Output columns whose three taps all lie inside the image (the rest need edge checks).
    pub fn interior_columns(&self) -> std::ops::Range<usize> {
        let (_, _, pl, ow) = self.geometry();
        let (s, d) = (self.stride, self.dilation);
        let lo = pl.div_ceil(s).min(ow);
        let hi = if self.in_w + pl > 2 * d { ((self.in_w - 1 + pl - 2 * d) / s + 1).min(ow) } else { 0 }.max(lo);
        lo..hi
    }

    /// The first and last input rows (inclusive, inside the image) that output rows `rows` read.
    pub fn input_rows(&self, rows: &std::ops::Range<usize>) -> (usize, usize) {
        let (pt, ..) = self.geometry();
        let first = (rows.start * self.stride).saturating_sub(pt).min(self.in_h - 1);
        let last = ((rows.end.max(1) - 1) * self.stride + 2 * self.dilation).saturating_sub(pt).min(self.in_h - 1);
        (first, last)
    }

    /// Where input row `iy` starts in a buffer of `len` elements holding whole input rows: slot
    /// `(iy - row0) % slots`, which is row `iy - row0` of a window of consecutive rows from
    /// `row0`, and row `iy % slots` of a ring (`row0` = 0) that keeps each row in that slot.
    #[inline]
    pub fn row_start(&self, iy: usize, len: usize, row0: usize) -> usize {
        let row_len = self.in_w * self.channels;
        (iy - row0) % (len / row_len).max(1) * row_len
    }

    /// Checks a buffer of whole input rows for output rows `rows` (and `out_len`, exactly those
    /// rows) and returns the `row0` of [`DwShape::row_start`]. `Some(row0)`: a window of
    /// consecutive rows from `row0`, which must hold every row read; `None`: a ring (row0 = 0),
    /// which must have as many slots as the rows read at once (which rows it holds is the
    /// caller's to keep). Panics otherwise.
    pub fn check_rows(&self, len: usize, row0: Option<usize>, rows: &std::ops::Range<usize>, out_len: usize) -> usize {
        let (_, oh, _, ow) = self.geometry();
        let row_len = (self.in_w * self.channels).max(1);
        assert!(len.is_multiple_of(row_len), "input rows are not whole rows");
        assert!(rows.end <= oh && out_len == rows.len() * ow * self.channels, "depthwise output rows");
        if !rows.is_empty() {
            let (first, last) = self.input_rows(rows);
            let slots = len / row_len;
            match row0 {
                Some(row0) => {
                    assert!(row0 <= first && last < row0 + slots, "window misses input rows {first}..={last}")
                }
                None => assert!(last - first < slots, "ring holds fewer rows than {first}..={last}"),
            }
        }
        row0.unwrap_or(0)
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
    window_impl(isa, true, layer, window, Some(row0), rows, out)
}

/// As [`dwconv3x3`] reading from a ring of input rows: `ring` holds whole rows, input row `iy`
/// in slot `iy % slots`, and must hold every row the output rows read (the fused blocks keep
/// their expanded rows this way, with no copying as the band moves down).
pub fn dwconv3x3_ring(isa: Isa, layer: &DwLayer, ring: &[f32], rows: std::ops::Range<usize>, out: &mut [f32]) {
    window_impl(isa, true, layer, ring, None, rows, out)
}

/// [`dwconv3x3_window`] (or, with no `row0`, [`dwconv3x3_ring`]) choosing whether AVX2 work may
/// use AVX-512 (`wide`).
pub(crate) fn window_impl(
    isa: Isa,
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))] wide: bool,
    layer: &DwLayer,
    window: &[f32],
    row0: Option<usize>,
    rows: std::ops::Range<usize>,
    out: &mut [f32],
) {
    let DwLayer { shape, w, bias, .. } = layer;
    assert!(w.len() == 9 * shape.channels && bias.len() == shape.channels, "depthwise weight size");
    // A window of rows from row0, or (None) a ring.
    let row0 = shape.check_rows(window.len(), row0, &rows, out.len());
    match crate::isa::pick(&VARIANTS, isa) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: pick() returns only levels the CPU has: AVX-512 (and AVX2 and FMA).
        Isa::Avx512 if wide => unsafe { avx512::rows_avx512(layer, window, row0, rows, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: pick() returns only levels the CPU has: AVX2 and FMA at least.
        Isa::Avx2 | Isa::Avx512 => unsafe { avx2::rows_avx2(layer, window, row0, rows, out, 0) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: pick() returns only levels the CPU has: this is an aarch64 CPU, with NEON.
        Isa::Neon => unsafe { neon::rows_neon(layer, window, row0, rows, out) },
        #[cfg(target_arch = "wasm32")]
        // SAFETY: pick() returns only levels the CPU has: a wasm32 build, made for SIMD128.
        Isa::Simd128 => unsafe { wasm::rows_simd128(layer, window, row0, rows, out) },
        _ => rows_portable(layer, window, row0, rows, out),
    }
}

/// Channels `from..` of every output column of one row the portable way (the SIMD bodies'
/// channels past their last whole vector), from the rows [`DwShape::tap_rows`] gave.
#[cfg_attr(not(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "wasm32")), allow(dead_code))]
fn tail_channels(layer: &DwLayer, valid: &[(&[f32], usize)], from: usize, out_row: &mut [f32]) {
    let DwLayer { shape, w, bias, clamp } = layer;
    let (c, ow) = (shape.channels, shape.geometry().3);
    for ox in 0..ow {
        for ch in from..c {
            let mut acc = bias[ch];
            for (r, ix, t) in shape.taps(valid, ox) {
                acc += r[ix * c + ch] * w[t * c + ch];
            }
            out_row[ox * c + ch] = clamp.apply(acc);
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
                    let px = shape.row_start(iy as usize, input.len(), row0) + ix as usize * c;
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
