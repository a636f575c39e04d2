//! The fp32 depthwise 3x3 with WebAssembly SIMD128: four channels a block, the nine weight
//! vectors and the accumulator in 11 registers (V8 on x86-64 has 16). A multiply then an add
//! per tap, in the portable body's order: the portable body's bits.

use super::DwLayer;
use crate::simd128;
use std::arch::wasm32::*;

/// # Safety
/// SIMD128 must be available (the module is built for it); the window (from row `row0`) and
/// `out` checked by the caller (`DwShape::check_rows`).
#[target_feature(enable = "simd128")]
pub(super) unsafe fn rows_simd128(
    layer: &DwLayer,
    input: &[f32],
    row0: usize,
    rows: std::ops::Range<usize>,
    out: &mut [f32],
) {
    let DwLayer { shape, w, bias, clamp } = layer;
    let c = shape.channels;
    let c4 = c / 4 * 4;
    let (_, _, pl, ow) = shape.geometry();
    let (s, d) = (shape.stride, shape.dilation);
    let (vlo, vhi) = (f32x4_splat(clamp.lo), f32x4_splat(clamp.hi));
    let std::ops::Range { start: ox_lo, end: ox_hi } = shape.interior_columns();
    // SAFETY (load): callers pass slices holding at least four floats.
    let load = |v: &[f32]| unsafe { v128_load(v[..4].as_ptr() as *const v128) };
    for (ro, oy) in rows.enumerate() {
        let (valid_rows, n_valid) = shape.tap_rows(oy, input, row0);
        let valid = &valid_rows[..n_valid];
        let out_row = &mut out[ro * ow * c..(ro + 1) * ow * c];
        if ox_lo < ox_hi {
            // The last interior column's last tap ends inside every row read.
            let end = ((ox_hi - 1) * s - pl + 2 * d + 1) * c;
            assert!(valid.iter().all(|(r, _)| r.len() >= end), "depthwise row shorter than its interior");
        }
        for ch in (0..c4).step_by(4) {
            let wv: [v128; 9] = std::array::from_fn(|t| load(&w[t * c + ch..]));
            let b = load(&bias[ch..]);
            let mut put = |ox: usize, acc: v128| {
                let clamped = simd128::clamp(acc, vlo, vhi);
                // SAFETY: ox < ow and ch + 4 <= c: four floats of out_row.
                unsafe { v128_store(out_row[ox * c + ch..ox * c + ch + 4].as_mut_ptr() as *mut v128, clamped) };
            };
            for ox in (0..ox_lo).chain(ox_hi..ow) {
                let mut acc = b;
                for (r, ix, t) in shape.taps(valid, ox) {
                    acc = f32x4_add(acc, f32x4_mul(load(&r[ix * c + ch..]), wv[t]));
                }
                put(ox, acc);
            }
            // Interior columns four at a time: four independent sums hide the add latency
            // (one sum's nine adds in a row would wait on each other).
            let mut ox = ox_lo;
            while ox < ox_hi {
                let n = (ox_hi - ox).min(4);
                let mut acc = [b; 4];
                for &(r, ky) in valid {
                    // SAFETY: interior columns read only inside the row (checked below).
                    unsafe {
                        interior_row(r, &wv[ky * 3..ky * 3 + 3], (ox * s - pl) * c + ch, s * c, d * c, n, &mut acc)
                    };
                }
                for (p, &a) in acc.iter().enumerate().take(n) {
                    put(ox + p, a);
                }
                ox += n;
            }
        }
        super::tail_channels(layer, valid, c4, out_row);
    }
}

/// Adds one input row's three taps to the sums of `n` (1 to 4) output columns: column `p`'s
/// taps start at `r[base + p * step]` and lie `gap` apart. Each sum gets its taps in the
/// portable body's order.
///
/// # Safety
/// SIMD128 must be available; `r` holds four floats from `base + p * step + kx * gap` for every
/// `p < n` and `kx < 3`.
#[target_feature(enable = "simd128")]
#[inline]
unsafe fn interior_row(r: &[f32], w: &[v128], base: usize, step: usize, gap: usize, n: usize, acc: &mut [v128; 4]) {
    let (w0, w1, w2) = (w[0], w[1], w[2]);
    let r = r.as_ptr();
    // SAFETY: the caller's contract; v128_load takes unaligned addresses.
    let tap = |p: usize, kx: usize| unsafe { v128_load(r.add(base + p * step + kx * gap) as *const v128) };
    if n == 4 {
        for kx in 0..3 {
            let wk = [w0, w1, w2][kx];
            acc[0] = f32x4_add(acc[0], f32x4_mul(tap(0, kx), wk));
            acc[1] = f32x4_add(acc[1], f32x4_mul(tap(1, kx), wk));
            acc[2] = f32x4_add(acc[2], f32x4_mul(tap(2, kx), wk));
            acc[3] = f32x4_add(acc[3], f32x4_mul(tap(3, kx), wk));
        }
    } else {
        for (p, a) in acc.iter_mut().enumerate().take(n) {
            *a = f32x4_add(*a, f32x4_mul(tap(p, 0), w0));
            *a = f32x4_add(*a, f32x4_mul(tap(p, 1), w1));
            *a = f32x4_add(*a, f32x4_mul(tap(p, 2), w2));
        }
    }
}
