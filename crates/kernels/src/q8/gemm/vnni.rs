//! The AVX-512 VNNI product (`vpdpbusd`) over the i8 weight quads of [`QPackedB`].

use super::super::requant_vec::avx512::{Params16, narrow64, requant16, requant32, scale_zp16};
use super::{NR, QPackedB, VnniPack};
use std::arch::x86_64::*;

/// Most rows per tile: 8 rows x 2 panels (or 4 rows x 4 panels) = 16 accumulators in flight.
const MR: usize = 8;

/// Rows of A per chunk: about 32 KiB of activations, which stay close while every group of
/// panels passes over them (at least 64 rows, so that a 7x7 map is one chunk; at most 512).
fn chunk_rows(k: usize) -> usize {
    ((32 * 1024) / k.max(1)).clamp(64, 512) / MR * MR
}

/// The VNNI product: per chunk of rows, each group of panels with its requantization constants
/// loaded once, then every tile of the chunk against it, requantized in registers. Whole groups
/// of 64 columns go four panels at a time (their columns packed so that two saturating packs
/// give the 64 bytes in order), the rest two at a time (one at the end when the panel count is
/// odd), a part-filled last panel stored with a byte mask. Needs `b.vnni`.
pub fn qgemm(a: &[u8], m: usize, b: &QPackedB, out: &mut [u8]) {
    let v = b.vnni.as_ref().expect("the VNNI product needs the VNNI layout");
    let n = b.n;
    assert!(out.len() == m * n && a.len() == m * b.k, "product shapes");
    let chunk = chunk_rows(b.k);
    // Row sums for shifted weights only (no 2 KiB to clear per call otherwise).
    let mut row_add = if v.offset != 0 { vec![0i32; chunk.min(m)] } else { Vec::new() };
    for c0 in (0..m).step_by(chunk) {
        let rows = chunk.min(m - c0);
        let a_rows = &a[c0 * b.k..(c0 + rows) * b.k];
        // What the shifted weights leave out: offset * (sum of the row's activations).
        if v.offset != 0 {
            // SAFETY: the VNNI layout is packed only for a CPU with AVX-512 BW and VL.
            unsafe { row_sums(a_rows, b.k, v.offset, &mut row_add[..rows]) };
        }
        let adds = &row_add[..if v.offset != 0 { rows } else { 0 }];
        // SAFETY: VNNI present (the layout is only packed then); `a_rows` holds `rows` rows of
        // k bytes and `adds` one value per row when the weights are shifted; rows c0..c0+rows of
        // `out` (asserted) hold every column.
        unsafe { column_range(a_rows, (rows, adds), b, v, 0..n, out[c0 * n..].as_mut_ptr()) };
    }
}

/// `offset` times the sum of each row of `a` (rows of `k` bytes) into `out`, one per row: the
/// row's bytes 64 at a time (a masked last load) summed by `vpsadbw`.
///
/// # Safety
/// AVX-512F/BW/VL; `a` holds `out.len()` rows of `k` bytes.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn row_sums(a: &[u8], k: usize, offset: i32, out: &mut [i32]) {
    assert!(a.len() >= out.len() * k);
    if k <= 16 {
        // Narrow rows (the early layers of small models): one 16-byte masked load per row.
        let m: __mmask16 = if k == 16 { !0 } else { (1u16 << k) - 1 };
        let zero = _mm_setzero_si128();
        for (r, s) in out.iter_mut().enumerate() {
            // SAFETY: the k bytes the mask covers are row r, inside `a`.
            let x = unsafe { _mm_maskz_loadu_epi8(m, a.as_ptr().add(r * k) as *const i8) };
            let sad = _mm_sad_epu8(x, zero);
            *s = offset.wrapping_mul((_mm_cvtsi128_si64(sad) + _mm_extract_epi64::<1>(sad)) as i32);
        }
        return;
    }
    let zero = _mm512_setzero_si512();
    for (r, s) in out.iter_mut().enumerate() {
        let mut acc = _mm512_setzero_si512();
        for c0 in (0..k).step_by(64) {
            let m: __mmask64 = if k - c0 >= 64 { !0 } else { (1u64 << (k - c0)) - 1 };
            // SAFETY: bytes r k + c0.. of the ones the mask covers lie in row r, inside `a`.
            let x = unsafe { _mm512_maskz_loadu_epi8(m, a.as_ptr().add(r * k + c0) as *const i8) };
            acc = _mm512_add_epi64(acc, _mm512_sad_epu8(x, zero));
        }
        *s = offset.wrapping_mul(_mm512_reduce_add_epi64(acc) as i32);
    }
}

