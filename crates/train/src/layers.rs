//! Layer functions in the llm.c form: `*_forward(out, inputs...)` and
//! `*_backward(dinput, dweights..., dout, saved inputs...)`. Shapes: activations `[n][h][w][c]`.

use crate::replicas::Replicas;
use crate::widest::widest;
use mnv2_kernels::gemm::{PackedB, gemm};
use mnv2_kernels::{Clamp, Isa};
use std::ops::Range;

/// Geometry of a (depthwise or full) convolution: symmetric padding `pad` (PyTorch), or with
/// `tf_same` TensorFlow's "same" padding (output ceil(in / stride), the odd pixel at the bottom/
/// right), which models imported from TFLite were trained with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeom {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub cin: usize,
    pub cout: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
    pub dilation: usize,
    pub tf_same: bool,
}

impl ConvGeom {
    pub fn out_hw(&self) -> (usize, usize) {
        if self.tf_same {
            return (self.h.div_ceil(self.stride), self.w.div_ceil(self.stride));
        }
        let span = (self.k - 1) * self.dilation + 1;
        ((self.h + 2 * self.pad - span) / self.stride + 1, (self.w + 2 * self.pad - span) / self.stride + 1)
    }
    /// Padding before the first row or column of an input of `size`.
    fn pad_before(&self, size: usize) -> usize {
        if !self.tf_same {
            return self.pad;
        }
        let out = size.div_ceil(self.stride);
        let span = (self.k - 1) * self.dilation + 1;
        ((out - 1) * self.stride + span).saturating_sub(size) / 2
    }
    pub fn out_len(&self) -> usize {
        let (oh, ow) = self.out_hw();
        self.n * oh * ow * self.cout
    }
    /// Input coordinate of output `o` and tap `t`, if inside.
    #[inline]
    fn src(&self, o: usize, t: usize, size: usize) -> Option<usize> {
        let v = (o * self.stride + t * self.dilation) as isize - self.pad_before(size) as isize;
        (v >= 0 && (v as usize) < size).then_some(v as usize)
    }
}

/// `out = a (m x k) * b (k x n)`, row-major; rows split across rayon's threads.
pub fn matmul(a: &[f32], m: usize, k: usize, b: &[f32], n: usize, out: &mut [f32]) {
    assert!(a.len() == m * k && b.len() == k * n && out.len() == m * n);
    matmul_packed(a, m, &PackedB::new(k, n, |kk, j| b[kk * n + j], &vec![0.0; n]), out);
}

/// `out = a (m x k) * packed`, rows split across rayon's threads.
fn matmul_packed(a: &[f32], m: usize, packed: &PackedB, out: &mut [f32]) {
    use rayon::prelude::*;
    let (k, n) = (packed.k(), packed.n());
    assert!(a.len() == m * k && out.len() == m * n);
    let rows = m.div_ceil(rayon::current_num_threads() * 4).max(6);
    out.par_chunks_mut(rows * n.max(1)).enumerate().for_each(|(i, chunk)| {
        let r0 = i * rows;
        let r1 = r0 + chunk.len() / n.max(1);
        gemm(Isa::detect(), &a[r0 * k..r1 * k], packed, None, Clamp::NONE, chunk);
    });
}

/// Transpose of a row-major `rows x cols` matrix.
pub fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; a.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = a[r * cols + c];
        }
    }
    t
}

/// Pointwise conv `y[p][o] = sum_i x[p][i] w[o][i]` over `p` pixels.
pub fn pointwise_forward(y: &mut [f32], x: &[f32], w: &[f32], cin: usize, cout: usize) {
    let p = x.len() / cin;
    // Packed straight from the O x I weights (no transposed copy).
    matmul_packed(x, p, &PackedB::new(cin, cout, |kk, j| w[j * cin + kk], &vec![0.0; cout]), y);
}

/// dx = dy W, dW += dy^T x.
pub fn pointwise_backward(dx: &mut [f32], dw: &mut [f32], dy: &[f32], x: &[f32], w: &[f32], cin: usize, cout: usize) {
    let p = x.len() / cin;
    matmul(dy, p, cout, w, cin, dx);
    weight_grad(dw, dy, x, cout, cin);
}

