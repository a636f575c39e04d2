//! The int8 depthwise 3x3 at the AVX-512 VNNI level: vertical quads and `vpdpbusd`.

use super::*;

/// `vpermb` indices gathering four 16-byte taps into per-lane quads: byte 4 i + j <- 16 j + i.
#[cfg(target_arch = "x86_64")]
const INTERLEAVE4: [u8; 64] = {
    let mut t = [0u8; 64];
    let mut b = 0;
    while b < 64 {
        t[b] = ((b % 4) * 16 + b / 4) as u8;
        b += 1;
    }
    t
};

/// Input columns one VNNI pass over an output row holds as vertical quads (stack buffers).
#[cfg(target_arch = "x86_64")]
const QUAD_COLUMNS: usize = 64;

/// VNNI. Per output row, the three input rows it reads are interleaved once into vertical
/// quads, `[x(iy0, ix) x(iy1, ix) x(iy2, ix) -]` per channel, and each output is three
/// `vpdpbusd` of the quads of its three columns with the packed weight columns, four u8 x i8
/// products per lane (the fourth weight is zero). Rows and columns outside the image read zero
/// points, whose products the folded bias takes back (`bias_all`), so edges run the same code.
/// Whole groups of 64 channels build their quads with byte and word unpacks (the slot order of
/// [`vnni_slot`]) and store 64 bytes per output; the other blocks of 16 gather with `vpermb`.
///
/// # Safety
/// AVX-512F/BW/VL/VNNI/VBMI (`layer.quads` non-empty); the window and output checked by the caller.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi")]
pub(super) unsafe fn rows_vnni(
    layer: &QDwLayer,
    input: &[u8],
    row0: usize,
    rows: std::ops::Range<usize>,
    out: &mut [u8],
) {
    let c = layer.shape.channels;
    // SAFETY: as this function's contract, with groups and blocks inside the channels.
    unsafe {
        for g in 0..c / 64 {
            group64(layer, input, row0, rows.clone(), out, g);
        }
        for block in c / 64 * 4..c.div_ceil(16) {
            block16(layer, input, row0, rows.clone(), out, block);
        }
    }
}

/// The three input rows output row `oy` reads, as (first byte of channel `ch`, column step): a
/// row outside the image reads `pad` (zero points) wherever it looks.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn tap_rows(layer: &QDwLayer, input: &[u8], row0: usize, oy: usize, ch: usize, pad: &[u8]) -> [(*const u8, usize); 3] {
    let s = &layer.shape;
    let (pt, ..) = s.geometry();
    let mut rows = [(pad.as_ptr(), 0); 3];
    for (ky, r) in rows.iter_mut().enumerate() {
        let iy = (oy * s.stride + ky * s.dilation) as isize - pt as isize;
        if iy >= 0 && (iy as usize) < s.in_h {
            *r = (input[s.row_start(iy as usize, input.len(), row0) + ch..].as_ptr(), s.channels);
        }
    }
    rows
}

/// A pass: output columns `ox0..ox0 + n` read input columns `ix0..ix0 + cols`, of which
/// `lo..hi` (relative) lie inside the image.
#[cfg(target_arch = "x86_64")]
struct Pass {
    ox0: usize,
    n: usize,
    ix0: isize,
    cols: usize,
    lo: usize,
    hi: usize,
}

#[cfg(target_arch = "x86_64")]
fn passes(s: &DwShape, width: usize) -> impl Iterator<Item = Pass> {
    let (_, _, pl, ow) = s.geometry();
    let (st, d, in_w) = (s.stride, s.dilation, s.in_w);
    let per_pass = (width - 1 - 2 * d) / st + 1;
    (0..ow).step_by(per_pass).map(move |ox0| {
        let n = per_pass.min(ow - ox0);
        let cols = (n - 1) * st + 2 * d + 1;
        let ix0 = (ox0 * st) as isize - pl as isize;
        let lo = ((-ix0).max(0) as usize).min(cols);
        let hi = ((in_w as isize - ix0).max(0) as usize).clamp(lo, cols);
        Pass { ox0, n, ix0, cols, lo, hi }
    })
}

