//! The int8 residual add at the AVX-512 levels (requantized in registers; byte tables with VBMI).

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
        let quarter =
            |input: usize, j: usize, q: usize| _mm512_loadu_si512(t.add((input * 4 + j) * 256 + 64 * q) as *const _);
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
