//! The int8 GEMM tile with NEON, on the 16-bit pair layout: `vld2q_s16` splits a k pair's
//! weights for eight columns into its two k rows, and `vmlal_n_s16` / `vmlal_high_n_s16`
//! multiply each by that k's activation and add into 32-bit lanes (exact, as `vpmaddwd` is).

use super::{MR, NR};
use std::arch::aarch64::*;

/// acc[i][c] = sum_k a[i][k] * w[k][c] for i < rows, from `a`'s u8 rows (k each) and the
/// panel's pairs.
///
/// # Safety
/// The CPU must have NEON (every aarch64 CPU does); `a` holds `rows * k` bytes and `panel`
/// `k.div_ceil(2) * 2 * NR` values.
#[target_feature(enable = "neon")]
pub unsafe fn tile(a: &[u8], rows: usize, k: usize, panel: &[i16], acc: &mut [[i32; NR]; MR]) {
    debug_assert!(a.len() >= rows * k && panel.len() >= k.div_ceil(2) * 2 * NR);
    // SAFETY: lengths as documented; a const row count keeps the accumulators in registers.
    unsafe {
        match rows {
            4 => tile_rows::<4>(a.as_ptr(), k, panel.as_ptr(), acc),
            3 => tile_rows::<3>(a.as_ptr(), k, panel.as_ptr(), acc),
            2 => tile_rows::<2>(a.as_ptr(), k, panel.as_ptr(), acc),
            1 => tile_rows::<1>(a.as_ptr(), k, panel.as_ptr(), acc),
            _ => {}
        }
    }
}

/// `R` rows: 16 accumulators (four per row), four weight registers per k pair.
///
/// # Safety
/// The CPU must have NEON; `a` valid for `R` rows of `k` bytes, `w` for the panel.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn tile_rows<const R: usize>(a: *const u8, k: usize, w: *const i16, acc: &mut [[i32; NR]; MR]) {
    // SAFETY: the caller upholds this function's `# Safety` contract: every pair index below
    // is under k.div_ceil(2), every activation index under R * k.
    unsafe {
        let mut c = [[vdupq_n_s32(0); 4]; R];
        let step = |c: &mut [[int32x4_t; 4]; R], kp: usize, odd: bool| {
            // Columns 0-7 and 8-15: .0 holds k = 2 kp, .1 k = 2 kp + 1.
            let lo = vld2q_s16(w.add(kp * 2 * NR));
            let hi = vld2q_s16(w.add(kp * 2 * NR + 16));
            for (r, row) in c.iter_mut().enumerate() {
                let a0 = *a.add(r * k + 2 * kp) as i16;
                // Past the end of an odd k the weights are zero: no activation is read.
                let a1 = if odd { 0 } else { *a.add(r * k + 2 * kp + 1) as i16 };
                row[0] = vmlal_n_s16(vmlal_n_s16(row[0], vget_low_s16(lo.0), a0), vget_low_s16(lo.1), a1);
                row[1] = vmlal_high_n_s16(vmlal_high_n_s16(row[1], lo.0, a0), lo.1, a1);
                row[2] = vmlal_n_s16(vmlal_n_s16(row[2], vget_low_s16(hi.0), a0), vget_low_s16(hi.1), a1);
                row[3] = vmlal_high_n_s16(vmlal_high_n_s16(row[3], hi.0, a0), hi.1, a1);
            }
        };
        for kp in 0..k / 2 {
            step(&mut c, kp, false);
        }
        if k % 2 == 1 {
            step(&mut c, k / 2, true);
        }
        for (row, out) in c.iter().zip(acc.iter_mut()) {
            for (j, q) in row.iter().enumerate() {
                vst1q_s32(out.as_mut_ptr().add(4 * j), *q);
            }
        }
    }
}
