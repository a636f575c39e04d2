//! Bilinear upsampling of class scores fused with the per-pixel argmax (Mobile DeepLabv3's last
//! step), with TFLite's `RESIZE_BILINEAR` sampling: `align_corners` / `half_pixel_centers` as
//! the model sets them, weights computed in float32 in the optimized kernel's order, and for
//! 8-bit scores the same rounding (`+ 0.5`, truncation) before the argmax.
//!
//! The fast path ([`UpsampleArgmax`]) gives exactly the reference's classes
//! ([`reference_u8`], [`reference_f32`]) with far less arithmetic. An output pixel blends the
//! scores of the four input pixels around it (a "quad") with non-negative weights that sum to
//! one, so each class's blend lies between its smallest and its largest score on the quad. A
//! class whose largest score is below some class's smallest cannot win, so per quad (computed once
//! per image) only the remaining candidates are blended; inside regions one class is left and the
//! pixel needs no arithmetic at all.

/// How output pixels map onto input pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sampling {
    pub align_corners: bool,
    pub half_pixel_centers: bool,
}

/// TFLite's `ComputeInterpolationValues` for every output index: (lower, upper, fraction).
fn axis(out: usize, input: usize, s: Sampling) -> Vec<(usize, usize, f32)> {
    let scale =
        if s.align_corners && out > 1 { (input - 1) as f32 / (out - 1) as f32 } else { input as f32 / out as f32 };
    (0..out)
        .map(|o| {
            let v = if s.half_pixel_centers { (o as f32 + 0.5) * scale - 0.5 } else { o as f32 * scale };
            let lo = (v.floor() as i64).max(0) as usize;
            let hi = (v.ceil() as i64).min(input as i64 - 1).max(0) as usize;
            (lo, hi, v - lo as f32)
        })
        .collect()
}

