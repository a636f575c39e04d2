//! The int8 residual add at the AVX2 level.

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
