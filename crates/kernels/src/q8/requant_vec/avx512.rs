//! Vector requantization at the AVX-512 level, and the in-register forms the AVX-512 kernels use.

use super::{OutputStage, RequantVec};
use std::arch::x86_64::*;

/// The per-channel parameters of 16 consecutive channels, loaded once for a fused epilogue,
/// with what the rounding needs precomputed.
#[derive(Debug, Clone, Copy)]
pub struct Params16 {
    /// multiplier; the odd lanes' multipliers moved to the even positions
    m: __m512i,
    m_odd: __m512i,
    l: __m512i,
    /// whether any lane shifts left (most layers' multipliers are below one: none do)
    any_left: bool,
    r: __m512i,
    half_up: bool,
    /// half-up: `1 << (r - 1)` (0 where r = 0); away from zero: `(1 << r) - 1`
    round: __m512i,
    /// away from zero: `round >> 1`
    threshold: __m512i,
    zp: __m512i,
    lo: __m512i,
    hi: __m512i,
    /// the bounds as bytes, for [`requant32`] (u8 stages only)
    /// The stage's bounds as bytes (every byte), for clamping after the packs.
    lo8: __m512i,
    hi8: __m512i,
    /// The single-rounding form (`super::single_rounding`) with the zero point folded in: per
    /// even and odd lane, the constant and the shift of the 64-bit product.
    single: bool,
    c_even: __m512i,
    c_odd: __m512i,
    s_even: __m512i,
    s_odd: __m512i,
}

impl Params16 {
    /// One requantization for all sixteen lanes, then `stage` (use
    /// [`OutputStage::identity`]-like bounds to keep 32-bit results).
    #[target_feature(enable = "avx512f")]
    pub fn uniform(r: super::Requant, stage: OutputStage) -> Params16 {
        let mut p = Params16::new(
            _mm512_set1_epi32(r.multiplier),
            _mm512_set1_epi32(r.shift.max(0)),
            _mm512_set1_epi32((-r.shift).max(0)),
            r.rounding == super::Rounding::HalfUp,
            stage,
        );
        if let Some((c, s)) = super::single_rounding(&r) {
            let (c, s) = (_mm512_set1_epi64(c), _mm512_set1_epi64(s));
            p.set_single(stage.zero_point, [c, c], [s, s]);
        }
        p
    }

    /// Switches to the single-rounding form, folding the zero point into the constants.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn set_single(&mut self, zero_point: i32, [c_even, c_odd]: [__m512i; 2], [s_even, s_odd]: [__m512i; 2]) {
        let zp = _mm512_set1_epi64(zero_point as i64);
        self.single = true;
        self.c_even = _mm512_add_epi64(c_even, _mm512_sllv_epi64(zp, s_even));
        self.c_odd = _mm512_add_epi64(c_odd, _mm512_sllv_epi64(zp, s_odd));
        self.s_even = s_even;
        self.s_odd = s_odd;
    }

    /// # Safety
    /// AVX-512F; `first < rq.len()` (the arrays are padded to whole groups of 16).
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub unsafe fn load(rq: &RequantVec, first: usize, stage: OutputStage) -> Params16 {
        debug_assert!(first + 16 <= rq.multiplier.len());
        // SAFETY: the caller upholds this function's `# Safety` contract.
        unsafe {
            let mut p = Params16::new(
                _mm512_loadu_si512(rq.multiplier.as_ptr().add(first) as *const _),
                _mm512_loadu_si512(rq.left.as_ptr().add(first) as *const _),
                _mm512_loadu_si512(rq.right.as_ptr().add(first) as *const _),
                rq.half_up,
                stage,
            );
            if rq.single {
                // Channels first.. first + 16 as 64-bit values, split into even and odd lanes.
                let pair = |v: &[i64]| {
                    (
                        _mm512_loadu_si512(v.as_ptr().add(first) as *const _),
                        _mm512_loadu_si512(v.as_ptr().add(first + 8) as *const _),
                    )
                };
                let even = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
                let odd = _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15);
                let (c0, c1) = pair(&rq.fold);
                let (s0, s1) = pair(&rq.total_shift);
                let split = |lo, hi| [_mm512_permutex2var_epi64(lo, even, hi), _mm512_permutex2var_epi64(lo, odd, hi)];
                p.set_single(stage.zero_point, split(c0, c1), split(s0, s1));
            }
            p
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn new(m: __m512i, l: __m512i, r: __m512i, half_up: bool, stage: OutputStage) -> Params16 {
        let one = _mm512_set1_epi32(1);
        let pot = _mm512_sllv_epi32(one, r);
        let (round, threshold) = if half_up {
            (_mm512_srli_epi32(pot, 1), _mm512_setzero_si512())
        } else {
            let mask = _mm512_sub_epi32(pot, one);
            (mask, _mm512_srai_epi32(mask, 1))
        };
        Params16 {
            m,
            m_odd: _mm512_srli_epi64(m, 32),
            l,
            any_left: _mm512_test_epi32_mask(l, l) != 0,
            r,
            half_up,
            round,
            threshold,
            zp: _mm512_set1_epi32(stage.zero_point),
            lo: _mm512_set1_epi32(stage.min),
            hi: _mm512_set1_epi32(stage.max),
            lo8: _mm512_set1_epi8(stage.min.clamp(0, 255) as u8 as i8),
            hi8: _mm512_set1_epi8(stage.max.clamp(0, 255) as u8 as i8),
            single: false,
            c_even: _mm512_setzero_si512(),
            c_odd: _mm512_setzero_si512(),
            s_even: _mm512_setzero_si512(),
            s_odd: _mm512_setzero_si512(),
        }
    }
}

