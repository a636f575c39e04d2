//! Depthwise 3x3 convolution, NHWC, "same" padding, any stride and dilation, bias and clamp fused.

mod reference;
#[cfg(test)]
mod tests;

pub use reference::dwconv3x3_reference;

use crate::{Clamp, Isa};

/// The levels the fp32 depthwise 3x3 has its own code for (tests and benches run each).
pub const VARIANTS: [Isa; 3] = [Isa::Scalar, Isa::Avx2, Isa::Avx512];

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
        Isa::Avx512 if wide => unsafe { rows_avx512(layer, window, row0, rows, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: pick() returns only levels the CPU has: AVX2 and FMA at least.
        Isa::Avx2 | Isa::Avx512 => unsafe { rows_avx2(layer, window, row0, rows, out, 0) },
        _ => rows_portable(layer, window, row0, rows, out),
    }
}

/// AVX2: for each block of eight channels the nine weight vectors stay in registers while the
/// block walks along an output row; each output is the bias plus nine FMAs (taps outside the
/// image skipped), stored once. Channels past the last multiple of eight run the portable way.
///
/// # Safety
/// The CPU must have AVX2 and FMA; the window (from row `row0`) and `out` checked by the caller
/// (`DwShape::check_rows`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn rows_avx2(
    layer: &DwLayer,
    input: &[f32],
    row0: usize,
    rows: std::ops::Range<usize>,
    out: &mut [f32],
    first_channel: usize,
) {
    use std::arch::x86_64::*;
    let DwLayer { shape, w, bias, clamp } = layer;
    let c = shape.channels;
    let c8 = first_channel + (c - first_channel) / 8 * 8;
    let (_, _, pl, ow) = shape.geometry();
    let (s, d) = (shape.stride, shape.dilation);
    let (vlo, vhi) = (_mm256_set1_ps(clamp.lo), _mm256_set1_ps(clamp.hi));
    let std::ops::Range { start: ox_lo, end: ox_hi } = shape.interior_columns();
    for (ro, oy) in rows.enumerate() {
        // The input rows inside the image as (row, ky).
        let (valid_rows, n_valid) = shape.tap_rows(oy, input, row0);
        let valid = &valid_rows[..n_valid];
        let out_row = &mut out[ro * ow * c..(ro + 1) * ow * c];
        for ch in (first_channel..c8).step_by(8) {
            // SAFETY: ch + 8 <= c; weights hold 9 * c, bias c; every input row slice holds
            // in_w * c floats and every column read is checked (edges) or inside by construction
            // (ox_lo..ox_hi); out_row holds ow * c.
            unsafe {
                let wv: [__m256; 9] = std::array::from_fn(|t| _mm256_loadu_ps(w.as_ptr().add(t * c + ch)));
                let b = _mm256_loadu_ps(bias.as_ptr().add(ch));
                let edge = |ox: usize, out_row: &mut [f32]| {
                    let mut acc = b;
                    for &(r, ky) in valid {
                        for kx in 0..3 {
                            let ix = (ox * s + kx * d) as isize - pl as isize;
                            if ix >= 0 && (ix as usize) < shape.in_w {
                                let x = _mm256_loadu_ps(r.as_ptr().add(ix as usize * c + ch));
                                acc = _mm256_fmadd_ps(x, wv[ky * 3 + kx], acc);
                            }
                        }
                    }
                    _mm256_storeu_ps(
                        out_row.as_mut_ptr().add(ox * c + ch),
                        _mm256_min_ps(_mm256_max_ps(acc, vlo), vhi),
                    );
                };
                for ox in (0..ox_lo).chain(ox_hi..ow) {
                    edge(ox, out_row);
                }
                for ox in ox_lo..ox_hi {
                    let base = (ox * s - pl) * c + ch;
                    let mut acc = b;
                    for &(r, ky) in valid {
                        let p = r.as_ptr().add(base);
                        acc = _mm256_fmadd_ps(_mm256_loadu_ps(p), wv[ky * 3], acc);
                        acc = _mm256_fmadd_ps(_mm256_loadu_ps(p.add(d * c)), wv[ky * 3 + 1], acc);
                        acc = _mm256_fmadd_ps(_mm256_loadu_ps(p.add(2 * d * c)), wv[ky * 3 + 2], acc);
                    }
                    _mm256_storeu_ps(
                        out_row.as_mut_ptr().add(ox * c + ch),
                        _mm256_min_ps(_mm256_max_ps(acc, vlo), vhi),
                    );
                }
            }
        }
        for ox in 0..ow {
            for ch in c8..c {
                let mut acc = bias[ch];
                for &(r, ky) in valid {
                    for kx in 0..3 {
                        let ix = (ox * s + kx * d) as isize - pl as isize;
                        if ix >= 0 && (ix as usize) < shape.in_w {
                            acc += r[ix as usize * c + ch] * w[(ky * 3 + kx) * c + ch];
                        }
                    }
                }
                out_row[ox * c + ch] = clamp.apply(acc);
            }
        }
    }
}

