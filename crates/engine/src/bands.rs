//! How a fused inverted residual walks its output rows (paper section 5.1), whatever the element
//! type: bands of output rows, each reading a ring window of expanded input rows, so a block
//! needs its input, its output and this scratch — never the whole expanded tensor.

use crate::fused::{BlockKernels, FusedBlock};
use crate::threads::Threads;
use mnv2_kernels::aligned::{AlignedVec, Zeroable};
use mnv2_kernels::dwconv::DwShape;
use std::ops::Range;
use std::sync::Mutex;

/// Elements of scratch (window + band) one worker may always use; larger where the block's output
/// buffer has room to spare (see [`plan_scratch`]). With it alone, a 1.0-224 block needs no more
/// than its input, its output and 160 KB in fp32 (40 KB in int8).
pub(crate) const SCRATCH_BUDGET: usize = 40_000;

/// One step of a walk: expand input `rows` into the ring from `slot` on, or compute a band.
pub(crate) enum BandWork {
    Expand { rows: Range<usize>, slot: usize },
    Band(Range<usize>),
}

/// The band height and ring size of one block.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bands {
    shape: DwShape,
    expands: bool,
    /// Output rows per band.
    band: usize,
    /// Input rows the ring holds (what one band reads).
    window_rows: usize,
}

impl Bands {
    /// The tallest bands up to `pixels` output pixels whose scratch fits `budget` elements (one
    /// row at least).
    pub fn fit(shape: DwShape, expands: bool, pixels: usize, budget: usize) -> Bands {
        let (_, oh, _, ow) = shape.geometry();
        let mut b = Bands { shape, expands, band: pixels.div_ceil(ow.max(1)).clamp(1, oh.max(1)), window_rows: 0 };
        loop {
            b.window_rows = ((b.band - 1) * shape.stride + 2 * shape.dilation + 1).min(shape.in_h);
            if b.band == 1 || b.scratch_len() <= budget {
                return b;
            }
            b.band -= 1;
        }
    }

    /// Elements of the tail [`run_whole`] needs with `workers` workers: the whole expanded tensor
    /// (if the block expands) and, per worker, a band of depthwise output on whole cache lines.
    pub fn whole_len<T>(&self, workers: usize) -> usize {
        self.expanded_len() + workers * self.band_len::<T>()
    }

    /// Elements of the whole expanded tensor (none without an expansion).
    fn expanded_len(&self) -> usize {
        let s = &self.shape;
        if self.expands { s.in_h * s.in_w * s.channels } else { 0 }
    }

    /// Elements of one band of depthwise output, on whole cache lines.
    fn band_len<T>(&self) -> usize {
        let (_, _, _, ow) = self.shape.geometry();
        (self.band * ow * self.shape.channels).next_multiple_of(line::<T>())
    }

    /// Elements of scratch one worker needs: the expanded window and a band of depthwise output.
    pub fn scratch_len(&self) -> usize {
        let (_, _, _, ow) = self.shape.geometry();
        self.window_len() + self.band * ow * self.shape.channels
    }

    /// Elements of the ring of expanded rows (none without an expansion).
    fn window_len(&self) -> usize {
        if self.expands { self.window_rows * self.shape.in_w * self.shape.channels } else { 0 }
    }

    /// Splits a worker's scratch into the ring window and the depthwise band.
    pub fn split<'a, T>(&self, scratch: &'a mut [T]) -> (&'a mut [T], &'a mut [T]) {
        scratch.split_at_mut(self.window_len())
    }

    /// Walks output `rows`: for each band, first the input rows to expand into the ring (row iy
    /// in slot iy % window_rows; rows above the band leave it), then the band itself.
    pub fn walk(&self, rows: Range<usize>, mut f: impl FnMut(BandWork)) {
        let (mut win_lo, mut win_n) = (0usize, 0usize);
        let mut start = rows.start;
        while start < rows.end {
            let band = start..(start + self.band).min(rows.end);
            if self.expands {
                let (need_lo, need_hi) = self.shape.input_rows(&band);
                if win_n > 0 && win_lo < need_lo {
                    let drop = (need_lo - win_lo).min(win_n);
                    win_lo += drop;
                    win_n -= drop;
                }
                if win_n == 0 {
                    win_lo = need_lo;
                }
                let mut from = win_lo + win_n;
                while from <= need_hi {
                    // A run of rows up to the ring's end.
                    let slot = from % self.window_rows;
                    let n = (need_hi + 1 - from).min(self.window_rows - slot);
                    f(BandWork::Expand { rows: from..from + n, slot });
                    (from, win_n) = (from + n, win_n + n);
                }
            }
            start = band.end;
            f(BandWork::Band(band));
        }
    }
}

/// Elements of one cache line, the alignment each task's scratch in an output buffer's tail gets.
fn line<T>() -> usize {
    (64 / size_of::<T>()).max(1)
}