/// Channels `64 g..64 g + 64`: blocks `4 g..4 g + 4` in slot order.
///
/// # Safety
/// As [`rows_vnni`]; `64 (g + 1) <= channels`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi")]
unsafe fn group64(layer: &QDwLayer, input: &[u8], row0: usize, rows: std::ops::Range<usize>, out: &mut [u8], g: usize) {
    use crate::q8::requant_vec::avx512::{narrow64, scale_zp16};
    use std::arch::x86_64::*;
    let s = &layer.shape;
    let (c, st, d) = (s.channels, s.stride, s.dilation);
    let ow = s.geometry().3;
    let pad = [layer.input_zero_point as u8; 64];
    // Written before it is read in every pass (no need to clear it per call).
    let mut quad = [const { std::mem::MaybeUninit::<[__m512i; 4]>::uninit() }; QUAD_COLUMNS];
    // SAFETY (whole body): every address read is `pad` (64 bytes) or column ix in 0..in_w of an
    // input row inside the window, channels 64 g..64 g + 64 <= c; a pass reads quads
    // 0..cols <= QUAD_COLUMNS; quads, bias_all and params hold blocks 4 g..4 g + 4; `out` rows
    // are ow * c bytes.
    unsafe {
        let w = layer.quads.as_ptr().add(4 * g * 3 * 64) as *const __m512i;
        // Weights [kx][block]: block b's three columns are at 3 b + kx.
        let (mut wt, mut bias) = ([[_mm512_setzero_si512(); 4]; 3], [_mm512_setzero_si512(); 4]);
        for b in 0..4 {
            for (kx, w_kx) in wt.iter_mut().enumerate() {
                w_kx[b] = w.add(3 * b + kx).read_unaligned();
            }
            bias[b] = _mm512_loadu_si512(layer.bias_all.as_ptr().add(64 * g + 16 * b) as *const _);
        }
        let p = &layer.params[4 * g..4 * g + 4];
        let pad_quad = _mm512_set1_epi8(layer.input_zero_point as u8 as i8);
        let (shifted, offset) = (layer.quads_offset != 0, _mm512_set1_epi32(layer.quads_offset));
        let ones = _mm512_set1_epi32(0x0001_0101);
        for (ro, oy) in rows.enumerate() {
            let [r0, r1, r2] = tap_rows(layer, input, row0, oy, 64 * g, &pad);
            let dst = out.as_mut_ptr().add(ro * ow * c + 64 * g);
            for pass in passes(s, QUAD_COLUMNS) {
                let q = quad.as_mut_ptr() as *mut [__m512i; 4];
                for j in (0..pass.lo).chain(pass.hi..pass.cols) {
                    q.add(j).write([pad_quad; 4]);
                }
                let at = |r: (*const u8, usize)| r.0.add((pass.ix0 + pass.lo as isize) as usize * r.1);
                let (mut a0, mut a1, mut a2) = (at(r0), at(r1), at(r2));
                for j in pass.lo..pass.hi {
                    let (x0, x1, x2) = (
                        _mm512_loadu_si512(a0 as *const _),
                        _mm512_loadu_si512(a1 as *const _),
                        _mm512_loadu_si512(a2 as *const _),
                    );
                    // Per 128-bit lane l: pairs (x0, x1) and (x2, x2) of channels 16 l..16 l + 8
                    // (lo) and 16 l + 8.. (hi); their word unpacks give the quads of channels
                    // 16 l + 4 b..16 l + 4 b + 4 in block b (the fourth byte weighs nothing).
                    let (p01l, p01h) = (_mm512_unpacklo_epi8(x0, x1), _mm512_unpackhi_epi8(x0, x1));
                    let (p22l, p22h) = (_mm512_unpacklo_epi8(x2, x2), _mm512_unpackhi_epi8(x2, x2));
                    q.add(j).write([
                        _mm512_unpacklo_epi16(p01l, p22l),
                        _mm512_unpackhi_epi16(p01l, p22l),
                        _mm512_unpacklo_epi16(p01h, p22h),
                        _mm512_unpackhi_epi16(p01h, p22h),
                    ]);
                    (a0, a1, a2) = (a0.add(r0.1), a1.add(r1.1), a2.add(r2.1));
                }
                let (mut qi, mut o) = (q as *const [__m512i; 4], dst.add(pass.ox0 * c));
                for _ in 0..pass.n {
                    let (q0, q1, q2) = (&*qi, &*qi.add(d), &*qi.add(2 * d));
                    // Block b's output (a macro: closures here are not always inlined).
                    macro_rules! block {
                        ($b:literal) => {{
                            let mut acc = _mm512_dpbusd_epi32(bias[$b], q0[$b], wt[0][$b]);
                            acc = _mm512_dpbusd_epi32(acc, q1[$b], wt[1][$b]);
                            acc = _mm512_dpbusd_epi32(acc, q2[$b], wt[2][$b]);
                            if shifted {
                                let zero = _mm512_setzero_si512();
                                let sum = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, q0[$b], ones), q1[$b], ones);
                                let sum = _mm512_dpbusd_epi32(sum, q2[$b], ones);
                                acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(sum, offset));
                            }
                            scale_zp16(acc, &p[$b])
                        }};
                    }
                    let y = [block!(0), block!(1), block!(2), block!(3)];
                    _mm512_storeu_si512(o as *mut _, narrow64(y, &p[0]));
                    (qi, o) = (qi.add(st), o.add(c));
                }
            }
        }
    }
}

