//! Integer matrix multiply for pointwise convs and fully connected layers:
//! `out[m][n] = stage(requant[n](bias[n] + sum_k (a[m][k] - za) * w[k][n]))` with u8 activations,
//! i16 weights (zero point removed) and i32 accumulation; the input zero point is folded into the
//! bias at packing time (`bias - za * sum_k w[k][n]`), which is exact in integers.
//!
//! Weights that span at most 256 values are also packed in quads of k for AVX-512 VNNI, whose
//! `vpdpbusd` multiplies u8 activations by i8 weights four at a time straight from the activation
//! rows (no widening). int8 weights (symmetric, zero point 0) go as they are; uint8 ones minus
//! their zero point (in -255..=255, but spanning 256 values) go shifted by a constant `o` into
//! i8, and `o * sum_k a[m][k]` is added back per row: `sum a w = sum a (w - o) + o sum a`.

use super::requant_vec::{RequantVec, requantize};
use super::{OutputStage, Requant, i8_shift, vnni_slot};
use crate::Isa;
use crate::aligned::AlignedVec;

/// Output columns per packed panel.
pub const NR: usize = 16;
/// Rows per register tile.
pub const MR: usize = 4;

/// Weights packed for the tile: per panel of 16 columns and pair of k rows, 32 i16 values
/// `[k0 c0, k1 c0, k0 c1, k1 c1, ... c15]`, zero-padded in k (to even) and n.
#[derive(Debug, Clone)]
pub struct QPackedB {
    k: usize,
    n: usize,
    pairs: usize,
    data: AlignedVec<i16>,
    /// bias with the input zero point folded in, padded to panels
    bias: Vec<i32>,
    requant: RequantVec,
    stage: OutputStage,
    /// The VNNI layout instead of `data`, where it serves.
    vnni: Option<VnniPack>,
}

/// The weights as i8 quads for VNNI (see the module comment), with bias and requantization in
/// the same column order: panels and slots of [`vnni_slot`].
#[derive(Debug, Clone)]
pub(crate) struct VnniPack {
    /// Per panel and quad of k rows, 64 bytes `[k0 c0, k1 c0, k2 c0, k3 c0, k0 c1, ... k3 c15]`
    /// of `w - offset`, zero-padded in n.
    pub quads: AlignedVec<i8>,
    pub offset: i32,
    /// `bias` by slot (`panel * 16 + slot`), and each panel's requantization constants.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // read by the x86-64 kernel only
    pub bias: Vec<i32>,
    #[cfg(target_arch = "x86_64")]
    pub params: Vec<super::requant_vec::avx512::Params16>,
}

impl QPackedB {
    /// `w(kk, j)` is weight row kk (input channel), column j (output channel), zero point removed;
    /// packed for calls at `isa` (the VNNI layout where that level has it).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        isa: Isa,
        k: usize,
        n: usize,
        w: impl Fn(usize, usize) -> i16,
        bias: &[i32],
        input_zero_point: i32,
        requant: Vec<Requant>,
        stage: OutputStage,
    ) -> QPackedB {
        assert!(bias.len() == n && requant.len() == n, "bias and requant per output channel");
        let pairs = k.div_ceil(2);
        let panels = n.div_ceil(NR);
        let mut folded = vec![0i32; panels * NR];
        let (mut lo, mut hi) = (0i32, 0i32);
        for (j, f) in folded.iter_mut().enumerate().take(n) {
            let mut sum = 0i32;
            for kk in 0..k {
                let v = w(kk, j) as i32;
                (sum, lo, hi) = (sum + v, lo.min(v), hi.max(v));
            }
            *f = bias[j].wrapping_sub(input_zero_point.wrapping_mul(sum));
        }
        let shift = i8_shift(lo, hi).filter(|_| k.is_multiple_of(4) && isa.has(Isa::Avx512Vnni));
        // One layout only: the VNNI quads where they serve, else the 16-bit pairs.
        let mut data = AlignedVec::zeroed(0);
        let vnni = match shift {
            Some(offset) => Some(VnniPack::new(k, n, &w, offset, &folded, &requant, stage)),
            None => {
                data = AlignedVec::zeroed(panels * pairs * 2 * NR);
                for j in 0..n {
                    let (p, c) = (j / NR, j % NR);
                    for kk in 0..k {
                        data[(p * pairs + kk / 2) * 2 * NR + 2 * c + kk % 2] = w(kk, j);
                    }
                }
                None
            }
        };
        let requant = RequantVec::new(&requant);
        QPackedB { k, n, pairs, data, bias: folded, requant, stage, vnni }
    }
    pub fn k(&self) -> usize {
        self.k
    }
    pub fn n(&self) -> usize {
        self.n
    }
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // the SIMD tiles' view
    fn panel(&self, p: usize) -> &[i16] {
        &self.data[p * self.pairs * 2 * NR..(p + 1) * self.pairs * 2 * NR]
    }
    /// Weight row `kk`, column `j` (zero point removed), from whichever layout is packed (for
    /// the portable tile).
    fn weight(&self, kk: usize, j: usize) -> i32 {
        match &self.vnni {
            None => self.data[(j / NR * self.pairs + kk / 2) * 2 * NR + 2 * (j % NR) + kk % 2] as i32,
            Some(v) => {
                let (p, c) = vnni_slot(j, self.n);
                v.quads[(p * (self.k / 4) + kk / 4) * 4 * NR + 4 * c + kk % 4] as i32 + v.offset
            }
        }
    }
}

