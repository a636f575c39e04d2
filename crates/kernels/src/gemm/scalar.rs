//! Portable register tile: the same loop order as the SIMD tile, for any CPU.

use super::{MR, NR};

/// acc[i][j] = bias[j] + sum_kk a[i][kk] * panel[kk][j] for i < rows.
pub fn tile(a: &[f32], rows: usize, k: usize, panel: &[f32], bias: &[f32], acc: &mut [[f32; NR]; MR]) {
    for (i, acc_row) in acc.iter_mut().enumerate().take(rows) {
        acc_row.copy_from_slice(&bias[..NR]);
        let a_row = &a[i * k..(i + 1) * k];
        for (kk, &av) in a_row.iter().enumerate() {
            let b = &panel[kk * NR..(kk + 1) * NR];
            for (c, &bv) in acc_row.iter_mut().zip(b) {
                *c += av * bv;
            }
        }
    }
}
