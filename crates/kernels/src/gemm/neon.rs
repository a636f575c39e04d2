//! NEON register tile: up to 6 rows x 16 columns held in 24 of the 32 q registers (four per
//! row), the panel's 16 weights of a row in four more; the same loop order as the AVX2 tile.

use super::{MR, NR};
use std::arch::aarch64::*;

/// acc[i][j] = bias[j] + sum_kk a[i][kk] * panel[kk][j] for i < rows.
///
/// # Safety
/// The CPU must have NEON (every aarch64 CPU does); `a` holds `rows * k`, `panel` `k * NR` and
/// `bias` `NR` floats.
#[target_feature(enable = "neon")]
pub unsafe fn tile(a: &[f32], rows: usize, k: usize, panel: &[f32], bias: &[f32], acc: &mut [[f32; NR]; MR]) {
    debug_assert!(a.len() >= rows * k && panel.len() >= k * NR && bias.len() >= NR);
    // SAFETY: lengths as documented; dispatch to a const row count lets the compiler keep every
    // accumulator in a register.
    unsafe {
        match rows {
            6 => tile_rows::<6>(a.as_ptr(), k, panel.as_ptr(), bias.as_ptr(), acc),
            5 => tile_rows::<5>(a.as_ptr(), k, panel.as_ptr(), bias.as_ptr(), acc),
            4 => tile_rows::<4>(a.as_ptr(), k, panel.as_ptr(), bias.as_ptr(), acc),
            3 => tile_rows::<3>(a.as_ptr(), k, panel.as_ptr(), bias.as_ptr(), acc),
            2 => tile_rows::<2>(a.as_ptr(), k, panel.as_ptr(), bias.as_ptr(), acc),
            1 => tile_rows::<1>(a.as_ptr(), k, panel.as_ptr(), bias.as_ptr(), acc),
            _ => {}
        }
    }
}

/// `R` rows of `a` against one packed panel into `acc`.
///
/// # Safety
/// The CPU must have NEON; `a` valid for `R` rows of `k` floats, `b` for the panel's `k` x 16
/// floats, `bias` for 16.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn tile_rows<const R: usize>(
    a: *const f32,
    k: usize,
    b: *const f32,
    bias: *const f32,
    acc: &mut [[f32; NR]; MR],
) {
    // SAFETY: the caller upholds this function's `# Safety` contract; `acc` rows hold 16 floats.
    unsafe {
        let quarters = |p: *const f32| [vld1q_f32(p), vld1q_f32(p.add(4)), vld1q_f32(p.add(8)), vld1q_f32(p.add(12))];
        let mut c = [quarters(bias); R];
        for kk in 0..k {
            let w = quarters(b.add(kk * NR));
            for (r, row) in c.iter_mut().enumerate() {
                let av = *a.add(r * k + kk);
                for (q, wq) in row.iter_mut().zip(w) {
                    *q = vfmaq_n_f32(*q, wq, av);
                }
            }
        }
        for (row, out) in c.iter().zip(acc.iter_mut()) {
            for (j, q) in row.iter().enumerate() {
                vst1q_f32(out.as_mut_ptr().add(4 * j), *q);
            }
        }
    }
}
