//! Requantizing many accumulators at once: per-channel multipliers laid out for SIMD, with an
//! AVX2 path that computes exactly what [`Requant::apply`] computes for every input whose
//! magnitude stays below 2^30 (accumulators of 8-bit convolutions are far smaller).

pub(crate) use super::requant::{OutputStage, Requant, Rounding};
use crate::Isa;

/// Per-channel requantization in structure-of-arrays form; the arrays are padded to a multiple
/// of 16 channels (repeating the last) so that a vector of 16 can always be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequantVec {
    multiplier: Vec<i32>,
    left: Vec<i32>,
    right: Vec<i32>,
    channels: Vec<Requant>,
    half_up: bool,
    /// Single-rounding form (see [`single_rounding`]): per channel the constant added to the
    /// 64-bit product and the total right shift.
    fold: Vec<i64>,
    total_shift: Vec<i64>,
    single: bool,
}

impl RequantVec {
    pub fn new(channels: &[Requant]) -> RequantVec {
        assert!(!channels.is_empty(), "no channels");
        let half_up = channels[0].rounding == Rounding::HalfUp;
        assert!(channels.iter().all(|r| (r.rounding == Rounding::HalfUp) == half_up), "one rounding per layer");
        let padded = channels.len().next_multiple_of(16);
        let last = channels[channels.len() - 1];
        let all = || channels.iter().chain(std::iter::repeat(&last)).take(padded);
        RequantVec {
            multiplier: all().map(|r| r.multiplier).collect(),
            left: all().map(|r| r.shift.max(0)).collect(),
            right: all().map(|r| (-r.shift).max(0)).collect(),
            channels: channels.to_vec(),
            half_up,
            fold: all().map(|r| single_rounding(r).map_or(0, |(c, _)| c)).collect(),
            total_shift: all().map(|r| single_rounding(r).map_or(0, |(_, s)| s)).collect(),
            single: channels.iter().all(|r| single_rounding(r).is_some()),
        }
    }
    /// Whether every channel's two roundings fold into one: see [`single_rounding`].
    pub fn single(&self) -> bool {
        self.single
    }
    pub fn len(&self) -> usize {
        self.channels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }
    pub fn get(&self, c: usize) -> Requant {
        self.channels[c]
    }
}

/// The half-up requantization as one rounding of the 64-bit product `x * multiplier`:
/// `(constant, shift)` with `apply(x) = floor((x * multiplier + constant) / 2^shift)` for every i32
/// `x`, where the channel allows it (ties toward +infinity, no left shift, right shift at most 21
/// so that a zero point times `2^shift` can join the constant without overflow).
///
/// Why: the high multiply is `h = floor((x m + 2^30) / 2^31)` (see `scale16`) and the shift
/// `floor((h + 2^(r-1)) / 2^r)`; for integers `floor((floor(y / b) + c) / d) = floor((y + c b) /
/// (b d))`, so both are `floor((x m + 2^30 + 2^(30+r)) / 2^(31+r))` (`2^30` alone when r = 0).
/// |x m| < 2^62 and the constant with a zero point below 2^8 stays under 2^61: no overflow.
pub fn single_rounding(r: &Requant) -> Option<(i64, i64)> {
    let right = -r.shift;
    if r.rounding != Rounding::HalfUp || !(0..=21).contains(&right) || r.multiplier < 0 {
        return None;
    }
    let half = if right > 0 { 1i64 << (30 + right) } else { 0 };
    Some(((1i64 << 30) + half, 31 + right as i64))
}

/// The levels vector requantization has its own code for.
pub const VARIANTS: [Isa; 3] = [Isa::Scalar, Isa::Avx2, Isa::Avx512];