/// `dw` (`cout` x `cin`) += `dy^T x` over the pixels of `dy` and `x`, read in place (no
/// transposed or packed copies). The pixels are split into one contiguous range per rayon
/// thread, each summed into its own zeroed buffer, and the buffers added to `dw` in order: the
/// same bits for the same thread count.
pub fn weight_grad(dw: &mut [f32], dy: &[f32], x: &[f32], cout: usize, cin: usize) {
    let p = x.len() / cin;
    let grad = |px: Range<usize>, dw: &mut [f32]| {
        let (dy, x) = (&dy[px.start * cout..px.end * cout], &x[px.start * cin..px.end * cin]);
        mnv2_kernels::wgrad::weight_grad(Isa::detect(), dy, x, cout, cin, dw);
    };
    let parts = thread_parts(p);
    if parts == 1 {
        return grad(0..p, dw);
    }
    add_parts(dw, &range_partials(parts, p, cout * cin, grad));
}

/// Contiguous ranges a sum over `items` (pixels, or images) is split into: one per rayon thread.
/// For a batch whose images split evenly, the ranges are whole images, the same ones that
/// processes of one thread each sum apart (see [`crate::replicas`]).
fn thread_parts(items: usize) -> usize {
    rayon::current_num_threads().min(items).max(1)
}

/// `sums[j] += sum_r rows[r][j]` over the rows of `rows` (`len` values each), in one range of
/// rows per thread, the ranges added in order.
pub fn sum_rows(sums: &mut [f32], rows: &[f32]) {
    let (len, n) = (sums.len(), rows.len() / sums.len().max(1));
    let add = |r: Range<usize>, s: &mut [f32]| {
        for row in rows[r.start * len..r.end * len].chunks_exact(len) {
            s.iter_mut().zip(row).for_each(|(a, b)| *a += b);
        }
    };
    add_parts(sums, &range_partials(thread_parts(n), n, len, add));
}

/// `dst` += each of `parts` in order.
fn add_parts<T: Copy + std::ops::AddAssign>(dst: &mut [T], parts: &[Vec<T>]) {
    for p in parts {
        dst.iter_mut().zip(p).for_each(|(a, &b)| *a += b);
    }
}

/// `part` run in parallel on `parts` contiguous ranges of `pixels`, each into its own `len`
/// zeroed values; the results in range order (so sums added in that order give the same bits
/// for the same thread count).
fn range_partials<T: Copy + Default + Send>(
    parts: usize,
    pixels: usize,
    len: usize,
    part: impl Fn(Range<usize>, &mut [T]) + Sync,
) -> Vec<Vec<T>> {
    use rayon::prelude::*;
    let per = pixels.div_ceil(parts);
    (0..parts)
        .into_par_iter()
        .map(|t| {
            let mut values = vec![T::default(); len];
            part((t * per).min(pixels)..((t + 1) * per).min(pixels), &mut values);
            values
        })
        .collect()
}

/// OHWI weights as HWIO (output channels contiguous), for the loops below.
fn ohwi_to_hwio(w: &[f32], g: &ConvGeom) -> Vec<f32> {
    let taps = g.k * g.k * g.cin;
    let mut t = vec![0.0; w.len()];
    for o in 0..g.cout {
        for r in 0..taps {
            t[r * g.cout + o] = w[o * taps + r];
        }
    }
    t
}

/// Full conv, weights OHWI; images in parallel.
pub fn conv_forward(y: &mut [f32], x: &[f32], w: &[f32], g: &ConvGeom) {
    use rayon::prelude::*;
    let (oh, ow) = g.out_hw();
    let hwio = ohwi_to_hwio(w, g);
    let (xl, yl) = (g.h * g.w * g.cin, oh * ow * g.cout);
    y.par_chunks_mut(yl).zip(x.par_chunks(xl)).for_each(|(y, x)| conv_forward_image(y, x, &hwio, g));
}