/// One block of sixteen channels in the AVX-512 kernel: the nine weight vectors, the bias and
/// the clamp bounds.
#[cfg(target_arch = "x86_64")]
struct Block16 {
    w: [std::arch::x86_64::__m512; 9],
    bias: std::arch::x86_64::__m512,
    lo: std::arch::x86_64::__m512,
    hi: std::arch::x86_64::__m512,
}

/// Sixteen zeros: what taps outside the image read in the AVX-512 kernel.
#[cfg(target_arch = "x86_64")]
static ZEROS: [f32; 16] = [0.0; 16];

/// AVX-512: blocks of sixteen channels as in [`rows_avx2`]; the channels past the last
/// multiple of sixteen go to the AVX2 code. Taps outside the image read zeros (adding `0 * w`
/// changes nothing but the sign of a zero sum), so every output is the same nine FMAs in the
/// order of the other paths; interior stretches go eight outputs at a time.
///
/// # Safety
/// The CPU must have AVX-512F, AVX2 and FMA; the window (from row `row0`) and `out` checked by the
/// caller (`DwShape::check_rows`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn rows_avx512(layer: &DwLayer, input: &[f32], row0: usize, rows: std::ops::Range<usize>, out: &mut [f32]) {
    use std::arch::x86_64::*;
    let DwLayer { shape, w, bias, clamp } = layer;
    let c = shape.channels;
    let c16 = c / 16 * 16;
    let (pt, _, pl, ow) = shape.geometry();
    let (s, d, in_w) = (shape.stride, shape.dilation, shape.in_w);
    let clamp_v = (_mm512_set1_ps(clamp.lo), _mm512_set1_ps(clamp.hi));
    let (ox_lo, ox_hi) = (shape.interior_columns().start, shape.interior_columns().end);
    for (ro, oy) in rows.clone().enumerate() {
        // Per kernel row: its first element and column step; rows outside the image read zeros.
        let taps: [(*const f32, usize); 3] = std::array::from_fn(|ky| {
            let iy = (oy * s + ky * d) as isize - pt as isize;
            if iy >= 0 && (iy as usize) < shape.in_h {
                (input[shape.row_start(iy as usize, input.len(), row0)..].as_ptr(), c)
            } else {
                (ZEROS.as_ptr(), 0)
            }
        });
        let out_row = &mut out[ro * ow * c..(ro + 1) * ow * c];
        for ch in (0..c16).step_by(16) {
            // SAFETY: ch + 16 <= c; weights hold 9 * c, bias c; input rows hold in_w * c floats
            // and every column read is checked (edges) or inside by `interior_columns`; zero
            // rows have step 0; out_row holds ow * c.
            unsafe {
                let mut blk = Block16 {
                    w: [_mm512_setzero_ps(); 9],
                    bias: _mm512_loadu_ps(bias.as_ptr().add(ch)),
                    lo: clamp_v.0,
                    hi: clamp_v.1,
                };
                for (t, wt) in blk.w.iter_mut().enumerate() {
                    *wt = _mm512_loadu_ps(w.as_ptr().add(t * c + ch));
                }
                let rows3 = taps.map(|(p, step)| (if step == 0 { p } else { p.add(ch) }, step));
                let dst = out_row.as_mut_ptr().add(ch);
                // Edge columns (taps outside read zeros), two chains at a time on each side.
                let geometry = (s, d, pl, in_w);
                for side in [0..ox_lo, ox_hi..ow] {
                    let mut ox = side.start;
                    while ox + 2 <= side.end {
                        edge::<2>([ox, ox + 1], rows3, &blk, dst, c, geometry);
                        ox += 2;
                    }
                    if ox < side.end {
                        edge::<1>([ox], rows3, &blk, dst, c, geometry);
                    }
                }
                let stretch = (ox_lo, ox_hi);
                match (s, d) {
                    (1, 1) => interior_stretch::<1, 1>(rows3, &blk, dst, c, pl, stretch),
                    (2, 1) => interior_stretch::<2, 1>(rows3, &blk, dst, c, pl, stretch),
                    (1, 2) => interior_stretch::<1, 2>(rows3, &blk, dst, c, pl, stretch),
                    _ => {
                        for ox in ox_lo..ox_hi {
                            let mut acc = blk.bias;
                            for (ky, &(r, step)) in rows3.iter().enumerate() {
                                for kx in 0..3 {
                                    let x = _mm512_loadu_ps(r.add((ox * s + kx * d - pl) * step));
                                    acc = _mm512_fmadd_ps(x, blk.w[ky * 3 + kx], acc);
                                }
                            }
                            _mm512_storeu_ps(dst.add(ox * c), _mm512_min_ps(_mm512_max_ps(acc, clamp_v.0), clamp_v.1));
                        }
                    }
                }
            }
        }
    }
    if c16 < c {
        // SAFETY: the caller's CPU has AVX2 and FMA.
        unsafe { rows_avx2(layer, input, row0, rows, out, c16) };
    }
}

