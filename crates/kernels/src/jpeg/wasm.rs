//! The inverse DCT and the colour conversion with WebAssembly SIMD128: eight lanes as two `v128`.

use super::BLOCK;
use super::lanes::{self, Lanes, transpose_quarters, ycc};
use std::arch::wasm32::*;

#[derive(Clone, Copy)]
struct V(v128, v128);

/// A 4x4 transpose of 32-bit lanes (pairs of lanes, then pairs of pairs).
#[inline(always)]
fn transpose4(a: v128, b: v128, c: v128, d: v128) -> [v128; 4] {
    let (t0, t1) = (i32x4_shuffle::<0, 4, 2, 6>(a, b), i32x4_shuffle::<1, 5, 3, 7>(a, b));
    let (t2, t3) = (i32x4_shuffle::<0, 4, 2, 6>(c, d), i32x4_shuffle::<1, 5, 3, 7>(c, d));
    [
        i64x2_shuffle::<0, 2>(t0, t2),
        i64x2_shuffle::<0, 2>(t1, t3),
        i64x2_shuffle::<1, 3>(t0, t2),
        i64x2_shuffle::<1, 3>(t1, t3),
    ]
}

/// Eight lanes saturated to 0..=255 in the low eight bytes (to i16, then to unsigned bytes).
#[inline(always)]
fn narrow(v: V) -> v128 {
    let w = i16x8_narrow_i32x4(v.0, v.1);
    u8x16_narrow_i16x8(w, w)
}

impl Lanes for V {
    #[inline(always)]
    fn splat(k: i32) -> V {
        V(i32x4_splat(k), i32x4_splat(k))
    }
    #[inline(always)]
    fn add(self, o: V) -> V {
        V(i32x4_add(self.0, o.0), i32x4_add(self.1, o.1))
    }
    #[inline(always)]
    fn sub(self, o: V) -> V {
        V(i32x4_sub(self.0, o.0), i32x4_sub(self.1, o.1))
    }
    #[inline(always)]
    fn mul(self, o: V) -> V {
        V(i32x4_mul(self.0, o.0), i32x4_mul(self.1, o.1))
    }
    #[inline(always)]
    fn shl(self, n: u32) -> V {
        V(i32x4_shl(self.0, n), i32x4_shl(self.1, n))
    }
    #[inline(always)]
    fn sra(self, n: u32) -> V {
        V(i32x4_shr(self.0, n), i32x4_shr(self.1, n))
    }
    #[inline(always)]
    unsafe fn load(p: *const i32) -> V {
        // SAFETY: `p` valid for 8 reads (the caller's contract); v128_load takes any alignment.
        unsafe { V(v128_load(p.cast()), v128_load(p.add(4).cast())) }
    }
    #[inline(always)]
    fn transpose(r: [V; 8]) -> [V; 8] {
        transpose_quarters(r.map(|v| [v.0, v.1]), |[a, b, c, d]| transpose4(a, b, c, d)).map(|[lo, hi]| V(lo, hi))
    }
    #[inline(always)]
    fn saturated_bytes(self) -> [u8; 8] {
        u64x2_extract_lane::<0>(narrow(self)).to_le_bytes()
    }
}

/// A row of blocks (see [`super::idct_blocks`]).
#[target_feature(enable = "simd128")]
pub(super) fn idct_blocks(blocks: &[[i32; BLOCK]], out: &mut [u8], stride: usize) {
    lanes::idct_blocks::<V>(blocks, out, stride)
}

/// Converts whole groups of eight pixels; returns how many pixels it converted (the caller
/// does the rest).
#[target_feature(enable = "simd128")]
pub(super) fn ycc_to_rgb(y: &[u8], cb: &[u8], cr: &[u8], rgb: &mut [u8]) -> usize {
    let n = y.len().min(cb.len()).min(cr.len()).min(rgb.len() / 3);
    let mut i = 0;
    while i + 8 <= n {
        let widen = |s: &[u8], minus: i32| {
            // SAFETY: 8 bytes of `s` from i are inside (i + 8 <= n).
            let w = u16x8_extend_low_u8x16(unsafe { v128_load64_zero(s.as_ptr().add(i).cast()) });
            V(u32x4_extend_low_u16x8(w), u32x4_extend_high_u16x8(w)).sub(V::splat(minus))
        };
        let [r, g, b] = ycc(widen(y, 0), widen(cb, 128), widen(cr, 128));
        // R and G in one register (bytes 0..8 and 8..16), B in another, interleaved: pixels 0..5
        // and R5 in the first 16 bytes, the rest in 8 more.
        let rg = i64x2_shuffle::<0, 2>(narrow(r), narrow(g));
        let b = narrow(b);
        let first = i8x16_shuffle::<0, 8, 16, 1, 9, 17, 2, 10, 18, 3, 11, 19, 4, 12, 20, 5>(rg, b);
        let rest = i8x16_shuffle::<13, 21, 6, 14, 22, 7, 15, 23, 0, 0, 0, 0, 0, 0, 0, 0>(rg, b);
        // SAFETY: the 24 stored bytes end at 3 (i + 8) <= rgb.len().
        unsafe {
            let dst = rgb.as_mut_ptr().add(3 * i);
            v128_store(dst.cast(), first);
            v128_store64_lane::<0>(rest, dst.add(16).cast());
        }
        i += 8;
    }
    i
}
