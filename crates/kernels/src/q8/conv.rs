//! Integer full conv for the stem (TFLite `Conv` uint8 / `ConvPerChannel` int8), "same" padding
//! with out-of-image taps skipped: each output pixel's taps are gathered into a row (im2col) and
//! multiplied by the integer GEMM. An out-of-image tap is written as the input zero point, whose
//! contribution `(za - za) * w` is exactly the zero of a skipped tap.

use super::gemm::{QPackedB, qgemm};
use super::{OutputStage, Requant};
use crate::Isa;
use crate::conv::ConvShape;

/// A quantized full conv: weights packed for the GEMM (k = taps x input channels, rounded up to
/// a multiple of 4 with zero weights), zero point removed.
#[derive(Debug, Clone)]
pub struct QConvLayer {
    pub shape: ConvShape,
    gemm: QPackedB,
    /// Gathered row length: `kernel^2 * in_c` rounded up to a multiple of 4.
    taps: usize,
    pub bias: Vec<i32>,
    pub input_zero_point: i32,
    pub requant: Vec<Requant>,
    pub stage: OutputStage,
}

/// Output pixels gathered per GEMM call.
const PIXELS: usize = 64;

impl QConvLayer {
    /// `ohwi[((o * k + y) * k + x) * in_c + i]`, zero point already removed.
    pub fn new(
        isa: Isa,
        shape: ConvShape,
        ohwi: &[i16],
        bias: Vec<i32>,
        input_zero_point: i32,
        requant: Vec<Requant>,
        stage: OutputStage,
    ) -> QConvLayer {
        let (k, ic, oc) = (shape.kernel, shape.in_c, shape.out_c);
        assert!(ohwi.len() == oc * k * k * ic && bias.len() == oc && requant.len() == oc, "conv weights");
        assert!((0..=255).contains(&input_zero_point), "u8 activations have a byte zero point");
        let real = k * k * ic;
        let taps = real.next_multiple_of(4);
        // Row kk of the GEMM is tap (y * k + x) * ic + i, exactly OHWI's inner order.
        let w = |kk: usize, o: usize| if kk < real { ohwi[o * real + kk] } else { 0 };
        let gemm = QPackedB::new(isa, taps, oc, w, &bias, input_zero_point, requant.clone(), stage);
        QConvLayer { shape, gemm, taps, bias, input_zero_point, requant, stage }
    }
}

/// Output rows `rows` into `out` (exactly those rows).
pub fn qconv2d(isa: Isa, layer: &QConvLayer, input: &[u8], rows: std::ops::Range<usize>, out: &mut [u8]) {
    let s = &layer.shape;
    let (pt, oh, pl, ow) = s.geometry();
    let (k, ic, oc) = (s.kernel, s.in_c, s.out_c);
    assert_eq!(input.len(), s.in_h * s.in_w * ic, "conv input size");
    assert!(rows.end <= oh && out.len() == rows.len() * ow * oc, "conv output rows");
    // The input zero point is a byte (u8 activations), so it can stand in for a skipped tap.
    let pad = layer.input_zero_point as u8;
    let taps = layer.taps;
    let seg = k * ic;
    let first = rows.start * ow;
    // 16 bytes of slack: interior pixels copy each kernel row's taps as one 16-byte move whose
    // tail spills into the next pixel's row (rewritten next) or the slack.
    let mut cols = vec![pad; PIXELS.min(out.len() / oc.max(1)) * taps + 16];
    // Output columns whose taps all lie inside the image and whose last kernel row's 16-byte
    // move stays inside `input` (checked per row below): those gather with plain moves.
    let inside_cols = {
        let lo = pl.div_ceil(s.stride);
        let hi = if s.in_w + pl >= k { ((s.in_w + pl - k) / s.stride + 1).min(ow) } else { 0 };
        lo..hi.max(lo)
    };
    for (chunk, dst) in out.chunks_mut(PIXELS * oc).enumerate() {
        let pixels = dst.len() / oc;
        let p0 = first + chunk * PIXELS;
        let (mut oy, mut ox) = (p0 / ow, p0 % ow);
        let mut j = 0;
        while j < pixels {
            // A run of pixels along output row oy.
            let run = (pixels - j).min(ow - ox);
            let iy0 = (oy * s.stride) as isize - pt as isize;
            let row_inside = iy0 >= 0 && iy0 as usize + k <= s.in_h;
            let mut fast = if row_inside && seg <= 16 { inside_cols.clone() } else { 0..0 };
            // The 16-byte moves must not read past the input's end.
            while fast.end > fast.start && ((iy0 as usize + k - 1) * s.in_w + fast.end - 1 - pl) * ic + 16 > input.len()
            {
                fast.end -= 1;
            }
            for t in 0..run {
                let (ox, j) = (ox + t, j + t);
                let ix0 = (ox * s.stride) as isize - pl as isize;
                if fast.contains(&ox) {
                    // SAFETY: the taps' kernel rows start inside `input` and the last one's 16
                    // bytes end inside it (checked above; earlier rows come before it); `cols`
                    // holds taps + 16 bytes past row j's start and the moves end by
                    // (k - 1) seg + 16 <= taps + 16 (seg <= 16, k seg <= taps).
                    unsafe {
                        let src = input.as_ptr().add((iy0 as usize * s.in_w + ix0 as usize) * ic);
                        gather_inside(s, taps, src, cols.as_mut_ptr().add(j * taps), pad);
                    }
                    continue;
                }
                gather_checked(s, input, (iy0, ix0), &mut cols[j * taps..(j + 1) * taps], pad);
            }
            j += run;
            (oy, ox) = (oy + 1, 0);
        }
        let cols = &cols[..pixels * taps];
        qgemm(isa, cols, &layer.gemm, dst);
    }
}

