//! The int8 depthwise 3x3 with NEON.

use super::*;

/// NEON, eight channels a block: the nine weight vectors (i16, zero point removed) stay in
/// registers; each tap's eight bytes are widened to 16 bits, the input zero point taken off
/// (`x - zx` fits in i16), and `vmlal_s16` / `vmlal_high_s16` add the products into the pixel's
/// 32-bit sums, which the vector requantization then turns into bytes pixel by pixel. Channels
/// past the last whole block of eight take the portable loop. Integer arithmetic is exact: the
/// same bytes as the portable body.
///
/// # Safety
/// The CPU must have NEON (every aarch64 CPU does); `input` (from row `row0`) and `out` checked
/// by the caller (`DwShape::check_rows`) to hold the rows read and written.
#[target_feature(enable = "neon")]
pub(super) unsafe fn rows_neon(
    layer: &QDwLayer,
    input: &[u8],
    row0: usize,
    rows: std::ops::Range<usize>,
    out: &mut [u8],
) {
    use std::arch::aarch64::*;
    let s = &layer.shape;
    let c = s.channels;
    let (_, _, pl, ow) = s.geometry();
    let (st, d, zx) = (s.stride, s.dilation, layer.input_zero_point);
    let interior = s.interior_columns();
    let whole = c / 8 * 8;
    let zv = vdupq_n_s16(zx as i16);
    let mut acc = vec![0i32; ow * c];
    for (ro, oy) in rows.enumerate() {
        let (valid_rows, n_valid) = s.tap_rows(oy, input, row0);
        let valid = &valid_rows[..n_valid];
        for px in acc.chunks_exact_mut(c) {
            px.copy_from_slice(&layer.bias);
        }
        // The taps of output column `ox` inside the image: (row, input column, weight index).
        let taps = |ox: usize| s.taps(valid, ox);
        for ch in (0..whole).step_by(8) {
            // SAFETY: weights hold 9 * c i16 and channels ch..ch + 8 lie below c; every input
            // row holds in_w * c bytes and `taps` yields columns inside it; `acc` holds ow * c
            // sums.
            unsafe {
                let wv: [int16x8_t; 9] = std::array::from_fn(|t| vld1q_s16(layer.w.as_ptr().add(t * c + ch)));
                let centred = |r: &[u8], ix: usize| {
                    vsubq_s16(vreinterpretq_s16_u16(vmovl_u8(vld1_u8(r.as_ptr().add(ix * c + ch)))), zv)
                };
                let tap = |(lo, hi): (int32x4_t, int32x4_t), x: int16x8_t, w: int16x8_t| {
                    (vmlal_s16(lo, vget_low_s16(x), vget_low_s16(w)), vmlal_high_s16(hi, x, w))
                };
                for ox in 0..ow {
                    let dst = acc.as_mut_ptr().add(ox * c + ch);
                    let mut sums = (vld1q_s32(dst), vld1q_s32(dst.add(4)));
                    if interior.contains(&ox) {
                        // All three columns of every valid row lie inside the image.
                        let ix = ox * st - pl;
                        for &(r, ky) in valid {
                            for kx in 0..3 {
                                sums = tap(sums, centred(r, ix + kx * d), wv[ky * 3 + kx]);
                            }
                        }
                    } else {
                        for (r, ix, t) in taps(ox) {
                            sums = tap(sums, centred(r, ix), wv[t]);
                        }
                    }
                    vst1q_s32(dst, sums.0);
                    vst1q_s32(dst.add(4), sums.1);
                }
            }
        }
        let out_row = &mut out[ro * ow * c..(ro + 1) * ow * c];
        for ox in 0..ow {
            let sums = &mut acc[ox * c..(ox + 1) * c];
            tail_sums(layer, valid, ox, whole, sums);
            requantize(Isa::Neon, sums, &layer.requant, 0, layer.stage, &mut out_row[ox * c..(ox + 1) * c]);
        }
    }
}