widest! {
/// [`conv_forward`] of one image, weights HWIO: each output pixel's channels in register blocks
/// of 32 (two AVX-512 vectors, two sums in flight; the last block partial), the taps and input channels summed into them in order from zero.
fn conv_forward_image(y: &mut [f32], x: &[f32], hwio: &[f32], g: &ConvGeom) {
    let (oh, ow) = g.out_hw();
    for oy in 0..oh {
        for ox in 0..ow {
            let o = &mut y[(oy * ow + ox) * g.cout..][..g.cout];
            for o0 in (0..g.cout).step_by(32) {
                let len = 32.min(g.cout - o0);
                let mut acc = [0.0f32; 32];
                for ky in 0..g.k {
                    let Some(iy) = g.src(oy, ky, g.h) else { continue };
                    for kx in 0..g.k {
                        let Some(ix) = g.src(ox, kx, g.w) else { continue };
                        let xi = &x[(iy * g.w + ix) * g.cin..][..g.cin];
                        for (i, &xv) in xi.iter().enumerate() {
                            let at = ((ky * g.k + kx) * g.cin + i) * g.cout + o0;
                            if len == 32 {
                                let wr: &[f32; 32] = hwio[at..at + 32].try_into().expect("a block");
                                for j in 0..32 {
                                    acc[j] += xv * wr[j];
                                }
                            } else {
                                acc.iter_mut().zip(&hwio[at..at + len]).for_each(|(a, b)| *a += xv * b);
                            }
                        }
                    }
                }
                o[o0..o0 + len].copy_from_slice(&acc[..len]);
            }
        }
    }
}
}

/// Gradients of a full conv; `dx` may be skipped (the first layer's input needs none). The
/// weight gradient is summed over one range of images per thread, the ranges added in order.
pub fn conv_backward(dx: Option<&mut [f32]>, dw: &mut [f32], dy: &[f32], x: &[f32], w: &[f32], g: &ConvGeom) {
    let hwio = ohwi_to_hwio(w, g);
    let parts = image_parts(dx, g, w.len(), |dx, images, dw_hwio| {
        let one = ConvGeom { n: images.len(), ..*g };
        let (oh, ow) = g.out_hw();
        let (xl, yl) = (g.h * g.w * g.cin, oh * ow * g.cout);
        let (x, dy) = (&x[images.start * xl..images.end * xl], &dy[images.start * yl..images.end * yl]);
        conv_backward_images(dx, dw_hwio, dy, x, &hwio, &one);
    });
    let mut dw_hwio = vec![0.0; w.len()];
    add_parts(&mut dw_hwio, &parts);
    let taps = g.k * g.k * g.cin;
    for o in 0..g.cout {
        for r in 0..taps {
            dw[o * taps + r] += dw_hwio[r * g.cout + o];
        }
    }
}

/// `part` run in parallel over one contiguous range of the batch's images per thread, each with
/// its images' part of `dx` (if given) and its own zeroed weight-gradient buffer of `wlen`
/// floats; the buffers in range order.
fn image_parts(
    dx: Option<&mut [f32]>,
    g: &ConvGeom,
    wlen: usize,
    part: impl Fn(Option<&mut [f32]>, Range<usize>, &mut [f32]) + Sync,
) -> Vec<Vec<f32>> {
    use rayon::prelude::*;
    let per = g.n.div_ceil(thread_parts(g.n)).max(1);
    let ranges: Vec<Range<usize>> = (0..g.n).step_by(per).map(|s| s..(s + per).min(g.n)).collect();
    let run = |(dx, images): (Option<&mut [f32]>, Range<usize>)| {
        let mut dw = vec![0.0; wlen];
        part(dx, images, &mut dw);
        dw
    };
    match dx {
        Some(dx) => {
            let xl = g.h * g.w * g.cin;
            let chunks: Vec<(Option<&mut [f32]>, Range<usize>)> =
                dx.chunks_mut(per * xl).map(Some).zip(ranges).collect();
            chunks.into_par_iter().map(run).collect()
        }
        None => ranges.into_par_iter().map(|r| run((None, r))).collect(),
    }
}

