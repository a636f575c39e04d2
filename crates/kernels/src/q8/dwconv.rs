//! Integer depthwise 3x3 conv (TFLite `DepthwiseConv` uint8 and `DepthwiseConvPerChannel` int8):
//! taps outside the image are skipped, which equals padding with the input zero point.

use super::requant_vec::{RequantVec, requantize};
use super::{OutputStage, i8_shift, vnni_slot};
use crate::Isa;

/// The levels the int8 depthwise 3x3 has its own code for (tests and benches run each).
pub const VARIANTS: [Isa; 4] = [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Avx512Vnni];
use crate::dwconv::DwShape;

/// A quantized depthwise layer: weights `[ky][kx][c]` with their zero point removed.
#[derive(Debug, Clone)]
pub struct QDwLayer {
    pub shape: DwShape,
    pub w: Vec<i16>,
    pub bias: Vec<i32>,
    pub input_zero_point: i32,
    pub requant: RequantVec,
    pub stage: OutputStage,
    /// For VNNI: per block of 16 channel slots ([`vnni_slot`]) and per kernel column kx, the
    /// column's three taps minus `quads_offset` as `[w(0,kx) w(1,kx) w(2,kx) 0]` per channel (64
    /// bytes a column), the byte order of the input's vertical quads (see `rows_vnni`); empty
    /// unless the weights span at most 256 values, channels are a multiple of 16 and the CPU has
    /// VNNI and VBMI. uint8 weights (minus their zero point) are shifted into i8 by the offset,
    /// and `offset * (sum of the nine inputs)` is added back.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // read by the x86-64 kernel only
    quads: Vec<i8>,
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    quads_offset: i32,
    /// With `quads`, by slot: `bias - zx * (sum of the nine weights)`. The VNNI kernel reads
    /// out-of-image taps as the zero point, so every output takes all nine taps.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    bias_all: Vec<i32>,
    /// With `quads`: each block's requantization constants, by slot.
    #[cfg(target_arch = "x86_64")]
    params: Vec<super::requant_vec::avx512::Params16>,
}

impl QDwLayer {
    pub fn new(
        isa: Isa,
        shape: DwShape,
        w: Vec<i16>,
        bias: Vec<i32>,
        input_zero_point: i32,
        requant: RequantVec,
        stage: OutputStage,
    ) -> QDwLayer {
        let c = shape.channels;
        assert!(w.len() == 9 * c && bias.len() == c && requant.len() == c, "depthwise weights per channel");
        let (lo, hi) = w.iter().fold((0i32, 0i32), |(lo, hi), &v| (lo.min(v as i32), hi.max(v as i32)));
        let shift = i8_shift(lo, hi).filter(|_| c.is_multiple_of(16) && isa.has(Isa::Avx512Vnni));
        let offset = shift.unwrap_or(0);
        let (mut quads, mut bias_all, mut slot_requant) = (Vec::new(), Vec::new(), Vec::new());
        if shift.is_some() {
            quads = vec![0i8; c / 16 * 3 * 64];
            bias_all = vec![0i32; c];
            slot_requant = vec![requant.get(0); c];
            for ch in 0..c {
                let (block, slot) = vnni_slot(ch, c);
                for (ky, kx) in (0..3).flat_map(|ky| (0..3).map(move |kx| (ky, kx))) {
                    quads[(block * 3 + kx) * 64 + slot * 4 + ky] = (w[(ky * 3 + kx) * c + ch] as i32 - offset) as i8;
                }
                let sum: i32 = (0..9).map(|t| w[t * c + ch] as i32).sum();
                bias_all[block * 16 + slot] = bias[ch].wrapping_sub(input_zero_point.wrapping_mul(sum));
                slot_requant[block * 16 + slot] = requant.get(ch);
            }
        }
        #[cfg(target_arch = "x86_64")]
        let params = if quads.is_empty() {
            Vec::new()
        } else {
            let rq = RequantVec::new(&slot_requant);
            // SAFETY: quads are packed only where the CPU has AVX-512 (VNNI and VBMI); the
            // requantization covers whole blocks of 16.
            (0..c / 16).map(|b| unsafe { super::requant_vec::avx512::Params16::load(&rq, b * 16, stage) }).collect()
        };
        let _ = slot_requant; // read by the x86-64 constants only
        QDwLayer {
            shape,
            w,
            bias,
            input_zero_point,
            requant,
            stage,
            quads,
            quads_offset: offset,
            bias_all,
            #[cfg(target_arch = "x86_64")]
            params,
        }
    }
}

