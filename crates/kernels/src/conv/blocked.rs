//! The register-blocked stem, written once for any vector width: output channels one or two
//! vectors at a time, six output pixels at a time keeping up to twelve independent accumulators,
//! each tap's weights loaded once for all six (the tail of a row in one smaller group); pixels
//! near the edges one at a time with the taps outside skipped. Each ISA file supplies its
//! [`Lanes`] and a `#[target_feature]` entry that instantiates [`rows_blocked`].

use super::{ConvShape, PackedConv};
use crate::Clamp;

/// One vector of fp32 lanes and the operations the stem needs.
///
/// # Safety
/// Implementations use instructions of one ISA level; their methods may only run inside a
/// function compiled for that level (they are inlined into it).
pub(super) unsafe trait Lanes: Copy {
    /// Floats per vector.
    const N: usize;
    /// # Safety
    /// `p` points to `N` readable floats; the CPU has the level.
    unsafe fn load(p: *const f32) -> Self;
    /// # Safety
    /// The CPU has the level.
    unsafe fn splat(x: f32) -> Self;
    /// `a * b + c` (fused where the level has it).
    ///
    /// # Safety
    /// The CPU has the level.
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self;
    /// Stores `v` clamped to `[lo, hi]`.
    ///
    /// # Safety
    /// `p` points to `N` writable floats; the CPU has the level.
    unsafe fn store_clamped(p: *mut f32, v: Self, lo: Self, hi: Self);
}

/// Implements [`Lanes`] for `$name`, a vector `$v` of `$n` floats, with one ISA level's load,
/// broadcast, fused multiply-add, store, min and max intrinsics.
macro_rules! lanes {
    ($name:ident, $v:ty, $n:literal, $load:ident, $splat:ident, $fma:ident, $store:ident, $min:ident, $max:ident) => {
        #[derive(Clone, Copy)]
        struct $name($v);

        // SAFETY: the intrinsics of one level only, used only inside that level's entry.
        unsafe impl super::blocked::Lanes for $name {
            const N: usize = $n;
            #[inline(always)]
            unsafe fn load(p: *const f32) -> Self {
                // SAFETY: as the trait's contract states.
                $name(unsafe { $load(p) })
            }
            #[inline(always)]
            unsafe fn splat(x: f32) -> Self {
                // SAFETY: as the trait's contract states.
                $name(unsafe { $splat(x) })
            }
            #[inline(always)]
            unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
                // SAFETY: as the trait's contract states.
                $name(unsafe { $fma(a.0, b.0, c.0) })
            }
            #[inline(always)]
            unsafe fn store_clamped(p: *mut f32, v: Self, lo: Self, hi: Self) {
                // SAFETY: as the trait's contract states.
                unsafe { $store(p, $min($max(v.0, lo.0), hi.0)) }
            }
        }
    };
}
pub(super) use lanes;

/// Output rows `rows` with output channels in blocks of `V::N` (the caller checks that `out_c`
/// is a multiple of `V::N` and the kernel at most 16 wide).
///
/// # Safety
/// Only inside a function compiled for `V`'s level, on a CPU that has it; `input` and `out`
/// checked by the caller as for the portable body.
#[inline(always)]
pub(super) unsafe fn rows_blocked<V: Lanes>(
    shape: &ConvShape,
    input: &[f32],
    w: &PackedConv,
    clamp: Clamp,
    rows: std::ops::Range<usize>,
    out: &mut [f32],
) {
    const P: usize = 6;
    let (pt, _, pl, ow) = shape.geometry();
    let (k, oc) = (shape.kernel, shape.out_c);
    // SAFETY: the caller runs this at V's level.
    let (lo, hi) = unsafe { (V::splat(clamp.lo), V::splat(clamp.hi)) };
    // Output columns whose k taps are all inside the image.
    let ox_lo = pl.div_ceil(shape.stride).min(ow);
    let ox_hi = if shape.in_w + pl >= k { ((shape.in_w + pl - k) / shape.stride + 1).min(ow) } else { 0 }.max(ox_lo);
    for (ro, oy) in rows.enumerate() {
        let (taps, n_taps) = tap_rows(shape, input, oy * shape.stride, pt);
        let out_row = &mut out[ro * ow * oc..(ro + 1) * ow * oc];
        let mut cb = 0;
        while cb < oc {
            let blocks = if cb + 2 * V::N <= oc { 2 } else { 1 };
            let g =
                Group { shape, taps: &taps[..n_taps], pl, hwio: w.hwio.as_ptr(), bias: w.bias.as_ptr(), cb, lo, hi };
            // SAFETY: cb + N * blocks <= oc (oc a multiple of N); weights hold k*k*ic*oc floats,
            // bias oc; interior columns read only inside the image; out_row holds ow * oc.
            unsafe {
                let dst = out_row.as_mut_ptr();
                let mut ox = ox_lo;
                while ox + P <= ox_hi {
                    match blocks {
                        2 => g.pixels::<P, 2>(ox, dst),
                        _ => g.pixels::<P, 1>(ox, dst),
                    }
                    ox += P;
                }
                macro_rules! tail {
                    ($($n:literal)*) => {
                        match (ox_hi - ox, blocks) {
                            $(($n, 2) => g.pixels::<$n, 2>(ox, dst), ($n, _) => g.pixels::<$n, 1>(ox, dst),)*
                            _ => {}
                        }
                    };
                }
                tail!(1 2 3 4 5);
                for ox in (0..ox_lo).chain(ox_hi..ow) {
                    for j in 0..blocks {
                        g.edge_pixel(ox, j, dst);
                    }
                }
            }
            cb += V::N * blocks;
        }
    }
}