/// Columns `first..first + out.len()` of one row's product (see [`super::qgemm_columns`]): the
/// panels over those columns, each as [`qgemm`] runs it.
pub fn qgemm_columns(a: &[u8], b: &QPackedB, first: usize, out: &mut [u8]) {
    let v = b.vnni.as_ref().expect("the VNNI product needs the VNNI layout");
    let row_add =
        if v.offset != 0 { vec![v.offset.wrapping_mul(a.iter().map(|&x| x as i32).sum::<i32>())] } else { Vec::new() };
    // SAFETY: VNNI present (the layout is only packed then); `a` is one row of k bytes and
    // `row_add` one value when the weights are shifted; `out` holds the columns (checked by the
    // caller: `first + out.len() <= n`, `first` a multiple of 64).
    unsafe { column_range(a, (1, &row_add), b, v, first..first + out.len(), out.as_mut_ptr()) };
}

/// Columns `cols` of `rows` rows of the product into `out`, which points at column `cols.start`
/// of the first row (rows `b.n` apart): four panels at a time within whole groups of 64 columns,
/// else two, else one.
///
/// # Safety
/// AVX-512F/BW/VL/VNNI; `a` holds `rows` rows of `b.k` bytes, `adds` one value per row when the
/// weights are shifted; `cols.start` a multiple of 64, `cols.end <= b.n`; `out` valid for those
/// columns of every row.
unsafe fn column_range(
    a: &[u8],
    (rows, adds): (usize, &[i32]),
    b: &QPackedB,
    v: &VnniPack,
    cols: std::ops::Range<usize>,
    out: *mut u8,
) {
    let grouped = b.n / 64 * 4;
    let (first, last) = (cols.start / NR, cols.end.div_ceil(NR));
    let mut p = first;
    while p < last {
        let width = if p + 4 <= grouped && p + 4 <= last {
            4
        } else if p + 2 <= last {
            2
        } else {
            1
        };
        let n = (cols.end - p * NR).min(width * NR);
        // SAFETY: as this function's contract states; panels p..p+width exist with bias padded to
        // whole panels and requantization to whole groups of 16, and the tiles write columns
        // p*NR..p*NR+n of each row, inside `out`.
        unsafe { panel_pass(a, (rows, adds), width, b, v, p, out.add(p * NR - cols.start), n) };
        p += width;
    }
}

/// Every tile of `a` against panels `p..p + width`, with the requantization constants loaded
/// once.
///
/// # Safety
/// AVX-512F/BW/VL/VNNI; as [`qgemm`] states at the call.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[allow(clippy::too_many_arguments)]
unsafe fn panel_pass(
    a: &[u8],
    (m, row_add): (usize, &[i32]),
    width: usize,
    b: &QPackedB,
    v: &VnniPack,
    p: usize,
    out: *mut u8,
    cols: usize,
) {
    // SAFETY: the caller upholds this function's `# Safety` contract.
    unsafe {
        let params = &v.params[p..p + width];
        // Tiles of as even a height as the most rows allow: 49 rows go 7 x 7 (or 4 x 10 and
        // 3 x 3), not 6 x 8 and a one-row tile that streams all the weights for one row.
        let most = if width == 4 { 4 } else { MR };
        let tiles = m.div_ceil(most);
        let mut r0 = 0;
        for t in 0..tiles {
            let rows = m / tiles + usize::from(t < m % tiles);
            // The row sums only matter for shifted weights (read only then).
            let mut add = [0i32; MR];
            if v.offset != 0 {
                for (s, &r) in add.iter_mut().zip(&row_add[r0..r0 + rows]) {
                    *s = r;
                }
            }
            let (a, out) = (a[r0 * b.k..].as_ptr(), out.add(r0 * b.n));
            macro_rules! go {
                ($($r:literal)*) => {
                    match (rows, width) {
                        $(($r, 2) => rows_panels::<$r, 2>(a, &add, b, v, p, params, out, cols),
                          ($r, 1) => rows_panels::<$r, 1>(a, &add, b, v, p, params, out, cols),)*
                        (1, 4) => rows_panels::<1, 4>(a, &add, b, v, p, params, out, cols),
                        (2, 4) => rows_panels::<2, 4>(a, &add, b, v, p, params, out, cols),
                        (3, 4) => rows_panels::<3, 4>(a, &add, b, v, p, params, out, cols),
                        (4, 4) => rows_panels::<4, 4>(a, &add, b, v, p, params, out, cols),
                        _ => unreachable!("tile of {rows} rows x {width} panels"),
                    }
                };
            }
            go!(1 2 3 4 5 6 7 8);
            r0 += rows;
        }
    }
}

