//! The horizontal pass with AVX-512 VBMI: up to five adjacent output pixels (15 of a vector's 16
//! `i32` lanes) whose windows lie in one 64-byte load; per tap, `vpermb` moves each lane's input
//! byte into place and one `vpmulld` weighs them all.

use super::{Coeffs, PRECISION_BITS};
use std::arch::x86_64::*;

/// Output pixels per vector at most (three lanes each).
const GROUP: usize = 5;
/// Bytes one load brings in: a group's windows together span at most this many.
const LOAD: usize = 64;

/// One group of adjacent output pixels.
struct Group {
    /// First input byte of the group's windows, and how many bytes they span (<= [`LOAD`]).
    load: usize,
    span: usize,
    /// First output byte, and the output bytes (three per pixel).
    out: usize,
    lanes: usize,
    /// The group's taps: `taps` entries of the plan's tables from `first`.
    first: usize,
    taps: usize,
}

/// The horizontal pass's tables for one input and output width, the same for every row.
pub(super) struct HorizontalPlan {
    in_row: usize,
    out_row: usize,
    groups: Vec<Group>,
    /// Per tap of a group: for each lane (pixel, channel), the byte it reads, counted from the
    /// group's load (0 where the pixel's window has no such tap, whose weight is then 0).
    index: Vec<[u8; 16]>,
    /// Per tap of a group: each lane's weight.
    weight: Vec<[i32; 16]>,
}

impl HorizontalPlan {
    /// The plan for rows `in_width` pixels wide, or None where one window is too wide for a load
    /// (shrinking by more than about 10x).
    pub(super) fn new(c: &Coeffs, in_width: usize) -> Option<HorizontalPlan> {
        let end = |x: usize| c.start[x] + c.weights[x].len();
        let mut plan = HorizontalPlan {
            in_row: in_width * 3,
            out_row: c.start.len() * 3,
            groups: Vec::new(),
            index: Vec::new(),
            weight: Vec::new(),
        };
        let mut x0 = 0;
        while x0 < c.start.len() {
            let first_px = c.start[x0];
            if (end(x0) - first_px) * 3 > LOAD {
                return None;
            }
            // Widen the group while its windows still fit one load.
            let (mut x1, mut last) = (x0 + 1, end(x0));
            while x1 < c.start.len()
                && x1 - x0 < GROUP
                && c.start[x1] >= first_px
                && (last.max(end(x1)) - first_px) * 3 <= LOAD
            {
                last = last.max(end(x1));
                x1 += 1;
            }
            let span_px = last - first_px;
            let taps = (x0..x1).map(|x| c.weights[x].len()).max().unwrap_or(0);
            plan.groups.push(Group {
                load: first_px * 3,
                span: span_px * 3,
                out: x0 * 3,
                lanes: (x1 - x0) * 3,
                first: plan.index.len(),
                taps,
            });
            for k in 0..taps {
                let (mut index, mut weight) = ([0u8; 16], [0i32; 16]);
                for (p, x) in (x0..x1).enumerate() {
                    if let Some(&w) = c.weights[x].get(k) {
                        for ch in 0..3 {
                            index[p * 3 + ch] = ((c.start[x] + k - first_px) * 3 + ch) as u8;
                            weight[p * 3 + ch] = w;
                        }
                    }
                }
                plan.index.push(index);
                plan.weight.push(weight);
            }
            x0 = x1;
        }
        Some(plan)
    }
}

/// PIL's horizontal pass over every row of `src` (rows of the plan's input width) into `dst`.
///
/// # Safety
/// The CPU must have AVX-512 F, BW, VL and VBMI.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vbmi")]
pub(super) unsafe fn horizontal(plan: &HorizontalPlan, src: &[u8], dst: &mut [u8]) {
    let rows = src.len() / plan.in_row;
    assert!(src.len() == rows * plan.in_row && dst.len() == rows * plan.out_row, "row sizes");
    // Once for every row: each group's load and store lie inside a row, its taps inside the tables.
    for g in &plan.groups {
        assert!(g.load + g.span <= plan.in_row && g.out + g.lanes <= plan.out_row, "group outside the row");
        assert!(g.first + g.taps <= plan.index.len().min(plan.weight.len()), "taps outside the tables");
    }
    let round = _mm512_set1_epi32(1 << (PRECISION_BITS - 1));
    // The low byte of each 32-bit lane receives its input byte; the others stay zero.
    let low_bytes: __mmask64 = 0x1111_1111_1111_1111;
    for (src_row, dst_row) in src.chunks_exact(plan.in_row).zip(dst.chunks_exact_mut(plan.out_row)) {
        for g in &plan.groups {
            let load_mask = if g.span >= LOAD { u64::MAX } else { (1u64 << g.span) - 1 };
            // SAFETY: the CPU has the features (this function's contract); the masked load reads
            // only the span's bytes, inside the row, and the masked store writes only the
            // group's lanes, inside the output row; the tables hold `taps` entries from `first`
            // (all asserted above).
            unsafe {
                let bytes = _mm512_maskz_loadu_epi8(load_mask, src_row.as_ptr().add(g.load).cast());
                let mut acc = round;
                for t in g.first..g.first + g.taps {
                    let index = _mm512_cvtepu8_epi32(_mm_loadu_si128(plan.index.get_unchecked(t).as_ptr().cast()));
                    let weight = _mm512_loadu_si512(plan.weight.get_unchecked(t).as_ptr().cast());
                    let values = _mm512_maskz_permutexvar_epi8(low_bytes, index, bytes);
                    acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(values, weight));
                }
                // PIL's clip8: the sum's integer part, clamped to 0..=255.
                let v = _mm512_max_epi32(_mm512_srai_epi32::<{ PRECISION_BITS }>(acc), _mm512_setzero_si512());
                let lanes_mask = ((1u32 << g.lanes) - 1) as __mmask16;
                _mm_mask_storeu_epi8(dst_row.as_mut_ptr().add(g.out).cast(), lanes_mask, _mm512_cvtusepi32_epi8(v));
            }
        }
    }
}
