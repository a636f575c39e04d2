//! The inverse DCT and the colour conversion with NEON: eight lanes as two `int32x4_t`.

use super::BLOCK;
use super::lanes::{self, Lanes, transpose_quarters, ycc};
use std::arch::aarch64::*;

#[derive(Clone, Copy)]
struct V(int32x4_t, int32x4_t);

/// A 4x4 transpose of 32-bit lanes (pairs of lanes, then pairs of pairs).
#[inline(always)]
fn transpose4(a: int32x4_t, b: int32x4_t, c: int32x4_t, d: int32x4_t) -> [int32x4_t; 4] {
    // SAFETY: NEON is part of every aarch64 CPU.
    unsafe {
        let (t0, t1) = (vtrn1q_s32(a, b), vtrn2q_s32(a, b));
        let (t2, t3) = (vtrn1q_s32(c, d), vtrn2q_s32(c, d));
        let (t0, t1, t2, t3) = (
            vreinterpretq_s64_s32(t0),
            vreinterpretq_s64_s32(t1),
            vreinterpretq_s64_s32(t2),
            vreinterpretq_s64_s32(t3),
        );
        [
            vreinterpretq_s32_s64(vtrn1q_s64(t0, t2)),
            vreinterpretq_s32_s64(vtrn1q_s64(t1, t3)),
            vreinterpretq_s32_s64(vtrn2q_s64(t0, t2)),
            vreinterpretq_s32_s64(vtrn2q_s64(t1, t3)),
        ]
    }
}

/// Eight lanes saturated to 0..=255 (to 0..=65535, then to bytes).
#[inline(always)]
fn narrow(v: V) -> uint8x8_t {
    // SAFETY: NEON is part of every aarch64 CPU.
    unsafe { vqmovn_u16(vcombine_u16(vqmovun_s32(v.0), vqmovun_s32(v.1))) }
}

// SAFETY (every block below): NEON is part of every aarch64 CPU; no intrinsic touches memory
// except `load`, whose pointer the caller vouches for.
impl Lanes for V {
    #[inline(always)]
    fn splat(k: i32) -> V {
        // SAFETY: see the impl.
        unsafe { V(vdupq_n_s32(k), vdupq_n_s32(k)) }
    }
    #[inline(always)]
    fn add(self, o: V) -> V {
        // SAFETY: see the impl.
        unsafe { V(vaddq_s32(self.0, o.0), vaddq_s32(self.1, o.1)) }
    }
    #[inline(always)]
    fn sub(self, o: V) -> V {
        // SAFETY: see the impl.
        unsafe { V(vsubq_s32(self.0, o.0), vsubq_s32(self.1, o.1)) }
    }
    #[inline(always)]
    fn mul(self, o: V) -> V {
        // SAFETY: see the impl.
        unsafe { V(vmulq_s32(self.0, o.0), vmulq_s32(self.1, o.1)) }
    }
    #[inline(always)]
    fn shl(self, n: u32) -> V {
        // SAFETY: see the impl.
        unsafe {
            let n = vdupq_n_s32(n as i32);
            V(vshlq_s32(self.0, n), vshlq_s32(self.1, n))
        }
    }
    #[inline(always)]
    fn sra(self, n: u32) -> V {
        // SAFETY: see the impl (a negative count shifts right, arithmetically for signed lanes).
        unsafe {
            let n = vdupq_n_s32(-(n as i32));
            V(vshlq_s32(self.0, n), vshlq_s32(self.1, n))
        }
    }
    #[inline(always)]
    unsafe fn load(p: *const i32) -> V {
        // SAFETY: `p` valid for 8 reads (the caller's contract).
        unsafe { V(vld1q_s32(p), vld1q_s32(p.add(4))) }
    }
    #[inline(always)]
    fn transpose(r: [V; 8]) -> [V; 8] {
        transpose_quarters(r.map(|v| [v.0, v.1]), |[a, b, c, d]| transpose4(a, b, c, d)).map(|[lo, hi]| V(lo, hi))
    }
    #[inline(always)]
    fn saturated_bytes(self) -> [u8; 8] {
        let mut out = [0u8; 8];
        // SAFETY: see the impl; `out` holds 8 bytes.
        unsafe { vst1_u8(out.as_mut_ptr(), narrow(self)) };
        out
    }
}

/// A row of blocks (see [`super::idct_blocks`]).
pub(super) fn idct_blocks(blocks: &[[i32; BLOCK]], out: &mut [u8], stride: usize) {
    lanes::idct_blocks::<V>(blocks, out, stride)
}

/// Converts whole groups of eight pixels; returns how many pixels it converted (the caller
/// does the rest).
pub(super) fn ycc_to_rgb(y: &[u8], cb: &[u8], cr: &[u8], rgb: &mut [u8]) -> usize {
    let n = y.len().min(cb.len()).min(cr.len()).min(rgb.len() / 3);
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: NEON is part of every aarch64 CPU; 8 bytes of y, cb and cr from i are inside
        // (i + 8 <= n) and the 24 stored bytes end at 3 (i + 8) <= rgb.len().
        unsafe {
            let widen = |s: &[u8], minus: i32| {
                let w = vmovl_u8(vld1_u8(s.as_ptr().add(i)));
                let (lo, hi) = (
                    vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(w))),
                    vreinterpretq_s32_u32(vmovl_u16(vget_high_u16(w))),
                );
                V(lo, hi).sub(V::splat(minus))
            };
            let [r, g, b] = ycc(widen(y, 0), widen(cb, 128), widen(cr, 128));
            vst3_u8(rgb.as_mut_ptr().add(3 * i), uint8x8x3_t(narrow(r), narrow(g), narrow(b)));
        }
        i += 8;
    }
    i
}