/// One pixel's taps, `K` kernel rows of `SEG` bytes `stride` apart from `src`, moved 16 bytes
/// at a time into `dst` and padded to `TAPS` bytes with `pad`.
///
/// # Safety
/// `src + (K - 1) stride + 16` and `dst + (K - 1) SEG + 16` bytes must be readable / writable.
#[inline(always)]
unsafe fn gather<const K: usize, const SEG: usize, const TAPS: usize>(
    src: *const u8,
    stride: usize,
    dst: *mut u8,
    pad: u8,
) {
    // SAFETY: as the contract states.
    unsafe {
        for ky in 0..K {
            let bytes = std::ptr::read_unaligned(src.add(ky * stride).cast::<[u8; 16]>());
            std::ptr::write_unaligned(dst.add(ky * SEG).cast::<[u8; 16]>(), bytes);
        }
        for b in K * SEG..TAPS {
            *dst.add(b) = pad;
        }
    }
}

/// Textbook loop over the unpacked OHWI weights.
/// The taps of a pixel whose kernel lies inside the image, from `src` (its first tap) into
/// `dst` (`taps` bytes, padded with `pad`): each kernel row as one 16-byte move.
///
/// # Safety
/// Every kernel row's 16 bytes from `src` are readable (rows `in_w * in_c` apart); `dst` has
/// `taps + 16` writable bytes; a kernel row holds at most 16 bytes.
#[inline(always)]
unsafe fn gather_inside(s: &ConvShape, taps: usize, src: *const u8, dst: *mut u8, pad: u8) {
    let (k, row) = (s.kernel, s.in_w * s.in_c);
    let (seg, real) = (k * s.in_c, k * k * s.in_c);
    // SAFETY: as the contract states.
    unsafe {
        match (k, seg, taps) {
            // The RGB stem's 3x3 taps: constant sizes, no loops.
            (3, 9, 28) => gather::<3, 9, 28>(src, row, dst, pad),
            _ => {
                for ky in 0..k {
                    let bytes = std::ptr::read_unaligned(src.add(ky * row).cast::<[u8; 16]>());
                    std::ptr::write_unaligned(dst.add(ky * seg).cast::<[u8; 16]>(), bytes);
                }
                // The last move wrote past the real taps: restore the padding.
                for b in real..taps {
                    *dst.add(b) = pad;
                }
            }
        }
    }
}