/// Sixteen accumulators requantized to bytes (what [`requantize`] computes).
/// # Safety
/// AVX-512F/BW: these helpers carry no target features of their own and are always
/// inlined into the AVX-512 kernels that call them.
#[inline(always)]
pub unsafe fn requant16(x: __m512i, p: &Params16) -> __m128i {
    // SAFETY: the caller upholds this function's `# Safety` contract.
    unsafe {
        let y = scale_zp16(x, p);
        _mm512_cvtepi32_epi8(_mm512_min_epi32(_mm512_max_epi32(y, p.lo), p.hi))
    }
}

/// [`scale16`] plus the output zero point (not clamped): in the single-rounding form one
/// multiply, add and shift of each 64-bit product, the zero point inside the constant.
/// # Safety
/// AVX-512F/BW: these helpers carry no target features of their own and are always
/// inlined into the AVX-512 kernels that call them.
#[inline(always)]
pub unsafe fn scale_zp16(x: __m512i, p: &Params16) -> __m512i {
    // SAFETY: the caller upholds this function's `# Safety` contract.
    unsafe {
        if !p.single {
            return _mm512_add_epi32(scale16(x, p), p.zp);
        }
        let even = _mm512_srav_epi64(_mm512_add_epi64(_mm512_mul_epi32(x, p.m), p.c_even), p.s_even);
        let x_odd = _mm512_shuffle_epi32(x, _MM_PERM_DDBB);
        let odd = _mm512_srav_epi64(_mm512_add_epi64(_mm512_mul_epi32(x_odd, p.m_odd), p.c_odd), p.s_odd);
        // The low halves of the 64-bit results, interleaved back into channel order.
        let order = _mm512_setr_epi32(0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30);
        _mm512_permutex2var_epi32(even, order, odd)
    }
}

/// Thirty-two accumulators (sixteen columns with `p0`, the next sixteen with `p1`) requantized
/// to 32 bytes in column order: the same values as two [`requant16`], narrowed with saturating
/// packs (exact: the clamp bounds of a u8 stage lie inside what the packs keep) and clamped as
/// bytes.
/// # Safety
/// AVX-512F/BW: these helpers carry no target features of their own and are always
/// inlined into the AVX-512 kernels that call them.
#[inline(always)]
pub unsafe fn requant32(x0: __m512i, p0: &Params16, x1: __m512i, p1: &Params16) -> __m256i {
    // SAFETY: the caller upholds this function's `# Safety` contract.
    unsafe {
        let (y0, y1) = (scale_zp16(x0, p0), scale_zp16(x1, p1));
        // Per 128-bit lane L: y0[4L..4L+4], y1[4L..4L+4] as i16, then as bytes (twice): dwords
        // [a_L, b_L, a_L, b_L]; dwords 0, 4, 8, 12 then 1, 5, 9, 13 put them in column order.
        let bytes = _mm512_packus_epi16(_mm512_packs_epi32(y0, y1), _mm512_setzero_si512());
        let order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 0, 0, 0, 0, 0, 0, 0, 0);
        let v = _mm512_castsi512_si256(_mm512_permutexvar_epi32(order, bytes));
        // One output stage per layer: the first group's bounds serve both.
        _mm256_min_epu8(_mm256_max_epu8(v, _mm512_castsi512_si256(p0.lo8)), _mm512_castsi512_si256(p0.hi8))
    }
}