widest! {
/// [`conv_backward`] over the images of `g` (all of `dy` and `x`) into `dw_hwio` (HWIO).
fn conv_backward_images(
    dx: Option<&mut [f32]>,
    dw_hwio: &mut [f32],
    dy: &[f32],
    x: &[f32],
    hwio: &[f32],
    g: &ConvGeom,
) {
    let Some(dx) = dx else {
        return conv_weight_grad_images(dw_hwio, dy, x, g);
    };
    let (oh, ow) = g.out_hw();
    dx.fill(0.0);
    for n in 0..g.n {
        for oy in 0..oh {
            for ox in 0..ow {
                let go = &dy[((n * oh + oy) * ow + ox) * g.cout..][..g.cout];
                for ky in 0..g.k {
                    let Some(iy) = g.src(oy, ky, g.h) else { continue };
                    for kx in 0..g.k {
                        let Some(ix) = g.src(ox, kx, g.w) else { continue };
                        let base = ((n * g.h + iy) * g.w + ix) * g.cin;
                        for i in 0..g.cin {
                            let r = ((ky * g.k + kx) * g.cin + i) * g.cout;
                            let xv = x[base + i];
                            dw_hwio[r..r + g.cout].iter_mut().zip(go).for_each(|(a, b)| *a += xv * b);
                            dx[base + i] += go.iter().zip(&hwio[r..r + g.cout]).map(|(a, b)| a * b).sum::<f32>();
                        }
                    }
                }
            }
        }
    }
}
}

/// The weight gradient alone of [`conv_backward_images`] (the stem's: its input needs none): for
/// each output row, each weight row (tap and input channel) in registers, 32 output channels at
/// a time, summed over the row's pixels in order: each weight's contributions in pixel order, as
/// the loop over pixels then taps adds them.
#[inline(always)]
fn conv_weight_grad_images(dw_hwio: &mut [f32], dy: &[f32], x: &[f32], g: &ConvGeom) {
    let (oh, ow) = g.out_hw();
    // For each tap column, the (output, input) column pairs inside.
    let cols: Vec<Vec<(usize, usize)>> =
        (0..g.k).map(|kx| (0..ow).filter_map(|ox| g.src(ox, kx, g.w).map(|ix| (ox, ix))).collect()).collect();
    for n in 0..g.n {
        for oy in 0..oh {
            let dy_row = &dy[(n * oh + oy) * ow * g.cout..][..ow * g.cout];
            for ky in 0..g.k {
                let Some(iy) = g.src(oy, ky, g.h) else { continue };
                let x_row = &x[(n * g.h + iy) * g.w * g.cin..][..g.w * g.cin];
                for (kx, pairs) in cols.iter().enumerate() {
                    for i in 0..g.cin {
                        let r = ((ky * g.k + kx) * g.cin + i) * g.cout;
                        for o0 in (0..g.cout).step_by(32) {
                            let len = 32.min(g.cout - o0);
                            let mut acc = [0.0f32; 32];
                            acc[..len].copy_from_slice(&dw_hwio[r + o0..][..len]);
                            for &(ox, ix) in pairs {
                                let xv = x_row[ix * g.cin + i];
                                let go = &dy_row[ox * g.cout + o0..][..len];
                                if len == 32 {
                                    let go: &[f32; 32] = go.try_into().expect("a block");
                                    for j in 0..32 {
                                        acc[j] += xv * go[j];
                                    }
                                } else {
                                    acc.iter_mut().zip(go).for_each(|(a, b)| *a += xv * b);
                                }
                            }
                            dw_hwio[r + o0..][..len].copy_from_slice(&acc[..len]);
                        }
                    }
                }
            }
        }
    }
}

/// Depthwise conv, weights `[ky][kx][c]`; images in parallel.
pub fn dw_forward(y: &mut [f32], x: &[f32], w: &[f32], g: &ConvGeom) {
    use rayon::prelude::*;
    let (oh, ow) = g.out_hw();
    let one = ConvGeom { n: 1, ..*g };
    let (xl, yl) = (g.h * g.w * g.cin, oh * ow * g.cin);
    y.par_chunks_mut(yl).enumerate().for_each(|(n, yi)| dw_forward_one(yi, &x[n * xl..(n + 1) * xl], w, &one));
}

