//! The fp32 depthwise 3x3 with NEON: the AVX2 body at 128 bits, eight channels (two q
//! registers, two independent FMA chains) a block.

use super::DwLayer;
use std::arch::aarch64::*;

/// Eight channels in two q registers.
type V8 = [float32x4_t; 2];

/// NEON: for each block of eight channels the nine weight pairs (18 registers) stay in
/// registers while the block walks along an output row; each output is the bias plus nine
/// FMAs per half (taps outside the image skipped), stored once. Channels past the last multiple
/// of eight run the portable way.
///
/// # Safety
/// The CPU must have NEON (every aarch64 CPU does); the window (from row `row0`) and `out`
/// checked by the caller (`DwShape::check_rows`).
#[target_feature(enable = "neon")]
pub(super) unsafe fn rows_neon(
    layer: &DwLayer,
    input: &[f32],
    row0: usize,
    rows: std::ops::Range<usize>,
    out: &mut [f32],
) {
    let DwLayer { shape, w, bias, clamp } = layer;
    let c = shape.channels;
    let c8 = c / 8 * 8;
    let (_, _, pl, ow) = shape.geometry();
    let (s, d) = (shape.stride, shape.dilation);
    // SAFETY (load and store): callers pass pointers valid for eight floats.
    let load = |p: *const f32| -> V8 { unsafe { [vld1q_f32(p), vld1q_f32(p.add(4))] } };
    let fma = |acc: V8, x: V8, w: V8| -> V8 { [vfmaq_f32(acc[0], x[0], w[0]), vfmaq_f32(acc[1], x[1], w[1])] };
    let (vlo, vhi) = (vdupq_n_f32(clamp.lo), vdupq_n_f32(clamp.hi));
    let store = |p: *mut f32, v: V8| unsafe {
        vst1q_f32(p, vminq_f32(vmaxq_f32(v[0], vlo), vhi));
        vst1q_f32(p.add(4), vminq_f32(vmaxq_f32(v[1], vlo), vhi));
    };
    let std::ops::Range { start: ox_lo, end: ox_hi } = shape.interior_columns();
    for (ro, oy) in rows.enumerate() {
        // The input rows inside the image as (row, ky).
        let (valid_rows, n_valid) = shape.tap_rows(oy, input, row0);
        let valid = &valid_rows[..n_valid];
        let out_row = &mut out[ro * ow * c..(ro + 1) * ow * c];
        for ch in (0..c8).step_by(8) {
            // ch + 8 <= c; weights hold 9 * c, bias c; every input row slice holds in_w * c
            // floats and every column read is checked (edges) or inside by construction
            // (ox_lo..ox_hi); out_row holds ow * c: every pointer below has eight floats.
            let wv: [V8; 9] = std::array::from_fn(|t| load(w[t * c + ch..].as_ptr()));
            let b = load(bias[ch..].as_ptr());
            for ox in (0..ox_lo).chain(ox_hi..ow) {
                let mut acc = b;
                for (r, ix, t) in shape.taps(valid, ox) {
                    acc = fma(acc, load(r[ix * c + ch..].as_ptr()), wv[t]);
                }
                store(out_row[ox * c + ch..].as_mut_ptr(), acc);
            }
            for ox in ox_lo..ox_hi {
                let base = (ox * s - pl) * c + ch;
                let mut acc = b;
                for &(r, ky) in valid {
                    let p = &r[base..base + 2 * d * c + 8];
                    acc = fma(acc, load(p.as_ptr()), wv[ky * 3]);
                    acc = fma(acc, load(p[d * c..].as_ptr()), wv[ky * 3 + 1]);
                    acc = fma(acc, load(p[2 * d * c..].as_ptr()), wv[ky * 3 + 2]);
                }
                store(out_row[ox * c + ch..].as_mut_ptr(), acc);
            }
        }
        super::tail_channels(layer, valid, c8, out_row);
    }
}
