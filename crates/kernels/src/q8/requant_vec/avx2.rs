//! Vector requantization at the AVX2 level, and the in-register forms the AVX2 kernels use.

use super::{OutputStage, RequantVec};
use std::arch::x86_64::*;

/// The requantization of eight channels and the output stage, in registers.
#[derive(Clone, Copy)]
pub struct Requant8 {
    m: __m256i,
    l: __m256i,
    r: __m256i,
    half_up: bool,
    zp: __m256i,
    lo: __m256i,
    hi: __m256i,
}

impl Requant8 {
    /// Channels `first..first + 8` of `rq` with `stage`.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub unsafe fn load(rq: &RequantVec, first: usize, stage: OutputStage) -> Requant8 {
        assert!(first + 8 <= rq.multiplier.len(), "requantization of channels past the end");
        // SAFETY: AVX2 (the contract); the loads read channels first..first + 8 (asserted).
        unsafe {
            Requant8 {
                m: _mm256_loadu_si256(rq.multiplier.as_ptr().add(first) as *const __m256i),
                l: _mm256_loadu_si256(rq.left.as_ptr().add(first) as *const __m256i),
                r: _mm256_loadu_si256(rq.right.as_ptr().add(first) as *const __m256i),
                half_up: rq.half_up,
                zp: _mm256_set1_epi32(stage.zero_point),
                lo: _mm256_set1_epi32(stage.min),
                hi: _mm256_set1_epi32(stage.max),
            }
        }
    }

    /// One requantization `r` for all eight lanes, with `stage`.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub unsafe fn uniform(r: super::super::Requant, stage: OutputStage) -> Requant8 {
        Requant8 {
            m: _mm256_set1_epi32(r.multiplier),
            l: _mm256_set1_epi32(r.shift.max(0)),
            r: _mm256_set1_epi32((-r.shift).max(0)),
            half_up: r.rounding == super::super::Rounding::HalfUp,
            zp: _mm256_set1_epi32(stage.zero_point),
            lo: _mm256_set1_epi32(stage.min),
            hi: _mm256_set1_epi32(stage.max),
        }
    }

    /// Eight sums requantized and clamped to the stage: i32 lanes in `min..=max`.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub unsafe fn apply(&self, x: __m256i) -> __m256i {
        let high = srdhm(_mm256_sllv_epi32(x, self.l), self.m);
        let y = if self.half_up { shift_half_up(high, self.r) } else { shift_away(high, self.r) };
        _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(y, self.zp), self.lo), self.hi)
    }
}

/// Eight lanes in 0..=255 stored as eight bytes at `dst`.
///
/// # Safety
/// The CPU must have AVX2; `dst` writable for 8 bytes.
#[target_feature(enable = "avx2")]
#[inline]
pub unsafe fn narrow8(y: __m256i, dst: *mut u8) {
    let w16 = _mm256_packs_epi32(y, y); // [0..3 0..3 | 4..7 4..7] as i16
    let b8 = _mm256_packus_epi16(w16, w16); // bytes 0..3 repeated, then 4..7 repeated
    let both = _mm256_permutevar8x32_epi32(b8, _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0));
    // SAFETY: the caller guarantees 8 writable bytes at `dst`.
    unsafe { _mm_storel_epi64(dst as *mut __m128i, _mm256_castsi256_si128(both)) };
}

/// Sixteen lanes in 0..=255 (two vectors) as sixteen bytes, in order.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
#[inline]
pub unsafe fn narrow16(y0: __m256i, y1: __m256i) -> __m128i {
    // packs works within 128-bit halves: [y0 0..3, y1 0..3 | y0 4..7, y1 4..7]; reorder the
    // four 64-bit quarters to [y0 0..3, y0 4..7 | y1 0..3, y1 4..7], then bytes per half.
    let w16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(y0, y1), 0b11_01_10_00);
    let b8 = _mm256_packus_epi16(w16, w16);
    _mm256_castsi256_si128(_mm256_permute4x64_epi64(b8, 0b00_00_10_00))
}

/// Whole groups of 8; returns how many values were written.
///
/// # Safety
/// The CPU must have AVX2 (the slices bound every access).
#[target_feature(enable = "avx2")]
pub unsafe fn requantize(acc: &[i32], rq: &RequantVec, first: usize, stage: OutputStage, out: &mut [u8]) -> usize {
    let n = acc.len() / 8 * 8;
    // SAFETY: the caller upholds this function's `# Safety` contract; i + 8 <= n.
    unsafe {
        for i in (0..n).step_by(8) {
            let x = _mm256_loadu_si256(acc.as_ptr().add(i) as *const __m256i);
            narrow8(Requant8::load(rq, first + i, stage).apply(x), out.as_mut_ptr().add(i));
        }
    }
    n
}

/// gemmlowp's saturating rounding doubling high multiply, lane by lane (a != b != i32::MIN).
#[inline]
#[target_feature(enable = "avx2")]
fn srdhm(a: __m256i, b: __m256i) -> __m256i {
    let even = high_of_products(_mm256_mul_epi32(a, b));
    let odd = high_of_products(_mm256_mul_epi32(_mm256_srli_epi64(a, 32), _mm256_srli_epi64(b, 32)));
    // even results sit in the low halves, odd ones must move to the high halves
    _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0b1010_1010)
}

/// ((ab + nudge) / 2^31, truncated toward zero) for four 64-bit products; low 32 bits of each.
#[inline]
#[target_feature(enable = "avx2")]
fn high_of_products(ab: __m256i) -> __m256i {
    let zero = _mm256_setzero_si256();
    let negative = _mm256_cmpgt_epi64(zero, ab);
    let nudge = _mm256_blendv_epi8(_mm256_set1_epi64x(1 << 30), _mm256_set1_epi64x(1 - (1 << 30)), negative);
    let v = _mm256_add_epi64(ab, nudge);
    let v = _mm256_add_epi64(v, _mm256_and_si256(_mm256_cmpgt_epi64(zero, v), _mm256_set1_epi64x((1 << 31) - 1)));
    _mm256_srli_epi64(v, 31)
}

/// gemmlowp's RoundingDivideByPOT (ties away from zero) with per-lane exponents.
#[inline]
#[target_feature(enable = "avx2")]
fn shift_away(x: __m256i, r: __m256i) -> __m256i {
    let one = _mm256_set1_epi32(1);
    let mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, r), one);
    let remainder = _mm256_and_si256(x, mask);
    let negative = _mm256_cmpgt_epi32(_mm256_setzero_si256(), x);
    let threshold = _mm256_sub_epi32(_mm256_srai_epi32(mask, 1), negative); // + 1 where negative
    let up = _mm256_cmpgt_epi32(remainder, threshold);
    _mm256_sub_epi32(_mm256_srav_epi32(x, r), up)
}

/// Rounding shift with ties toward +infinity.
#[inline]
#[target_feature(enable = "avx2")]
fn shift_half_up(x: __m256i, r: __m256i) -> __m256i {
    let one = _mm256_set1_epi32(1);
    // 1 << (r - 1), and 0 where r == 0
    let half = _mm256_srli_epi32(_mm256_sllv_epi32(one, r), 1);
    _mm256_srav_epi32(_mm256_add_epi32(x, half), r)
}