/// The expansion of a block for [`run_whole`]: its GEMM's `k` and `n`, and `f(pixels, out)`
/// expanding whole input pixels (`k` values each) into `out` (`n` each).
pub(crate) type WholeExpand<'a, T> = (usize, usize, &'a (dyn Fn(&[T], &mut [T]) + Sync));

/// A whole block of one image on `th`'s workers in two parallel steps, with the whole expanded
/// tensor in `tail` (at least [`Bands::whole_len`] elements): `expand`, split by pixels; then
/// `band(rows, row0, src, out, dband)` band by band, split by output rows, where `src` is the
/// expanded tensor (or `x` without an expansion), `out` the worker's output rows from `row0` on
/// and `dband` its band buffer. For small maps, where splitting bands alone would have each
/// worker expand the rows at its boundary again (a 7-row map split 4 + 3 expands 9 rows). The
/// arithmetic of each value is that of [`run_rows`], so the results are the same.
pub(crate) fn run_whole<T: Send + Sync>(
    th: &Threads,
    bands: &Bands,
    (x, out, tail): (&[T], &mut [T], &mut [T]),
    out_row: usize,
    expand: Option<WholeExpand<'_, T>>,
    band: impl Fn(Range<usize>, usize, &[T], &mut [T], &mut [T]) + Sync,
) {
    let s = &bands.shape;
    let (_, oh, _, _) = s.geometry();
    let (expanded, rest) = tail.split_at_mut(bands.expanded_len());
    let src: &[T] = match expand {
        Some((k, n, f)) => {
            let per_task = (s.in_h * s.in_w).div_ceil(th.count());
            th.for_chunks(expanded, per_task * n, |t, chunk| {
                let (p0, p1) = (t * per_task, t * per_task + chunk.len() / n);
                f(&x[p0 * k..p1 * k], chunk);
            });
            expanded
        }
        None => x,
    };
    let rows_per_task = oh.div_ceil(th.count());
    th.for_chunks_with(out, rows_per_task * out_row, rest, bands.band_len::<T>(), |t, chunk, dband| {
        let rows = t * rows_per_task..t * rows_per_task + chunk.len() / out_row;
        // The expansion is done: only the bands' depthwise and projection remain.
        bands.walk(rows.clone(), |work| {
            if let BandWork::Band(b) = work {
                band(b, rows.start, src, chunk, dband);
            }
        });
    });
}

/// A block executed in bands (fp32 or int8).
pub(crate) trait Banded {
    /// Re-sizes the bands for `budget` elements of scratch per worker.
    fn fit(&mut self, budget: usize);
    /// Elements of scratch one worker needs.
    fn scratch_len(&self) -> usize;
}

/// Output rows up to which a block on several workers runs whole (its expansion first, see
/// [`run_whole`]) rather than in bands (measured: 7x7 maps gain, 14x14 lose).
pub(crate) const WHOLE_BLOCK_ROWS: usize = 7;

/// Runs `block` on one image from `x` into the front of `next` on `th`'s workers: a small map on
/// several workers whole, others in bands with scratch from `next`'s unused tail or the
/// session's per-worker `scratch`. Returns the output's length.
pub(crate) fn run_block<K: BlockKernels>(
    th: &Threads,
    isa: mnv2_kernels::Isa,
    block: &FusedBlock<K>,
    x: &[K::Elem],
    next: &mut [K::Elem],
    scratch: &[Mutex<AlignedVec<K::Elem>>],
) -> usize {
    let (oh, out_row) = block.output_rows();
    let (y, tail) = next.split_at_mut(oh * out_row);
    if th.count() > 1 && oh <= WHOLE_BLOCK_ROWS && block.whole_len(th.count()) <= tail.len() {
        block.run_whole(th, isa, x, y, tail);
    } else {
        run_rows(th, y, (oh, out_row), tail, (block.scratch_len(), scratch), |rows, chunk, buf| {
            block.run_rows(isa, x, rows, chunk, buf)
        });
    }
    oh * out_row
}

/// Sizes each block's bands to the room its output buffer leaves unused and returns the elements
/// of dedicated scratch a worker needs for the blocks where that room is too small. `outputs`
/// holds each block's output buffer (0 or 1) and output length, `act` the two buffers' lengths
/// per image (elements of `T`), shared by `workers`.
pub(crate) fn plan_scratch<'a, T, B: Banded + 'a>(
    blocks: impl Iterator<Item = &'a mut B>,
    outputs: &[(usize, usize)],
    act: [usize; 2],
    workers: usize,
) -> usize {
    let (line, workers) = (line::<T>(), workers.max(1));
    let mut dedicated = 0;
    for (block, &(buf, len)) in blocks.zip(outputs) {
        let spare = act[buf] - len;
        // What each worker can have of the tail after aligning its start, in whole lines.
        let share = spare.saturating_sub(line) / workers / line * line;
        block.fit(share.max(SCRATCH_BUDGET));
        if block.scratch_len() > share {
            dedicated = dedicated.max(block.scratch_len());
        }
    }
    dedicated
}