/// Channels accumulated at a time (a stack buffer: no allocation).
const BLOCK: usize = 64;

/// Output rows `rows` of the conv into `out` (exactly those rows).
pub fn qdwconv3x3(isa: Isa, layer: &QDwLayer, input: &[u8], rows: std::ops::Range<usize>, out: &mut [u8]) {
    let s = &layer.shape;
    assert_eq!(input.len(), s.in_h * s.in_w * s.channels, "depthwise input size");
    qdwconv3x3_window(isa, layer, input, 0, rows, out)
}

/// As [`qdwconv3x3`] reading from a window of input rows starting at input row `row0`, which
/// must cover every row the output rows read.
pub fn qdwconv3x3_window(
    isa: Isa,
    layer: &QDwLayer,
    window: &[u8],
    row0: usize,
    rows: std::ops::Range<usize>,
    out: &mut [u8],
) {
    window_impl(isa, layer, window, Some(row0), rows, out)
}

/// As [`qdwconv3x3`] reading from a ring of input rows: `ring` holds whole rows, input row `iy`
/// in slot `iy % slots`, and must hold every row the output rows read.
pub fn qdwconv3x3_ring(isa: Isa, layer: &QDwLayer, ring: &[u8], rows: std::ops::Range<usize>, out: &mut [u8]) {
    window_impl(isa, layer, ring, None, rows, out)
}

