//! The AVX-512 VNNI product (`vpdpbusd`) over the i8 weight quads of [`QPackedB`].

use super::super::requant_vec::avx512::{Params16, requant16, requant32};
use super::{NR, QPackedB};
use std::arch::x86_64::*;

/// Rows per VNNI tile: 8 rows x 2 panels = 16 accumulators in flight.
const MR: usize = 8;

/// Rows of A per chunk: about 32 KiB of activations, which stay in L1 while every panel pair
/// passes over them (at least one tile, at most 512 rows).
fn chunk_rows(k: usize) -> usize {
    ((32 * 1024) / k.max(1)).clamp(MR, 512) / MR * MR
}

/// The VNNI product: per chunk of rows, each pair of panels (one at the end when the panel
/// count is odd) with its requantization constants loaded once, then every 8-row tile of the
/// chunk against it, requantized in registers; a part-filled last panel is stored with a byte
/// mask. Needs `b.quads` (so VNNI and k % 4 == 0).
pub fn qgemm(a: &[u8], m: usize, b: &QPackedB, out: &mut [u8]) {
    let n = b.n;
    let panels = n.div_ceil(NR);
    assert!(out.len() == m * n && a.len() == m * b.k, "product shapes");
    let chunk = chunk_rows(b.k);
    let mut row_add = [0i32; 512];
    for c0 in (0..m).step_by(chunk) {
        let rows = chunk.min(m - c0);
        let a_rows = &a[c0 * b.k..(c0 + rows) * b.k];
        // What the shifted weights leave out: offset * (sum of the row's activations).
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
            // k = 4 * quads bytes and `row_add` one value per row; panels p..p+width exist with
            // bias padded to whole panels and requantization to whole groups of 16; the tiles
            // write columns p*NR..p*NR+cols of rows c0..c0+rows, inside `out` (shapes asserted).
            unsafe { panel_pass(a_rows, &row_add[..rows], width, b, p, out[c0 * n + p * NR..].as_mut_ptr(), cols) };
            p += width;
        }
    }
}

/// Every 8-row tile of `a` against panels `p..p + width`, with the requantization constants
/// loaded once.
///
/// # Safety
/// AVX-512F/BW/VL/VNNI; as [`qgemm`] states at the call.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn panel_pass(a: &[u8], row_add: &[i32], width: usize, b: &QPackedB, p: usize, out: *mut u8, cols: usize) {
    unsafe {
        let params =
            [Params16::load(&b.requant, p * NR, b.stage), Params16::load(&b.requant, (p + width - 1) * NR, b.stage)];
        for r0 in (0..row_add.len()).step_by(MR) {
            let rows = MR.min(row_add.len() - r0);
            let mut add = [0i32; MR];
            add[..rows].copy_from_slice(&row_add[r0..r0 + rows]);
            tile(a[r0 * b.k..].as_ptr(), &add, rows, width, b, p, &params, out.add(r0 * b.n), cols);
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
    params: &[Params16; 2],
    out: *mut u8,
    cols: usize,
) {
    unsafe {
        macro_rules! go {
            ($($r:literal)*) => {
                match (rows, width) {
                    $(($r, 2) => rows_panels::<$r, 2>(a, row_add, b, p, params, out, cols),
                      ($r, 1) => rows_panels::<$r, 1>(a, row_add, b, p, params, out, cols),)*
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
    params: &[Params16; 2],
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
            for i in 0..R {
                let v = requant32(c[0][i], &params[0], c[1 % P][i], &params[1]);
                _mm256_storeu_si256(out.add(i * b.n) as *mut __m256i, v);
            }
            return;
        }
        for (j, cj) in c.iter().enumerate() {
            let params = &params[j];
            // The columns of this panel that exist (the last panel may be part-filled).
            let mask = ((1u32 << cols.saturating_sub(j * NR).min(NR)) - 1) as u16;
            for (i, &v) in cj.iter().enumerate() {
                _mm_mask_storeu_epi8(out.add(i * b.n + j * NR) as *mut i8, mask, requant16(v, params));
            }
        }
    }
}
