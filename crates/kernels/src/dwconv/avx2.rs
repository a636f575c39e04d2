//! The fp32 depthwise 3x3 at the AVX2 level (with FMA).

use super::DwLayer;

/// AVX2: for each block of eight channels the nine weight vectors stay in registers while the
/// block walks along an output row; each output is the bias plus nine FMAs (taps outside the
/// image skipped), stored once. Channels past the last multiple of eight run the portable way.
///
/// # Safety
/// The CPU must have AVX2 and FMA; the window (from row `row0`) and `out` checked by the caller
/// (`DwShape::check_rows`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn rows_avx2(
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
                    for (r, ix, t) in shape.taps(valid, ox) {
                        acc = _mm256_fmadd_ps(_mm256_loadu_ps(r.as_ptr().add(ix * c + ch)), wv[t], acc);
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
        super::tail_channels(layer, valid, c8, out_row);
    }
}