/// The taps of the pixel whose kernel starts at input (`iy0`, `ix0`) into `row`, taps outside
/// the image left as `pad`.
fn gather_checked(s: &ConvShape, input: &[u8], (iy0, ix0): (isize, isize), row: &mut [u8], pad: u8) {
    let (k, ic) = (s.kernel, s.in_c);
    row.fill(pad);
    for ky in 0..k {
        let iy = iy0 + ky as isize;
        if iy < 0 || iy >= s.in_h as isize {
            continue;
        }
        for kx in 0..k {
            let ix = ix0 + kx as isize;
            if ix >= 0 && ix < s.in_w as isize {
                let px = (iy as usize * s.in_w + ix as usize) * ic;
                let at = (ky * k + kx) * ic;
                row[at..at + ic].copy_from_slice(&input[px..px + ic]);
            }
        }
    }
}

pub fn qconv2d_reference(layer: &QConvLayer, ohwi: &[i16], input: &[u8]) -> Vec<u8> {
    let s = &layer.shape;
    let (pt, oh, pl, ow) = s.geometry();
    let (k, ic, oc) = (s.kernel, s.in_c, s.out_c);
    let mut out = vec![0u8; oh * ow * oc];
    for oy in 0..oh {
        for ox in 0..ow {
            for o in 0..oc {
                let mut acc = layer.bias[o];
                for ky in 0..k {
                    for kx in 0..k {
                        let y = (oy * s.stride + ky) as isize - pt as isize;
                        let x = (ox * s.stride + kx) as isize - pl as isize;
                        if y < 0 || x < 0 || y as usize >= s.in_h || x as usize >= s.in_w {
                            continue;
                        }
                        for i in 0..ic {
                            let v = input[(y as usize * s.in_w + x as usize) * ic + i] as i32;
                            acc += (v - layer.input_zero_point) * ohwi[((o * k + ky) * k + kx) * ic + i] as i32;
                        }
                    }
                }
                out[(oy * ow + ox) * oc + o] = layer.stage.finish(layer.requant[o].apply(acc));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{Rng, padding_for, quant_weights, rounding};

    #[test]
    fn matches_reference_exactly() {
        let mut seed = 900;
        for isa in Isa::all_available() {
            for (h, w) in [(1, 1), (4, 5), (9, 9), (17, 23)] {
                for (in_c, out_c) in [(3, 8), (3, 32), (2, 70)] {
                    for (kernel, stride) in [(3, 2), (3, 1), (1, 1)] {
                        seed += 1;
                        let mut rng = Rng::new(seed);
                        let shape =
                            ConvShape { in_h: h, in_w: w, in_c, out_c, kernel, stride, padding: padding_for(seed) };
                        // int8, uint8 and wider weights in turn (VNNI takes the first two).
                        let ohwi = quant_weights(&mut rng, out_c * kernel * kernel * in_c, seed);
                        let layer = QConvLayer::new(
                            isa,
                            shape,
                            &ohwi,
                            (0..out_c).map(|_| (rng.next_u64() % 2001) as i32 - 1000).collect(),
                            (rng.next_u64() % 256) as i32,
                            (0..out_c)
                                .map(|_| {
                                    Requant::with_rounding(
                                        0.0001 + (rng.next_u64() % 100) as f64 * 1e-4,
                                        rounding(seed),
                                    )
                                })
                                .collect(),
                            OutputStage::new((rng.next_u64() % 256) as i32, 0.02, seed % 2 == 0),
                        );
                        let input: Vec<u8> = (0..h * w * in_c).map(|_| rng.next_u64() as u8).collect();
                        let (_, oh, _, _) = shape.geometry();
                        // In two calls, as the engine splits rows between threads.
                        let mut out = vec![0u8; shape.out_len()];
                        let (top, bottom) = out.split_at_mut(oh / 2 * shape.out_len() / oh);
                        qconv2d(isa, &layer, &input, 0..oh / 2, top);
                        qconv2d(isa, &layer, &input, oh / 2..oh, bottom);
                        assert_eq!(out, qconv2d_reference(&layer, &ohwi, &input), "{isa:?} {shape:?}");
                    }
                }
            }
        }
    }
}
