//! The horizontal pass with AVX2: two output pixels per vector, one in each 128-bit half. A
//! pixel's window is read in chunks of up to five pixels (15 bytes), one 16-byte load per half;
//! per tap, `vpshufb` moves the tap's three bytes into the low bytes of three 32-bit lanes (the
//! same control for every pixel) and one `vpmulld` weighs both pixels.

use super::{Coeffs, PRECISION_BITS};
use std::arch::x86_64::*;

/// Pixels of a window one 16-byte load covers.
const CHUNK: usize = 5;
/// Bytes one load reads.
const LOAD: usize = 16;

/// One load per half and the weights of its taps: lanes 0..3 the first pixel's, 4..7 the second's.
struct Chunk {
    /// Byte offsets in the row of the two loads.
    at: [usize; 2],
    weights: [[i32; 8]; CHUNK],
}

/// The horizontal pass's tables for one input and output width, the same for every row.
pub(super) struct HorizontalPlan {
    in_row: usize,
    out_row: usize,
    /// Per pair of output pixels (the last may be a single one): its chunks.
    pairs: Vec<Vec<Chunk>>,
    /// The end of the furthest load from a row's start: where a row's loads stop.
    reach: usize,
}

impl HorizontalPlan {
    pub(super) fn new(c: &Coeffs, in_width: usize) -> HorizontalPlan {
        let out_w = c.start.len();
        let chunks = |x: usize| c.weights[x].len().div_ceil(CHUNK);
        let pairs: Vec<Vec<Chunk>> = (0..out_w)
            .step_by(2)
            .map(|x| {
                // A lone last pixel: the second half repeats its load with zero weights.
                let second = (x + 1 < out_w).then_some(x + 1);
                let n = chunks(x).max(second.map_or(0, chunks));
                (0..n)
                    .map(|j| {
                        let mut chunk = Chunk { at: [(c.start[x] + j * CHUNK) * 3; 2], weights: [[0; 8]; CHUNK] };
                        for (half, px) in [(0, Some(x)), (1, second)] {
                            let Some(px) = px else { continue };
                            chunk.at[half] = (c.start[px] + j * CHUNK) * 3;
                            for (t, lanes) in chunk.weights.iter_mut().enumerate() {
                                let w = c.weights[px].get(j * CHUNK + t).copied().unwrap_or(0);
                                lanes[half * 4..half * 4 + 3].fill(w);
                            }
                        }
                        chunk
                    })
                    .collect()
            })
            .collect();
        let reach = pairs.iter().flatten().map(|ch| ch.at[0].max(ch.at[1]) + LOAD).max().unwrap_or(0);
        HorizontalPlan { in_row: in_width * 3, out_row: out_w * 3, pairs, reach }
    }

    /// Whether every load of a row starting at `row` lies inside `len` bytes.
    pub(super) fn fits(&self, row: usize, len: usize) -> bool {
        row + self.reach <= len
    }

    /// Bytes from a row's start that its loads read.
    pub(super) fn reach(&self) -> usize {
        self.reach
    }
}

/// PIL's horizontal pass over the first `dst.len() / out_row` rows of `src` (rows of the plan's
/// input width) into `dst`; the last of those rows' loads must stay inside `src`
/// ([`HorizontalPlan::fits`]), which may hold more.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn horizontal(plan: &HorizontalPlan, src: &[u8], dst: &mut [u8]) {
    let rows = dst.len() / plan.out_row;
    assert!(dst.len() == rows * plan.out_row && src.len() >= rows * plan.in_row, "row sizes");
    assert!(rows == 0 || plan.fits((rows - 1) * plan.in_row, src.len()), "loads past the input");
    let round = _mm256_set1_epi32(1 << (PRECISION_BITS - 1));
    // Tap t of a chunk: bytes 3t, 3t+1, 3t+2 into lanes 0, 1, 2 of each half (-1: zero).
    let controls: [__m256i; CHUNK] = std::array::from_fn(|t| {
        let b = 3 * t as i8;
        #[rustfmt::skip]
        let half = _mm_setr_epi8(b, -1, -1, -1, b + 1, -1, -1, -1, b + 2, -1, -1, -1, -1, -1, -1, -1);
        _mm256_set_m128i(half, half)
    });
    for (r, dst_row) in dst.chunks_exact_mut(plan.out_row).enumerate() {
        let row = r * plan.in_row;
        for (p, chunks) in plan.pairs.iter().enumerate() {
            let mut acc = round;
            for ch in chunks {
                // SAFETY: the CPU has AVX2 (this function's contract); both loads end inside
                // `src` (the last row's furthest load was asserted above, earlier rows end
                // sooner); the weights are plain arrays.
                unsafe {
                    let lo = src.as_ptr().add(row + ch.at[0]).cast::<__m128i>();
                    let hi = src.as_ptr().add(row + ch.at[1]).cast::<__m128i>();
                    let bytes = _mm256_loadu2_m128i(hi, lo);
                    for (control, w) in controls.iter().zip(&ch.weights) {
                        let values = _mm256_shuffle_epi8(bytes, *control);
                        let w = _mm256_loadu_si256(w.as_ptr().cast());
                        acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(values, w));
                    }
                }
            }
            // PIL's clip8: the sum's integer part, clamped to 0..=255 by the two saturating packs;
            // each half's first three bytes are its pixel.
            let v = _mm256_srai_epi32::<{ PRECISION_BITS as i32 }>(acc);
            let packed = _mm256_packus_epi16(_mm256_packus_epi32(v, v), _mm256_setzero_si256());
            let first = _mm_cvtsi128_si32(_mm256_castsi256_si128(packed)).to_le_bytes();
            let second = _mm_cvtsi128_si32(_mm256_extracti128_si256::<1>(packed)).to_le_bytes();
            let out = &mut dst_row[p * 6..(p * 6 + 6).min(plan.out_row)];
            let both = [first[0], first[1], first[2], second[0], second[1], second[2]];
            out.copy_from_slice(&both[..out.len()]);
        }
    }
}