/// The first index of the largest value (ARG_MAX's tie rule).
fn first_max<T: PartialOrd + Copy>(values: impl Iterator<Item = T>) -> u8 {
    let mut best: Option<(usize, T)> = None;
    for (i, v) in values.enumerate() {
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map_or(0, |(i, _)| i as u8)
}

/// TFLite's four weights of an output pixel, in its order: (y0,x0), (y1,x0), (y0,x1), (y1,x1).
fn weights(dy: f32, dx: f32) -> [f32; 4] {
    [(1.0 - dy) * (1.0 - dx), dy * (1.0 - dx), (1.0 - dy) * dx, dy * dx]
}

/// One interpolated 8-bit score, rounded as TFLite's uint8 resize rounds it.
fn blend_u8(v: [u8; 4], k: &[f32; 4]) -> u8 {
    (v[0] as f32 * k[0] + v[1] as f32 * k[1] + v[2] as f32 * k[2] + v[3] as f32 * k[3] + 0.5) as u8
}

/// One interpolated float score.
fn blend_f32(v: [f32; 4], k: &[f32; 4]) -> f32 {
    v[0] * k[0] + v[1] * k[1] + v[2] * k[2] + v[3] * k[3]
}

/// The resize of one model (its interpolation tables, computed once), and the argmax of the
/// upsampled scores of each image.
#[derive(Debug, Clone)]
pub struct UpsampleArgmax {
    /// Input height, width and classes.
    dims: (usize, usize, usize),
    ys: Vec<(usize, usize, f32)>,
    xs: Vec<(usize, usize, f32)>,
    /// The distinct (lower, upper) input rows and columns, and which one each output row and
    /// column uses: a quad is a pair of them.
    y_pairs: Vec<(usize, usize)>,
    x_pairs: Vec<(usize, usize)>,
    y_pair_of: Vec<usize>,
    x_pair_of: Vec<usize>,
}

/// The classes that can win in each quad of one image, in class order.
#[derive(Debug, Clone, Default)]
pub struct Candidates {
    /// Quad q's classes are `classes[start[q]..start[q + 1]]`.
    start: Vec<u32>,
    classes: Vec<u8>,
}

impl Candidates {
    fn of(&self, quad: usize) -> &[u8] {
        &self.classes[self.start[quad] as usize..self.start[quad + 1] as usize]
    }
}

/// The distinct (lower, upper) pairs of an axis table, and each index's pair.
fn pairs(axis: &[(usize, usize, f32)]) -> (Vec<(usize, usize)>, Vec<usize>) {
    let mut distinct: Vec<(usize, usize)> = Vec::new();
    let of = axis
        .iter()
        .map(|&(lo, hi, _)| match distinct.iter().position(|&p| p == (lo, hi)) {
            Some(i) => i,
            None => {
                distinct.push((lo, hi));
                distinct.len() - 1
            }
        })
        .collect();
    (distinct, of)
}

impl UpsampleArgmax {
    /// Scores of `dims` (height, width, classes; at most 256 classes) resized to `out` (height,
    /// width) with `sampling`.
    pub fn new(dims: (usize, usize, usize), out: (usize, usize), sampling: Sampling) -> UpsampleArgmax {
        assert!(dims.0 > 0 && dims.1 > 0 && (1..=256).contains(&dims.2), "score map {dims:?}");
        let (ys, xs) = (axis(out.0, dims.0, sampling), axis(out.1, dims.1, sampling));
        let ((y_pairs, y_pair_of), (x_pairs, x_pair_of)) = (pairs(&ys), pairs(&xs));
        UpsampleArgmax { dims, ys, xs, y_pairs, x_pairs, y_pair_of, x_pair_of }
    }

    /// Input height, width and classes.
    pub fn input(&self) -> (usize, usize, usize) {
        self.dims
    }

    /// Output height and width.
    pub fn output(&self) -> (usize, usize) {
        (self.ys.len(), self.xs.len())
    }

    /// Each quad's candidates: `keep(rows)` gets the scores of the quad's four input pixels
    /// (one slice of all classes each) and appends the classes that can win, in class order.
    fn candidates<T>(&self, scores: &[T], mut keep: impl FnMut([&[T]; 4], &mut Vec<u8>)) -> Candidates {
        let (_, w, classes) = self.dims;
        assert_eq!(scores.len(), self.dims.0 * w * classes, "score map size");
        let quads = self.y_pairs.len() * self.x_pairs.len();
        let mut out = Candidates { start: Vec::with_capacity(quads + 1), classes: Vec::with_capacity(quads) };
        out.start.push(0);
        for &(y0, y1) in &self.y_pairs {
            for &(x0, x1) in &self.x_pairs {
                let rows = [y0 * w + x0, y1 * w + x0, y0 * w + x1, y1 * w + x1]
                    .map(|p| &scores[p * classes..(p + 1) * classes]);
                keep(rows, &mut out.classes);
                out.start.push(out.classes.len() as u32);
            }
        }
        out
    }

    /// The candidates of each quad of one image's 8-bit `scores`. A class whose largest score
    /// on the quad is below the best smallest score `m` rounds to a smaller byte than that
    /// class does (its blend is at most its largest score, the other's at least `m`, and the
    /// float rounding of a blend is far below the 0.5 that byte rounding needs), so it can
    /// neither win nor tie.
    pub fn candidates_u8(&self, scores: &[u8]) -> Candidates {
        let mut low = vec![0u8; self.dims.2];
        self.candidates(scores, |[a, b, c, d], keep| {
            let mut best_low = 0u8;
            for (i, l) in low.iter_mut().enumerate() {
                *l = a[i].min(b[i]).min(c[i]).min(d[i]);
                best_low = best_low.max(*l);
            }
            keep.extend((0..a.len()).filter(|&i| a[i].max(b[i]).max(c[i]).max(d[i]) >= best_low).map(|i| i as u8));
        })
    }

    /// As [`UpsampleArgmax::candidates_u8`] for float scores, with a slack for the rounding of
    /// the blends: 2^-18 of the largest magnitude on the quad (a blend of four products is off by
    /// less than 2^-21 of it). Quads holding a value that is not finite keep every class.
    pub fn candidates_f32(&self, scores: &[f32]) -> Candidates {
        self.candidates(scores, |rows @ [a, b, c, d], keep| {
            let finite = rows.iter().all(|r| r.iter().all(|v| v.is_finite()));
            if !finite {
                return keep.extend((0..a.len()).map(|i| i as u8));
            }
            let scale = rows.iter().flat_map(|r| r.iter()).fold(0f32, |m, v| m.max(v.abs()));
            let best_low = (0..a.len()).map(|i| a[i].min(b[i]).min(c[i]).min(d[i])).fold(f32::MIN, f32::max);
            let floor = best_low - scale * (1.0 / (1 << 18) as f32);
            keep.extend((0..a.len()).filter(|&i| a[i].max(b[i]).max(c[i]).max(d[i]) >= floor).map(|i| i as u8));
        })
    }

    /// The classes of output rows `rows` of one image's 8-bit `scores`, into `out` (exactly those
    /// rows); `candidates` is [`UpsampleArgmax::candidates_u8`] of the same scores.
    pub fn rows_u8(&self, scores: &[u8], candidates: &Candidates, rows: std::ops::Range<usize>, out: &mut [u8]) {
        self.rows(scores, candidates, rows, out, blend_u8);
    }

    /// As [`UpsampleArgmax::rows_u8`] for float scores.
    pub fn rows_f32(&self, scores: &[f32], candidates: &Candidates, rows: std::ops::Range<usize>, out: &mut [u8]) {
        self.rows(scores, candidates, rows, out, blend_f32);
    }

    /// The walk shared by both score types: a quad with one candidate gives it; otherwise each
    /// candidate is blended with `blend` and the first largest taken.
    fn rows<T: Copy, V: PartialOrd + Copy>(
        &self,
        scores: &[T],
        candidates: &Candidates,
        rows: std::ops::Range<usize>,
        out: &mut [u8],
        blend: impl Fn([T; 4], &[f32; 4]) -> V,
    ) {
        let (_, w, classes) = self.dims;
        let out_w = self.xs.len();
        assert!(rows.end <= self.ys.len() && out.len() == rows.len() * out_w, "class map rows");
        assert_eq!(candidates.start.len(), self.y_pairs.len() * self.x_pairs.len() + 1, "candidates of this resize");
        for (ro, y) in rows.enumerate() {
            let (y0, y1, dy) = self.ys[y];
            let quads = self.y_pair_of[y] * self.x_pairs.len();
            let row = &mut out[ro * out_w..(ro + 1) * out_w];
            for ((o, &(x0, x1, dx)), &xp) in row.iter_mut().zip(&self.xs).zip(&self.x_pair_of) {
                *o = match candidates.of(quads + xp) {
                    &[only] => only,
                    several => {
                        let k = weights(dy, dx);
                        let [a, b, c, d] = [y0 * w + x0, y1 * w + x0, y0 * w + x1, y1 * w + x1].map(|p| p * classes);
                        let blended = several.iter().map(|&i| {
                            let i = i as usize;
                            blend([scores[a + i], scores[b + i], scores[c + i], scores[d + i]], &k)
                        });
                        several[first_max(blended) as usize]
                    }
                };
            }
        }
    }
}

/// A score type the upsampling takes (8-bit or float), so that callers can be written once.
pub trait Score: Copy + Sync {
    /// [`UpsampleArgmax::candidates_u8`] or [`UpsampleArgmax::candidates_f32`].
    fn candidates(up: &UpsampleArgmax, scores: &[Self]) -> Candidates;
    /// [`UpsampleArgmax::rows_u8`] or [`UpsampleArgmax::rows_f32`].
    fn rows(
        up: &UpsampleArgmax,
        scores: &[Self],
        candidates: &Candidates,
        rows: std::ops::Range<usize>,
        out: &mut [u8],
    );
}

impl Score for u8 {
    fn candidates(up: &UpsampleArgmax, scores: &[u8]) -> Candidates {
        up.candidates_u8(scores)
    }
    fn rows(up: &UpsampleArgmax, scores: &[u8], candidates: &Candidates, rows: std::ops::Range<usize>, out: &mut [u8]) {
        up.rows_u8(scores, candidates, rows, out)
    }
}

impl Score for f32 {
    fn candidates(up: &UpsampleArgmax, scores: &[f32]) -> Candidates {
        up.candidates_f32(scores)
    }
    fn rows(
        up: &UpsampleArgmax,
        scores: &[f32],
        candidates: &Candidates,
        rows: std::ops::Range<usize>,
        out: &mut [u8],
    ) {
        up.rows_f32(scores, candidates, rows, out)
    }
}

/// The reference: every class of every output pixel blended, then the first largest.
fn reference<T: Copy, V: PartialOrd + Copy>(
    scores: &[T],
    (h, w, classes): (usize, usize, usize),
    (out_h, out_w): (usize, usize),
    s: Sampling,
    blend: impl Fn([T; 4], &[f32; 4]) -> V,
) -> Vec<u8> {
    assert!(scores.len() == h * w * classes && classes <= 256);
    let (ys, xs) = (axis(out_h, h, s), axis(out_w, w, s));
    let mut out = Vec::with_capacity(out_h * out_w);
    for &(y0, y1, dy) in &ys {
        for &(x0, x1, dx) in &xs {
            let k = weights(dy, dx);
            let at = |yy: usize, xx: usize| (yy * w + xx) * classes;
            let (a, b, c, d) = (at(y0, x0), at(y1, x0), at(y0, x1), at(y1, x1));
            out.push(first_max(
                (0..classes).map(|i| blend([scores[a + i], scores[b + i], scores[c + i], scores[d + i]], &k)),
            ));
        }
    }
    out
}

/// Reference class map of 8-bit scores (h x w x classes) upsampled to `out` (height, width).
pub fn reference_u8(scores: &[u8], dims: (usize, usize, usize), out: (usize, usize), s: Sampling) -> Vec<u8> {
    reference(scores, dims, out, s, blend_u8)
}

/// Reference class map of float scores.
pub fn reference_f32(scores: &[f32], dims: (usize, usize, usize), out: (usize, usize), s: Sampling) -> Vec<u8> {
    reference(scores, dims, out, s, blend_f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    const ALIGNED: Sampling = Sampling { align_corners: true, half_pixel_centers: false };
    const SAMPLINGS: [Sampling; 3] = [
        ALIGNED,
        Sampling { align_corners: false, half_pixel_centers: false },
        Sampling { align_corners: false, half_pixel_centers: true },
    ];

    #[test]
    fn aligned_corners_sample_the_corners() {
        // 2x2 -> 3x3 with corners aligned: the centre is the mean of the four.
        assert_eq!(axis(3, 2, ALIGNED), vec![(0, 0, 0.0), (0, 1, 0.5), (1, 1, 0.0)]);
        let plain = Sampling { align_corners: false, half_pixel_centers: false };
        assert_eq!(axis(4, 2, plain), vec![(0, 0, 0.0), (0, 1, 0.5), (1, 1, 0.0), (1, 1, 0.5)]);
    }

    fn fast_u8(scores: &[u8], dims: (usize, usize, usize), out: (usize, usize), s: Sampling) -> Vec<u8> {
        let up = UpsampleArgmax::new(dims, out, s);
        let candidates = up.candidates_u8(scores);
        let mut map = vec![0u8; out.0 * out.1];
        // In two pieces, as the engine's workers take rows.
        let (top, bottom) = map.split_at_mut(out.0 / 2 * out.1);
        up.rows_u8(scores, &candidates, 0..out.0 / 2, top);
        up.rows_u8(scores, &candidates, out.0 / 2..out.0, bottom);
        map
    }

    fn fast_f32(scores: &[f32], dims: (usize, usize, usize), out: (usize, usize), s: Sampling) -> Vec<u8> {
        let up = UpsampleArgmax::new(dims, out, s);
        let candidates = up.candidates_f32(scores);
        let mut map = vec![0u8; out.0 * out.1];
        up.rows_f32(scores, &candidates, 0..out.0, &mut map);
        map
    }

    #[test]
    fn argmax_follows_the_interpolation() {
        // Two classes on a 1x2 map: class 0 strong on the left, class 1 on the right.
        let scores = [10.0, 0.0, 0.0, 10.0];
        // x = 0, .25, .5 (tie: the first class wins), .75, 1
        assert_eq!(reference_f32(&scores, (1, 2, 2), (1, 5), ALIGNED), [0, 0, 0, 1, 1]);
        assert_eq!(fast_f32(&scores, (1, 2, 2), (1, 5), ALIGNED), [0, 0, 0, 1, 1]);
        let q = [200u8, 0, 0, 200];
        assert_eq!(reference_u8(&q, (1, 2, 2), (1, 5), ALIGNED), [0, 0, 0, 1, 1]);
        assert_eq!(fast_u8(&q, (1, 2, 2), (1, 5), ALIGNED), [0, 0, 0, 1, 1]);
    }

    /// Margins of 0 to 3 between the winner and the rest at every pixel: the blends' rounding
    /// makes ties that the first-largest rule must resolve as the reference does.
    #[test]
    fn near_ties_match_the_reference() {
        let mut rng = Rng::new(7);
        for margin in 0u8..4 {
            for &s in &SAMPLINGS {
                let (h, w, c) = (3, 4, 3);
                let scores: Vec<u8> = (0..h * w)
                    .flat_map(|_| {
                        let base = 100 + (rng.next_u64() % 50) as u8;
                        let winner = (rng.next_u64() % 3) as usize;
                        (0..c).map(move |i| if i == winner { base + margin } else { base })
                    })
                    .collect();
                assert_eq!(fast_u8(&scores, (h, w, c), (17, 23), s), reference_u8(&scores, (h, w, c), (17, 23), s));
            }
        }
    }

    /// Random scores of many shapes: smooth maps (mostly dominated pixels) and noisy ones.
    #[test]
    fn fast_equals_reference_on_random_maps() {
        let mut rng = Rng::new(11);
        for &(h, w, c, oh, ow) in
            &[(1, 1, 1, 5, 5), (2, 3, 2, 9, 7), (5, 5, 21, 65, 65), (33, 33, 21, 129, 129), (4, 7, 256, 13, 29)]
        {
            for &s in &SAMPLINGS {
                for smooth in [true, false] {
                    let scores: Vec<u8> = (0..h * w * c)
                        .map(|i| {
                            let (p, k) = (i / c, i % c);
                            if smooth { ((p * 7 + k * 37) % 251) as u8 } else { rng.next_u64() as u8 }
                        })
                        .collect();
                    let want = reference_u8(&scores, (h, w, c), (oh, ow), s);
                    assert_eq!(fast_u8(&scores, (h, w, c), (oh, ow), s), want, "{h}x{w}x{c} -> {oh}x{ow}");
                    let real: Vec<f32> = scores.iter().map(|&b| b as f32 * 0.37 - 20.0).collect();
                    let want = reference_f32(&real, (h, w, c), (oh, ow), s);
                    assert_eq!(fast_f32(&real, (h, w, c), (oh, ow), s), want, "f32 {h}x{w}x{c}");
                }
            }
        }
    }
}
