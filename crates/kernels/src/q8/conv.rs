//! Integer full conv for the stem (TFLite `Conv` uint8 / `ConvPerChannel` int8), "same" padding
//! with out-of-image taps skipped.

use super::requant_vec::{RequantVec, requantize};
use super::{OutputStage, Requant};
use crate::Isa;
use crate::conv::ConvShape;

/// A quantized full conv: weights repacked HWIO with their zero point removed.
#[derive(Debug, Clone)]
pub struct QConvLayer {
    pub shape: ConvShape,
    hwio: Vec<i16>,
    pub bias: Vec<i32>,
    pub input_zero_point: i32,
    pub requant: Vec<Requant>,
    requant_vec: RequantVec,
    pub stage: OutputStage,
}

const BLOCK: usize = 64;

impl QConvLayer {
    /// `ohwi[((o * k + y) * k + x) * in_c + i]`, zero point already removed.
    pub fn new(
        shape: ConvShape,
        ohwi: &[i16],
        bias: Vec<i32>,
        input_zero_point: i32,
        requant: Vec<Requant>,
        stage: OutputStage,
    ) -> QConvLayer {
        let (k, ic, oc) = (shape.kernel, shape.in_c, shape.out_c);
        assert!(ohwi.len() == oc * k * k * ic && bias.len() == oc && requant.len() == oc, "conv weights");
        let mut hwio = vec![0i16; ohwi.len()];
        for o in 0..oc {
            for t in 0..k * k {
                for i in 0..ic {
                    hwio[(t * ic + i) * oc + o] = ohwi[(o * k * k + t) * ic + i];
                }
            }
        }
        let requant_vec = RequantVec::new(&requant);
        QConvLayer { shape, hwio, bias, input_zero_point, requant, requant_vec, stage }
    }
}

