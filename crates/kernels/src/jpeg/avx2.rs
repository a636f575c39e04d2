//! The inverse DCT and the colour conversion with AVX2: eight 32-bit lanes run the reference's
//! arithmetic on eight columns (then, transposed, eight rows) or eight pixels at once.

use super::{BLOCK, CB_B, CB_G, CONST_BITS, CR_G, CR_R, FIX, ONE_HALF, PASS1_BITS};
use std::arch::x86_64::*;

/// The reference's `idct_1d` on eight lanes at once (the same operations in the same order).
#[target_feature(enable = "avx2")]
fn idct_1d(v: [__m256i; 8]) -> [__m256i; 8] {
    let c = |k: i32| _mm256_set1_epi32(k);
    let (mul, add, sub) = (_mm256_mullo_epi32, _mm256_add_epi32, _mm256_sub_epi32);
    let (z2, z3) = (v[2], v[6]);
    let z1 = mul(add(z2, z3), c(FIX[0]));
    let tmp2 = add(z1, mul(z3, c(-FIX[1])));
    let tmp3 = add(z1, mul(z2, c(FIX[2])));
    let tmp0 = _mm256_slli_epi32::<{ CONST_BITS as i32 }>(add(v[0], v[4]));
    let tmp1 = _mm256_slli_epi32::<{ CONST_BITS as i32 }>(sub(v[0], v[4]));
    let (tmp10, tmp13, tmp11, tmp12) = (add(tmp0, tmp3), sub(tmp0, tmp3), add(tmp1, tmp2), sub(tmp1, tmp2));
    let (t0, t1, t2, t3) = (v[7], v[5], v[3], v[1]);
    let (z1, z2, z3, z4) = (add(t0, t3), add(t1, t2), add(t0, t2), add(t1, t3));
    let z5 = mul(add(z3, z4), c(FIX[3]));
    let t0 = mul(t0, c(FIX[4]));
    let t1 = mul(t1, c(FIX[5]));
    let t2 = mul(t2, c(FIX[6]));
    let t3 = mul(t3, c(FIX[7]));
    let z1 = mul(z1, c(-FIX[8]));
    let z2 = mul(z2, c(-FIX[9]));
    let z3 = add(mul(z3, c(-FIX[10])), z5);
    let z4 = add(mul(z4, c(-FIX[11])), z5);
    let t0 = add(t0, add(z1, z3));
    let t1 = add(t1, add(z2, z4));
    let t2 = add(t2, add(z2, z3));
    let t3 = add(t3, add(z1, z4));
    [
        add(tmp10, t3),
        add(tmp11, t2),
        add(tmp12, t1),
        add(tmp13, t0),
        sub(tmp13, t0),
        sub(tmp12, t1),
        sub(tmp11, t2),
        sub(tmp10, t3),
    ]
}

/// An 8x8 transpose of 32-bit lanes.
#[target_feature(enable = "avx2")]
fn transpose(r: [__m256i; 8]) -> [__m256i; 8] {
    let a0 = _mm256_unpacklo_epi32(r[0], r[1]);
    let a1 = _mm256_unpackhi_epi32(r[0], r[1]);
    let a2 = _mm256_unpacklo_epi32(r[2], r[3]);
    let a3 = _mm256_unpackhi_epi32(r[2], r[3]);
    let a4 = _mm256_unpacklo_epi32(r[4], r[5]);
    let a5 = _mm256_unpackhi_epi32(r[4], r[5]);
    let a6 = _mm256_unpacklo_epi32(r[6], r[7]);
    let a7 = _mm256_unpackhi_epi32(r[6], r[7]);
    let b0 = _mm256_unpacklo_epi64(a0, a2);
    let b1 = _mm256_unpackhi_epi64(a0, a2);
    let b2 = _mm256_unpacklo_epi64(a1, a3);
    let b3 = _mm256_unpackhi_epi64(a1, a3);
    let b4 = _mm256_unpacklo_epi64(a4, a6);
    let b5 = _mm256_unpackhi_epi64(a4, a6);
    let b6 = _mm256_unpacklo_epi64(a5, a7);
    let b7 = _mm256_unpackhi_epi64(a5, a7);
    [
        _mm256_permute2x128_si256::<0x20>(b0, b4),
        _mm256_permute2x128_si256::<0x20>(b1, b5),
        _mm256_permute2x128_si256::<0x20>(b2, b6),
        _mm256_permute2x128_si256::<0x20>(b3, b7),
        _mm256_permute2x128_si256::<0x31>(b0, b4),
        _mm256_permute2x128_si256::<0x31>(b1, b5),
        _mm256_permute2x128_si256::<0x31>(b2, b6),
        _mm256_permute2x128_si256::<0x31>(b3, b7),
    ]
}

