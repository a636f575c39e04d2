//! Quantized residual add (TFLite `ADD` for uint8/int8): both inputs are rescaled to a common
//! scale with 20 bits of headroom, summed, and rescaled to the output.

use super::{OutputStage, Requant};

/// Parameters of one quantized add, prepared as TFLite's `Prepare` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QAdd {
    pub zero_point_1: i32,
    pub zero_point_2: i32,
    pub input_1: Requant,
    pub input_2: Requant,
    pub output: Requant,
    pub stage: OutputStage,
    /// Each input byte's rescaled value (`rescaled_1`, `rescaled_2`: 256 i32 each) as four byte
    /// planes per input, `[input][byte j][value]`: a byte input has 256 values, so its rescaling
    /// is a table (looked up 64 at a time with `vpermt2b`).
    planes: Vec<u8>,
}

const LEFT_SHIFT: i32 = 20;

impl QAdd {
    /// From the two inputs' and the output's scale and (u8-representation) zero point.
    pub fn new(scale_1: f32, zp_1: i32, scale_2: f32, zp_2: i32, scale_out: f32, stage: OutputStage) -> QAdd {
        // As add.cc: twice the larger input scale (in float), ratios in double, and the output
        // multiplier over (1 << 20) * output_scale computed in float.
        let twice_max = (2.0 * scale_1.max(scale_2)) as f64;
        let real_1 = scale_1 as f64 / twice_max;
        let real_2 = scale_2 as f64 / twice_max;
        let real_out = twice_max / ((1 << LEFT_SHIFT) as f32 * scale_out) as f64;
        let mut p = QAdd {
            zero_point_1: zp_1,
            zero_point_2: zp_2,
            input_1: Requant::new(real_1),
            input_2: Requant::new(real_2),
            output: Requant::new(real_out),
            stage,
            planes: vec![0; 2 * 4 * 256],
        };
        for v in 0..256 {
            for (input, value) in [p.rescaled_1(v as u8), p.rescaled_2(v as u8)].into_iter().enumerate() {
                for (j, byte) in value.to_le_bytes().into_iter().enumerate() {
                    p.planes[(input * 4 + j) * 256 + v] = byte;
                }
            }
        }
        p
    }

    /// Input 1 at the common scale: `(a - zp_1) << 20` rescaled.
    #[inline(always)]
    pub fn rescaled_1(&self, a: u8) -> i32 {
        self.input_1.apply((a as i32 - self.zero_point_1) * (1 << LEFT_SHIFT))
    }
    #[inline(always)]
    pub fn rescaled_2(&self, b: u8) -> i32 {
        self.input_2.apply((b as i32 - self.zero_point_2) * (1 << LEFT_SHIFT))
    }

    #[inline(always)]
    pub fn apply(&self, a: u8, b: u8) -> u8 {
        self.stage.finish(self.output.apply(self.rescaled_1(a) + self.rescaled_2(b)))
    }
}

/// The levels the int8 add has its own code for (AVX2 and AVX-512: requantized in registers;
/// VNNI level: by `vpermb` tables).
pub const VARIANTS: [crate::Isa; 4] =
    [crate::Isa::Scalar, crate::Isa::Avx2, crate::Isa::Avx512, crate::Isa::Avx512Vnni];

