//! The int8 depthwise 3x3 at the AVX2 level.

use super::*;
use crate::q8::requant_vec::avx2::{Requant8, narrow8};
use crate::q8::requant_vec::requantize;

/// AVX2, eight channels per ymm: the nine weight vectors of a block stay in registers
/// (zero-extended to 32 bits, so `vpmaddwd` of a lane holding `x - zx` gives exactly
/// `(x - zx) * w`), each output's taps summed onto its bias in a row of 32-bit sums, which the
/// vector requantization then turns into bytes pixel by pixel. Channels past the last whole
/// block of eight take the portable loop. Integer arithmetic is exact: the same bytes as the
/// portable body.
///
/// # Safety
/// The CPU must have AVX2; `input` (from row `row0`) and `out` checked by the caller
/// (`DwShape::check_rows`) to hold the rows read and written.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn rows_avx2(
    layer: &QDwLayer,
    input: &[u8],
    row0: usize,
    rows: std::ops::Range<usize>,
    out: &mut [u8],
) {
    use std::arch::x86_64::*;
    let s = &layer.shape;
    let c = s.channels;
    let (_, _, pl, ow) = s.geometry();
    let (st, d, zx) = (s.stride, s.dilation, layer.input_zero_point);
    let whole = c / 8 * 8;
    let mut acc = vec![0i32; ow * c];
    for (ro, oy) in rows.enumerate() {
        let (valid_rows, n_valid) = s.tap_rows(oy, input, row0);
        let valid = &valid_rows[..n_valid];
        for px in acc.chunks_exact_mut(c) {
            px.copy_from_slice(&layer.bias);
        }
        // The taps of output column `ox` inside the image: (row, input column, weight index).
        let taps = |ox: usize| s.taps(valid, ox);
        let interior = s.interior_columns();
        for ch in (0..whole).step_by(8) {
            // SAFETY: AVX2 (this function's contract); weights hold 9 * c i16 and channels
            // ch..ch + 8 lie below c; every input row holds in_w * c bytes and `taps` yields
            // columns inside it, as are all three columns of an interior output; `acc` holds
            // ow * c sums.
            unsafe {
                let wv: [__m256i; 9] = std::array::from_fn(|t| {
                    _mm256_cvtepu16_epi32(_mm_loadu_si128(layer.w.as_ptr().add(t * c + ch) as *const __m128i))
                });
                let zv = _mm256_set1_epi32(zx);
                let load = |r: &[u8], ix: usize| {
                    _mm256_cvtepu8_epi32(_mm_loadl_epi64(r.as_ptr().add(ix * c + ch) as *const __m128i))
                };
                // Edge columns: taps outside the image skipped, the zero point taken off each.
                let edge = |ox: usize| {
                    let dst = acc.as_ptr().add(ox * c + ch) as *mut __m256i;
                    let mut a = _mm256_loadu_si256(dst);
                    for (r, ix, t) in taps(ox) {
                        a = _mm256_add_epi32(a, _mm256_madd_epi16(_mm256_sub_epi32(load(r, ix), zv), wv[t]));
                    }
                    _mm256_storeu_si256(dst, a);
                };
                for ox in (0..interior.start).chain(interior.end..ow) {
                    edge(ox);
                }
                // Interior columns: every tap of the valid rows, so the zero point comes off once
                // from the sum: - zx * (sum of those rows' weights).
                let ones = _mm256_set1_epi32(1);
                let mut wsum = _mm256_setzero_si256();
                for &(_, ky) in valid {
                    for kx in 0..3 {
                        wsum = _mm256_add_epi32(wsum, _mm256_madd_epi16(wv[ky * 3 + kx], ones));
                    }
                }
                let off = _mm256_mullo_epi32(zv, wsum);
                for ox in interior.clone() {
                    let ix = ox * st - pl;
                    let dst = acc.as_mut_ptr().add(ox * c + ch) as *mut __m256i;
                    let mut a = _mm256_sub_epi32(_mm256_loadu_si256(dst), off);
                    for &(r, ky) in valid {
                        a = _mm256_add_epi32(a, _mm256_madd_epi16(load(r, ix), wv[ky * 3]));
                        a = _mm256_add_epi32(a, _mm256_madd_epi16(load(r, ix + d), wv[ky * 3 + 1]));
                        a = _mm256_add_epi32(a, _mm256_madd_epi16(load(r, ix + 2 * d), wv[ky * 3 + 2]));
                    }
                    _mm256_storeu_si256(dst, a);
                }
            }
        }
        let out_row = &mut out[ro * ow * c..(ro + 1) * ow * c];
        // SAFETY: AVX2 (this function's contract); `acc` and `out_row` hold ow * c.
        unsafe { narrow_row(layer, &acc, whole, out_row) };
        if whole < c {
            for ox in 0..ow {
                let sums = &mut acc[ox * c..(ox + 1) * c];
                tail_sums(layer, valid, ox, whole, sums);
                let o = &mut out_row[ox * c + whole..(ox + 1) * c];
                requantize(Isa::Avx2, &sums[whole..], &layer.requant, whole, layer.stage, o);
            }
        }
    }
}

/// A row's sums (`ow * c`) to bytes in `out_row`, channels `0..whole` eight at a time with their
/// constants loaded once.
///
/// # Safety
/// The CPU must have AVX2; `acc` and `out_row` hold the same whole number of pixels of `c`
/// channels, `whole <= c` a multiple of 8.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn narrow_row(layer: &QDwLayer, acc: &[i32], whole: usize, out_row: &mut [u8]) {
    use std::arch::x86_64::*;
    let c = layer.shape.channels;
    assert!(acc.len() == out_row.len() && whole <= c && acc.len().is_multiple_of(c));
    for ch in (0..whole).step_by(8) {
        // SAFETY: AVX2; channels ch..ch + 8 lie below c, so every load of `acc` and store into
        // the output row (same length, whole pixels) is inside.
        unsafe {
            let q = Requant8::load(&layer.requant, ch, layer.stage);
            for ox in 0..acc.len() / c {
                let a = _mm256_loadu_si256(acc.as_ptr().add(ox * c + ch) as *const __m256i);
                narrow8(q.apply(a), out_row.as_mut_ptr().add(ox * c + ch));
            }
        }
    }
}