/// The kernel rows inside the image for the output row whose kernel starts at input row
/// `top - pt`: (kernel row, pointer to its input row), the first `n` of 16 entries.
fn tap_rows(shape: &ConvShape, input: &[f32], top: usize, pt: usize) -> ([(usize, *const f32); 16], usize) {
    let mut taps = [(0usize, std::ptr::null::<f32>()); 16];
    let mut n = 0;
    for ky in 0..shape.kernel {
        let iy = (top + ky) as isize - pt as isize;
        if iy >= 0 && iy < shape.in_h as isize {
            taps[n] = (ky, input[iy as usize * shape.in_w * shape.in_c..].as_ptr());
            n += 1;
        }
    }
    (taps, n)
}

/// What [`rows_blocked`] needs for a group of output pixels and channels `cb..`.
struct Group<'a, V> {
    shape: &'a ConvShape,
    taps: &'a [(usize, *const f32)],
    pl: usize,
    hwio: *const f32,
    bias: *const f32,
    cb: usize,
    lo: V,
    hi: V,
}

impl<V: Lanes> Group<'_, V> {
    /// Interior outputs `ox..ox + M`, `B` vectors of channels from `cb`, into the row at `dst`:
    /// bias, then every tap (ky, kx, input channel) in order, as the other paths.
    ///
    /// # Safety
    /// At V's level; the outputs' taps lie inside the image; weights, bias and `dst` as the
    /// caller checked.
    #[inline(always)]
    unsafe fn pixels<const M: usize, const B: usize>(&self, ox: usize, dst: *mut f32) {
        let (k, ic, oc, s) = (self.shape.kernel, self.shape.in_c, self.shape.out_c, self.shape.stride);
        // SAFETY: as the contract states.
        unsafe {
            let mut bias = [V::splat(0.0); B];
            for (j, b) in bias.iter_mut().enumerate() {
                *b = V::load(self.bias.add(self.cb + V::N * j));
            }
            let mut acc = [bias; M];
            for &(ky, row) in self.taps {
                for kx in 0..k {
                    let first = row.add(((ox * s + kx) - self.pl) * ic);
                    for i in 0..ic {
                        let mut wv = [V::splat(0.0); B];
                        for (j, v) in wv.iter_mut().enumerate() {
                            *v = V::load(self.hwio.add(((ky * k + kx) * ic + i) * oc + self.cb + V::N * j));
                        }
                        for (p, a) in acc.iter_mut().enumerate() {
                            let x = V::splat(*first.add(p * s * ic + i));
                            for j in 0..B {
                                a[j] = V::fma(x, wv[j], a[j]);
                            }
                        }
                    }
                }
            }
            for (p, a) in acc.iter().enumerate() {
                for (j, v) in a.iter().enumerate() {
                    V::store_clamped(dst.add((ox + p) * oc + self.cb + V::N * j), *v, self.lo, self.hi);
                }
            }
        }
    }

    /// Output `ox` near an edge, vector `j` of the group's channels, the taps outside skipped.
    ///
    /// # Safety
    /// As [`Group::pixels`], without the interior condition.
    #[inline(always)]
    unsafe fn edge_pixel(&self, ox: usize, j: usize, dst: *mut f32) {
        let (k, ic, oc, s) = (self.shape.kernel, self.shape.in_c, self.shape.out_c, self.shape.stride);
        let c = self.cb + V::N * j;
        // SAFETY: as the contract states; taps outside the image are skipped.
        unsafe {
            let mut acc = V::load(self.bias.add(c));
            for &(ky, row) in self.taps {
                for kx in 0..k {
                    let ix = (ox * s + kx) as isize - self.pl as isize;
                    if ix < 0 || ix >= self.shape.in_w as isize {
                        continue;
                    }
                    let px = row.add(ix as usize * ic);
                    for i in 0..ic {
                        let wt = V::load(self.hwio.add(((ky * k + kx) * ic + i) * oc + c));
                        acc = V::fma(V::splat(*px.add(i)), wt, acc);
                    }
                }
            }
            V::store_clamped(dst.add(ox * oc + c), acc, self.lo, self.hi);
        }
    }
}
