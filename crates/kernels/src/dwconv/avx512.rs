//! The fp32 depthwise 3x3 at the AVX-512 level.

use super::DwLayer;
use super::avx2::rows_avx2;

/// One block of sixteen channels in the AVX-512 kernel: the nine weight vectors, the bias and
/// the clamp bounds.
#[cfg(target_arch = "x86_64")]
struct Block16 {
    w: [std::arch::x86_64::__m512; 9],
    bias: std::arch::x86_64::__m512,
    lo: std::arch::x86_64::__m512,
    hi: std::arch::x86_64::__m512,
}

/// `f` of each of three rows, always inlined (`[T; 3]::map` was not, and its call made the
/// caller reload every weight register once per output row).
#[inline(always)]
fn each3<T: Copy, U>(rows: [T; 3], f: impl Fn(T) -> U) -> [U; 3] {
    [f(rows[0]), f(rows[1]), f(rows[2])]
}

/// Sixteen zeros: what taps outside the image read in the AVX-512 kernel.
#[cfg(target_arch = "x86_64")]
static ZEROS: [f32; 16] = [0.0; 16];

/// AVX-512: blocks of sixteen channels as in [`rows_avx2`]; the channels past the last
/// multiple of sixteen go to the AVX2 code. Taps outside the image read zeros (adding `0 * w`
/// changes nothing but the sign of a zero sum), so every output is the same nine FMAs in the
/// order of the other paths; interior stretches go eight outputs at a time.
///
/// # Safety
/// The CPU must have AVX-512F, AVX2 and FMA; the window (from row `row0`) and `out` checked by the
/// caller (`DwShape::check_rows`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) unsafe fn rows_avx512(
    layer: &DwLayer,
    input: &[f32],
    row0: usize,
    rows: std::ops::Range<usize>,
    out: &mut [f32],
) {
    use std::arch::x86_64::*;
    let DwLayer { shape, w, bias, clamp } = layer;
    let c = shape.channels;
    let c16 = c / 16 * 16;
    let (pt, _, pl, ow) = shape.geometry();
    let (s, d, in_w) = (shape.stride, shape.dilation, shape.in_w);
    let clamp_v = (_mm512_set1_ps(clamp.lo), _mm512_set1_ps(clamp.hi));
    let (ox_lo, ox_hi) = (shape.interior_columns().start, shape.interior_columns().end);
    // Per output row and kernel row: the input row's first element and column step; rows
    // outside the image read zeros.
    let row_taps: Vec<[(*const f32, usize); 3]> = rows
        .clone()
        .map(|oy| {
            std::array::from_fn(|ky| {
                let iy = (oy * s + ky * d) as isize - pt as isize;
                if iy >= 0 && (iy as usize) < shape.in_h {
                    (input[shape.row_start(iy as usize, input.len(), row0)..].as_ptr(), c)
                } else {
                    (ZEROS.as_ptr(), 0)
                }
            })
        })
        .collect();
    // Rows whose edge outputs have one tap column outside the image at most (3x3, dilation 1,
    // stride 1 or 2, padding of one column or none): whole rows in groups of up to eight, the
    // outside columns reading zeros in the unrolled code rather than through the edge path's
    // per-tap checks.
    let padded = (d == 1 && pl <= 1 && (s == 1 || s == 2) && ow > 0)
        .then(|| {
            let last = (ow - 1) * s + 2; // the last column read, counted from column -pl
            (last <= in_w + pl && last - 1 < in_w + pl).then_some((pl == 1, last == in_w + pl))
        })
        .flatten();
    // Channel blocks outside, rows inside: a block's weights stay in registers and its three
    // input rows in L1 while it runs down the rows.
    for ch in (0..c16).step_by(16) {
        // SAFETY: ch + 16 <= c; weights hold 9 * c, bias c; input rows hold in_w * c floats
        // and every column read is checked (edges) or inside by `interior_columns`; zero
        // rows have step 0; `out` holds rows.len() * ow * c.
        unsafe {
            let mut blk = Block16 {
                w: [_mm512_setzero_ps(); 9],
                bias: _mm512_loadu_ps(bias.as_ptr().add(ch)),
                lo: clamp_v.0,
                hi: clamp_v.1,
            };
            for (t, wt) in blk.w.iter_mut().enumerate() {
                *wt = _mm512_loadu_ps(w.as_ptr().add(t * c + ch));
            }
            for (ro, taps) in row_taps.iter().enumerate() {
                let rows3 = each3(*taps, |(p, step)| (if step == 0 { p } else { p.add(ch) }, step));
                let dst = out.as_mut_ptr().add(ro * ow * c + ch);
                if let Some(edges) = padded {
                    match s {
                        1 => padded_row::<1>(rows3, &blk, dst, c, ow, edges),
                        _ => padded_row::<2>(rows3, &blk, dst, c, ow, edges),
                    }
                    continue;
                }
                // Edge columns (taps outside read zeros), two chains at a time on each side.
                let geometry = (s, d, pl, in_w);
                for side in [0..ox_lo, ox_hi..ow] {
                    let mut ox = side.start;
                    while ox + 2 <= side.end {
                        edge::<2>([ox, ox + 1], rows3, &blk, dst, c, geometry);
                        ox += 2;
                    }
                    if ox < side.end {
                        edge::<1>([ox], rows3, &blk, dst, c, geometry);
                    }
                }
                let stretch = (ox_lo, ox_hi);
                match (s, d) {
                    (1, 1) => interior_stretch::<1, 1>(rows3, &blk, dst, c, pl, stretch),
                    (2, 1) => interior_stretch::<2, 1>(rows3, &blk, dst, c, pl, stretch),
                    (1, 2) => interior_stretch::<1, 2>(rows3, &blk, dst, c, pl, stretch),
                    _ => {
                        for ox in ox_lo..ox_hi {
                            let mut acc = blk.bias;
                            for (ky, &(r, step)) in rows3.iter().enumerate() {
                                for kx in 0..3 {
                                    let x = _mm512_loadu_ps(r.add((ox * s + kx * d - pl) * step));
                                    acc = _mm512_fmadd_ps(x, blk.w[ky * 3 + kx], acc);
                                }
                            }
                            _mm512_storeu_ps(dst.add(ox * c), _mm512_min_ps(_mm512_max_ps(acc, clamp_v.0), clamp_v.1));
                        }
                    }
                }
            }
        }
    }
    if c16 < c {
        // SAFETY: the caller's CPU has AVX2 and FMA.
        unsafe { rows_avx2(layer, input, row0, rows, out, c16) };
    }
}