widest! {
fn dw_forward_one(y: &mut [f32], x: &[f32], w: &[f32], g: &ConvGeom) {
    let (oh, ow) = g.out_hw();
    let c = g.cin;
    for n in 0..g.n {
        for oy in 0..oh {
            for ox in 0..ow {
                let o = &mut y[((n * oh + oy) * ow + ox) * c..][..c];
                o.fill(0.0);
                for ky in 0..g.k {
                    let Some(iy) = g.src(oy, ky, g.h) else { continue };
                    for kx in 0..g.k {
                        let Some(ix) = g.src(ox, kx, g.w) else { continue };
                        let xi = &x[((n * g.h + iy) * g.w + ix) * c..][..c];
                        let wk = &w[(ky * g.k + kx) * c..][..c];
                        for ((ov, a), b) in o.iter_mut().zip(xi).zip(wk) {
                            *ov += a * b;
                        }
                    }
                }
            }
        }
    }
}
}

/// Gradients of a depthwise conv: one range of images per thread, the ranges' weight gradients
/// added in order.
pub fn dw_backward(dx: &mut [f32], dw: &mut [f32], dy: &[f32], x: &[f32], w: &[f32], g: &ConvGeom) {
    let (oh, ow) = g.out_hw();
    let (xl, yl) = (g.h * g.w * g.cin, oh * ow * g.cin);
    let parts = image_parts(Some(dx), g, dw.len(), |dx, images, dwp| {
        let one = ConvGeom { n: images.len(), ..*g };
        let (x, dy) = (&x[images.start * xl..images.end * xl], &dy[images.start * yl..images.end * yl]);
        dw_backward_one(dx.expect("dx is given"), dwp, dy, x, w, &one);
    });
    add_parts(dw, &parts);
}

widest! {
fn dw_backward_one(dx: &mut [f32], dw: &mut [f32], dy: &[f32], x: &[f32], w: &[f32], g: &ConvGeom) {
    let (oh, ow) = g.out_hw();
    let c = g.cin;
    dx.fill(0.0);
    for n in 0..g.n {
        for oy in 0..oh {
            for ox in 0..ow {
                let go = &dy[((n * oh + oy) * ow + ox) * c..][..c];
                for ky in 0..g.k {
                    let Some(iy) = g.src(oy, ky, g.h) else { continue };
                    for kx in 0..g.k {
                        let Some(ix) = g.src(ox, kx, g.w) else { continue };
                        let base = ((n * g.h + iy) * g.w + ix) * c;
                        let wk = (ky * g.k + kx) * c;
                        // Slices zipped rather than indexed, so it vectorises.
                        let (dwk, wkv) = (&mut dw[wk..wk + c], &w[wk..wk + c]);
                        let (xb, dxb) = (&x[base..base + c], &mut dx[base..base + c]);
                        for ((((a, d), &gv), &xv), &wv) in dwk.iter_mut().zip(dxb.iter_mut()).zip(go).zip(xb).zip(wkv) {
                            *a += gv * xv;
                            *d += gv * wv;
                        }
                    }
                }
            }
        }
    }
}
}

/// Batch norm in training mode over all pixels of the batch; saves (x_hat, inverse std).
#[derive(Debug, Clone, Default)]
pub struct BnCache {
    pub x_hat: Vec<f32>,
    pub inv_std: Vec<f32>,
    pub mean: Vec<f32>,
    /// Unbiased variance (for the running statistics).
    pub var_unbiased: Vec<f32>,
}

pub const BN_EPS: f32 = 1e-5;

/// `y` = batch norm of `x` with the batch's own statistics (the cache keeps what the backward
/// pass needs): [`bn_train_forward_in_place`] on a copy.
pub fn bn_train_forward(y: &mut [f32], x: &[f32], gamma: &[f32], beta: &[f32], c: usize) -> BnCache {
    y.copy_from_slice(x);
    let mut cache = BnCache::default();
    bn_train_forward_in_place(&mut cache, y, gamma, beta, c, false, &crate::replicas::Alone);
    cache
}