impl VnniPack {
    fn new(
        k: usize,
        n: usize,
        w: &impl Fn(usize, usize) -> i16,
        offset: i32,
        bias: &[i32],
        requant: &[Requant],
        stage: OutputStage,
    ) -> VnniPack {
        let quads = k / 4;
        let mut q = AlignedVec::zeroed(n.div_ceil(NR) * quads * 4 * NR);
        let mut slot_bias = vec![0i32; bias.len()];
        let mut slot_requant = requant.to_vec();
        for j in 0..n {
            let (p, c) = vnni_slot(j, n);
            for kk in 0..k {
                q[(p * quads + kk / 4) * 4 * NR + 4 * c + kk % 4] = (w(kk, j) as i32 - offset) as i8;
            }
            slot_bias[p * NR + c] = bias[j];
            slot_requant[p * NR + c] = requant[j];
        }
        let slot_requant = RequantVec::new(&slot_requant);
        let _ = (&slot_requant, stage); // read by the x86-64 constants only
        VnniPack {
            quads: q,
            offset,
            bias: slot_bias,
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the VNNI layout is packed only where the CPU has AVX-512 VNNI (so AVX-512F);
            // the requantization is padded to whole groups of 16.
            params: (0..n.div_ceil(NR))
                .map(|p| unsafe {
                    super::requant_vec::avx512::Params16::load(&slot_requant, p * NR, stage)
                })
                .collect(),
        }
    }
}

impl QPackedB {
    /// Whether [`qgemm_columns`] can compute products with these weights a range of columns at a
    /// time on `isa` (the VNNI layout).
    pub fn by_columns(&self, isa: Isa) -> bool {
        #[cfg(target_arch = "x86_64")]
        return {
            let _ = isa;
            self.vnni.is_some()
        };
        #[cfg(not(target_arch = "x86_64"))]
        return {
            let _ = isa;
            false
        };
    }
}

/// Columns `first..first + out.len()` of the product of the single row `a` (1 x k) with `b`:
/// the same bytes as those columns of [`qgemm`], so workers can share a one-row product (the
/// classifier) by columns. `first` must be a multiple of 64 (the VNNI layout's column groups)
/// and [`QPackedB::by_columns`] true.
pub fn qgemm_columns(a: &[u8], b: &QPackedB, first: usize, out: &mut [u8]) {
    assert!(a.len() == b.k && first.is_multiple_of(64) && first + out.len() <= b.n, "one row, columns in range");
    #[cfg(target_arch = "x86_64")]
    vnni::qgemm_columns(a, b, first, out);
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("by_columns is false here");
}

/// The levels the int8 GEMM has its own code for: 16-bit pair tiles (AVX2), two-panel zmm
/// tiles (AVX-512), the `vpdpbusd` layout (VNNI, chosen when the weights are packed).
pub const VARIANTS: [Isa; 4] = [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Avx512Vnni];