/// `out[i] = stage(requant[first + i](acc[i]))` for a run of consecutive channels.
pub fn requantize(isa: Isa, acc: &[i32], rq: &RequantVec, first: usize, stage: OutputStage, out: &mut [u8]) {
    let n = acc.len();
    assert!(out.len() == n && first + n <= rq.len(), "requantize lengths");
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))] // advanced by the x86-64 paths only
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if isa.has(Isa::Avx2) {
        if isa.has(Isa::Avx512) {
            // SAFETY: AVX-512F/BW available; same lengths as below.
            done = unsafe { avx512::requantize(acc, rq, first, stage, out) };
        }
        // SAFETY: AVX2 is available; the function reads acc[done..n], rq arrays at first..first+n
        // and writes out[done..n], all checked above.
        done += unsafe { avx2::requantize(&acc[done..], rq, first + done, stage, &mut out[done..]) };
    }
    let _ = isa;
    for i in done..n {
        out[i] = stage.finish(rq.channels[first + i].apply(acc[i]));
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512 {
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
                    let split =
                        |lo, hi| [_mm512_permutex2var_epi64(lo, even, hi), _mm512_permutex2var_epi64(lo, odd, hi)];
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
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
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
        // SAFETY: the caller upholds this function's `# Safety` contract.
        unsafe {
            let zp = _mm256_set1_epi32(stage.zero_point);
            let lo = _mm256_set1_epi32(stage.min);
            let hi = _mm256_set1_epi32(stage.max);
            for i in (0..n).step_by(8) {
                let x = _mm256_loadu_si256(acc.as_ptr().add(i) as *const __m256i);
                let m = _mm256_loadu_si256(rq.multiplier.as_ptr().add(first + i) as *const __m256i);
                let l = _mm256_loadu_si256(rq.left.as_ptr().add(first + i) as *const __m256i);
                let r = _mm256_loadu_si256(rq.right.as_ptr().add(first + i) as *const __m256i);
                let high = srdhm(_mm256_sllv_epi32(x, l), m);
                let y = if rq.half_up { shift_half_up(high, r) } else { shift_away(high, r) };
                let y = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(y, zp), lo), hi);
                // Narrow the eight 0..=255 lanes to bytes (exact: they are already in range).
                let w16 = _mm256_packs_epi32(y, y); // [0..3 0..3 | 4..7 4..7] as i16
                let b8 = _mm256_packus_epi16(w16, w16); // bytes 0..3 repeated, then 4..7 repeated
                let both = _mm256_permutevar8x32_epi32(b8, _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0));
                _mm_storel_epi64(out.as_mut_ptr().add(i) as *mut __m128i, _mm256_castsi256_si128(both));
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    #[test]
    fn simd_equals_scalar() {
        let mut rng = Rng::new(11);
        for rounding in [Rounding::AwayFromZero, Rounding::HalfUp] {
            for n in [1, 7, 8, 9, 16, 33, 100] {
                let chans: Vec<Requant> = (0..n)
                    .map(|_| {
                        let real = match rng.next_u64() % 4 {
                            0 => 1e-4 + (rng.next_u64() % 1000) as f64 * 1e-6,
                            1 => 0.01 + (rng.next_u64() % 1000) as f64 * 1e-4,
                            2 => 0.5 + (rng.next_u64() % 100) as f64 * 0.01,
                            _ => 1.0 + (rng.next_u64() % 400) as f64 * 0.01,
                        };
                        Requant::with_rounding(real, rounding)
                    })
                    .collect();
                let rq = RequantVec::new(&chans);
                let stage = OutputStage::new((rng.next_u64() % 256) as i32, 0.05, rng.next_u64().is_multiple_of(2));
                for _ in 0..50 {
                    let acc: Vec<i32> = (0..n).map(|_| (rng.next_u64() % (1 << 22)) as i32 - (1 << 21)).collect();
                    let mut expect = vec![0u8; n];
                    for i in 0..n {
                        expect[i] = stage.finish(chans[i].apply(acc[i]));
                    }
                    for isa in Isa::all_available() {
                        let mut out = vec![0u8; n];
                        requantize(isa, &acc, &rq, 0, stage, &mut out);
                        assert_eq!(out, expect, "{isa:?} {rounding:?} n={n}");
                    }
                }
            }
        }
    }

    #[test]
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))] // the vector checks are x86-64's
    fn simd_equals_scalar_over_the_whole_i32_range() {
        // Multipliers below one (no left shift): any accumulator, including the extremes. Tiny
        // multipliers (shifts over 21) keep the two-rounding form, the others take the single one.
        let mut rng = Rng::new(12);
        for rounding in [Rounding::AwayFromZero, Rounding::HalfUp] {
            for smallest in [1e-9, 1e-5] {
                let chans: Vec<Requant> = (0..48)
                    .map(|i| {
                        let step = if i == 0 { 0 } else { rng.next_u64() % 10_000 };
                        Requant::with_rounding(smallest + step as f64 * 4.9e-5, rounding)
                    })
                    .collect();
                let rq = RequantVec::new(&chans);
                assert_eq!(rq.single(), rounding == Rounding::HalfUp && smallest > 1e-6);
                let zp = 77;
                let stage = OutputStage { zero_point: zp, min: i32::MIN, max: i32::MAX };
                for round in 0..200 {
                    let mut acc: Vec<i32> = (0..48).map(|_| rng.next_u64() as i32).collect();
                    if round == 0 {
                        acc[..4].copy_from_slice(&[i32::MIN, i32::MAX, i32::MIN + 1, -1]);
                    }
                    let expect: Vec<i32> = acc.iter().zip(&chans).map(|(&a, c)| c.apply(a)).collect();
                    #[cfg(target_arch = "x86_64")]
                    if Isa::Avx512.available() {
                        for g in 0..3 {
                            // SAFETY: AVX-512F detected; 16 lanes from channel 16 g.
                            let (scaled, with_zp): ([i32; 16], [i32; 16]) = unsafe {
                                use std::arch::x86_64::*;
                                let p = avx512::Params16::load(&rq, 16 * g, stage);
                                let x = _mm512_loadu_si512(acc[16 * g..].as_ptr() as *const _);
                                (
                                    std::mem::transmute::<__m512i, [i32; 16]>(avx512::scale16(x, &p)),
                                    std::mem::transmute::<__m512i, [i32; 16]>(avx512::scale_zp16(x, &p)),
                                )
                            };
                            let want = &expect[16 * g..16 * (g + 1)];
                            assert_eq!(scaled[..], *want, "{rounding:?}");
                            assert!(with_zp.iter().zip(want).all(|(&y, &e)| y == e + zp), "{rounding:?} {smallest}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn exact_ties() {
        // Values that land exactly on .5 after the high multiply: -18 * 0.25 and 18 * 0.25, 10 * 0.25.
        for rounding in [Rounding::AwayFromZero, Rounding::HalfUp] {
            let chans = vec![Requant::with_rounding(0.25, rounding); 8];
            let rq = RequantVec::new(&chans);
            let acc = [-18, 18, 10, -10, 6, -6, 2, -2];
            let stage = OutputStage { zero_point: 128, min: 0, max: 255 };
            let expect: Vec<u8> = acc.iter().map(|&a| stage.finish(chans[0].apply(a))).collect();
            for isa in Isa::all_available() {
                let mut out = vec![0u8; 8];
                requantize(isa, &acc, &rq, 0, stage, &mut out);
                assert_eq!(out, expect, "{isa:?} {rounding:?}");
            }
        }
    }
}