/// `out[i] = add(a[i], out[i])` (the residual added into the block's output).
pub fn qadd_in_place(isa: crate::Isa, p: &QAdd, a: &[u8], out: &mut [u8]) {
    assert_eq!(a.len(), out.len(), "add operand sizes");
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))] // advanced by the x86-64 paths only
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if isa.has(crate::Isa::Avx512Vnni) {
        // SAFETY: AVX-512F/BW/VBMI (part of the level, which the CPU has); both slices hold out.len() bytes.
        done = unsafe { avx512::add_in_place_tables(p, a, out) };
    }
    #[cfg(target_arch = "x86_64")]
    if isa.has(crate::Isa::Avx512) {
        // SAFETY: AVX-512F/BW (the level, which the CPU has); both slices hold out.len() bytes.
        done += unsafe { avx512::add_in_place(p, &a[done..], &mut out[done..]) };
    }
    #[cfg(target_arch = "x86_64")]
    if isa.has(crate::Isa::Avx2) {
        // SAFETY: AVX2 (the level, which the CPU has); both slices hold out.len() bytes.
        done += unsafe { avx2::add_in_place(p, &a[done..], &mut out[done..]) };
    }
    let _ = isa;
    for (o, &x) in out[done..].iter_mut().zip(&a[done..]) {
        *o = p.apply(x, *o);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::super::requant_vec::avx2::{Requant8, narrow8};
    use super::{LEFT_SHIFT, OutputStage, QAdd};
    use std::arch::x86_64::*;

    /// Eight bytes at a time: both inputs widened to 32 bits, rescaled and summed, the sum
    /// requantized in registers, as [`QAdd::apply`] does lane by lane. Returns how many bytes
    /// were done (whole groups of 8).
    ///
    /// # Safety
    /// The CPU must have AVX2 (the slices bound every access).
    #[target_feature(enable = "avx2")]
    pub unsafe fn add_in_place(p: &QAdd, a: &[u8], out: &mut [u8]) -> usize {
        let n = out.len().min(a.len()) / 8 * 8;
        let wide = OutputStage { zero_point: 0, min: i32::MIN, max: i32::MAX };
        // SAFETY: AVX2 (the contract); i + 8 <= n <= both lengths.
        unsafe {
            let (q1, q2) = (Requant8::uniform(p.input_1, wide), Requant8::uniform(p.input_2, wide));
            let qo = Requant8::uniform(p.output, p.stage);
            let (z1, z2) = (_mm256_set1_epi32(p.zero_point_1), _mm256_set1_epi32(p.zero_point_2));
            for i in (0..n).step_by(8) {
                let x = _mm256_cvtepu8_epi32(_mm_loadl_epi64(a.as_ptr().add(i) as *const __m128i));
                let y = _mm256_cvtepu8_epi32(_mm_loadl_epi64(out.as_ptr().add(i) as *const __m128i));
                let x1 = _mm256_slli_epi32(_mm256_sub_epi32(x, z1), LEFT_SHIFT);
                let x2 = _mm256_slli_epi32(_mm256_sub_epi32(y, z2), LEFT_SHIFT);
                let sum = _mm256_add_epi32(q1.apply(x1), q2.apply(x2));
                narrow8(qo.apply(sum), out.as_mut_ptr().add(i));
            }
        }
        n
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::super::requant_vec::avx512::{Params16, narrow64, requant16, scale_zp16, scale16};
    use super::{LEFT_SHIFT, OutputStage, QAdd};
    use std::arch::x86_64::*;

    /// Whole groups of 64: both inputs rescaled by table (`QAdd::planes`: each byte plane two
    /// `vpermt2b` and a blend on the index's top bit), the four planes interleaved into 32-bit
    /// values with byte and word unpacks (in the slot order of `q8::vnni_slot`, which the
    /// final packs put back in place), summed and requantized as [`QAdd::apply`] does.
    ///
    /// # Safety
    /// The CPU must have AVX-512F, BW and VBMI (the slices bound every access).
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    pub unsafe fn add_in_place_tables(p: &QAdd, a: &[u8], out: &mut [u8]) -> usize {
        let n = out.len() / 64 * 64;
        let po = Params16::uniform(p.output, p.stage);
        // SAFETY: planes hold 2 * 4 * 256 bytes; i + 64 <= n <= both lengths.
        unsafe {
            let t = p.planes.as_ptr();
            let quarter = |input: usize, j: usize, q: usize| {
                _mm512_loadu_si512(t.add((input * 4 + j) * 256 + 64 * q) as *const _)
            };
            // Byte plane j of input `input` at the 64 indices x (macros: closures here are not
            // always inlined).
            macro_rules! plane {
                ($x:expr, $top:expr, $input:literal, $j:literal) => {
                    _mm512_mask_blend_epi8(
                        $top,
                        _mm512_permutex2var_epi8(quarter($input, $j, 0), $x, quarter($input, $j, 1)),
                        _mm512_permutex2var_epi8(quarter($input, $j, 2), $x, quarter($input, $j, 3)),
                    )
                };
            }
            // The rescaled values of 64 bytes as four vectors of 32-bit lanes, in slot order.
            macro_rules! rescale {
                ($x:expr, $input:literal) => {{
                    let top = _mm512_movepi8_mask($x);
                    let (b0, b1) = (plane!($x, top, $input, 0), plane!($x, top, $input, 1));
                    let (b2, b3) = (plane!($x, top, $input, 2), plane!($x, top, $input, 3));
                    let (w01l, w01h) = (_mm512_unpacklo_epi8(b0, b1), _mm512_unpackhi_epi8(b0, b1));
                    let (w23l, w23h) = (_mm512_unpacklo_epi8(b2, b3), _mm512_unpackhi_epi8(b2, b3));
                    [
                        _mm512_unpacklo_epi16(w01l, w23l),
                        _mm512_unpackhi_epi16(w01l, w23l),
                        _mm512_unpacklo_epi16(w01h, w23h),
                        _mm512_unpackhi_epi16(w01h, w23h),
                    ]
                }};
            }
            for i in (0..n).step_by(64) {
                let x1 = _mm512_loadu_si512(a.as_ptr().add(i) as *const _);
                let x2 = _mm512_loadu_si512(out.as_ptr().add(i) as *const _);
                let (r1, r2) = (rescale!(x1, 0), rescale!(x2, 1));
                let y0 = scale_zp16(_mm512_add_epi32(r1[0], r2[0]), &po);
                let y1 = scale_zp16(_mm512_add_epi32(r1[1], r2[1]), &po);
                let y2 = scale_zp16(_mm512_add_epi32(r1[2], r2[2]), &po);
                let y3 = scale_zp16(_mm512_add_epi32(r1[3], r2[3]), &po);
                _mm512_storeu_si512(out.as_mut_ptr().add(i) as *mut _, narrow64([y0, y1, y2, y3], &po));
            }
        }
        n
    }

    /// Whole groups of sixteen; the same steps as [`QAdd::apply`] lane by lane.
    ///
    /// # Safety
    /// The CPU must have AVX-512F and BW (the slices bound every access).
    #[target_feature(enable = "avx512f,avx512bw")]
    pub unsafe fn add_in_place(p: &QAdd, a: &[u8], out: &mut [u8]) -> usize {
        let n = out.len() / 16 * 16;
        let wide = OutputStage { zero_point: 0, min: i32::MIN, max: i32::MAX };
        let (p1, p2) = (Params16::uniform(p.input_1, wide), Params16::uniform(p.input_2, wide));
        let po = Params16::uniform(p.output, p.stage);
        let (z1, z2) = (_mm512_set1_epi32(p.zero_point_1), _mm512_set1_epi32(p.zero_point_2));
        for i in (0..n).step_by(16) {
            // SAFETY: i + 16 <= n <= both lengths.
            unsafe {
                let x = _mm512_cvtepu8_epi32(_mm_loadu_si128(a.as_ptr().add(i) as *const __m128i));
                let y = _mm512_cvtepu8_epi32(_mm_loadu_si128(out.as_ptr().add(i) as *const __m128i));
                let x1 = _mm512_slli_epi32(_mm512_sub_epi32(x, z1), LEFT_SHIFT as u32);
                let x2 = _mm512_slli_epi32(_mm512_sub_epi32(y, z2), LEFT_SHIFT as u32);
                let sum = _mm512_add_epi32(scale16(x1, &p1), scale16(x2, &p2));
                _mm_storeu_si128(out.as_mut_ptr().add(i) as *mut __m128i, requant16(sum, &po));
            }
        }
        n
    }
}

/// `out[i] = add(a[i], b[i])`.
pub fn qadd(p: &QAdd, a: &[u8], b: &[u8], out: &mut [u8]) {
    assert!(a.len() == out.len() && b.len() == out.len(), "add operand sizes");
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = p.apply(x, y);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_place_simd_equals_scalar() {
        let p = QAdd::new(0.0213, 131, 0.0177, 120, 0.0302, OutputStage::new(127, 0.0302, false));
        let a: Vec<u8> = (0..1000u32).map(|i| (i.wrapping_mul(2654435761) >> 7) as u8).collect();
        let b: Vec<u8> = (0..1000u32).map(|i| (i.wrapping_mul(40503) >> 3) as u8).collect();
        let expect: Vec<u8> = a.iter().zip(&b).map(|(&x, &y)| p.apply(x, y)).collect();
        for isa in crate::Isa::all_available() {
            let mut out = b.clone();
            qadd_in_place(isa, &p, &a, &mut out);
            assert_eq!(out, expect, "{isa:?}");
        }
    }

    #[test]
    fn equal_scales_add_reals() {
        // Both inputs and output at scale 0.1, zero point 10: reals 1.0 + 2.0 = 3.0 -> q 40.
        let p = QAdd::new(0.1, 10, 0.1, 10, 0.1, OutputStage::new(10, 0.1, false));
        assert_eq!(p.apply(20, 30), 40);
        // Output at twice the scale: 3.0 / 0.2 = 15 -> q 25.
        let p = QAdd::new(0.1, 10, 0.1, 10, 0.2, OutputStage::new(10, 0.2, false));
        assert_eq!(p.apply(20, 30), 25);
        // Saturates at the top of the range.
        assert_eq!(p.apply(255, 255), 255);
    }
}