/// Output rows `rows` into `out` (exactly those rows).
pub fn qconv2d(isa: Isa, layer: &QConvLayer, input: &[u8], rows: std::ops::Range<usize>, out: &mut [u8]) {
    let s = &layer.shape;
    let (_, oh, _, ow) = s.geometry();
    assert_eq!(input.len(), s.in_h * s.in_w * s.in_c, "conv input size");
    assert!(rows.end <= oh && out.len() == rows.len() * ow * s.out_c, "conv output rows");
    match isa.or_scalar() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: or_scalar() returned Avx2, so the CPU has AVX2.
        Isa::Avx2 if crate::isa::has_avx512_bw() && s.out_c.is_multiple_of(16) => unsafe {
            // SAFETY: AVX-512F/BW detected.
            rows_avx512(layer, input, rows, out)
        },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: or_scalar() returned Avx2, so the CPU has AVX2.
        Isa::Avx2 => unsafe { rows_avx2(layer, input, rows, out) },
        _ => rows_portable(Isa::Scalar, layer, input, rows, out),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn rows_avx2(layer: &QConvLayer, input: &[u8], rows: std::ops::Range<usize>, out: &mut [u8]) {
    rows_portable(Isa::Avx2, layer, input, rows, out)
}

/// AVX-512, sixteen output channels per zmm: each tap's input value (minus the zero point)
/// broadcast against the zero-extended weights with `vpmaddwd` (exact products), requantized in
/// registers. `out_c` must be a multiple of 16.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx2")]
unsafe fn rows_avx512(layer: &QConvLayer, input: &[u8], rows: std::ops::Range<usize>, out: &mut [u8]) {
    use super::requant_vec::avx512::{Params16, requant16};
    use std::arch::x86_64::*;
    let s = &layer.shape;
    let (pt, _, pl, ow) = s.geometry();
    let (k, ic, oc) = (s.kernel, s.in_c, s.out_c);
    for (ro, oy) in rows.enumerate() {
        let out_row = &mut out[ro * ow * oc..(ro + 1) * ow * oc];
        for cb in (0..oc).step_by(16) {
            // SAFETY: cb + 16 <= oc; weights hold k*k*ic*oc values, bias and requantization oc;
            // every input read is checked to lie inside the image; out_row holds ow * oc bytes.
            unsafe {
                let b = _mm512_loadu_si512(layer.bias.as_ptr().add(cb) as *const _);
                let p = Params16::load(&layer.requant_vec, cb, layer.stage);
                let wt = |t: usize| {
                    _mm512_cvtepu16_epi32(_mm256_loadu_si256(layer.hwio.as_ptr().add(t * oc + cb) as *const __m256i))
                };
                for ox in 0..ow {
                    let mut acc = b;
                    for ky in 0..k {
                        let iy = (oy * s.stride + ky) as isize - pt as isize;
                        if iy < 0 || iy >= s.in_h as isize {
                            continue;
                        }
                        for kx in 0..k {
                            let ix = (ox * s.stride + kx) as isize - pl as isize;
                            if ix < 0 || ix >= s.in_w as isize {
                                continue;
                            }
                            let px = (iy as usize * s.in_w + ix as usize) * ic;
                            for i in 0..ic {
                                let x = _mm512_set1_epi32(input[px + i] as i32 - layer.input_zero_point);
                                acc = _mm512_add_epi32(acc, _mm512_madd_epi16(x, wt((ky * k + kx) * ic + i)));
                            }
                        }
                    }
                    _mm_storeu_si128(out_row.as_mut_ptr().add(ox * oc + cb) as *mut __m128i, requant16(acc, &p));
                }
            }
        }
    }
}

#[inline(always)]
fn rows_portable(isa: Isa, layer: &QConvLayer, input: &[u8], rows: std::ops::Range<usize>, out: &mut [u8]) {
    let s = &layer.shape;
    let (pt, _, pl, ow) = s.geometry();
    let (k, ic, oc) = (s.kernel, s.in_c, s.out_c);
    let zx = layer.input_zero_point;
    for (ro, oy) in rows.enumerate() {
        for ox in 0..ow {
            let o = &mut out[(ro * ow + ox) * oc..(ro * ow + ox + 1) * oc];
            for c0 in (0..oc).step_by(BLOCK) {
                let nb = BLOCK.min(oc - c0);
                let mut acc = [0i32; BLOCK];
                acc[..nb].copy_from_slice(&layer.bias[c0..c0 + nb]);
                for ky in 0..k {
                    let iy = (oy * s.stride + ky) as isize - pt as isize;
                    if iy < 0 || iy >= s.in_h as isize {
                        continue;
                    }
                    for kx in 0..k {
                        let ix = (ox * s.stride + kx) as isize - pl as isize;
                        if ix < 0 || ix >= s.in_w as isize {
                            continue;
                        }
                        let px = (iy as usize * s.in_w + ix as usize) * ic;
                        for i in 0..ic {
                            let x = input[px + i] as i32 - zx;
                            let base = ((ky * k + kx) * ic + i) * oc + c0;
                            for (a, &wv) in acc[..nb].iter_mut().zip(&layer.hwio[base..base + nb]) {
                                *a += x * wv as i32;
                            }
                        }
                    }
                }
                requantize(isa, &acc[..nb], &layer.requant_vec, c0, layer.stage, &mut o[c0..c0 + nb]);
            }
        }
    }
}

/// Textbook loop over the unpacked OHWI weights.
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
    use crate::testutil::Rng;

    #[test]
    fn matches_reference_exactly() {
        let mut seed = 900;
        for isa in Isa::all_available() {
            for (h, w) in [(1, 1), (4, 5), (9, 9)] {
                for (in_c, out_c) in [(3, 8), (3, 32), (2, 70)] {
                    for (kernel, stride) in [(3, 2), (3, 1), (1, 1)] {
                        seed += 1;
                        let mut rng = Rng::new(seed);
                        let shape = ConvShape { in_h: h, in_w: w, in_c, out_c, kernel, stride };
                        let ohwi: Vec<i16> =
                            (0..out_c * kernel * kernel * in_c).map(|_| (rng.next_u64() % 255) as i16 - 127).collect();
                        let layer = QConvLayer::new(
                            shape,
                            &ohwi,
                            (0..out_c).map(|_| (rng.next_u64() % 2001) as i32 - 1000).collect(),
                            (rng.next_u64() % 256) as i32,
                            (0..out_c).map(|_| Requant::new(0.0001 + (rng.next_u64() % 100) as f64 * 1e-4)).collect(),
                            OutputStage::new((rng.next_u64() % 256) as i32, 0.02, seed % 2 == 0),
                        );
                        let input: Vec<u8> = (0..h * w * in_c).map(|_| rng.next_u64() as u8).collect();
                        let (_, oh, _, _) = shape.geometry();
                        let mut out = vec![0u8; shape.out_len()];
                        qconv2d(isa, &layer, &input, 0..oh, &mut out);
                        assert_eq!(out, qconv2d_reference(&layer, &ohwi, &input), "{isa:?} {shape:?}");
                    }
                }
            }
        }
    }
}
