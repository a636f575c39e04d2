//! Integer depthwise 3x3 conv (TFLite `DepthwiseConv` uint8 and `DepthwiseConvPerChannel` int8):
//! taps outside the image are skipped, which equals padding with the input zero point.

use super::requant_vec::{RequantVec, requantize};
use super::{OutputStage, i8_shift, vnni_slot};
use crate::Isa;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "aarch64")]
mod neon;
mod reference;
#[cfg(test)]
mod tests;
#[cfg(target_arch = "x86_64")]
mod vnni;
#[cfg(target_arch = "wasm32")]
mod wasm;

pub use reference::qdwconv3x3_reference;

/// The levels the int8 depthwise 3x3 has its own code for (tests and benches run each).
pub const VARIANTS: [Isa; 6] = [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Avx512Vnni, Isa::Neon, Isa::Simd128];
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
    /// bytes a column), the byte order of the input's vertical quads (see `rows_vnni`); a last
    /// block of fewer than 16 channels has zero weights in its unused slots. Empty unless the
    /// weights span at most 256 values and the CPU has VNNI and VBMI. uint8 weights (minus their zero point) are shifted into i8 by the offset,
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
        let shift = i8_shift(lo, hi).filter(|_| isa.has(Isa::Avx512Vnni));
        let blocks = c.div_ceil(16);
        let offset = shift.unwrap_or(0);
        let (mut quads, mut bias_all, mut slot_requant) = (Vec::new(), Vec::new(), Vec::new());
        if shift.is_some() {
            quads = vec![0i8; blocks * 3 * 64];
            bias_all = vec![0i32; blocks * 16];
            slot_requant = vec![requant.get(0); blocks * 16];
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
            (0..blocks).map(|b| unsafe { super::requant_vec::avx512::Params16::load(&rq, b * 16, stage) }).collect()
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
        Isa::Avx512Vnni if !layer.quads.is_empty() => unsafe { vnni::rows_vnni(layer, window, row0, rows, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: pick() returns only levels the CPU has: AVX-512F/BW/VL.
        Isa::Avx512 | Isa::Avx512Vnni => unsafe { avx512::rows_avx512(layer, window, row0, rows, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: pick() returns only levels the CPU has: AVX2.
        Isa::Avx2 => unsafe { avx2::rows_avx2(layer, window, row0, rows, out) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: pick() returns only levels the CPU has: this is an aarch64 CPU, with NEON.
        Isa::Neon => unsafe { neon::rows_neon(layer, window, row0, rows, out) },
        #[cfg(target_arch = "wasm32")]
        // SAFETY: pick() returns only levels the CPU has: a wasm32 build, made for SIMD128.
        Isa::Simd128 => unsafe { wasm::rows_simd128(layer, window, row0, rows, out) },
        _ => rows_portable(Isa::Scalar, layer, window, row0, rows, out),
    }
}

/// Channels `from..` of output column `ox`'s sums the portable way (the SIMD bodies' channels
/// past their last whole vector), from the rows [`DwShape::tap_rows`] gave.
#[cfg_attr(not(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "wasm32")), allow(dead_code))]
fn tail_sums(layer: &QDwLayer, valid: &[(&[u8], usize)], ox: usize, from: usize, sums: &mut [i32]) {
    let (c, zx) = (layer.shape.channels, layer.input_zero_point);
    for (r, ix, t) in layer.shape.taps(valid, ox) {
        for ch in from..c {
            sums[ch] += (r[ix * c + ch] as i32 - zx) * layer.w[t * c + ch] as i32;
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
