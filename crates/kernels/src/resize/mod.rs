//! PIL's bilinear resize of 8-bit RGB: a triangle filter whose support widens by the scale
//! factor when shrinking (so it averages rather than aliases), separable, horizontal pass first,
//! with PIL's 22-bit fixed-point coefficients and rounding so the bytes match `Image.resize`.
//!
//! Every sum is of integers, exact in `i32` (255 x 2^22 x the weights' sum stays below 2^31),
//! so the vector passes may add a window's products in any order and still give PIL's bytes.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod reference;
#[cfg(test)]
mod tests;

pub use reference::resize_rgb8_reference;

use crate::Isa;
use crate::isa::pick;

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// The levels the horizontal pass has its own code for: `vpshufb` places each tap's bytes for
/// two output pixels (AVX2), `vpermb` (VBMI, part of the `Avx512Vnni` level) for five.
pub const HORIZONTAL_VARIANTS: [Isa; 3] = [Isa::Scalar, Isa::Avx2, Isa::Avx512Vnni];
/// The levels the vertical pass has its own code for (the same loop, compiled for each).
pub const VERTICAL_VARIANTS: [Isa; 3] = [Isa::Scalar, Isa::Avx2, Isa::Avx512];

/// Per output position: first input index and fixed-point weights.
struct Coeffs {
    start: Vec<usize>,
    weights: Vec<Vec<i32>>,
}

fn coefficients(in_size: usize, out_size: usize) -> Coeffs {
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = filter_scale; // the bilinear filter's support is 1
    let mut start = Vec::with_capacity(out_size);
    let mut weights = Vec::with_capacity(out_size);
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let xmin = ((center - support + 0.5) as isize).max(0) as usize;
        let xmax = ((center + support + 0.5) as isize).min(in_size as isize) as usize;
        let raw: Vec<f64> = (xmin..xmax)
            .map(|x| {
                let t = ((x as f64 - center + 0.5) / filter_scale).abs();
                if t < 1.0 { 1.0 - t } else { 0.0 }
            })
            .collect();
        let total: f64 = raw.iter().sum();
        let fixed = raw
            .iter()
            .map(|&w| {
                let w = if total != 0.0 { w / total } else { w } * (1u32 << PRECISION_BITS) as f64;
                (if w < 0.0 { w - 0.5 } else { w + 0.5 }) as i32
            })
            .collect();
        start.push(xmin);
        weights.push(fixed);
    }
    Coeffs { start, weights }
}

fn clip8(v: i32) -> u8 {
    (v >> PRECISION_BITS).clamp(0, 255) as u8
}

/// `src` (`width` x `height` RGB pixels, rows top to bottom) resized to `out_w` x `out_h` as
/// PIL's `Image.resize(size, Image.BILINEAR)` does it, with the code of level `isa` (or the best
/// below it this CPU has): the same bytes at every level.
pub fn resize_rgb8(isa: Isa, src: &[u8], (width, height): (usize, usize), (out_w, out_h): (usize, usize)) -> Vec<u8> {
    assert!(width > 0 && height > 0 && out_w > 0 && out_h > 0, "resize of an empty image");
    assert_eq!(src.len(), width * height * 3, "RGB buffer size");
    // PIL skips a pass whose size does not change.
    if vertical_first((width, height), (out_w, out_h)) {
        let vert = vertical(isa, src, (width, height), out_h);
        return if out_w != width { horizontal(isa, &vert, width, out_w) } else { vert };
    }
    let horiz = if out_w != width { horizontal(isa, src, width, out_w) } else { src.to_vec() };
    if out_h == height { horiz } else { vertical(isa, &horiz, (out_w, height), out_h) }
}

/// Whether Pillow (13 and later) runs the vertical pass first: when the height shrinks, by more
/// than twice as many pixels as the width does. The order changes the intermediate rounding,
/// so the bytes (on the 100 ImageNet references, a fifth of the images: the tall ones).
pub fn vertical_first((width, height): (usize, usize), (out_w, out_h): (usize, usize)) -> bool {
    out_h < height && (height - out_h) as i64 > 2 * (width as i64 - out_w as i64)
}