/// Batch norm in training mode in place: `z` (the convolution's output) becomes `y`, the
/// statistics and normalised values go to `cache` (its buffers reused). The sums and sums of
/// squares are taken (in f64) in one pass over one contiguous range of pixels per rayon thread
/// and the ranges added in order, the normalisation runs by pixel chunks in parallel: the same
/// bits for the same thread count. With `relu6`, ReLU6 follows in the same pass. With several
/// `replicas` (each holding a shard of the batch in `z`), the statistics are the whole batch's
/// (synchronised batch norm).
#[allow(clippy::too_many_arguments)]
pub fn bn_train_forward_in_place(
    cache: &mut BnCache,
    z: &mut [f32],
    gamma: &[f32],
    beta: &[f32],
    c: usize,
    relu6: bool,
    replicas: &dyn Replicas,
) {
    use rayon::prelude::*;
    let m = (z.len() / c * replicas.count()) as f64;
    // Sums in the first c, sums of squares in the second.
    let mut sums = per_channel_sums(z, z, c, sum_and_squares);
    replicas.sum_f64(&mut sums);
    let (sum, squares) = sums.split_at(c);
    let mean: Vec<f64> = sum.iter().map(|s| s / m).collect();
    // The biased variance, E[z^2] - E[z]^2 (in f64, far from cancelling for f32 values).
    let var: Vec<f64> = squares.iter().zip(&mean).map(|(q, mu)| (q / m - mu * mu).max(0.0)).collect();
    let BnCache { x_hat, inv_std, mean: mean32, var_unbiased } = cache;
    inv_std.clear();
    inv_std.extend(var.iter().map(|v| (1.0 / (v + BN_EPS as f64).sqrt()) as f32));
    var_unbiased.clear();
    var_unbiased.extend(var.iter().map(|v| (v * m / (m.max(2.0) - 1.0)) as f32));
    mean32.clear();
    mean32.extend(mean.iter().map(|&v| v as f32));
    x_hat.resize(z.len(), 0.0);
    let (mean32, inv_std) = (&*mean32, &*inv_std);
    let rows = pixel_chunk(c);
    x_hat.par_chunks_mut(rows * c).zip(z.par_chunks_mut(rows * c)).for_each(|(xh, zc)| {
        normalise(xh, zc, mean32, inv_std, gamma, beta, relu6);
    });
}

widest! {
/// Per channel, `sums[..c]` += the values of `z`'s pixels and `sums[c..]` += their squares.
fn sum_and_squares(sums: &mut [f64], z: &[f32], _unused: &[f32]) {
    let c = sums.len() / 2;
    let (s, q) = sums.split_at_mut(c);
    for px in z.chunks_exact(c) {
        // Zipped rather than indexed, so it vectorises (no bounds checks).
        for ((s, q), &v) in s.iter_mut().zip(q.iter_mut()).zip(px) {
            let v = v as f64;
            *s += v;
            *q += v * v;
        }
    }
}
}

widest! {
/// `x_hat = (z - mean) * inv_std` and `z = gamma * x_hat + beta` (clamped to [0, 6] with
/// `relu6`), pixel by pixel.
fn normalise(x_hat: &mut [f32], z: &mut [f32], mean: &[f32], inv_std: &[f32], gamma: &[f32], beta: &[f32], relu6: bool) {
    let c = mean.len();
    let (lo, hi) = if relu6 { (0.0, 6.0) } else { (f32::NEG_INFINITY, f32::INFINITY) };
    for (xh, px) in x_hat.chunks_exact_mut(c).zip(z.chunks_exact_mut(c)) {
        let factors = mean.iter().zip(inv_std).zip(gamma.iter().zip(beta));
        for ((h, v), ((&mu, &is), (&ga, &be))) in xh.iter_mut().zip(px.iter_mut()).zip(factors) {
            *h = (*v - mu) * is;
            *v = (ga * *h + be).clamp(lo, hi);
        }
    }
}
}

/// Per-channel f64 sums of `a` and `b` (pixels of `c` floats, read side by side) by `add(sums,
/// a_range, b_range)` into `2 c` sums: one contiguous range of pixels per rayon thread, the
/// ranges' sums added in order.
fn per_channel_sums(a: &[f32], b: &[f32], c: usize, add: impl Fn(&mut [f64], &[f32], &[f32]) + Sync) -> Vec<f64> {
    let m = a.len() / c;
    let sums = range_partials(thread_parts(m), m, 2 * c, |px, s| {
        add(s, &a[px.start * c..px.end * c], &b[px.start * c..px.end * c]);
    });
    let mut total = vec![0f64; 2 * c];
    add_parts(&mut total, &sums);
    total
}