/// Four vectors of [`scale_zp16`] results in the slot order of `q8::vnni_slot` (vector b
/// holds, in 128-bit lane l, outputs `16 l + 4 b..16 l + 4 b + 4`) narrowed to their 64 bytes
/// in order: the saturating packs work within 128-bit lanes and so undo the slot order
/// (exact: the clamp bounds of a u8 stage lie inside what the packs keep), then clamped to
/// `p`'s output stage.
/// # Safety
/// AVX-512F/BW, as [`requant16`].
#[inline(always)]
pub unsafe fn narrow64(y: [__m512i; 4], p: &Params16) -> __m512i {
    // SAFETY: the caller upholds this function's `# Safety` contract.
    unsafe {
        let bytes = _mm512_packus_epi16(_mm512_packs_epi32(y[0], y[1]), _mm512_packs_epi32(y[2], y[3]));
        _mm512_min_epu8(_mm512_max_epu8(bytes, p.lo8), p.hi8)
    }
}

/// The fixed-point multiply and rounding shift of [`requant16`], without the output stage.
///
/// gemmlowp's saturating rounding doubling high multiply, `(ab + nudge) / 2^31` truncated
/// toward zero with a nudge of 2^30 or 1 - 2^30 by the sign of ab, is exactly
/// `floor((ab + 2^30) / 2^31)` (for ab < 0 put y = ab + 2^30: the truncation is
/// `-floor((2^31 - 1 - y) / 2^31) = floor(y / 2^31)`), one add and one arithmetic shift of
/// the 64-bit product. (The saturating case needs a multiplier of i32::MIN; ours are >= 2^30.)
/// # Safety
/// AVX-512F/BW: these helpers carry no target features of their own and are always
/// inlined into the AVX-512 kernels that call them.
#[inline(always)]
pub unsafe fn scale16(x: __m512i, p: &Params16) -> __m512i {
    // SAFETY: the caller upholds this function's `# Safety` contract.
    unsafe {
        let one = _mm512_set1_epi32(1);
        let nudge = _mm512_set1_epi64(1 << 30);
        let a = if p.any_left { _mm512_sllv_epi32(x, p.l) } else { x };
        let even = _mm512_srai_epi64(_mm512_add_epi64(_mm512_mul_epi32(a, p.m), nudge), 31);
        // The odd lanes' products shifted left by one instead: their results land in the high halves.
        let a_odd = _mm512_shuffle_epi32(a, _MM_PERM_DDBB);
        let odd = _mm512_slli_epi64(_mm512_add_epi64(_mm512_mul_epi32(a_odd, p.m_odd), nudge), 1);
        let high = _mm512_mask_blend_epi32(0xAAAA, even, odd);
        if p.half_up {
            _mm512_srav_epi32(_mm512_add_epi32(high, p.round), p.r)
        } else {
            // gemmlowp's RoundingDivideByPOT: up when the remainder passes half (ties away from zero).
            let remainder = _mm512_and_si512(high, p.round);
            let threshold = _mm512_sub_epi32(p.threshold, _mm512_srai_epi32(high, 31));
            let up = _mm512_cmpgt_epi32_mask(remainder, threshold);
            let shifted = _mm512_srav_epi32(high, p.r);
            _mm512_mask_add_epi32(shifted, up, shifted, one)
        }
    }
}

/// Whole groups of 16, the same arithmetic as the AVX2 path with mask registers and 64-bit
/// lanes; returns how many values were written.
///
/// # Safety
/// The CPU must have AVX-512F and BW (the slices bound every access).
#[target_feature(enable = "avx512f,avx512bw")]
pub unsafe fn requantize(acc: &[i32], rq: &RequantVec, first: usize, stage: OutputStage, out: &mut [u8]) -> usize {
    let n = acc.len() / 16 * 16;
    // SAFETY: the caller upholds this function's `# Safety` contract.
    unsafe {
        for i in (0..n).step_by(16) {
            let x = _mm512_loadu_si512(acc.as_ptr().add(i) as *const _);
            let p = Params16::load(rq, first + i, stage);
            _mm_storeu_si128(out.as_mut_ptr().add(i) as *mut __m128i, requant16(x, &p));
        }
    }
    n
}
