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
                // Interior outputs four at a time, each input column loaded once for all four.
                let mut ox = ox_lo;
                let group = Group { w: &wv, bias: b, lo: vlo, hi: vhi, c };
                while ox + 4 <= ox_hi {
                    let base = (ox * s - pl) * c + ch;
                    let dst = out_row.as_mut_ptr().add(ox * c + ch);
                    match (s, d) {
                        (1, 1) => interior4::<1, 1>(valid, base, &group, dst),
                        (2, 1) => interior4::<2, 1>(valid, base, &group, dst),
                        _ => break,
                    }
                    ox += 4;
                }
                for ox in ox..ox_hi {
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

/// What [`interior4`] needs of a channel block: its nine weight vectors, bias and clamp, and the
/// pixel stride `c`.
#[cfg(target_arch = "x86_64")]
struct Group<'a> {
    w: &'a [std::arch::x86_64::__m256; 9],
    bias: std::arch::x86_64::__m256,
    lo: std::arch::x86_64::__m256,
    hi: std::arch::x86_64::__m256,
    c: usize,
}

/// Four interior outputs of one channel block, for stride `S` and dilation `D`: `base` is the
/// offset in each valid input row of the first column the first output reads, `dst` points at
/// the first output. Each input column is loaded once and feeds every output that reads it
/// (four independent chains instead of one); each output still takes its taps in the portable
/// order (bias, then ky, then kx), so the bits do not change.
///
/// # Safety
/// AVX2 and FMA; columns `0..3 S + 2 D + 1` from `base` lie inside every valid row, and the four
/// outputs inside the caller's output row.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn interior4<const S: usize, const D: usize>(valid: &[(&[f32], usize)], base: usize, g: &Group, dst: *mut f32) {
    use std::arch::x86_64::*;
    const N: usize = 4;
    let c = g.c;
    // SAFETY: as the contract states.
    unsafe {
        let mut acc = [g.bias; N];
        for &(r, ky) in valid {
            let p = r.as_ptr().add(base);
            if S == 1 {
                for j in 0..(N - 1) * S + 2 * D + 1 {
                    let x = _mm256_loadu_ps(p.add(j * c));
                    // Column j is tap kx of output o where j = o S + kx D; ascending j gives
                    // each output its kx in order.
                    for kx in 0..3 {
                        if j >= kx * D && (j - kx * D).is_multiple_of(S) && (j - kx * D) / S < N {
                            let o = (j - kx * D) / S;
                            acc[o] = _mm256_fmadd_ps(x, g.w[ky * 3 + kx], acc[o]);
                        }
                    }
                }
            } else {
                // Strided: tap by tap, each output's column loaded for it.
                for kx in 0..3 {
                    for (o, a) in acc.iter_mut().enumerate() {
                        *a = _mm256_fmadd_ps(_mm256_loadu_ps(p.add((o * S + kx * D) * c)), g.w[ky * 3 + kx], *a);
                    }
                }
            }
        }
        for (o, a) in acc.iter().enumerate() {
            _mm256_storeu_ps(dst.add(o * c), _mm256_min_ps(_mm256_max_ps(*a, g.lo), g.hi));
        }
    }
}
