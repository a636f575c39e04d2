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
    #[cfg_attr(not(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "wasm32")), allow(dead_code))] // the SIMD tiles' view
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

/// Adds panel `p`'s bias to the sums of a tile of rows from `r0` and requantizes them into
/// their place in `out`.
fn finish_tile(isa: Isa, acc: &mut [[i32; NR]], b: &QPackedB, (r0, p): (usize, usize), out: &mut [u8]) {
    let (n, cols) = (b.n, NR.min(b.n - p * NR));
    for (i, row) in acc.iter_mut().enumerate() {
        for (v, &bv) in row.iter_mut().zip(&b.bias[p * NR..(p + 1) * NR]) {
            *v = v.wrapping_add(bv);
        }
        let o = (r0 + i) * n + p * NR;
        requantize(isa, &row[..cols], &b.requant, p * NR, b.stage, &mut out[o..o + cols]);
    }
}

/// Row tile `r0..r0 + rows` (widened into `words`) of the whole pairs of panels, two panels per
/// tile in zmm registers, requantized in registers; returns the first panel left.
///
/// # Safety
/// The CPU must have AVX-512F and BW (the caller's `isa.has(Isa::Avx512)`).
#[cfg(target_arch = "x86_64")]
unsafe fn panel_pairs_avx512(
    words: &[[i32; MAX_PAIRS]; MR],
    (r0, rows): (usize, usize),
    pairs: usize,
    b: &QPackedB,
    out: &mut [u8],
) -> usize {
    assert!(pairs <= MAX_PAIRS && rows <= MR);
    let n = b.n;
    let mut p = 0;
    while (p + 2) * NR <= n {
        let o = r0 * n + p * NR;
        assert!((r0 + rows - 1) * n + (p + 2) * NR <= out.len(), "tile outside the output");
        // SAFETY: AVX-512F/BW (this function's contract); `words` holds `pairs` words for `rows` rows, each panel
        // pairs*2*NR values, bias and requantization cover columns p*NR..(p+2)*NR, and the
        // tile's rows lie inside `out` (asserted).
        unsafe { avx512::tile2(words, rows, pairs, [b.panel(p), b.panel(p + 1)], b, p * NR, out[o..].as_mut_ptr(), n) };
        p += 2;
    }
    p
}

/// The levels the int8 GEMM has its own code for: 16-bit pair tiles (AVX2), two-panel zmm
/// tiles (AVX-512), the `vpdpbusd` layout (VNNI, chosen when the weights are packed), 16-bit
/// pair tiles by widening multiply-adds (NEON), and by `i32x4.dot_i16x8_s` (SIMD128).
pub const VARIANTS: [Isa; 6] = [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Avx512Vnni, Isa::Neon, Isa::Simd128];

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
    let widen = (isa.has(Isa::Avx2) || isa.has(Isa::Simd128)) && pairs <= MAX_PAIRS;
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
            // SAFETY: `has` is true only for a level the CPU has: AVX-512F/BW.
            p = unsafe { panel_pairs_avx512(&words, (r0, rows), pairs, b, out) };
        }
        for p in p..n.div_ceil(NR) {
            #[cfg(target_arch = "x86_64")]
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
                #[cfg(target_arch = "aarch64")]
                // SAFETY: or_scalar() kept Neon only on an aarch64 CPU (which has NEON); a_rows
                // holds rows*k bytes and the panel pairs*2*NR values (the pair layout: no VNNI here).
                Isa::Neon => unsafe { neon::tile(a_rows, rows, k, b.panel(p), &mut acc) },
                #[cfg(target_arch = "wasm32")]
                // SAFETY: widen only when has(Simd128), a wasm32 build made for SIMD128; `words`
                // holds `pairs` words for each of `rows` rows and the panel pairs*2*NR values.
                _ if widen => unsafe { wasm::tile_words(&words, rows, pairs, b.panel(p), &mut acc) },
                _ => tile_portable(a_rows, rows, k, b, p, &mut acc),
            }
            finish_tile(isa, &mut acc[..rows], b, (r0, p), out);
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
mod avx2;

#[cfg(target_arch = "x86_64")]
mod avx512;

#[cfg(target_arch = "x86_64")]
mod vnni;

#[cfg(target_arch = "aarch64")]
mod neon;

#[cfg(target_arch = "wasm32")]
mod wasm;

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
mod tests;
