//! The int8 depthwise 3x3 at the AVX-512 level (weights spanning more than 256 values, or
//! channels not a multiple of 16).

use super::*;

/// AVX-512 without the VNNI layout (weights spanning more than 256 values, or channels not a
/// multiple of 16), sixteen channels per zmm: the nine weight vectors stay in registers
/// (zero-extended to 32 bits, so `vpmaddwd` of a lane holding `x - zx` gives exactly
/// `(x - zx) * w`), the sum of a pixel's taps is requantized in registers and stored as sixteen
/// bytes. A last block of fewer than 16 channels loads and stores through a lane mask (the
/// requantization constants are padded to whole blocks). Integer arithmetic is exact, so this,
/// the AVX2 entry (the portable body compiled with AVX2) and the portable one give identical
/// bytes.
///
/// # Safety
/// The CPU must have AVX-512F, BW and VL; `input` (from row `row0`) and `out` checked by the
/// caller (`DwShape::check_rows`) to hold the rows read and written.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2")]
pub(super) unsafe fn rows_avx512(
    layer: &QDwLayer,
    input: &[u8],
    row0: usize,
    rows: std::ops::Range<usize>,
    out: &mut [u8],
) {
    use crate::q8::requant_vec::avx512::{Params16, requant16};
    use std::arch::x86_64::*;
    let s = &layer.shape;
    let c = s.channels;
    let (_, _, pl, ow) = s.geometry();
    let (st, d) = (s.stride, s.dilation);
    let interior = s.interior_columns();
    for (ro, oy) in rows.enumerate() {
        let (valid_rows, n_valid) = s.tap_rows(oy, input, row0);
        let valid = &valid_rows[..n_valid];
        let dst = out[ro * ow * c..(ro + 1) * ow * c].as_mut_ptr();
        for ch in (0..c).step_by(16) {
            // Lanes of this block that are channels: all 16 but in a last, partial block.
            let m: __mmask16 = if c - ch >= 16 { 0xFFFF } else { (1u16 << (c - ch)) - 1 };
            // SAFETY: every load and store goes through the mask `m`, which covers channels
            // ch.. c only; weights hold 9 * c, bias c and requantization whole blocks of 16;
            // input rows hold in_w * c bytes and every column read is checked (edge columns) or
            // inside the image by `interior_columns`; `dst` is a row of ow * c bytes.
            unsafe {
                let wv: [__m512i; 9] = std::array::from_fn(|t| {
                    _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, layer.w.as_ptr().add(t * c + ch)))
                });
                let b = _mm512_maskz_loadu_epi32(m, layer.bias.as_ptr().add(ch));
                let zx = _mm512_set1_epi32(layer.input_zero_point);
                let p = Params16::load(&layer.requant, ch, layer.stage);
                // Edge columns: taps outside the image skipped, the zero point taken off each.
                let edge = |ox: usize| {
                    let mut acc = b;
                    for (r, ix, t) in s.taps(valid, ox) {
                        let bytes = _mm_maskz_loadu_epi8(m, r.as_ptr().add(ix * c + ch) as *const i8);
                        let x = _mm512_sub_epi32(_mm512_cvtepu8_epi32(bytes), zx);
                        acc = _mm512_add_epi32(acc, _mm512_madd_epi16(x, wv[t]));
                    }
                    _mm_mask_storeu_epi8(dst.add(ox * c + ch) as *mut i8, m, requant16(acc, &p));
                };
                for ox in (0..interior.start).chain(interior.end..ow) {
                    edge(ox);
                }
                // Interior columns: all three taps of each valid row, so the zero point comes
                // off once, from the bias: bias - zx * (sum of those rows' weights).
                let mut wsum = _mm512_setzero_si512();
                for &(_, ky) in valid {
                    for kx in 0..3 {
                        wsum = _mm512_add_epi32(wsum, _mm512_madd_epi16(wv[ky * 3 + kx], _mm512_set1_epi32(1)));
                    }
                }
                let b_in = _mm512_sub_epi32(b, _mm512_mullo_epi32(zx, wsum));
                let tap = |r: &[u8], ix: usize, w: __m512i, acc: __m512i| {
                    let x = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, r.as_ptr().add(ix * c + ch) as *const i8));
                    _mm512_add_epi32(acc, _mm512_madd_epi16(x, w))
                };
                if let [(r0, 0), (r1, 1), (r2, 2)] = *valid {
                    // All three rows (every output row away from the top and bottom edges).
                    for ox in interior.clone() {
                        let ix = ox * st - pl;
                        let mut acc = b_in;
                        for (kx, ixk) in [ix, ix + d, ix + 2 * d].into_iter().enumerate() {
                            acc = tap(r0, ixk, wv[kx], acc);
                            acc = tap(r1, ixk, wv[3 + kx], acc);
                            acc = tap(r2, ixk, wv[6 + kx], acc);
                        }
                        _mm_mask_storeu_epi8(dst.add(ox * c + ch) as *mut i8, m, requant16(acc, &p));
                    }
                } else {
                    for ox in interior.clone() {
                        let ix = ox * st - pl;
                        let mut acc = b_in;
                        for &(r, ky) in valid {
                            for kx in 0..3 {
                                acc = tap(r, ix + kx * d, wv[ky * 3 + kx], acc);
                            }
                        }
                        _mm_mask_storeu_epi8(dst.add(ox * c + ch) as *mut i8, m, requant16(acc, &p));
                    }
                }
            }
        }
    }
}
