//! The int8 GEMM tiles at the AVX2 level (16-bit pairs, `vpmaddwd`).

use super::super::requant_vec::avx2::{Requant8, narrow8, narrow16};
use super::{MAX_PAIRS, MR, NR, QPackedB};
use std::arch::x86_64::*;

/// Panel `p`'s first `cols` columns (16, or 8 of a last panel) x `rows` rows: the
/// `vpmaddwd` sums of [`tile_words`] plus the folded bias, requantized in registers and
/// stored as `cols` bytes per row (one load of the panel's constants for all rows; integer
/// sums in any order are the same sums).
///
/// # Safety
/// AVX2; `words[i]` holds `pairs` words for `i < rows`; columns `p * 16..p * 16 + cols`
/// exist in `b`; `out` is valid for `rows` rows of `cols` bytes at stride `ld`.
#[target_feature(enable = "avx2")]
pub unsafe fn tile_requant(
    words: &[[i32; MAX_PAIRS]; MR],
    rows: usize,
    pairs: usize,
    b: &QPackedB,
    (p, cols): (usize, usize),
    out: *mut u8,
    ld: usize,
) {
    let mut acc = [[0i32; NR]; MR];
    // SAFETY: the caller upholds this function's `# Safety` contract; the bias is padded to
    // whole panels and the requantization covers the panel's 16 columns.
    unsafe {
        tile_words(words, rows, pairs, b.panel(p), &mut acc);
        let bias0 = _mm256_loadu_si256(b.bias.as_ptr().add(p * NR) as *const __m256i);
        let bias1 = _mm256_loadu_si256(b.bias.as_ptr().add(p * NR + 8) as *const __m256i);
        let q0 = Requant8::load(&b.requant, p * NR, b.stage);
        if cols == NR / 2 {
            for (i, row) in acc.iter().enumerate().take(rows) {
                let x0 = _mm256_add_epi32(_mm256_loadu_si256(row.as_ptr() as *const __m256i), bias0);
                narrow8(q0.apply(x0), out.add(i * ld));
            }
            return;
        }
        let q1 = Requant8::load(&b.requant, p * NR + 8, b.stage);
        for (i, row) in acc.iter().enumerate().take(rows) {
            let x0 = _mm256_add_epi32(_mm256_loadu_si256(row.as_ptr() as *const __m256i), bias0);
            let x1 = _mm256_add_epi32(_mm256_loadu_si256(row.as_ptr().add(8) as *const __m256i), bias1);
            _mm_storeu_si128(out.add(i * ld) as *mut __m128i, narrow16(q0.apply(x0), q1.apply(x1)));
        }
    }
}

/// `vpmaddwd` tile over activations widened into one 32-bit word per k pair: each step
/// multiplies a broadcast pair by a pair of weight rows for 8 columns and adds both products
/// into 32-bit lanes (exact: |a*w| < 2^17). As the portable tile, into one 32-bit word per k pair.
///
/// # Safety
/// AVX2 must be available; `words[i]` holds `pairs` words for `i < rows` and `panel`
/// `pairs * 2 * NR` values.
#[target_feature(enable = "avx2")]
pub unsafe fn tile_words(
    words: &[[i32; MAX_PAIRS]; MR],
    rows: usize,
    pairs: usize,
    panel: &[i16],
    acc: &mut [[i32; NR]; MR],
) {
    // SAFETY: the caller upholds this function's `# Safety` contract.
    unsafe {
        match rows {
            4 => words_rows::<4>(words, pairs, panel.as_ptr(), acc),
            3 => words_rows::<3>(words, pairs, panel.as_ptr(), acc),
            2 => words_rows::<2>(words, pairs, panel.as_ptr(), acc),
            1 => words_rows::<1>(words, pairs, panel.as_ptr(), acc),
            _ => {}
        }
    }
}

/// # Safety
/// The CPU must have AVX2; the pointers valid for the rows, pairs and panel the caller passes.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn words_rows<const R: usize>(
    words: &[[i32; MAX_PAIRS]; MR],
    pairs: usize,
    w: *const i16,
    acc: &mut [[i32; NR]; MR],
) {
    // SAFETY: the caller upholds this function's `# Safety` contract.
    unsafe {
        let mut c0 = [_mm256_setzero_si256(); R];
        let mut c1 = [_mm256_setzero_si256(); R];
        for kp in 0..pairs {
            let w0 = _mm256_loadu_si256(w.add(kp * 2 * NR) as *const __m256i);
            let w1 = _mm256_loadu_si256(w.add(kp * 2 * NR + 16) as *const __m256i);
            for i in 0..R {
                let av = _mm256_set1_epi32(*words[i].get_unchecked(kp));
                c0[i] = _mm256_add_epi32(c0[i], _mm256_madd_epi16(av, w0));
                c1[i] = _mm256_add_epi32(c1[i], _mm256_madd_epi16(av, w1));
            }
        }
        for i in 0..R {
            _mm256_storeu_si256(acc[i].as_mut_ptr() as *mut __m256i, c0[i]);
            _mm256_storeu_si256(acc[i].as_mut_ptr().add(8) as *mut __m256i, c1[i]);
        }
    }
}
