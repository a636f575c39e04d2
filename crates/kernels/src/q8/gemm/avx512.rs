//! The int8 GEMM tiles at the AVX-512 level (two panels in zmm registers).

use super::super::requant_vec::avx512::{Params16, requant16};
use super::{MAX_PAIRS, MR, NR, QPackedB};
use std::arch::x86_64::*;

/// Two panels (32 columns) x `rows` rows: `vpmaddwd` over the widened activation pairs into
/// 16-lane accumulators starting at the folded bias, then requantized in registers and stored
/// as bytes. Integer sums in any order are the same sums, so this equals the other tiles.
///
/// # Safety
/// AVX-512F and BW; `words[i]` holds `pairs` words for `i < rows`; each panel holds
/// `pairs * 2 * NR` values; columns `col0..col0 + 32` exist in `b`; `out` is valid for `rows`
/// rows of 32 bytes at stride `ld`.
#[target_feature(enable = "avx512f,avx512bw")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn tile2(
    words: &[[i32; MAX_PAIRS]; MR],
    rows: usize,
    pairs: usize,
    panels: [&[i16]; 2],
    b: &QPackedB,
    col0: usize,
    out: *mut u8,
    ld: usize,
) {
    // SAFETY: the caller upholds this function's `# Safety` contract.
    unsafe {
        match rows {
            4 => rows2::<4>(words, pairs, panels, b, col0, out, ld),
            3 => rows2::<3>(words, pairs, panels, b, col0, out, ld),
            2 => rows2::<2>(words, pairs, panels, b, col0, out, ld),
            1 => rows2::<1>(words, pairs, panels, b, col0, out, ld),
            _ => {}
        }
    }
}

/// # Safety
/// The CPU must have AVX-512F and BW; the pointers valid for the rows, pairs and panels the caller
/// passes.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
unsafe fn rows2<const R: usize>(
    words: &[[i32; MAX_PAIRS]; MR],
    pairs: usize,
    panels: [&[i16]; 2],
    b: &QPackedB,
    col0: usize,
    out: *mut u8,
    ld: usize,
) {
    // SAFETY: the caller upholds this function's `# Safety` contract.
    unsafe {
        let (w0p, w1p) = (panels[0].as_ptr(), panels[1].as_ptr());
        let mut c0 = [_mm512_loadu_si512(b.bias.as_ptr().add(col0) as *const _); R];
        let mut c1 = [_mm512_loadu_si512(b.bias.as_ptr().add(col0 + NR) as *const _); R];
        for kp in 0..pairs {
            let w0 = _mm512_loadu_si512(w0p.add(kp * 2 * NR) as *const _);
            let w1 = _mm512_loadu_si512(w1p.add(kp * 2 * NR) as *const _);
            for i in 0..R {
                let av = _mm512_set1_epi32(*words[i].get_unchecked(kp));
                c0[i] = _mm512_add_epi32(c0[i], _mm512_madd_epi16(av, w0));
                c1[i] = _mm512_add_epi32(c1[i], _mm512_madd_epi16(av, w1));
            }
        }
        let p0 = Params16::load(&b.requant, col0, b.stage);
        let p1 = Params16::load(&b.requant, col0 + NR, b.stage);
        for i in 0..R {
            _mm_storeu_si128(out.add(i * ld) as *mut __m128i, requant16(c0[i], &p0));
            _mm_storeu_si128(out.add(i * ld + NR) as *mut __m128i, requant16(c1[i], &p1));
        }
    }
}
