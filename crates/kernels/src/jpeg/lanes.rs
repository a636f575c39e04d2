//! The inverse DCT and the colour conversion written once over eight 32-bit lanes held as two
//! 128-bit registers (NEON and SIMD128): the reference's operations in its order, eight
//! columns (then, transposed, eight rows) or eight pixels at a time.

use super::{BLOCK, CB_B, CB_G, CONST_BITS, CR_G, CR_R, FIX, ONE_HALF, PASS1_BITS};

/// Eight i32 lanes with wrapping arithmetic (what libjpeg's `INT32` does on every machine).
pub(super) trait Lanes: Copy {
    fn splat(k: i32) -> Self;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    /// The low 32 bits of the product.
    fn mul(self, o: Self) -> Self;
    fn shl(self, n: u32) -> Self;
    /// Arithmetic shift right.
    fn sra(self, n: u32) -> Self;
    /// Eight consecutive i32 from `p`.
    ///
    /// # Safety
    /// `p` valid for 8 reads.
    unsafe fn load(p: *const i32) -> Self;
    /// Rows become columns.
    fn transpose(r: [Self; 8]) -> [Self; 8];
    /// Each lane saturated to 0..=255, as eight bytes.
    fn saturated_bytes(self) -> [u8; 8];
}

/// An 8x8 transpose of lanes held as two registers a row (`[low four, high four]`) from a 4x4
/// transpose `t4`: the four quarters transpose in place and the two off the diagonal swap.
#[inline(always)]
pub(super) fn transpose_quarters<Q: Copy>(r: [[Q; 2]; 8], t4: impl Fn([Q; 4]) -> [Q; 4]) -> [[Q; 2]; 8] {
    let quarter = |half: usize, first: usize| t4(std::array::from_fn(|i| r[first + i][half]));
    let (a, b, c, d) = (quarter(0, 0), quarter(0, 4), quarter(1, 0), quarter(1, 4));
    std::array::from_fn(|j| if j < 4 { [a[j], b[j]] } else { [c[j - 4], d[j - 4]] })
}

/// `(x + 2^(n-1)) >> n`, libjpeg's DESCALE.
#[inline(always)]
fn descale<V: Lanes>(x: V, n: u32) -> V {
    x.add(V::splat(1 << (n - 1))).sra(n)
}

/// The reference's `idct_1d` on eight lanes at once.
#[inline(always)]
fn idct_1d<V: Lanes>(v: [V; 8]) -> [V; 8] {
    let c = V::splat;
    let (z2, z3) = (v[2], v[6]);
    let z1 = z2.add(z3).mul(c(FIX[0]));
    let tmp2 = z1.add(z3.mul(c(-FIX[1])));
    let tmp3 = z1.add(z2.mul(c(FIX[2])));
    let tmp0 = v[0].add(v[4]).shl(CONST_BITS);
    let tmp1 = v[0].sub(v[4]).shl(CONST_BITS);
    let (tmp10, tmp13, tmp11, tmp12) = (tmp0.add(tmp3), tmp0.sub(tmp3), tmp1.add(tmp2), tmp1.sub(tmp2));
    let (t0, t1, t2, t3) = (v[7], v[5], v[3], v[1]);
    let (z1, z2, z3, z4) = (t0.add(t3), t1.add(t2), t0.add(t2), t1.add(t3));
    let z5 = z3.add(z4).mul(c(FIX[3]));
    let t0 = t0.mul(c(FIX[4]));
    let t1 = t1.mul(c(FIX[5]));
    let t2 = t2.mul(c(FIX[6]));
    let t3 = t3.mul(c(FIX[7]));
    let z1 = z1.mul(c(-FIX[8]));
    let z2 = z2.mul(c(-FIX[9]));
    let z3 = z3.mul(c(-FIX[10])).add(z5);
    let z4 = z4.mul(c(-FIX[11])).add(z5);
    let t0 = t0.add(z1.add(z3));
    let t1 = t1.add(z2.add(z4));
    let t2 = t2.add(z2.add(z3));
    let t3 = t3.add(z1.add(z4));
    [
        tmp10.add(t3),
        tmp11.add(t2),
        tmp12.add(t1),
        tmp13.add(t0),
        tmp13.sub(t0),
        tmp12.sub(t1),
        tmp11.sub(t2),
        tmp10.sub(t3),
    ]
}

/// A row of blocks (see [`super::idct_blocks`], which checked `out`'s size): each block's
/// columns (lanes are columns), transpose, rows, transpose back, each row shifted by 128 and
/// saturated into `out[r * stride + 8 i + c]`.
#[inline(always)]
pub(super) fn idct_blocks<V: Lanes>(blocks: &[[i32; BLOCK]], out: &mut [u8], stride: usize) {
    for (i, coef) in blocks.iter().enumerate() {
        // SAFETY: `coef` holds 8 rows of 8 i32.
        let rows: [V; 8] = std::array::from_fn(|r| unsafe { V::load(coef.as_ptr().add(r * 8)) });
        let ws = idct_1d(rows).map(|x| descale(x, CONST_BITS - PASS1_BITS));
        let cols = idct_1d(V::transpose(ws)).map(|x| descale(x, CONST_BITS + PASS1_BITS + 3));
        for (r, row) in V::transpose(cols).into_iter().enumerate() {
            let at = r * stride + 8 * i;
            out[at..at + 8].copy_from_slice(&row.add(V::splat(128)).saturated_bytes());
        }
    }
}

/// jdcolor.c's R, G and B before clamping, from Y and the centred Cb and Cr.
#[inline(always)]
pub(super) fn ycc<V: Lanes>(y: V, cb: V, cr: V) -> [V; 3] {
    let (c, half) = (V::splat, V::splat(ONE_HALF));
    let r = y.add(cr.mul(c(CR_R)).add(half).sra(16));
    let g = y.add(cb.mul(c(-CB_G)).add(half).sub(cr.mul(c(CR_G))).sra(16));
    let b = y.add(cb.mul(c(CB_B)).add(half).sra(16));
    [r, g, b]
}