/// `out` (m x n) from `a` (m x k), all row-major u8.
pub fn qgemm(isa: Isa, a: &[u8], b: &QPackedB, out: &mut [u8]) {
    let isa = isa.or_scalar();
    let (k, n) = (b.k, b.n);
    let m = out.len() / n.max(1);
    assert_eq!(out.len(), m * n, "output is not a whole number of rows");
    assert_eq!(a.len(), m * k, "A has {} elements, expected {m}x{k}", a.len());
    #[cfg(target_arch = "x86_64")]
    // The VNNI layout is packed only for a CPU that has VNNI (see QPackedB::new).
    if b.vnni.is_some() {
        vnni::qgemm(a, m, b, out);
        return;
    }
    // Row tiles outside, panels inside: each tile's activations are widened once into 16-bit
    // pairs (one 32-bit word per two k), which the SIMD tile broadcasts straight from memory.
    let pairs = k.div_ceil(2);
    let widen = isa.has(Isa::Avx2) && pairs <= MAX_PAIRS;
    let mut words = [[0i32; MAX_PAIRS]; MR];
    for r0 in (0..m).step_by(MR) {
        let rows = MR.min(m - r0);
        let a_rows = &a[r0 * k..(r0 + rows) * k];
        if widen {
            for (i, w) in words.iter_mut().enumerate().take(rows) {
                widen_pairs(isa, &a_rows[i * k..(i + 1) * k], &mut w[..pairs]);
            }
        }
        #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))] // advanced by the x86-64 paths only
        let mut p = 0;
        #[cfg(target_arch = "x86_64")]
        if widen && isa.has(Isa::Avx512) {
            // Two full panels per tile in zmm registers, requantized in registers.
            while (p + 2) * NR <= n {
                let o = r0 * n + p * NR;
                assert!((r0 + rows - 1) * n + (p + 2) * NR <= out.len(), "tile outside the output");
                // SAFETY: AVX-512F/BW detected; `words` holds `pairs` words for `rows` rows, each
                // panel pairs*2*NR values, bias and requantization cover columns p*NR..(p+2)*NR,
                // and the tile's rows lie inside `out` (asserted).
                unsafe {
                    avx512::tile2(
                        &words,
                        rows,
                        pairs,
                        [b.panel(p), b.panel(p + 1)],
                        b,
                        p * NR,
                        out[o..].as_mut_ptr(),
                        n,
                    )
                };
                p += 2;
            }
        }
        for p in p..n.div_ceil(NR) {
            let cols = NR.min(n - p * NR);
            let mut acc = [[0i32; NR]; MR];
            #[cfg(target_arch = "x86_64")]
            if widen && (cols == NR || cols == NR / 2) {
                let o = r0 * n + p * NR;
                assert!((r0 + rows - 1) * n + p * NR + cols <= out.len(), "tile outside the output");
                // SAFETY: widen only when the CPU has AVX2 (isa.has above); `words` holds `pairs`
                // words for each of `rows` rows, the panel pairs*2*NR values, bias and
                // requantization columns p*NR..(p+1)*NR, and the tile's rows lie inside `out`.
                unsafe { avx2::tile_requant(&words, rows, pairs, b, (p, cols), out[o..].as_mut_ptr(), n) };
                continue;
            }
            match isa {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: widen only when the CPU has AVX2 (isa.has above); `words` holds `pairs`
                // words for each of `rows` rows and the panel pairs*2*NR values.
                _ if widen => unsafe { avx2::tile_words(&words, rows, pairs, b.panel(p), &mut acc) },
                _ => tile_portable(a_rows, rows, k, b, p, &mut acc),
            }
            for (i, row) in acc.iter_mut().enumerate().take(rows) {
                for (v, &bv) in row.iter_mut().zip(&b.bias[p * NR..(p + 1) * NR]) {
                    *v = v.wrapping_add(bv);
                }
                let o = (r0 + i) * n + p * NR;
                requantize(isa, &row[..cols], &b.requant, p * NR, b.stage, &mut out[o..o + cols]);
            }
        }
    }
}

/// `words[kp] = row[2 kp] | row[2 kp + 1] << 16` (0 past the end of an odd row).
fn widen_pairs(isa: Isa, row: &[u8], words: &mut [i32]) {
    #[cfg(not(target_arch = "x86_64"))]
    let _ = isa;
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))] // advanced by the x86-64 paths only
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if isa.has(Isa::Avx512) {
        // Zero-extending 32 bytes to 16-bit lanes lays them out exactly as 16 such words.
        // SAFETY: AVX-512BW detected; each step reads 32 bytes below row.len() and writes 16
        // words below words.len().
        unsafe {
            use std::arch::x86_64::*;
            /// Widens 32 bytes at `src` into 16 words of byte pairs at `dst`.
            ///
            /// # Safety
            /// The CPU must have AVX-512F and BW; `src` readable for 32 bytes, `dst` writable for 16 words.
            #[target_feature(enable = "avx512f,avx512bw")]
            unsafe fn step(src: *const u8, dst: *mut i32) {
                // SAFETY: the caller upholds this function's `# Safety` contract.
                unsafe {
                    _mm512_storeu_si512(dst as *mut _, _mm512_cvtepu8_epi16(_mm256_loadu_si256(src as *const __m256i)))
                }
            }
            while 2 * done + 32 <= row.len() && done + 16 <= words.len() {
                step(row.as_ptr().add(2 * done), words.as_mut_ptr().add(done));
                done += 16;
            }
        }
    }
    for (kp, word) in words.iter_mut().enumerate().skip(done) {
        let lo = row[2 * kp] as i32;
        let hi = row.get(2 * kp + 1).map_or(0, |&v| v as i32);
        *word = lo | (hi << 16);
    }
}