/// `R` rows of `a` against `P` panels from `p`.
///
/// # Safety
/// AVX-512F/BW/VL/VNNI; `a` valid for `R` rows of `b.k` bytes; panels `p..p + P` exist in `v`;
/// `out` valid for `R` rows of `cols <= P * 16` bytes at stride `b.n`; `P == 4` only for a whole
/// group of 64 columns.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
#[allow(clippy::needless_range_loop, clippy::too_many_arguments)] // rows index the broadcast and every panel's accumulators
unsafe fn rows_panels<const R: usize, const P: usize>(
    a: *const u8,
    row_add: &[i32; MR],
    b: &QPackedB,
    v: &VnniPack,
    p: usize,
    params: &[Params16],
    out: *mut u8,
    cols: usize,
) {
    // SAFETY: the caller upholds this function's `# Safety` contract.
    unsafe {
        let k = b.k;
        let quads = k / 4;
        let w = v.quads.as_ptr().add(p * quads * 4 * NR);
        let mut c = [[_mm512_setzero_si512(); R]; P];
        for (j, cj) in c.iter_mut().enumerate() {
            let bias = _mm512_loadu_si512(v.bias.as_ptr().add((p + j) * NR) as *const _);
            for (i, acc) in cj.iter_mut().enumerate() {
                *acc = if v.offset == 0 { bias } else { _mm512_add_epi32(bias, _mm512_set1_epi32(row_add[i])) };
            }
        }
        for q in 0..quads {
            let mut wq = [_mm512_setzero_si512(); P];
            for (j, wj) in wq.iter_mut().enumerate() {
                *wj = _mm512_loadu_si512(w.add((j * quads + q) * 4 * NR) as *const _);
            }
            for i in 0..R {
                // Four k of row i as one little-endian word, broadcast to all lanes.
                let av = _mm512_set1_epi32((a.add(i * k + 4 * q) as *const i32).read_unaligned());
                for j in 0..P {
                    c[j][i] = _mm512_dpbusd_epi32(c[j][i], av, wq[j]);
                }
            }
        }
        if P == 4 {
            // Panel j holds columns 16 l + 4 j.. in lane l: the packs put all 64 in order.
            for i in 0..R {
                let (y0, y1) = (scale_zp16(c[0][i], &params[0]), scale_zp16(c[1 % P][i], &params[1 % P]));
                let (y2, y3) = (scale_zp16(c[2 % P][i], &params[2 % P]), scale_zp16(c[3 % P][i], &params[3 % P]));
                _mm512_storeu_si512(out.add(i * b.n) as *mut _, narrow64([y0, y1, y2, y3], &params[0]));
            }
            return;
        }
        if P == 2 && cols == 2 * NR {
            for i in 0..R {
                let y = requant32(c[0][i], &params[0], c[1 % P][i], &params[1 % P]);
                _mm256_storeu_si256(out.add(i * b.n) as *mut __m256i, y);
            }
            return;
        }
        for (j, cj) in c.iter().enumerate() {
            // The columns of this panel that exist (the last panel may be part-filled).
            let mask = ((1u32 << cols.saturating_sub(j * NR).min(NR)) - 1) as u16;
            for (i, &acc) in cj.iter().enumerate() {
                _mm_mask_storeu_epi8(out.add(i * b.n + j * NR) as *mut i8, mask, requant16(acc, &params[j]));
            }
        }
    }
}
