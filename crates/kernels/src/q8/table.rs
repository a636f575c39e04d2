//! A byte-to-byte table applied to a buffer (the input QUANTIZE of an integer model: one entry
//! per input byte value).

use crate::Isa;

/// The levels byte-table lookup has its own code for (`vpermb`, with the VNNI level's VBMI).
pub const VARIANTS: [Isa; 2] = [Isa::Scalar, Isa::Avx512Vnni];

/// `out[i] = table[input[i]]`.
pub fn map_bytes(isa: Isa, table: &[u8; 256], input: &[u8], out: &mut [u8]) {
    assert_eq!(input.len(), out.len(), "table lookup sizes");
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))] // advanced by the x86-64 path only
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if isa.has(Isa::Avx512Vnni) {
        // SAFETY: AVX-512F/BW/VBMI (part of the level, which the CPU has); both slices hold input.len() bytes.
        done = unsafe { map_vbmi(table, input, out) };
    }
    let _ = isa;
    for (o, &v) in out[done..].iter_mut().zip(&input[done..]) {
        *o = table[v as usize];
    }
}

/// Whole groups of 64: two `vpermt2b` over the table's halves, picked by each index's top bit.
///
/// # Safety
/// The CPU must have AVX-512F, BW and VBMI (the slices bound every access).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
unsafe fn map_vbmi(table: &[u8; 256], input: &[u8], out: &mut [u8]) -> usize {
    use std::arch::x86_64::*;
    let n = input.len() / 64 * 64;
    // SAFETY: the table holds 4 x 64 bytes; i + 64 <= n <= both lengths.
    unsafe {
        let t: [__m512i; 4] = [0, 1, 2, 3].map(|q| _mm512_loadu_si512(table.as_ptr().add(64 * q) as *const _));
        for i in (0..n).step_by(64) {
            let x = _mm512_loadu_si512(input.as_ptr().add(i) as *const _);
            let low = _mm512_permutex2var_epi8(t[0], x, t[1]);
            let high = _mm512_permutex2var_epi8(t[2], x, t[3]);
            let y = _mm512_mask_blend_epi8(_mm512_movepi8_mask(x), low, high);
            _mm512_storeu_si512(out.as_mut_ptr().add(i) as *mut _, y);
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    #[test]
    fn simd_equals_the_table() {
        let mut rng = Rng::new(3);
        let table: [u8; 256] = std::array::from_fn(|_| rng.next_u64() as u8);
        for n in [0, 1, 63, 64, 65, 200, 1000] {
            let input: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            let expect: Vec<u8> = input.iter().map(|&v| table[v as usize]).collect();
            for isa in Isa::all_available() {
                let mut out = vec![0u8; n];
                map_bytes(isa, &table, &input, &mut out);
                assert_eq!(out, expect, "{isa:?} n={n}");
            }
        }
    }
}