/// `N` outputs of an interior stretch of a row (columns inside the image),
/// for stride `S` and dilation `D`: `rows` point at the 16 channels of the first input column
/// the outputs read in each input row, with the column step (0: a row of zeros outside the
/// image), `dst` at output 0, `c` is the output pixel stride. Each input
/// column is loaded once and feeds every output that reads it; each output still takes its taps
/// in the portable order (bias, then ky, then kx), so the bits do not change.
///
/// With `L`, column 0 lies left of the image and reads as zeros; with `R`, so does the last
/// (`(N - 1) S + 2 D`): the taps outside still add `0 * w`, as [`edge`] does.
///
/// # Safety
/// AVX-512F; columns `0..(N - 1) S + 2 D + 1` of the three rows (but those `L` and `R` mark
/// outside) and outputs `0..N` are inside the caller's buffers.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn interior<const N: usize, const S: usize, const D: usize, const L: bool, const R: bool>(
    rows: [(*const f32, usize); 3],
    blk: &Block16,
    dst: *mut f32,
    c: usize,
) {
    use std::arch::x86_64::*;
    let last = (N - 1) * S + 2 * D;
    // Column j lies outside the image: the first with L, the last with R.
    let outside = |j: usize| (L && j == 0) || (R && j == last);
    // SAFETY: as the contract states; columns outside are never read.
    unsafe {
        let mut acc = [blk.bias; N];
        let load = |p: *const f32, j: usize| if outside(j) { _mm512_setzero_ps() } else { _mm512_loadu_ps(p) };
        for (ky, &(r, step)) in rows.iter().enumerate() {
            if S == 1 {
                let mut p = r;
                for j in 0..last + 1 {
                    let x = load(p, j);
                    // Column j is tap kx of output o where j = o S + kx D; ascending j gives each
                    // output its kx in order.
                    for kx in 0..3 {
                        if j >= kx * D && (j - kx * D).is_multiple_of(S) && (j - kx * D) / S < N {
                            let o = (j - kx * D) / S;
                            acc[o] = _mm512_fmadd_ps(x, blk.w[ky * 3 + kx], acc[o]);
                        }
                    }
                    p = p.wrapping_add(step);
                }
            } else if S == 2 && D == 1 {
                // Stride 2: output o reads columns 2o, 2o + 1 and 2o + 2, and shares 2o + 2 with
                // output o + 1; one pointer steps two columns per output, so the loop unrolls
                // with two address registers instead of an offset per column (which LLVM keeps
                // on the stack, a second load per FMA).
                let (w0, w1, w2) = (blk.w[ky * 3], blk.w[ky * 3 + 1], blk.w[ky * 3 + 2]);
                let mut p = r;
                let mut even = load(p, 0);
                for (o, a) in acc.iter_mut().enumerate() {
                    *a = _mm512_fmadd_ps(even, w0, *a);
                    *a = _mm512_fmadd_ps(load(p.wrapping_add(step), 2 * o + 1), w1, *a);
                    even = load(p.wrapping_add(2 * step), 2 * o + 2);
                    *a = _mm512_fmadd_ps(even, w2, *a);
                    p = p.wrapping_add(2 * step);
                }
            } else {
                // Strided: tap by tap, each output's column loaded for it (a shared column is
                // loaded twice, but the loop is simple enough to unroll fully).
                for kx in 0..3 {
                    let w = blk.w[ky * 3 + kx];
                    for (o, a) in acc.iter_mut().enumerate() {
                        let j = o * S + kx * D;
                        *a = _mm512_fmadd_ps(load(r.wrapping_add(j * step), j), w, *a);
                    }
                }
            }
        }
        for (i, a) in acc.iter().enumerate() {
            _mm512_storeu_ps(dst.add(i * c), _mm512_min_ps(_mm512_max_ps(*a, blk.lo), blk.hi));
        }
    }
}