/// Pixels per parallel chunk of an elementwise pass (about 64 K floats).
fn pixel_chunk(c: usize) -> usize {
    (65536 / c).max(1)
}

/// dx = gamma * inv_std / m * (m dy - sum dy - x_hat sum(dy x_hat)); accumulates dgamma, dbeta.
/// The sums as in [`bn_train_forward_in_place`] (per thread range, in order), `dx` by pixel
/// chunks in parallel: the same bits for the same thread count. With `relu6` (the forward was
/// ReLU6 after the batch norm of scale `gamma` and shift `beta`), `dy` is the gradient of the
/// ReLU6's output: it passes where `gamma x_hat + beta`, recomputed as the forward computed it,
/// lay strictly inside (0, 6). With several `replicas`, the sums are the whole batch's.
#[allow(clippy::too_many_arguments)]
pub fn bn_train_backward(
    dx: &mut [f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
    dy: &[f32],
    cache: &BnCache,
    (gamma, beta): (&[f32], &[f32]),
    relu6: bool,
    replicas: &dyn Replicas,
) {
    use rayon::prelude::*;
    let c = gamma.len();
    let m = dy.len() / c * replicas.count();
    let affine = relu6.then_some((gamma, beta));
    // Both sums in one pass: sum dy in the first c, sum dy * x_hat in the second.
    let mut sums = per_channel_sums(dy, &cache.x_hat, c, |s, g, xh| gradient_sums(s, g, xh, affine));
    replicas.sum_f64(&mut sums);
    let (sdy, sdyx) = sums.split_at(c);
    for ch in 0..c {
        dgamma[ch] += sdyx[ch] as f32;
        dbeta[ch] += sdy[ch] as f32;
    }
    // The per-channel factors once (the same operations on the same values as inline).
    let k: Vec<f32> = (0..c).map(|ch| gamma[ch] * cache.inv_std[ch] / m as f32).collect();
    let (sdy, sdyx): (Vec<f32>, Vec<f32>) = (0..c).map(|ch| (sdy[ch] as f32, sdyx[ch] as f32)).unzip();
    let (k, sdy, sdyx, mf) = (&k, &sdy, &sdyx, m as f32);
    let rows = pixel_chunk(c);
    dx.par_chunks_mut(rows * c)
        .zip(dy.par_chunks(rows * c))
        .zip(cache.x_hat.par_chunks(rows * c))
        .for_each(|((dxc, dyc), xhc)| bn_input_gradient(dxc, dyc, xhc, k, sdy, sdyx, mf, affine));
}

widest! {
/// Per channel, `sums[..c]` += `dy` and `sums[c..]` += `dy * x_hat` over the pixels (`dy`
/// through ReLU6's gate when `relu6` gives the batch norm's scale and shift).
fn gradient_sums(sums: &mut [f64], dy: &[f32], x_hat: &[f32], relu6: Option<(&[f32], &[f32])>) {
    let c = sums.len() / 2;
    let (sdy, sdyx) = sums.split_at_mut(c);
    for (g, xh) in dy.chunks_exact(c).zip(x_hat.chunks_exact(c)) {
        let plain = g.iter().copied().zip(xh.iter().copied());
        match relu6 {
            Some((gamma, beta)) => {
                let gated = plain.zip(gamma.iter().zip(beta)).map(|((v, h), (&ga, &be))| (relu6_gate(v, ga * h + be), h));
                add_gradient_pairs(sdy, sdyx, gated)
            }
            None => add_gradient_pairs(sdy, sdyx, plain),
        }
    }
}
}

/// One pixel's `(dy, x_hat)` pairs, channel by channel, into [`gradient_sums`]'s two sums.
#[inline(always)]
fn add_gradient_pairs(sdy: &mut [f64], sdyx: &mut [f64], pairs: impl Iterator<Item = (f32, f32)>) {
    for ((a, b), (v, h)) in sdy.iter_mut().zip(sdyx.iter_mut()).zip(pairs) {
        *a += v as f64;
        *b += (v * h) as f64;
    }
}

widest! {
/// `dx = k (m dy - sum dy - x_hat sum(dy x_hat))` pixel by pixel, with per-channel `k` and sums
/// (`dy` through ReLU6's gate when `relu6` gives the batch norm's scale and shift).
fn bn_input_gradient(
    dx: &mut [f32],
    dy: &[f32],
    x_hat: &[f32],
    k: &[f32],
    sdy: &[f32],
    sdyx: &[f32],
    m: f32,
    relu6: Option<(&[f32], &[f32])>,
) {
    let c = k.len();
    for ((d, g), xh) in dx.chunks_exact_mut(c).zip(dy.chunks_exact(c)).zip(x_hat.chunks_exact(c)) {
        let factors = k.iter().zip(sdy).zip(sdyx);
        match relu6 {
            Some((gamma, beta)) => {
                let affine = gamma.iter().zip(beta);
                for ((((dv, &gv), &h), ((&kk, &a), &b)), (&ga, &be)) in d.iter_mut().zip(g).zip(xh).zip(factors).zip(affine) {
                    *dv = kk * (m * relu6_gate(gv, ga * h + be) - a - h * b);
                }
            }
            None => {
                for (((dv, &gv), &h), ((&kk, &a), &b)) in d.iter_mut().zip(g).zip(xh).zip(factors) {
                    *dv = kk * (m * gv - a - h * b);
                }
            }
        }
    }
}
}

/// [`bn_eval_forward`] in place.
pub fn bn_eval_in_place(z: &mut [f32], gamma: &[f32], beta: &[f32], mean: &[f32], var: &[f32], c: usize) {
    for px in z.chunks_exact_mut(c) {
        for ch in 0..c {
            px[ch] = gamma[ch] * (px[ch] - mean[ch]) / (var[ch] + BN_EPS).sqrt() + beta[ch];
        }
    }
}

/// Batch norm with running statistics (evaluation).
pub fn bn_eval_forward(y: &mut [f32], x: &[f32], gamma: &[f32], beta: &[f32], mean: &[f32], var: &[f32], c: usize) {
    for (yo, px) in y.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
        for ch in 0..c {
            yo[ch] = gamma[ch] * (px[ch] - mean[ch]) / (var[ch] + BN_EPS).sqrt() + beta[ch];
        }
    }
}

