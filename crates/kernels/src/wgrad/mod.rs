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
        _ => body::<false>(dy, x, cout, cin, dw),
    }
}

/// [`body`] compiled for AVX-512.
///
/// # Safety
/// The CPU must have AVX-512 F, BW and VL.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
unsafe fn weight_grad_avx512(dy: &[f32], x: &[f32], cout: usize, cin: usize, dw: &mut [f32]) {
    body::<true>(dy, x, cout, cin, dw)
}

/// [`body`] compiled for AVX2.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn weight_grad_avx2(dy: &[f32], x: &[f32], cout: usize, cin: usize, dw: &mut [f32]) {
    body::<false>(dy, x, cout, cin, dw)
}

/// Chunks of pixels, in order; in each, every tile of `dw`. `WIDE` (only inside the AVX-512
/// entry) takes rows eight at a time with [`tile8_avx512`].
#[inline(always)]
fn body<const WIDE: bool>(dy: &[f32], x: &[f32], cout: usize, cin: usize, dw: &mut [f32]) {
    let pixels = dy.len() / cout;
    let chunk = (CHUNK_FLOATS / (cout + cin)).max(1);
    // Whole 16-column tiles, then one of 8 where 8 to 15 columns are left.
    let i16 = cin / TI * TI;
    let i_full = if cin - i16 >= TI / 2 { i16 + TI / 2 } else { i16 };
    let o_full = cout / TO * TO;
    for p0 in (0..pixels).step_by(chunk) {
        let p1 = (p0 + chunk).min(pixels);
        let (dy, x) = (&dy[p0 * cout..p1 * cout], &x[p0 * cin..p1 * cin]);
        touch(dy);
        touch(x);
        let mut o0 = 0;
        while o0 < o_full {
            #[cfg(target_arch = "x86_64")]
            if WIDE && o0 + 2 * TO <= o_full {
                for i0 in (0..i16).step_by(TI) {
                    // SAFETY: WIDE only in the AVX-512 entry; rows o0..o0+8 and columns
                    // i0..i0+16 lie inside dy, x and dw (checked by the loops' bounds).
                    unsafe { tile8_avx512(dy, x, cout, cin, o0, i0, dw) };
                }
                if i_full > i16 {
                    tile::<{ TI / 2 }>(dy, x, cout, cin, o0, i16, dw);
                    tile::<{ TI / 2 }>(dy, x, cout, cin, o0 + TO, i16, dw);
                }
                o0 += 2 * TO;
                continue;
            }
            for i0 in (0..i16).step_by(TI) {
                tile::<TI>(dy, x, cout, cin, o0, i0, dw);
            }
            if i_full > i16 {
                tile::<{ TI / 2 }>(dy, x, cout, cin, o0, i16, dw);
            }
            o0 += TO;
        }
        // The edges (input columns past the last whole tile, output rows past the last whole
        // tile) pixel by pixel, each row's columns contiguous; nothing where the tiles cover all.
        if i_full == cin && o_full == cout {
            continue;
        }
        for (d, xr) in dy.chunks_exact(cout).zip(x.chunks_exact(cin)) {
            if i_full < cin {
                for (o, &g) in d[..o_full].iter().enumerate() {
                    let row = &mut dw[o * cin + i_full..(o + 1) * cin];
                    row.iter_mut().zip(&xr[i_full..]).for_each(|(s, &v)| *s += g * v);
                }
            }
            for (o, &g) in d.iter().enumerate().skip(o_full) {
                let row = &mut dw[o * cin..(o + 1) * cin];
                row.iter_mut().zip(xr).for_each(|(s, &v)| *s += g * v);
            }
        }
    }
}

/// Reads one float of every cache line of `v`, front to back: the hardware prefetcher streams a
/// sequential read at full bandwidth, where the tiles' strided reads would each wait for memory.
#[inline(always)]
fn touch(v: &[f32]) {
    let mut sum = 0.0f32;
    for line in v.chunks(16) {
        sum += line[0];
    }
    std::hint::black_box(sum);
}

/// Eight rows by 16 columns in AVX-512 registers (eight independent sums per pixel, where four
/// would wait on the add's latency): a multiply then an add, the reference's bits.
///
/// # Safety
/// The CPU must have AVX-512F; `dy` and `x` hold whole pixels of `cout` and `cin` floats, with
/// `o0 + 8 <= cout`, `i0 + 16 <= cin` and `dw` holding `cout * cin`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile8_avx512(dy: &[f32], x: &[f32], cout: usize, cin: usize, o0: usize, i0: usize, dw: &mut [f32]) {
    use std::arch::x86_64::*;
    debug_assert!(o0 + 8 <= cout && i0 + TI <= cin && dw.len() == cout * cin);
    let pixels = dy.len() / cout;
    // SAFETY: the caller's contract bounds every address below.
    unsafe {
        let w = dw.as_mut_ptr().add(o0 * cin + i0);
        let mut acc: [__m512; 8] = std::array::from_fn(|r| _mm512_loadu_ps(w.add(r * cin)));
        let (mut d, mut xp) = (dy.as_ptr().add(o0), x.as_ptr().add(i0));
        for _ in 0..pixels {
            let xv = _mm512_loadu_ps(xp);
            for (r, a) in acc.iter_mut().enumerate() {
                *a = _mm512_add_ps(*a, _mm512_mul_ps(_mm512_set1_ps(*d.add(r)), xv));
            }
            d = d.add(cout);
            xp = xp.add(cin);
        }
        for (r, a) in acc.iter().enumerate() {
            _mm512_storeu_ps(w.add(r * cin), *a);
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
