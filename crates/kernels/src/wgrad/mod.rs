//! The weight gradient of a pointwise (1x1) conv: `dw[o][i] += sum_p dy[p][o] * x[p][i]`, read
//! straight from the two row-major activations (pixels x channels). The GEMM would need `dy`
//! transposed and `x` packed, two copies as large as the activations; this reads both in place.
//!
//! Register tiles of 4 output channels x 16 input channels keep their sums across a chunk of
//! pixels (so the chunk's rows stay in cache for all tiles). Every element is summed in pixel
//! order, a multiply then an add, starting from `dw`'s value: the same bits as the reference,
//! at every level (the vector levels compile the same body for wider registers).

mod reference;
#[cfg(test)]
mod tests;

pub use reference::weight_grad_reference;

use crate::Isa;

/// The levels this family has its own code for.
pub const VARIANTS: [Isa; 3] = [Isa::Scalar, Isa::Avx2, Isa::Avx512];

/// Output channels per tile.
const TO: usize = 4;
/// Input channels per tile.
const TI: usize = 16;
/// Floats of `x` and `dy` rows per chunk of pixels (about 128 KB).
const CHUNK_FLOATS: usize = 32 * 1024;

/// `dw` (`cout` x `cin`, row-major) += `dy^T x` over the pixels of `dy` (pixels x `cout`) and `x`
/// (pixels x `cin`).
pub fn weight_grad(isa: Isa, dy: &[f32], x: &[f32], cout: usize, cin: usize, dw: &mut [f32]) {
    assert!(cout > 0 && cin > 0, "weight gradient of an empty conv");
    let pixels = dy.len() / cout;
    assert_eq!(dy.len(), pixels * cout, "dy is not whole pixels");
    assert_eq!(x.len(), pixels * cin, "x has {} floats, expected {pixels} x {cin}", x.len());
    assert_eq!(dw.len(), cout * cin, "dw shape");
    match crate::isa::pick(&VARIANTS, isa) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: pick() returns only levels the CPU has: AVX-512 F/BW/VL.
        Isa::Avx512 => unsafe { weight_grad_avx512(dy, x, cout, cin, dw) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: pick() returns only levels the CPU has: AVX2 and FMA.
        Isa::Avx2 => unsafe { weight_grad_avx2(dy, x, cout, cin, dw) },
        _ => body(dy, x, cout, cin, dw),
    }
}

/// [`body`] compiled for AVX-512.
///
/// # Safety
/// The CPU must have AVX-512 F, BW and VL.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
unsafe fn weight_grad_avx512(dy: &[f32], x: &[f32], cout: usize, cin: usize, dw: &mut [f32]) {
    body(dy, x, cout, cin, dw)
}

/// [`body`] compiled for AVX2.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn weight_grad_avx2(dy: &[f32], x: &[f32], cout: usize, cin: usize, dw: &mut [f32]) {
    body(dy, x, cout, cin, dw)
}

/// Chunks of pixels, in order; in each, every tile of `dw`.
#[inline(always)]
fn body(dy: &[f32], x: &[f32], cout: usize, cin: usize, dw: &mut [f32]) {
    let pixels = dy.len() / cout;
    let chunk = (CHUNK_FLOATS / (cout + cin)).max(1);
    // Whole 16-column tiles, then one of 8 where 8 to 15 columns are left.
    let i16 = cin / TI * TI;
    let i_full = if cin - i16 >= TI / 2 { i16 + TI / 2 } else { i16 };
    for p0 in (0..pixels).step_by(chunk) {
        let p1 = (p0 + chunk).min(pixels);
        let (dy, x) = (&dy[p0 * cout..p1 * cout], &x[p0 * cin..p1 * cin]);
        for o0 in (0..cout / TO * TO).step_by(TO) {
            for i0 in (0..i16).step_by(TI) {
                tile::<TI>(dy, x, cout, cin, o0, i0, dw);
            }
            if i_full > i16 {
                tile::<{ TI / 2 }>(dy, x, cout, cin, o0, i16, dw);
            }
        }
        // The edges (output rows past the last whole tile, input columns past the last whole
        // tile) pixel by pixel, each row's columns contiguous.
        for (d, xr) in dy.chunks_exact(cout).zip(x.chunks_exact(cin)) {
            for (o, &g) in d.iter().enumerate() {
                let from = if o < cout / TO * TO { i_full } else { 0 };
                let row = &mut dw[o * cin + from..(o + 1) * cin];
                for (s, &v) in row.iter_mut().zip(&xr[from..]) {
                    *s += g * v;
                }
            }
        }
    }
}

/// One full tile: `dw[o0..o0+4][i0..i0+W]` += the chunk's products, the sums in registers
/// (eight 8-float vectors for W = 16 once compiled for AVX2).
#[inline(always)]
fn tile<const W: usize>(dy: &[f32], x: &[f32], cout: usize, cin: usize, o0: usize, i0: usize, dw: &mut [f32]) {
    let row = |r: usize| -> [f32; W] { dw[(o0 + r) * cin + i0..][..W].try_into().expect("a tile row") };
    let (mut a0, mut a1, mut a2, mut a3) = (row(0), row(1), row(2), row(3));
    for (d, xr) in dy.chunks_exact(cout).zip(x.chunks_exact(cin)) {
        let xv: &[f32; W] = xr[i0..i0 + W].try_into().expect("a tile's columns");
        let (g0, g1, g2, g3) = (d[o0], d[o0 + 1], d[o0 + 2], d[o0 + 3]);
        for j in 0..W {
            a0[j] += g0 * xv[j];
            a1[j] += g1 * xv[j];
            a2[j] += g2 * xv[j];
            a3[j] += g3 * xv[j];
        }
    }
    for (r, a) in [a0, a1, a2, a3].iter().enumerate() {
        dw[(o0 + r) * cin + i0..][..W].copy_from_slice(a);
    }
}
