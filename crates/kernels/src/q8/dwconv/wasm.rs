//! The int8 depthwise 3x3 with WebAssembly SIMD128.

use super::*;
use std::arch::wasm32::*;

/// SIMD128, eight channels a block: the nine weight vectors (i16, zero point removed) stay in
/// registers (12 in all, under V8's 16 on x86-64); each tap's eight bytes are widened to 16
/// bits as they load, the input zero point taken off (`x - zx` fits in i16), and the products
/// widened into the pixel's 32-bit sums (`i32x4.extmul_low/high_i16x8_s`), which the
/// requantization then turns into bytes pixel by pixel. Channels past the last whole block of
/// eight take the portable loop. Integer arithmetic is exact: the portable body's bytes.
///
/// # Safety
/// SIMD128 must be available (the module is built for it); `input` (from row `row0`) and `out`
/// checked by the caller (`DwShape::check_rows`) to hold the rows read and written.
#[target_feature(enable = "simd128")]
pub(super) unsafe fn rows_simd128(
    layer: &QDwLayer,
    input: &[u8],
    row0: usize,
    rows: std::ops::Range<usize>,
    out: &mut [u8],
) {
    let s = &layer.shape;
    let c = s.channels;
    let (_, _, pl, ow) = s.geometry();
    let (st, d, zx) = (s.stride, s.dilation, layer.input_zero_point);
    let interior = s.interior_columns();
    let whole = c / 8 * 8;
    let zv = i16x8_splat(zx as i16);
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
                let wv: [v128; 9] = std::array::from_fn(|t| v128_load(layer.w.as_ptr().add(t * c + ch) as *const v128));
                for ox in 0..ow {
                    let dst = acc.as_mut_ptr().add(ox * c + ch);
                    let (mut lo, mut hi) = (v128_load(dst as *const v128), v128_load(dst.add(4) as *const v128));
                    let mut tap = |r: &[u8], ix: usize, w: v128| {
                        let x = i16x8_sub(u16x8_load_extend_u8x8(r.as_ptr().add(ix * c + ch)), zv);
                        lo = i32x4_add(lo, i32x4_extmul_low_i16x8(x, w));
                        hi = i32x4_add(hi, i32x4_extmul_high_i16x8(x, w));
                    };
                    if interior.contains(&ox) {
                        // All three columns of every valid row lie inside the image.
                        let ix = ox * st - pl;
                        for &(r, ky) in valid {
                            for kx in 0..3 {
                                tap(r, ix + kx * d, wv[ky * 3 + kx]);
                            }
                        }
                    } else {
                        for (r, ix, t) in taps(ox) {
                            tap(r, ix, wv[t]);
                        }
                    }
                    v128_store(dst as *mut v128, lo);
                    v128_store(dst.add(4) as *mut v128, hi);
                }
            }
        }
        let out_row = &mut out[ro * ow * c..(ro + 1) * ow * c];
        for ox in 0..ow {
            let sums = &mut acc[ox * c..(ox + 1) * c];
            tail_sums(layer, valid, ox, whole, sums);
            requantize(Isa::Simd128, sums, &layer.requant, 0, layer.stage, &mut out_row[ox * c..(ox + 1) * c]);
        }
    }
}