/// Most k pairs (k up to 2048) the widened path holds on the stack.
const MAX_PAIRS: usize = 1024;

/// acc[i][c] = sum_k a[i][k] * w[k][c] (zero point folded elsewhere).
fn tile_portable(a: &[u8], rows: usize, k: usize, b: &QPackedB, p: usize, acc: &mut [[i32; NR]; MR]) {
    for (i, acc_row) in acc.iter_mut().enumerate().take(rows) {
        let a_row = &a[i * k..(i + 1) * k];
        for (kk, &av) in a_row.iter().enumerate() {
            for (c, v) in acc_row.iter_mut().enumerate() {
                *v += av as i32 * b.weight(kk, p * NR + c);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
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
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::super::requant_vec::avx512::{Params16, requant16};
    use super::{MAX_PAIRS, MR, NR, QPackedB};
    use std::arch::x86_64::*;

    /// Two panels (32 columns) x `rows` rows: `vpmaddwd` over the widened activation pairs into
    /// 16-lane accumulators starting at the folded bias, then requantized in registers and stored
    /// as bytes. Integer sums in any order are the same sums, so this equals the other tiles.
    ///
    /// # Safety
    /// AVX-512F and BW; `words[i]` holds `pairs` words for `i < rows`; each panel holds
    /// `pairs * 2 * NR` values; columns `col0..col0 + 32` exist in `b`; `out` is valid for `rows`
    /// rows of 32 bytes at stride `ld`.
    #[target_feature(enable = "avx512f,avx512bw")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn tile2(
        words: &[[i32; MAX_PAIRS]; MR],
        rows: usize,
        pairs: usize,
        panels: [&[i16]; 2],
        b: &QPackedB,
        col0: usize,
        out: *mut u8,
        ld: usize,
    ) {
        // SAFETY: the caller upholds this function's `# Safety` contract.
        unsafe {
            match rows {
                4 => rows2::<4>(words, pairs, panels, b, col0, out, ld),
                3 => rows2::<3>(words, pairs, panels, b, col0, out, ld),
                2 => rows2::<2>(words, pairs, panels, b, col0, out, ld),
                1 => rows2::<1>(words, pairs, panels, b, col0, out, ld),
                _ => {}
            }
        }
    }

    /// # Safety
    /// The CPU must have AVX-512F and BW; the pointers valid for the rows, pairs and panels the caller
    /// passes.
    #[target_feature(enable = "avx512f,avx512bw")]
    #[inline]
    unsafe fn rows2<const R: usize>(
        words: &[[i32; MAX_PAIRS]; MR],
        pairs: usize,
        panels: [&[i16]; 2],
        b: &QPackedB,
        col0: usize,
        out: *mut u8,
        ld: usize,
    ) {
        // SAFETY: the caller upholds this function's `# Safety` contract.
        unsafe {
            let (w0p, w1p) = (panels[0].as_ptr(), panels[1].as_ptr());
            let mut c0 = [_mm512_loadu_si512(b.bias.as_ptr().add(col0) as *const _); R];
            let mut c1 = [_mm512_loadu_si512(b.bias.as_ptr().add(col0 + NR) as *const _); R];
            for kp in 0..pairs {
                let w0 = _mm512_loadu_si512(w0p.add(kp * 2 * NR) as *const _);
                let w1 = _mm512_loadu_si512(w1p.add(kp * 2 * NR) as *const _);
                for i in 0..R {
                    let av = _mm512_set1_epi32(*words[i].get_unchecked(kp));
                    c0[i] = _mm512_add_epi32(c0[i], _mm512_madd_epi16(av, w0));
                    c1[i] = _mm512_add_epi32(c1[i], _mm512_madd_epi16(av, w1));
                }
            }
            let p0 = Params16::load(&b.requant, col0, b.stage);
            let p1 = Params16::load(&b.requant, col0 + NR, b.stage);
            for i in 0..R {
                _mm_storeu_si128(out.add(i * ld) as *mut __m128i, requant16(c0[i], &p0));
                _mm_storeu_si128(out.add(i * ld + NR) as *mut __m128i, requant16(c1[i], &p1));
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod vnni;

/// The textbook loop: `(a - za) * w` summed per output, bias, requantize, clamp.
pub fn qgemm_reference(
    a: &[u8],
    m: usize,
    w: &[i16],
    bias: &[i32],
    za: i32,
    requant: &[Requant],
    stage: OutputStage,
) -> Vec<u8> {
    let n = bias.len();
    let k = a.len() / m.max(1);
    let mut out = vec![0u8; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0i32;
            for kk in 0..k {
                acc += (a[i * k + kk] as i32 - za) * w[kk * n + j] as i32;
            }
            out[i * n + j] = stage.finish(requant[j].apply(acc + bias[j]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{Rng, quant_weights, rounding};

    #[test]
    fn matches_reference_exactly() {
        let mut seed = 0;
        for isa in Isa::all_available() {
            for m in [1, 3, 4, 5, 8, 9, 17, 49, 64, 97] {
                for k in [1, 2, 3, 4, 16, 17, 64, 96, 145, 148, 200] {
                    for n in [1, 8, 15, 16, 17, 32, 33, 48, 64, 96, 144] {
                        seed += 1;
                        let mut rng = Rng::new(seed);
                        let a: Vec<u8> = (0..m * k).map(|_| rng.next_u64() as u8).collect();
                        // int8, uint8 and wider weights in turn (VNNI takes the first two).
                        let w = quant_weights(&mut rng, k * n, seed);
                        let bias: Vec<i32> = (0..n).map(|_| (rng.next_u64() % 20001) as i32 - 10000).collect();
                        let requant: Vec<Requant> = (0..n)
                            .map(|_| {
                                Requant::with_rounding(0.0005 + (rng.next_u64() % 1000) as f64 * 1e-5, rounding(seed))
                            })
                            .collect();
                        let za = (rng.next_u64() % 256) as i32;
                        let stage = OutputStage::new((rng.next_u64() % 256) as i32, 0.05, seed % 2 == 0);
                        let packed = QPackedB::new(isa, k, n, |kk, j| w[kk * n + j], &bias, za, requant.clone(), stage);
                        let mut out = vec![0u8; m * n];
                        qgemm(isa, &a, &packed, &mut out);
                        let expect = qgemm_reference(&a, m, &w, &bias, za, &requant, stage);
                        assert_eq!(out, expect, "{isa:?} m={m} k={k} n={n}");
                    }
                }
            }
        }
    }

    /// A one-row product split by column ranges (whole groups of 64, any tail) equals the whole
    /// product, for weights with the VNNI layout (int8 and uint8 kinds, shifted or not).
    #[test]
    fn column_ranges_equal_the_whole_row() {
        let isa = Isa::detect();
        for (seed, (k, n)) in [(16, 64), (148, 130), (1280, 1001), (64, 40), (96, 200)].into_iter().enumerate() {
            for kind in 0..2u64 {
                let mut rng = Rng::new(seed as u64 * 7 + kind);
                let a: Vec<u8> = (0..k).map(|_| rng.next_u64() as u8).collect();
                let w = quant_weights(&mut rng, k * n, kind);
                let bias: Vec<i32> = (0..n).map(|_| (rng.next_u64() % 2001) as i32 - 1000).collect();
                let requant = vec![Requant::with_rounding(0.001, rounding(kind)); n];
                let stage = OutputStage::new(3, 0.05, false);
                let packed = QPackedB::new(isa, k, n, |kk, j| w[kk * n + j], &bias, 7, requant, stage);
                if !packed.by_columns(isa) {
                    continue; // no VNNI on this CPU: nothing to split
                }
                let mut whole = vec![0u8; n];
                qgemm(isa, &a, &packed, &mut whole);
                for step in [64, 128, 512] {
                    let mut parts = vec![0u8; n];
                    for (i, chunk) in parts.chunks_mut(step).enumerate() {
                        qgemm_columns(&a, &packed, i * step, chunk);
                    }
                    assert_eq!(parts, whole, "k={k} n={n} kind={kind} step={step}");
                }
            }
        }
    }
}
