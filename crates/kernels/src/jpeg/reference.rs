//! The textbook forms: libjpeg's `jpeg_idct_islow` (jidctint.c) and `ycc_rgb_convert`
//! (jdcolor.c) written out one value at a time, in the same integer arithmetic.

use super::{BLOCK, CONST_BITS, FIX, PASS1_BITS};

/// `(x + 2^(n-1)) >> n`, libjpeg's DESCALE.
fn descale(x: i32, n: u32) -> i32 {
    x.wrapping_add(1 << (n - 1)) >> n
}

/// One 1-D inverse DCT of eight values (the LLM factorisation of jidctint.c, 12 multiplies),
/// before its final descale: returns the eight sums in output order.
fn idct_1d(v: [i32; 8]) -> [i32; 8] {
    let (mul, add, sub) = (i32::wrapping_mul, i32::wrapping_add, i32::wrapping_sub);
    // Even part: the rotator is sqrt(2) c6.
    let (z2, z3) = (v[2], v[6]);
    let z1 = mul(add(z2, z3), FIX[0]); // 0.541196100
    let tmp2 = add(z1, mul(z3, -FIX[1])); // 1.847759065
    let tmp3 = add(z1, mul(z2, FIX[2])); // 0.765366865
    let tmp0 = add(v[0], v[4]) << CONST_BITS;
    let tmp1 = sub(v[0], v[4]) << CONST_BITS;
    let (tmp10, tmp13, tmp11, tmp12) = (add(tmp0, tmp3), sub(tmp0, tmp3), add(tmp1, tmp2), sub(tmp1, tmp2));
    // Odd part.
    let (t0, t1, t2, t3) = (v[7], v[5], v[3], v[1]);
    let (z1, z2, z3, z4) = (add(t0, t3), add(t1, t2), add(t0, t2), add(t1, t3));
    let z5 = mul(add(z3, z4), FIX[3]); // 1.175875602
    let t0 = mul(t0, FIX[4]); // 0.298631336
    let t1 = mul(t1, FIX[5]); // 2.053119869
    let t2 = mul(t2, FIX[6]); // 3.072711026
    let t3 = mul(t3, FIX[7]); // 1.501321110
    let z1 = mul(z1, -FIX[8]); // 0.899976223
    let z2 = mul(z2, -FIX[9]); // 2.562915447
    let z3 = add(mul(z3, -FIX[10]), z5); // 1.961570560
    let z4 = add(mul(z4, -FIX[11]), z5); // 0.390180644
    let t0 = add(t0, add(z1, z3));
    let t1 = add(t1, add(z2, z4));
    let t2 = add(t2, add(z2, z3));
    let t3 = add(t3, add(z1, z4));
    [
        add(tmp10, t3),
        add(tmp11, t2),
        add(tmp12, t1),
        add(tmp13, t0),
        sub(tmp13, t0),
        sub(tmp12, t1),
        sub(tmp11, t2),
        sub(tmp10, t3),
    ]
}

/// One 8x8 block of dequantized coefficients (natural order, row-major) to 8-bit samples at
/// `out[r * stride + c]`: columns first, descaled by 2^11, then rows, descaled by 2^18 and
/// shifted by 128 into 0..=255 (saturating, as libjpeg-turbo's vector code does).
pub fn idct_islow_reference(coef: &[i32; BLOCK], out: &mut [u8], stride: usize) {
    let mut ws = [0i32; BLOCK];
    for c in 0..8 {
        let col = idct_1d(std::array::from_fn(|r| coef[r * 8 + c]));
        for r in 0..8 {
            ws[r * 8 + c] = descale(col[r], CONST_BITS - PASS1_BITS);
        }
    }
    for r in 0..8 {
        let row = idct_1d(std::array::from_fn(|c| ws[r * 8 + c]));
        for c in 0..8 {
            out[r * stride + c] =
                (descale(row[c], CONST_BITS + PASS1_BITS + 3).saturating_add(128)).clamp(0, 255) as u8;
        }
    }
}

/// libjpeg's YCbCr -> RGB (16-bit fixed point, the tables of jdcolor.c worked out per pixel):
/// `rgb` gets `y.len()` interleaved pixels.
pub fn ycc_to_rgb_reference(y: &[u8], cb: &[u8], cr: &[u8], rgb: &mut [u8]) {
    for (i, px) in rgb.chunks_exact_mut(3).enumerate().take(y.len()) {
        let (y, cb, cr) = (y[i] as i32, cb[i] as i32 - 128, cr[i] as i32 - 128);
        let r = y + ((super::CR_R * cr + super::ONE_HALF) >> 16);
        let g = y + ((-super::CB_G * cb + super::ONE_HALF - super::CR_G * cr) >> 16);
        let b = y + ((super::CB_B * cb + super::ONE_HALF) >> 16);
        px.copy_from_slice(&[r, g, b].map(|v| v.clamp(0, 255) as u8));
    }
}