/// `N` outputs of an interior stretch of a row (columns inside the image),
/// for stride `S` and dilation `D`: `rows` point at the 16 channels of the first input column
/// the outputs read in each input row, with the column step (0: a row of zeros outside the
/// image), `dst` at output 0, `c` is the output pixel stride. Each input
/// column is loaded once and feeds every output that reads it; each output still takes its taps
/// in the portable order (bias, then ky, then kx), so the bits do not change.
///
/// # Safety
/// AVX-512F; columns `0..(N - 1) S + 2 D + 1` of the three rows and outputs `0..N` are inside
/// the caller's buffers.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn interior<const N: usize, const S: usize, const D: usize>(
    rows: [(*const f32, usize); 3],
    blk: &Block16,
    dst: *mut f32,
    c: usize,
) {
    use std::arch::x86_64::*;
    // SAFETY: as the contract states.
    unsafe {
        let mut acc = [blk.bias; N];
        for (ky, &(r, step)) in rows.iter().enumerate() {
            if S == 1 {
                let mut p = r;
                for j in 0..(N - 1) * S + 2 * D + 1 {
                    let x = _mm512_loadu_ps(p);
                    // Column j is tap kx of output o where j = o S + kx D; ascending j gives each
                    // output its kx in order.
                    for kx in 0..3 {
                        if j >= kx * D && (j - kx * D).is_multiple_of(S) && (j - kx * D) / S < N {
                            let o = (j - kx * D) / S;
                            acc[o] = _mm512_fmadd_ps(x, blk.w[ky * 3 + kx], acc[o]);
                        }
                    }
                    p = p.add(step);
                }
            } else {
                // Strided: tap by tap, each output's column loaded for it (a shared column is
                // loaded twice, but the loop is simple enough to unroll fully).
                for kx in 0..3 {
                    let w = blk.w[ky * 3 + kx];
                    let mut p = r.add(kx * D * step);
                    for a in acc.iter_mut() {
                        *a = _mm512_fmadd_ps(_mm512_loadu_ps(p), w, *a);
                        p = p.add(S * step);
                    }
                }
            }
        }
        for (i, a) in acc.iter().enumerate() {
            _mm512_storeu_ps(dst.add(i * c), _mm512_min_ps(_mm512_max_ps(*a, blk.lo), blk.hi));
        }
    }
}

/// Edge outputs `oxs` of a row (taps outside the image read zeros), as independent chains.
///
/// # Safety
/// AVX-512F; `rows` as in [`interior`], holding columns `0..in_w`; outputs inside `dst`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn edge<const N: usize>(
    oxs: [usize; N],
    rows: [(*const f32, usize); 3],
    blk: &Block16,
    dst: *mut f32,
    c: usize,
    (s, d, pl, in_w): (usize, usize, usize, usize),
) {
    use std::arch::x86_64::*;
    // SAFETY: as the contract states; columns outside 0..in_w read `ZEROS`.
    unsafe {
        let mut acc = [blk.bias; N];
        for (ky, &(r, step)) in rows.iter().enumerate() {
            for kx in 0..3 {
                for i in 0..N {
                    let ix = (oxs[i] * s + kx * d) as isize - pl as isize;
                    let p = if ix >= 0 && (ix as usize) < in_w { r.add(ix as usize * step) } else { ZEROS.as_ptr() };
                    acc[i] = _mm512_fmadd_ps(_mm512_loadu_ps(p), blk.w[ky * 3 + kx], acc[i]);
                }
            }
        }
        for i in 0..N {
            _mm512_storeu_ps(dst.add(oxs[i] * c), _mm512_min_ps(_mm512_max_ps(acc[i], blk.lo), blk.hi));
        }
    }
}

/// Outputs `ox..ox_hi` of an interior stretch, eight at a time, then the rest together.
///
/// # Safety
/// As [`interior`], for every output of the stretch.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn interior_stretch<const S: usize, const D: usize>(
    rows: [(*const f32, usize); 3],
    blk: &Block16,
    dst: *mut f32,
    c: usize,
    pl: usize,
    (mut ox, ox_hi): (usize, usize),
) {
    // SAFETY: as the contract states; output ox reads input columns from ox S - pl.
    unsafe {
        let at = |ox: usize| rows.map(|(r, step)| (r.add((ox * S - pl) * step), step));
        while ox + 8 <= ox_hi {
            interior::<8, S, D>(at(ox), blk, dst.add(ox * c), c);
            ox += 8;
        }
        // The rest in one go (independent chains rather than one at a time).
        let dst = dst.add(ox * c);
        match ox_hi - ox {
            0 => {}
            1 => interior::<1, S, D>(at(ox), blk, dst, c),
            2 => interior::<2, S, D>(at(ox), blk, dst, c),
            3 => interior::<3, S, D>(at(ox), blk, dst, c),
            4 => interior::<4, S, D>(at(ox), blk, dst, c),
            5 => interior::<5, S, D>(at(ox), blk, dst, c),
            6 => interior::<6, S, D>(at(ox), blk, dst, c),
            _ => interior::<7, S, D>(at(ox), blk, dst, c),
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