/// Runs a block over one image's `rows` output rows (`y`, `row_len` elements each) on `th`'s
/// workers, a run of rows per task. Each task's scratch (`need` elements) comes from `tail`, the
/// unused end of the output buffer, when it has room for all tasks (each on its own cache lines),
/// else from the session's per-worker `scratch`.
pub(crate) fn run_rows<T: Zeroable + Send + Sync>(
    th: &Threads,
    y: &mut [T],
    (rows, row_len): (usize, usize),
    tail: &mut [T],
    (need, scratch): (usize, &[Mutex<AlignedVec<T>>]),
    f: impl Fn(Range<usize>, &mut [T], &mut [T]) + Sync,
) {
    let per_task = rows.div_ceil(th.count());
    let span = |t: usize, chunk: &[T]| t * per_task..t * per_task + chunk.len() / row_len;
    let skip = tail.as_ptr().align_offset(64).min(tail.len());
    let slot = need.next_multiple_of(line::<T>());
    if slot * rows.div_ceil(per_task) <= tail.len() - skip {
        let tail = &mut tail[skip..];
        th.for_chunks_with(y, per_task * row_len, tail, slot, |t, chunk, s| f(span(t, chunk), chunk, &mut s[..need]));
    } else {
        th.for_chunks(y, per_task * row_len, |t, chunk| {
            let worker = Threads::worker_index() % scratch.len();
            let mut buf = scratch[worker].lock().unwrap_or_else(|e| e.into_inner());
            f(span(t, chunk), chunk, &mut buf[..need]);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mnv2_kernels::Padding;

    fn shape(in_h: usize, stride: usize, dilation: usize, padding: Padding) -> DwShape {
        DwShape { in_h, in_w: 9, channels: 4, stride, dilation, padding }
    }

    /// Every band finds the input rows it reads in their ring slots, and the bands tile the rows.
    #[test]
    fn walk_keeps_each_bands_input_rows_in_the_ring() {
        let cases = [(1, 1, 1), (7, 1, 1), (14, 2, 1), (15, 2, 1), (33, 1, 2), (56, 2, 1)];
        for ((in_h, stride, dilation), padding) in
            cases.into_iter().flat_map(|c| [(c, Padding::Same), (c, Padding::Symmetric)])
        {
            let s = shape(in_h, stride, dilation, padding);
            let (_, oh, _, _) = s.geometry();
            for pixels in [1, 20, 96, 1000] {
                let b = Bands::fit(s, true, pixels, usize::MAX);
                for rows in [0..oh, oh / 3..oh, 0..oh.div_ceil(2)] {
                    let mut ring = vec![None; b.window_rows];
                    let mut next = rows.start;
                    b.walk(rows.clone(), |w| match w {
                        BandWork::Expand { rows: r, slot } => {
                            assert_eq!(slot, r.start % b.window_rows);
                            assert!(slot + r.len() <= b.window_rows, "a run stays inside the ring");
                            for (i, iy) in r.enumerate() {
                                ring[slot + i] = Some(iy);
                            }
                        }
                        BandWork::Band(band) => {
                            assert_eq!(band.start, next, "bands in order, no gaps");
                            assert!(band.len() <= b.band);
                            next = band.end;
                            let (lo, hi) = s.input_rows(&band);
                            for iy in lo..=hi {
                                assert_eq!(ring[iy % b.window_rows], Some(iy), "{s:?} band {band:?} row {iy}");
                            }
                        }
                    });
                    assert_eq!(next, rows.end);
                }
            }
        }
    }

    struct Block(Bands);
    impl Banded for Block {
        fn fit(&mut self, budget: usize) {
            self.0 = Bands::fit(self.0.shape, true, 1000, budget);
        }
        fn scratch_len(&self) -> usize {
            self.0.scratch_len()
        }
    }

    #[test]
    fn spare_room_grows_bands_and_spares_dedicated_scratch() {
        // 14x14x576, as MobileNetV2's blocks 11-12: a 4-row window and 2-row band (48k
        // elements) is over the fixed budget, which alone allows a single row per band.
        let s = DwShape { in_h: 14, in_w: 14, channels: 576, stride: 1, dilation: 1, padding: Padding::Same };
        let mut tight = Block(Bands::fit(s, true, 1000, SCRATCH_BUDGET));
        assert_eq!(tight.0.band, 1);
        let dedicated = plan_scratch::<f32, _>([&mut tight].into_iter(), &[(0, 0)], [1000, 0], 2);
        assert_eq!(dedicated, tight.scratch_len());
        assert!(dedicated <= SCRATCH_BUDGET);
        // With a 500k-element tail for two workers, whole-image bands fit and need nothing more.
        let mut roomy = Block(Bands::fit(s, true, 1000, SCRATCH_BUDGET));
        assert_eq!(plan_scratch::<f32, _>([&mut roomy].into_iter(), &[(1, 100)], [0, 500_100], 2), 0);
        assert_eq!(roomy.0.band, 14);
        assert!(roomy.scratch_len().next_multiple_of(16) * 2 + 16 <= 500_000);
    }
}