/// One block: columns (lanes are columns), transpose, rows (lanes are rows), transpose back,
/// then each row's eight samples shifted by 128, saturated to 0..=255 and stored.
///
/// # Safety
/// AVX2; `out` valid for rows 0..8 of 8 bytes at stride `stride`.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn idct_islow(coef: &[i32; BLOCK], out: *mut u8, stride: usize) {
    // SAFETY: `coef` holds 8 rows of 8 i32; `out` as the contract states.
    unsafe {
        let rows: [__m256i; 8] = std::array::from_fn(|r| _mm256_loadu_si256(coef.as_ptr().add(r * 8).cast()));
        let round1 = _mm256_set1_epi32(1 << (CONST_BITS - PASS1_BITS - 1));
        let ws = idct_1d(rows)
            .map(|x| _mm256_srai_epi32::<{ (CONST_BITS - PASS1_BITS) as i32 }>(_mm256_add_epi32(x, round1)));
        let round2 = _mm256_set1_epi32(1 << (CONST_BITS + PASS1_BITS + 3 - 1));
        let cols = idct_1d(transpose(ws))
            .map(|x| _mm256_srai_epi32::<{ (CONST_BITS + PASS1_BITS + 3) as i32 }>(_mm256_add_epi32(x, round2)));
        let (center, lo, hi) = (_mm256_set1_epi32(128), _mm256_setzero_si256(), _mm256_set1_epi32(255));
        // The low byte of each lane, four per 128-bit half.
        let bytes = _mm256_setr_epi8(
            0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1,
            -1, -1, -1, -1,
        );
        for (r, row) in transpose(cols).into_iter().enumerate() {
            let v = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(row, center), lo), hi);
            let b = _mm256_shuffle_epi8(v, bytes);
            let lo4 = _mm_cvtsi128_si32(_mm256_castsi256_si128(b)) as u32 as u64;
            let hi4 = _mm_cvtsi128_si32(_mm256_extracti128_si256::<1>(b)) as u32 as u64;
            std::ptr::write_unaligned(out.add(r * stride).cast::<u64>(), (lo4 | (hi4 << 32)).to_le());
        }
    }
}

/// Converts whole groups of eight pixels while a 16-byte store of each half still fits in
/// `rgb`; returns how many pixels it converted (the caller does the rest).
///
/// # Safety
/// AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn ycc_to_rgb(y: &[u8], cb: &[u8], cr: &[u8], rgb: &mut [u8]) -> usize {
    let n = y.len().min(cb.len()).min(cr.len());
    let c = |k: i32| _mm256_set1_epi32(k);
    let (half, lo, hi) = (c(ONE_HALF), _mm256_setzero_si256(), c(255));
    // Bytes R, G, B of each lane's 0x00BBGGRR, twelve per 128-bit half.
    let pack = _mm256_setr_epi8(
        0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1, 0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1,
    );
    let mut i = 0;
    // Each step stores 16 bytes at 3 i and at 3 i + 12.
    while i + 8 <= n && 3 * i + 28 <= rgb.len() {
        // SAFETY: 8 bytes of y, cb and cr from i are inside (i + 8 <= n); the two stores end at
        // 3 i + 28 <= rgb.len().
        unsafe {
            let load = |s: &[u8]| _mm256_cvtepu8_epi32(_mm_loadl_epi64(s.as_ptr().add(i).cast()));
            let (yv, cbv, crv) = (load(y), _mm256_sub_epi32(load(cb), c(128)), _mm256_sub_epi32(load(cr), c(128)));
            let r =
                _mm256_add_epi32(yv, _mm256_srai_epi32::<16>(_mm256_add_epi32(_mm256_mullo_epi32(crv, c(CR_R)), half)));
            let g_sum = _mm256_sub_epi32(
                _mm256_add_epi32(_mm256_mullo_epi32(cbv, c(-CB_G)), half),
                _mm256_mullo_epi32(crv, c(CR_G)),
            );
            let g = _mm256_add_epi32(yv, _mm256_srai_epi32::<16>(g_sum));
            let b =
                _mm256_add_epi32(yv, _mm256_srai_epi32::<16>(_mm256_add_epi32(_mm256_mullo_epi32(cbv, c(CB_B)), half)));
            let clamp = |v| _mm256_min_epi32(_mm256_max_epi32(v, lo), hi);
            let px = _mm256_or_si256(
                clamp(r),
                _mm256_or_si256(_mm256_slli_epi32::<8>(clamp(g)), _mm256_slli_epi32::<16>(clamp(b))),
            );
            let packed = _mm256_shuffle_epi8(px, pack);
            let dst = rgb.as_mut_ptr().add(3 * i);
            _mm_storeu_si128(dst.cast(), _mm256_castsi256_si128(packed));
            _mm_storeu_si128(dst.add(12).cast(), _mm256_extracti128_si256::<1>(packed));
        }
        i += 8;
    }
    i
}