/// PIL's horizontal pass over every row.
fn horizontal(isa: Isa, src: &[u8], width: usize, out_w: usize) -> Vec<u8> {
    let c = coefficients(width, out_w);
    let mut data = vec![0u8; src.len() / width * out_w];
    #[cfg(target_arch = "x86_64")]
    {
        let level = pick(&HORIZONTAL_VARIANTS, isa);
        if level == Isa::Avx512Vnni
            && let Some(plan) = avx512::HorizontalPlan::new(&c, width)
        {
            // SAFETY: pick() returned the level, so this CPU has AVX-512 F, BW, VL and VBMI.
            unsafe { avx512::horizontal(&plan, src, &mut data) };
            return data;
        }
        // Also where a window is too wide for AVX-512's one load: AVX2 reads it in chunks.
        if level >= Isa::Avx2 {
            horizontal_avx2(&c, src, width, &mut data);
            return data;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = isa; // only x86-64 has a vector horizontal pass
    horizontal_rows(&c, src, width, &mut data);
    data
}

/// The AVX2 horizontal pass: the rows whose 16-byte loads stay inside `src` read it in place,
/// the rest (the last row's final pixels can reach past its end) a copy padded with zeros.
#[cfg(target_arch = "x86_64")]
fn horizontal_avx2(c: &Coeffs, src: &[u8], width: usize, data: &mut [u8]) {
    let plan = avx2::HorizontalPlan::new(c, width);
    let (in_row, out_row) = (width * 3, c.start.len() * 3);
    let rows = src.len() / in_row;
    let direct = (0..rows).take_while(|&r| plan.fits(r * in_row, src.len())).count();
    // SAFETY: the caller chose the level by pick(), so this CPU has AVX2; the loads of the
    // `direct` rows stay inside `src` (checked above, and again inside).
    unsafe { avx2::horizontal(&plan, src, &mut data[..direct * out_row]) };
    for r in direct..rows {
        let mut padded = src[r * in_row..(r + 1) * in_row].to_vec();
        padded.resize(plan.reach().max(in_row), 0);
        // SAFETY: as above; the padded row holds every load the plan makes.
        unsafe { avx2::horizontal(&plan, &padded, &mut data[r * out_row..(r + 1) * out_row]) };
    }
}

/// The portable horizontal pass: each output pixel's three channels summed over its window together.
fn horizontal_rows(c: &Coeffs, src: &[u8], width: usize, data: &mut [u8]) {
    let round = 1i32 << (PRECISION_BITS - 1);
    let out_w = c.start.len();
    for (src, dst) in src.chunks_exact(width * 3).zip(data.chunks_exact_mut(out_w * 3)) {
        for ((px, &start), weights) in dst.chunks_exact_mut(3).zip(&c.start).zip(&c.weights) {
            let window = &src[start * 3..(start + weights.len()) * 3];
            let mut s = [round; 3];
            for (p, &w) in window.chunks_exact(3).zip(weights) {
                s[0] += p[0] as i32 * w;
                s[1] += p[1] as i32 * w;
                s[2] += p[2] as i32 * w;
            }
            px.copy_from_slice(&s.map(clip8));
        }
    }
}

/// PIL's vertical pass.
fn vertical(isa: Isa, src: &[u8], (width, height): (usize, usize), out_h: usize) -> Vec<u8> {
    let c = coefficients(height, out_h);
    let mut data = vec![0u8; out_h * width * 3];
    match pick(&VERTICAL_VARIANTS, isa) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: pick() returned the level, so this CPU has AVX-512 F and BW.
        Isa::Avx512 => unsafe { vertical_avx512(&c, src, width, &mut data) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: pick() returned the level, so this CPU has AVX2.
        Isa::Avx2 => unsafe { vertical_avx2(&c, src, width, &mut data) },
        _ => vertical_rows(&c, src, width, &mut data),
    }
    data
}

/// [`vertical_rows`] compiled for AVX-512.
///
/// # Safety
/// The CPU must have AVX-512 F and BW.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn vertical_avx512(c: &Coeffs, src: &[u8], width: usize, data: &mut [u8]) {
    vertical_rows(c, src, width, data)
}

/// [`vertical_rows`] compiled for AVX2.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn vertical_avx2(c: &Coeffs, src: &[u8], width: usize, data: &mut [u8]) {
    vertical_rows(c, src, width, data)
}

/// The vertical pass: each output row accumulated from its window of input rows, a whole row at
/// a time (the same integer sums as PIL's, so the same bytes; row-wise they vectorise).
#[inline(always)]
fn vertical_rows(c: &Coeffs, src: &[u8], width: usize, data: &mut [u8]) {
    let round = 1i32 << (PRECISION_BITS - 1);
    let row = width * 3;
    let mut acc = vec![0i32; row];
    for ((dst, &start), weights) in data.chunks_exact_mut(row).zip(&c.start).zip(&c.weights) {
        acc.fill(round);
        for (k, &w) in weights.iter().enumerate() {
            for (a, &v) in acc.iter_mut().zip(&src[(start + k) * row..(start + k + 1) * row]) {
                *a += v as i32 * w;
            }
        }
        for (d, &a) in dst.iter_mut().zip(&acc) {
            *d = clip8(a);
        }
    }
}