/// A window of rows from `row0`, or (None) a ring.
fn window_impl(
    isa: Isa,
    layer: &QDwLayer,
    window: &[u8],
    row0: Option<usize>,
    rows: std::ops::Range<usize>,
    out: &mut [u8],
) {
    let s = &layer.shape;
    assert!(layer.w.len() == 9 * s.channels && layer.bias.len() == s.channels && layer.requant.len() == s.channels);
    let row0 = s.check_rows(window.len(), row0, &rows, out.len());
    match crate::isa::pick(&VARIANTS, isa) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: pick() returns only levels the CPU has: AVX-512 VNNI and VBMI.
        Isa::Avx512Vnni if !layer.quads.is_empty() => unsafe { rows_vnni(layer, window, row0, rows, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: pick() returns only levels the CPU has: AVX-512F/BW/VL.
        Isa::Avx512 | Isa::Avx512Vnni => unsafe { rows_avx512(layer, window, row0, rows, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: pick() returns only levels the CPU has: AVX2.
        Isa::Avx2 => unsafe { rows_avx2(layer, window, row0, rows, out) },
        _ => rows_portable(Isa::Scalar, layer, window, row0, rows, out),
    }
}

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
unsafe fn rows_avx2(layer: &QDwLayer, input: &[u8], row0: usize, rows: std::ops::Range<usize>, out: &mut [u8]) {
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
        let taps = |ox: usize| {
            valid.iter().flat_map(move |&(r, ky)| {
                (0..3).filter_map(move |kx| {
                    let ix = (ox * st + kx * d) as isize - pl as isize;
                    (ix >= 0 && (ix as usize) < s.in_w).then_some((r, ix as usize, ky * 3 + kx))
                })
            })
        };
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
        for ox in 0..ow {
            for (r, ix, t) in taps(ox) {
                for ch in whole..c {
                    acc[ox * c + ch] += (r[ix * c + ch] as i32 - zx) * layer.w[t * c + ch] as i32;
                }
            }
            let o = &mut out[(ro * ow + ox) * c..(ro * ow + ox + 1) * c];
            requantize(Isa::Avx2, &acc[ox * c..(ox + 1) * c], &layer.requant, 0, layer.stage, o);
        }
    }
}

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
unsafe fn rows_avx512(layer: &QDwLayer, input: &[u8], row0: usize, rows: std::ops::Range<usize>, out: &mut [u8]) {
    use super::requant_vec::avx512::{Params16, requant16};
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
                    for &(r, ky) in valid {
                        for kx in 0..3 {
                            let ix = (ox * st + kx * d) as isize - pl as isize;
                            if ix >= 0 && (ix as usize) < s.in_w {
                                let bytes = _mm_maskz_loadu_epi8(m, r.as_ptr().add(ix as usize * c + ch) as *const i8);
                                let x = _mm512_sub_epi32(_mm512_cvtepu8_epi32(bytes), zx);
                                acc = _mm512_add_epi32(acc, _mm512_madd_epi16(x, wv[ky * 3 + kx]));
                            }
                        }
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
/// AVX-512F/BW/VNNI/VBMI (`layer.quads` non-empty); the window and output checked by the caller.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx512vbmi")]
unsafe fn rows_vnni(layer: &QDwLayer, input: &[u8], row0: usize, rows: std::ops::Range<usize>, out: &mut [u8]) {
    let c = layer.shape.channels;
    // SAFETY: as this function's contract, with groups and blocks inside the channels.
    unsafe {
        for g in 0..c / 64 {
            group64(layer, input, row0, rows.clone(), out, g);
        }
        for block in c / 64 * 4..c / 16 {
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
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx512vbmi")]
unsafe fn group64(layer: &QDwLayer, input: &[u8], row0: usize, rows: std::ops::Range<usize>, out: &mut [u8], g: usize) {
    use super::requant_vec::avx512::{narrow64, scale_zp16};
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

/// Block `block` of 16 channels (in channel order): quads gathered with `vpermb`.
///
/// # Safety
/// As [`rows_vnni`]; `16 (block + 1) <= channels`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx512vbmi")]
unsafe fn block16(
    layer: &QDwLayer,
    input: &[u8],
    row0: usize,
    rows: std::ops::Range<usize>,
    out: &mut [u8],
    block: usize,
) {
    use super::requant_vec::avx512::requant16;
    use std::arch::x86_64::*;
    let s = &layer.shape;
    let (c, st, d) = (s.channels, s.stride, s.dilation);
    let ow = s.geometry().3;
    let ch = 16 * block;
    let pad = [layer.input_zero_point as u8; 16];
    let mut quad = [const { std::mem::MaybeUninit::<__m512i>::uninit() }; QUAD_COLUMNS];
    // SAFETY (whole body): as in `group64`, for channels ch..ch + 16.
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
                    let v = _mm512_castsi128_si512(_mm_loadu_si128(a0 as *const __m128i));
                    let v = _mm512_inserti32x4::<1>(v, _mm_loadu_si128(a1 as *const __m128i));
                    let v = _mm512_inserti32x4::<2>(v, _mm_loadu_si128(a2 as *const __m128i));
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
                    _mm_storeu_si128(o as *mut __m128i, requant16(acc, p));
                    (qi, o) = (qi.add(st), o.add(c));
                }
            }
        }
    }
}

#[inline(always)]
fn rows_portable(isa: Isa, layer: &QDwLayer, input: &[u8], row0: usize, rows: std::ops::Range<usize>, out: &mut [u8]) {
    let s = &layer.shape;
    let c = s.channels;
    let (pt, _, pl, ow) = s.geometry();
    let zx = layer.input_zero_point;
    for (ro, oy) in rows.enumerate() {
        for ox in 0..ow {
            let o = &mut out[(ro * ow + ox) * c..(ro * ow + ox + 1) * c];
            for c0 in (0..c).step_by(BLOCK) {
                let nb = BLOCK.min(c - c0);
                let mut acc = [0i32; BLOCK];
                acc[..nb].copy_from_slice(&layer.bias[c0..c0 + nb]);
                for ky in 0..3 {
                    let iy = (oy * s.stride + ky * s.dilation) as isize - pt as isize;
                    if iy < 0 || iy >= s.in_h as isize {
                        continue;
                    }
                    for kx in 0..3 {
                        let ix = (ox * s.stride + kx * s.dilation) as isize - pl as isize;
                        if ix < 0 || ix >= s.in_w as isize {
                            continue;
                        }
                        let px = s.row_start(iy as usize, input.len(), row0) + ix as usize * c + c0;
                        let x = &input[px..px + nb];
                        let w = &layer.w[(ky * 3 + kx) * c + c0..(ky * 3 + kx) * c + c0 + nb];
                        for ((a, &xv), &wv) in acc[..nb].iter_mut().zip(x).zip(w) {
                            *a += (xv as i32 - zx) * wv as i32;
                        }
                    }
                }
                requantize(isa, &acc[..nb], &layer.requant, c0, layer.stage, &mut o[c0..c0 + nb]);
            }
        }
    }
}

/// Textbook loop over explicit coordinates.
pub fn qdwconv3x3_reference(layer: &QDwLayer, input: &[u8]) -> Vec<u8> {
    let s = &layer.shape;
    let c = s.channels;
    let (pt, oh, pl, ow) = s.geometry();
    let mut out = vec![0u8; oh * ow * c];
    for oy in 0..oh {
        for ox in 0..ow {
            for ch in 0..c {
                let mut acc = layer.bias[ch];
                for ky in 0..3 {
                    for kx in 0..3 {
                        let y = (oy * s.stride + ky * s.dilation) as isize - pt as isize;
                        let x = (ox * s.stride + kx * s.dilation) as isize - pl as isize;
                        if y >= 0 && x >= 0 && (y as usize) < s.in_h && (x as usize) < s.in_w {
                            let v = input[(y as usize * s.in_w + x as usize) * c + ch] as i32;
                            acc += (v - layer.input_zero_point) * layer.w[(ky * 3 + kx) * c + ch] as i32;
                        }
                    }
                }
                out[(oy * ow + ox) * c + ch] = layer.stage.finish(layer.requant.get(ch).apply(acc));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::q8::Requant;
    use crate::testutil::{Rng, quant_weights, rounding};

    #[test]
    fn matches_reference_exactly() {
        let mut seed = 50;
        for isa in Isa::all_available() {
            for (h, w) in [(1, 1), (3, 2), (7, 7), (9, 8), (12, 21), (3, 70), (2, 131)] {
                for channels in [1, 8, 16, 17, 48, 63, 64, 65, 80, 130, 144] {
                    for (stride, dilation) in [(1, 1), (2, 1), (1, 2)] {
                        seed += 1;
                        let mut rng = Rng::new(seed);
                        let shape = DwShape { in_h: h, in_w: w, channels, stride, dilation };
                        // int8, uint8 and wider weights in turn (VNNI takes the first two).
                        let layer = QDwLayer::new(
                            isa,
                            shape,
                            quant_weights(&mut rng, 9 * channels, seed),
                            (0..channels).map(|_| (rng.next_u64() % 4001) as i32 - 2000).collect(),
                            (rng.next_u64() % 256) as i32,
                            RequantVec::new(
                                &(0..channels)
                                    .map(|_| {
                                        Requant::with_rounding(
                                            0.001 + (rng.next_u64() % 100) as f64 * 1e-4,
                                            rounding(seed),
                                        )
                                    })
                                    .collect::<Vec<_>>(),
                            ),
                            OutputStage::new((rng.next_u64() % 256) as i32, 0.03, seed % 2 == 1),
                        );
                        let input: Vec<u8> = (0..h * w * channels).map(|_| rng.next_u64() as u8).collect();
                        let (_, oh, _, _) = shape.geometry();
                        let mut out = vec![0u8; shape.out_len()];
                        qdwconv3x3(isa, &layer, &input, 0..oh, &mut out);
                        assert_eq!(out, qdwconv3x3_reference(&layer, &input), "{isa:?} {shape:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn rings_of_rows_give_the_same_bytes() {
        // Row iy in slot iy % slots (one slot more than two output rows read: they wrap).
        let mut seed = 500;
        for isa in Isa::all_available() {
            for channels in [16, 80] {
                for (stride, dilation) in [(1, 1), (2, 1), (1, 2)] {
                    seed += 1;
                    let mut rng = Rng::new(seed);
                    let shape = DwShape { in_h: 11, in_w: 9, channels, stride, dilation };
                    let row_len = 9 * channels;
                    let layer = QDwLayer::new(
                        isa,
                        shape,
                        quant_weights(&mut rng, 9 * channels, seed),
                        (0..channels).map(|_| (rng.next_u64() % 4001) as i32 - 2000).collect(),
                        (rng.next_u64() % 256) as i32,
                        RequantVec::new(&vec![Requant::with_rounding(0.004, rounding(seed)); channels]),
                        OutputStage::new((rng.next_u64() % 256) as i32, 0.03, true),
                    );
                    let input: Vec<u8> = (0..11 * row_len).map(|_| rng.next_u64() as u8).collect();
                    let (_, oh, _, ow) = shape.geometry();
                    let mut whole = vec![0u8; shape.out_len()];
                    qdwconv3x3(isa, &layer, &input, 0..oh, &mut whole);
                    let slots = stride + 2 * dilation + 2;
                    for oy in 0..oh - 1 {
                        let band = oy..oy + 2;
                        let (first, last) = shape.input_rows(&band);
                        let mut ring = vec![0u8; slots * row_len];
                        for iy in first..=last {
                            ring[iy % slots * row_len..][..row_len].copy_from_slice(&input[iy * row_len..][..row_len]);
                        }
                        let mut two = vec![0u8; 2 * ow * channels];
                        qdwconv3x3_ring(isa, &layer, &ring, band, &mut two);
                        assert_eq!(two, whole[oy * ow * channels..][..two.len()], "{isa:?} {shape:?} row {oy}");
                    }
                }
            }
        }
    }
}
