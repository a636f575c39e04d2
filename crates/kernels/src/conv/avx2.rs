//! The fp32 stem convolution at the AVX2 level: a register-blocked kernel for output channels in
//! multiples of 8, else the portable body compiled with AVX2 and FMA.

use super::*;

/// # Safety
/// The CPU must have AVX2 and FMA; `input` and `out` checked by the caller as for the portable body.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn rows_avx2(
    shape: &ConvShape,
    input: &[f32],
    w: &PackedConv,
    clamp: Clamp,
    rows: std::ops::Range<usize>,
    out: &mut [f32],
) {
    rows_portable(shape, input, w, clamp, rows, out)
}

/// AVX2, output channels eight (one ymm) or sixteen at a time: six output pixels at a time keep
/// up to twelve independent accumulators, each tap's weights loaded once for all six (the tail of
/// a row in one smaller group); pixels near the edges one at a time with the taps outside
/// skipped. Needs `out_c` a multiple of 8 (the caller checks).
///
/// # Safety
/// The CPU must have AVX2 and FMA; `input` and `out` checked by the caller as for the portable
/// body.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn rows_avx2_blocks(
    shape: &ConvShape,
    input: &[f32],
    w: &PackedConv,
    clamp: Clamp,
    rows: std::ops::Range<usize>,
    out: &mut [f32],
) {
    use std::arch::x86_64::*;
    const P: usize = 6;
    let (pt, _, pl, ow) = shape.geometry();
    let (k, ic, oc, s) = (shape.kernel, shape.in_c, shape.out_c, shape.stride);
    let (vlo, vhi) = (_mm256_set1_ps(clamp.lo), _mm256_set1_ps(clamp.hi));
    // Output columns whose k taps are all inside the image.
    let ox_lo = pl.div_ceil(s).min(ow);
    let ox_hi = if shape.in_w + pl >= k { ((shape.in_w + pl - k) / s + 1).min(ow) } else { 0 }.max(ox_lo);
    for (ro, oy) in rows.enumerate() {
        // The kernel rows inside the image, with their input row.
        let mut taps = [(0usize, std::ptr::null::<f32>()); 16];
        let mut n_taps = 0;
        for ky in 0..k {
            let iy = (oy * s + ky) as isize - pt as isize;
            if iy >= 0 && iy < shape.in_h as isize {
                taps[n_taps] = (ky, input[iy as usize * shape.in_w * ic..].as_ptr());
                n_taps += 1;
            }
        }
        let taps = &taps[..n_taps];
        let out_row = &mut out[ro * ow * oc..(ro + 1) * ow * oc];
        let mut cb = 0;
        while cb < oc {
            let blocks = if cb + 16 <= oc { 2 } else { 1 };
            let g = Group { taps, k, ic, oc, s, pl, hwio: w.hwio.as_ptr(), bias: w.bias.as_ptr(), cb, vlo, vhi };
            // SAFETY: cb + 8 * blocks <= oc (oc a multiple of 8); weights hold k*k*ic*oc floats, bias oc; interior
            // columns read only inside the image; out_row holds ow * oc.
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
                let wt =
                    |t: usize, i: usize, j: usize| _mm256_loadu_ps(w.hwio.as_ptr().add((t * ic + i) * oc + cb + 8 * j));
                for ox in (0..ox_lo).chain(ox_hi..ow) {
                    for j in 0..blocks {
                        let mut acc = _mm256_loadu_ps(w.bias.as_ptr().add(cb + 8 * j));
                        for &(ky, row) in taps {
                            for kx in 0..k {
                                let ix = (ox * s + kx) as isize - pl as isize;
                                if ix < 0 || ix >= shape.in_w as isize {
                                    continue;
                                }
                                let px = row.add(ix as usize * ic);
                                for i in 0..ic {
                                    acc = _mm256_fmadd_ps(_mm256_set1_ps(*px.add(i)), wt(ky * k + kx, i, j), acc);
                                }
                            }
                        }
                        _mm256_storeu_ps(dst.add(ox * oc + cb + 8 * j), _mm256_min_ps(_mm256_max_ps(acc, vlo), vhi));
                    }
                }
            }
            cb += 8 * blocks;
        }
    }
}

/// What [`rows_avx2_blocks`] needs for a group of output pixels and channels `cb..`.
#[cfg(target_arch = "x86_64")]
struct Group<'a> {
    taps: &'a [(usize, *const f32)],
    k: usize,
    ic: usize,
    oc: usize,
    s: usize,
    pl: usize,
    hwio: *const f32,
    bias: *const f32,
    cb: usize,
    vlo: std::arch::x86_64::__m256,
    vhi: std::arch::x86_64::__m256,
}

#[cfg(target_arch = "x86_64")]
impl Group<'_> {
    /// Interior outputs `ox..ox + N`, `B` blocks of eight channels from `cb`, into the row at
    /// `dst`: bias, then every tap (ky, kx, input channel) in order, as the other paths.
    ///
    /// # Safety
    /// AVX2 and FMA; the outputs' taps lie inside the image; weights, bias and `dst` as the caller
    /// checked.
    #[inline(always)]
    unsafe fn pixels<const N: usize, const B: usize>(&self, ox: usize, dst: *mut f32) {
        use std::arch::x86_64::*;
        let (k, ic, oc, s) = (self.k, self.ic, self.oc, self.s);
        // SAFETY: as the contract states.
        unsafe {
            let mut bias = [_mm256_setzero_ps(); B];
            for (j, b) in bias.iter_mut().enumerate() {
                *b = _mm256_loadu_ps(self.bias.add(self.cb + 8 * j));
            }
            let mut acc = [bias; N];
            for &(ky, row) in self.taps {
                for kx in 0..k {
                    let first = row.add(((ox * s + kx) - self.pl) * ic);
                    for i in 0..ic {
                        let mut wv = [_mm256_setzero_ps(); B];
                        for (j, v) in wv.iter_mut().enumerate() {
                            *v = _mm256_loadu_ps(self.hwio.add(((ky * k + kx) * ic + i) * oc + self.cb + 8 * j));
                        }
                        for (p, a) in acc.iter_mut().enumerate() {
                            let x = _mm256_set1_ps(*first.add(p * s * ic + i));
                            for j in 0..B {
                                a[j] = _mm256_fmadd_ps(x, wv[j], a[j]);
                            }
                        }
                    }
                }
            }
            for (p, a) in acc.iter().enumerate() {
                for (j, v) in a.iter().enumerate() {
                    let o = dst.add((ox + p) * oc + self.cb + 8 * j);
                    _mm256_storeu_ps(o, _mm256_min_ps(_mm256_max_ps(*v, self.vlo), self.vhi));
                }
            }
        }
    }
}
