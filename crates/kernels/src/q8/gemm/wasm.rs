//! The int8 GEMM tile with WebAssembly SIMD128: `i32x4.dot_i16x8_s` is `vpmaddwd`, so the AVX2
//! tile carries over on the same 16-bit pair layout: a broadcast activation pair times a k pair
//! of weights for four columns, both products added into 32-bit lanes (exact). Half a panel
//! (eight columns) at a time: 8 accumulators for four rows, two weight vectors and the
//! broadcast, which V8 keeps in x86-64's 16 xmm registers.

use super::{MAX_PAIRS, MR, NR};
use std::arch::wasm32::*;

/// acc[i][c] = sum_k a[i][k] * w[k][c] from activations widened into one 32-bit word per k pair.
///
/// # Safety
/// SIMD128 must be available (the module is built for it); `words[i]` holds `pairs` words for
/// `i < rows` and `panel` `pairs * 2 * NR` values.
#[target_feature(enable = "simd128")]
pub unsafe fn tile_words(
    words: &[[i32; MAX_PAIRS]; MR],
    rows: usize,
    pairs: usize,
    panel: &[i16],
    acc: &mut [[i32; NR]; MR],
) {
    debug_assert!(panel.len() >= pairs * 2 * NR && pairs <= MAX_PAIRS);
    for half in [0, NR / 2] {
        // SAFETY: the caller upholds this function's `# Safety` contract.
        unsafe {
            match rows {
                4 => words_rows::<4>(words, pairs, panel.as_ptr(), acc, half),
                3 => words_rows::<3>(words, pairs, panel.as_ptr(), acc, half),
                2 => words_rows::<2>(words, pairs, panel.as_ptr(), acc, half),
                1 => words_rows::<1>(words, pairs, panel.as_ptr(), acc, half),
                _ => {}
            }
        }
    }
}

/// Columns `half..half + 8` for `R` rows.
///
/// # Safety
/// SIMD128; `w` valid for the panel's `pairs * 2 * NR` values, `words` as for [`tile_words`].
#[target_feature(enable = "simd128")]
#[inline]
unsafe fn words_rows<const R: usize>(
    words: &[[i32; MAX_PAIRS]; MR],
    pairs: usize,
    w: *const i16,
    acc: &mut [[i32; NR]; MR],
    half: usize,
) {
    // SAFETY: the caller upholds this function's `# Safety` contract: the pair kp's values for
    // columns half..half + 8 are the 16 i16 from (kp * 2 * NR + 2 * half).
    unsafe {
        let mut c = [[i32x4_splat(0); 2]; R];
        for kp in 0..pairs {
            let p = w.add(kp * 2 * NR + 2 * half);
            let (w0, w1) = (v128_load(p as *const v128), v128_load(p.add(8) as *const v128));
            for (i, row) in c.iter_mut().enumerate() {
                let av = i32x4_splat(*words[i].get_unchecked(kp));
                row[0] = i32x4_add(row[0], i32x4_dot_i16x8(av, w0));
                row[1] = i32x4_add(row[1], i32x4_dot_i16x8(av, w1));
            }
        }
        for (row, out) in c.iter().zip(acc.iter_mut()) {
            v128_store(out.as_mut_ptr().add(half) as *mut v128, row[0]);
            v128_store(out.as_mut_ptr().add(half + 4) as *mut v128, row[1]);
        }
    }
}
