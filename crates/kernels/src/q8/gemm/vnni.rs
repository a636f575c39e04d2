//! The AVX-512 VNNI product (`vpdpbusd`) over the i8 weight quads of [`QPackedB`].

use super::super::requant_vec::avx512::{Params16, requant16, requant32};
use super::{NR, QPackedB};
use std::arch::x86_64::*;

/// Rows per VNNI tile: 8 rows x 2 panels = 16 accumulators in flight.
const MR: usize = 8;

/// The VNNI product: row tiles of 8 against two panels at a time (one at the end when the
/// panel count is odd), requantized in registers; a part-filled last panel is stored with a
/// byte mask. Needs `b.quads` (so VNNI and k % 4 == 0).
pub fn qgemm(a: &[u8], m: usize, b: &QPackedB, out: &mut [u8]) {
    let n = b.n;
    let panels = n.div_ceil(NR);
    assert!(out.len() == m * n && a.len() == m * b.k, "product shapes");
    for r0 in (0..m).step_by(MR) {
        let rows = MR.min(m - r0);
        let a_rows = &a[r0 * b.k..(r0 + rows) * b.k];
        // What the shifted weights leave out: offset * (sum of the row's activations).
        let mut row_add = [0i32; MR];
        if b.quads_offset != 0 {
            for (s, row) in row_add.iter_mut().zip(a_rows.chunks_exact(b.k)) {
                *s = b.quads_offset.wrapping_mul(row.iter().map(|&v| v as i32).sum::<i32>());
            }
        }
        let mut p = 0;
        while p < panels {
            let width = if p + 2 <= panels { 2 } else { 1 };
            let cols = (n - p * NR).min(width * NR);
            // SAFETY: VNNI present (quads are only packed then); `a_rows` holds `rows` rows of
            // k = 4 * quads bytes; panels p..p+width exist with bias padded to whole panels and
            // requantization to whole groups of 16; the tile writes columns p*NR..p*NR+cols of
            // rows r0..r0+rows, inside `out` (shapes asserted).
            unsafe { tile(a_rows.as_ptr(), &row_add, rows, width, b, p, out[r0 * n + p * NR..].as_mut_ptr(), cols) };
            p += width;
        }
    }
}

/// # Safety
/// AVX-512F/BW/VL/VNNI; `a` valid for `rows <= 8` rows of `b.k` bytes; panels `p..p + width`
/// exist in `b`; `out` valid for `rows` rows of `cols <= width * 16` bytes at stride `b.n`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile(
    a: *const u8,
    row_add: &[i32; MR],
    rows: usize,
    width: usize,
    b: &QPackedB,
    p: usize,
    out: *mut u8,
    cols: usize,
) {
    unsafe {
        macro_rules! go {
            ($($r:literal)*) => {
                match (rows, width) {
                    $(($r, 2) => rows_panels::<$r, 2>(a, row_add, b, p, out, cols),
                      ($r, 1) => rows_panels::<$r, 1>(a, row_add, b, p, out, cols),)*
                    _ => {}
                }
            };
        }
        go!(1 2 3 4 5 6 7 8)
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
#[allow(clippy::needless_range_loop)] // rows index the broadcast and every panel's accumulators
unsafe fn rows_panels<const R: usize, const P: usize>(
    a: *const u8,
    row_add: &[i32; MR],
    b: &QPackedB,
    p: usize,
    out: *mut u8,
    cols: usize,
) {
    unsafe {
        let k = b.k;
        let quads = k / 4;
        let w = b.quads.as_ptr().add(p * quads * 4 * NR);
        let mut c = [[_mm512_setzero_si512(); R]; P];
        for (j, cj) in c.iter_mut().enumerate() {
            let bias = _mm512_loadu_si512(b.bias.as_ptr().add((p + j) * NR) as *const _);
            for (i, v) in cj.iter_mut().enumerate() {
                *v = _mm512_add_epi32(bias, _mm512_set1_epi32(row_add[i]));
            }
        }
        for q in 0..quads {
            let mut wq = [_mm512_setzero_si512(); P];
            for (j, v) in wq.iter_mut().enumerate() {
                *v = _mm512_loadu_si512(w.add((j * quads + q) * 4 * NR) as *const _);
            }
            for i in 0..R {
                // Four k of row i as one little-endian word, broadcast to all lanes.
                let av = _mm512_set1_epi32((a.add(i * k + 4 * q) as *const i32).read_unaligned());
                for j in 0..P {
                    c[j][i] = _mm512_dpbusd_epi32(c[j][i], av, wq[j]);
                }
            }
        }
        if P == 2 && cols == 2 * NR {
            let p0 = Params16::load(&b.requant, p * NR, b.stage);
            let p1 = Params16::load(&b.requant, (p + 1) * NR, b.stage);
            for i in 0..R {
                _mm256_storeu_si256(out.add(i * b.n) as *mut __m256i, requant32(c[0][i], &p0, c[1 % P][i], &p1));
            }
            return;
        }
        for (j, cj) in c.iter().enumerate() {
            let params = Params16::load(&b.requant, (p + j) * NR, b.stage);
            // The columns of this panel that exist (the last panel may be part-filled).
            let mask = ((1u32 << cols.saturating_sub(j * NR).min(NR)) - 1) as u16;
            for (i, &v) in cj.iter().enumerate() {
                _mm_mask_storeu_epi8(out.add(i * b.n + j * NR) as *mut i8, mask, requant16(v, &params));
            }
        }
    }
}