/// Edge outputs `oxs` of a row (taps outside the image read zeros), as independent chains.
///
/// # Safety
/// AVX-512F; `rows` as in [`interior`], holding columns `0..in_w`; outputs inside `dst`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn edge<const N: usize>(
    oxs: [usize; N],
    rows: [(*const f32, usize); 3],
    blk: &Block16,
    dst: *mut f32,
    c: usize,
    (s, d, pl, in_w): (usize, usize, usize, usize),
) {
    use std::arch::x86_64::*;
    // SAFETY: as the contract states; columns outside 0..in_w read `ZEROS`.
    unsafe {
        let mut acc = [blk.bias; N];
        for (ky, &(r, step)) in rows.iter().enumerate() {
            for kx in 0..3 {
                for i in 0..N {
                    let ix = (oxs[i] * s + kx * d) as isize - pl as isize;
                    let p = if ix >= 0 && (ix as usize) < in_w { r.add(ix as usize * step) } else { ZEROS.as_ptr() };
                    acc[i] = _mm512_fmadd_ps(_mm512_loadu_ps(p), blk.w[ky * 3 + kx], acc[i]);
                }
            }
        }
        for i in 0..N {
            _mm512_storeu_ps(dst.add(oxs[i] * c), _mm512_min_ps(_mm512_max_ps(acc[i], blk.lo), blk.hi));
        }
    }
}