/// Block `block` of 16 channels (in channel order): quads gathered with `vpermb`. A last block
/// of fewer channels loads and stores through a lane mask (its unused weights are zero).
///
/// # Safety
/// As [`rows_vnni`]; `16 block < channels`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi")]
unsafe fn block16(
    layer: &QDwLayer,
    input: &[u8],
    row0: usize,
    rows: std::ops::Range<usize>,
    out: &mut [u8],
    block: usize,
) {
    use crate::q8::requant_vec::avx512::requant16;
    use std::arch::x86_64::*;
    let s = &layer.shape;
    let (c, st, d) = (s.channels, s.stride, s.dilation);
    let ow = s.geometry().3;
    let ch = 16 * block;
    // The lanes of this block that are channels: all 16 but in a last, partial block.
    let m: __mmask16 = if c - ch >= 16 { 0xFFFF } else { (1u16 << (c - ch)) - 1 };
    let pad = [layer.input_zero_point as u8; 16];
    let mut quad = [const { std::mem::MaybeUninit::<__m512i>::uninit() }; QUAD_COLUMNS];
    // SAFETY (whole body): as in `group64`, for channels ch..min(ch + 16, c): every load and
    // store of the input and output goes through the mask `m`.
    unsafe {
        let order = _mm512_loadu_si512(INTERLEAVE4.as_ptr() as *const _);
        let g = layer.quads.as_ptr().add(block * 3 * 64);
        let (g0, g1, g2) = (
            _mm512_loadu_si512(g as *const _),
            _mm512_loadu_si512(g.add(64) as *const _),
            _mm512_loadu_si512(g.add(128) as *const _),
        );
        let b = _mm512_loadu_si512(layer.bias_all.as_ptr().add(ch) as *const _);
        let p = &layer.params[block];
        let pad_quad = _mm512_set1_epi8(layer.input_zero_point as u8 as i8);
        let (shifted, offset) = (layer.quads_offset != 0, _mm512_set1_epi32(layer.quads_offset));
        let ones = _mm512_set1_epi32(0x0001_0101);
        for (ro, oy) in rows.enumerate() {
            let [r0, r1, r2] = tap_rows(layer, input, row0, oy, ch, &pad);
            let dst = out.as_mut_ptr().add(ro * ow * c + ch);
            for pass in passes(s, QUAD_COLUMNS) {
                let q = quad.as_mut_ptr() as *mut __m512i;
                for j in (0..pass.lo).chain(pass.hi..pass.cols) {
                    q.add(j).write(pad_quad);
                }
                let at = |r: (*const u8, usize)| r.0.add((pass.ix0 + pass.lo as isize) as usize * r.1);
                let (mut a0, mut a1, mut a2) = (at(r0), at(r1), at(r2));
                for j in pass.lo..pass.hi {
                    let v = _mm512_castsi128_si512(_mm_maskz_loadu_epi8(m, a0 as *const i8));
                    let v = _mm512_inserti32x4::<1>(v, _mm_maskz_loadu_epi8(m, a1 as *const i8));
                    let v = _mm512_inserti32x4::<2>(v, _mm_maskz_loadu_epi8(m, a2 as *const i8));
                    q.add(j).write(_mm512_permutexvar_epi8(order, v));
                    (a0, a1, a2) = (a0.add(r0.1), a1.add(r1.1), a2.add(r2.1));
                }
                let (mut qi, mut o) = (q as *const __m512i, dst.add(pass.ox0 * c));
                for _ in 0..pass.n {
                    let (q0, q1, q2) = (qi.read(), qi.add(d).read(), qi.add(2 * d).read());
                    let mut acc = _mm512_dpbusd_epi32(b, q0, g0);
                    acc = _mm512_dpbusd_epi32(acc, q1, g1);
                    acc = _mm512_dpbusd_epi32(acc, q2, g2);
                    if shifted {
                        // The nine inputs summed (the fourth byte of each quad weighs nothing).
                        let zero = _mm512_setzero_si512();
                        let sum = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, q0, ones), q1, ones);
                        let sum = _mm512_dpbusd_epi32(sum, q2, ones);
                        acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(sum, offset));
                    }
                    _mm_mask_storeu_epi8(o as *mut i8, m, requant16(acc, p));
                    (qi, o) = (qi.add(st), o.add(c));
                }
            }
        }
    }
}
