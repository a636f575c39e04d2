//! The sample stages of a baseline JPEG decoder, bit-exact with libjpeg-turbo (what PIL and
//! most Python pipelines decode with): the accurate integer inverse DCT (`JDCT_ISLOW`,
//! jidctint.c) and the YCbCr -> RGB conversion of jdcolor.c. Both are integer arithmetic
//! with one right answer, so every level gives the same bytes as the reference.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(any(target_arch = "aarch64", target_arch = "wasm32"))]
mod lanes;
#[cfg(target_arch = "aarch64")]
mod neon;
mod reference;
#[cfg(test)]
mod tests;
#[cfg(target_arch = "wasm32")]
mod wasm;

pub use reference::{idct_islow_reference, ycc_to_rgb_reference};

use crate::Isa;
use crate::isa::pick;

/// Coefficients per 8x8 block.
pub const BLOCK: usize = 64;

/// The levels the inverse DCT has its own code for.
pub const IDCT_VARIANTS: [Isa; 4] = [Isa::Scalar, Isa::Avx2, Isa::Neon, Isa::Simd128];
/// The levels the colour conversion has its own code for.
pub const YCC_VARIANTS: [Isa; 4] = [Isa::Scalar, Isa::Avx2, Isa::Neon, Isa::Simd128];

const CONST_BITS: u32 = 13;
const PASS1_BITS: u32 = 2;
/// jidctint.c's constants, FIX(x) = round(x * 2^13): 0.541196100, 1.847759065, 0.765366865,
/// 1.175875602, 0.298631336, 2.053119869, 3.072711026, 1.501321110, 0.899976223, 2.562915447,
/// 1.961570560, 0.390180644.
const FIX: [i32; 12] = [4433, 15137, 6270, 9633, 2446, 16819, 25172, 12299, 7373, 20995, 16069, 3196];

/// jdcolor.c's constants at 16 bits: FIX(1.40200), FIX(0.34414), FIX(0.71414), FIX(1.77200).
const CR_R: i32 = 91881;
const CB_G: i32 = 22554;
const CR_G: i32 = 46802;
const CB_B: i32 = 116130;
const ONE_HALF: i32 = 1 << 15;

/// The inverse DCT of a row of blocks (dequantized coefficients, natural order): block `i`
/// becomes the 8x8 samples at columns `8 i..8 i + 8` of rows `0..8` of `out` (row stride
/// `stride`).
pub fn idct_blocks(isa: Isa, blocks: &[[i32; BLOCK]], out: &mut [u8], stride: usize) {
    if blocks.is_empty() {
        return;
    }
    assert!(blocks.len() * 8 <= stride && out.len() >= 7 * stride + blocks.len() * 8, "IDCT output too small");
    match pick(&IDCT_VARIANTS, isa) {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => {
            for (i, b) in blocks.iter().enumerate() {
                // SAFETY: pick() returned Avx2, so the CPU has it; rows 0..8 of columns
                // 8 i..8 i + 8 lie inside `out` (asserted above).
                unsafe { avx2::idct_islow(b, out[i * 8..].as_mut_ptr(), stride) };
            }
            return;
        }
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => return neon::idct_blocks(blocks, out, stride),
        // pick() returned Simd128: a wasm32 build, made for engines with it.
        #[cfg(target_arch = "wasm32")]
        Isa::Simd128 => return wasm::idct_blocks(blocks, out, stride),
        _ => {}
    }
    for (i, b) in blocks.iter().enumerate() {
        idct_islow_reference(b, &mut out[i * 8..], stride);
    }
}

/// libjpeg's YCbCr -> RGB of one row: `rgb` gets `y.len()` interleaved pixels (`cb` and `cr`
/// at least as long as `y`).
pub fn ycc_to_rgb(isa: Isa, y: &[u8], cb: &[u8], cr: &[u8], rgb: &mut [u8]) {
    let n = y.len();
    assert!(cb.len() >= n && cr.len() >= n && rgb.len() >= 3 * n, "colour conversion buffers");
    let done = match pick(&YCC_VARIANTS, isa) {
        // SAFETY: pick() returned Avx2, so the CPU has it; the kernel reads and writes only
        // inside the slices it is given (it stops where a whole vector store no longer fits).
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { avx2::ycc_to_rgb(y, cb, cr, rgb) },
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => neon::ycc_to_rgb(y, cb, cr, rgb),
        #[cfg(target_arch = "wasm32")]
        Isa::Simd128 => wasm::ycc_to_rgb(y, cb, cr, rgb),
        _ => 0,
    };
    ycc_to_rgb_reference(&y[done..], &cb[done..n], &cr[done..n], &mut rgb[3 * done..3 * n]);
}