widest! {
pub fn relu6_forward(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = v.clamp(0.0, 6.0));
}
}

widest! {
/// ReLU6's backward from its input `pre` (PyTorch's hardtanh rule, see [`relu6_gate`]).
pub fn relu6_backward(d: &mut [f32], pre: &[f32]) {
    for (g, &x) in d.iter_mut().zip(pre) {
        *g = relu6_gate(*g, x);
    }
}
}

/// ReLU6's gradient `g` where its input was `pre`: passed strictly inside (0, 6) (PyTorch's
/// hardtanh rule). A select rather than a branch, so loops over it vectorise.
#[inline(always)]
fn relu6_gate(g: f32, pre: f32) -> f32 {
    if pre > 0.0 && pre < 6.0 { g } else { 0.0 }
}

/// Mean over the pixels of each image: `[n][p][c]` -> `[n][c]`.
pub fn avgpool_forward(y: &mut [f32], x: &[f32], n: usize, c: usize) {
    let p = x.len() / (n * c);
    for (img, o) in y.chunks_exact_mut(c).enumerate() {
        o.fill(0.0);
        for px in x[img * p * c..(img + 1) * p * c].chunks_exact(c) {
            for (a, &b) in o.iter_mut().zip(px) {
                *a += b;
            }
        }
        o.iter_mut().for_each(|v| *v /= p as f32);
    }
}

pub fn avgpool_backward(dx: &mut [f32], dy: &[f32], n: usize, c: usize) {
    let p = dx.len() / (n * c);
    for (img, g) in dy.chunks_exact(c).enumerate() {
        for px in dx[img * p * c..(img + 1) * p * c].chunks_exact_mut(c) {
            for (d, &v) in px.iter_mut().zip(g) {
                *d = v / p as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests;