/// Outputs `ox..ox_hi` of an interior stretch, eight at a time, then the rest together.
///
/// # Safety
/// As [`interior`], for every output of the stretch.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn interior_stretch<const S: usize, const D: usize>(
    rows: [(*const f32, usize); 3],
    blk: &Block16,
    dst: *mut f32,
    c: usize,
    pl: usize,
    (mut ox, ox_hi): (usize, usize),
) {
    // SAFETY: as the contract states; output ox reads input columns from ox S - pl.
    unsafe {
        let at = |ox: usize| each3(rows, |(r, step)| (r.add((ox * S - pl) * step), step));
        while ox + 8 <= ox_hi {
            interior::<8, S, D, false, false>(at(ox), blk, dst.add(ox * c), c);
            ox += 8;
        }
        // The rest in one go (independent chains rather than one at a time).
        let dst = dst.add(ox * c);
        match ox_hi - ox {
            0 => {}
            1 => interior::<1, S, D, false, false>(at(ox), blk, dst, c),
            2 => interior::<2, S, D, false, false>(at(ox), blk, dst, c),
            3 => interior::<3, S, D, false, false>(at(ox), blk, dst, c),
            4 => interior::<4, S, D, false, false>(at(ox), blk, dst, c),
            5 => interior::<5, S, D, false, false>(at(ox), blk, dst, c),
            6 => interior::<6, S, D, false, false>(at(ox), blk, dst, c),
            _ => interior::<7, S, D, false, false>(at(ox), blk, dst, c),
        }
    }
}

/// A whole row of outputs `0..ow` in groups of up to eight, for stride `S` (dilation 1): `rows`
/// point at column 0 of each input row (with its column step), `left` says column -1 is
/// padding (the first output's first tap), `right` that the last output's last tap is.
///
/// # Safety
/// AVX-512F; the columns the outputs read lie inside the rows but the two padding columns
/// `(left, right)` mark; outputs `0..ow` inside `dst` at stride `c`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn padded_row<const S: usize>(
    rows: [(*const f32, usize); 3],
    blk: &Block16,
    dst: *mut f32,
    c: usize,
    ow: usize,
    (left, right): (bool, bool),
) {
    // Group n's first column: column ox S - 1 with left padding, ox S without; a padding column's
    // address is formed (wrapping) but never read.
    let pl = usize::from(left);
    let at = |ox: usize| each3(rows, |(r, step)| (r.wrapping_add(ox * S * step).wrapping_sub(pl * step), step));
    let mut ox = 0;
    while ox < ow {
        let n = (ow - ox).min(8);
        let (l, r) = (left && ox == 0, right && ox + n == ow);
        // SAFETY: as the contract states: only output ox's column -1 (l) and the row's last
        // column (r) lie outside, and `interior` reads neither.
        unsafe {
            let (rows, dst) = (at(ox), dst.add(ox * c));
            match (l, r) {
                (false, false) => group::<S, false, false>(n, rows, blk, dst, c),
                (true, false) => group::<S, true, false>(n, rows, blk, dst, c),
                (false, true) => group::<S, false, true>(n, rows, blk, dst, c),
                (true, true) => group::<S, true, true>(n, rows, blk, dst, c),
            }
        }
        ox += n;
    }
}

/// `n` (1..=8) outputs of [`interior`] with a constant count.
///
/// # Safety
/// As [`interior`] for `n` outputs.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn group<const S: usize, const L: bool, const R: bool>(
    n: usize,
    rows: [(*const f32, usize); 3],
    blk: &Block16,
    dst: *mut f32,
    c: usize,
) {
    // SAFETY: as the contract states.
    unsafe {
        match n {
            1 => interior::<1, S, 1, L, R>(rows, blk, dst, c),
            2 => interior::<2, S, 1, L, R>(rows, blk, dst, c),
            3 => interior::<3, S, 1, L, R>(rows, blk, dst, c),
            4 => interior::<4, S, 1, L, R>(rows, blk, dst, c),
            5 => interior::<5, S, 1, L, R>(rows, blk, dst, c),
            6 => interior::<6, S, 1, L, R>(rows, blk, dst, c),
            7 => interior::<7, S, 1, L, R>(rows, blk, dst, c),
            _ => interior::<8, S, 1, L, R>(rows, blk, dst, c),
        }
    }
}
