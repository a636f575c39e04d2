use super::*;
use crate::Isa;

/// A small deterministic generator (xorshift), so failures reproduce.
fn rng(seed: u64) -> impl FnMut() -> u64 {
    let mut s = seed | 1;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    }
}

/// Blocks as a decoder makes them: mostly small AC terms, some zero runs, DC anywhere in the
/// 8-bit range, and a few at the format's extremes (coefficients of 11 bits times
/// quantizers up to 255).
fn blocks(n: usize, seed: u64) -> Vec<[i32; BLOCK]> {
    let mut next = rng(seed);
    (0..n)
        .map(|i| {
            let q = 1 + (next() % 64) as i32;
            let extreme = i % 17 == 0;
            std::array::from_fn(|k| {
                let r = next();
                let level = if k == 0 {
                    (r % 2048) as i32 - 1024
                } else if extreme {
                    ((r % 2048) as i32 - 1024) * 255
                } else if r.is_multiple_of(3) || k > 40 {
                    0
                } else {
                    ((r >> 8) % 41) as i32 - 20
                };
                // Every fifth block is a lone DC term (flat), as smooth chroma often is.
                if k == 0 || extreme {
                    level
                } else if i % 5 == 3 {
                    0
                } else {
                    level * q
                }
            })
        })
        .collect()
}

#[test]
fn every_idct_level_matches_the_reference() {
    for isa in Isa::all_available() {
        for (n, stride) in [(1, 8), (5, 40), (64, 520)] {
            let mut bs = blocks(n, 7 + n as u64);
            // Lone DC terms far outside what a valid file holds: every level must wrap and
            // saturate as the reference does.
            for (i, dc) in [i32::MAX / 3, -(1 << 30), 1 << 20, -2_147_450_880].into_iter().enumerate().take(n) {
                bs[i] = [0; BLOCK];
                bs[i][0] = dc;
            }
            let mut want = vec![0u8; 8 * stride];
            for (i, b) in bs.iter().enumerate() {
                idct_islow_reference(b, &mut want[i * 8..], stride);
            }
            let mut got = vec![1u8; 8 * stride];
            idct_blocks(isa, &bs, &mut got, stride);
            for r in 0..8 {
                assert_eq!(
                    got[r * stride..r * stride + n * 8],
                    want[r * stride..r * stride + n * 8],
                    "{isa:?} {n} row {r}"
                );
            }
        }
    }
}

/// Worked by hand: a DC-only block is flat at DC / 8 + 128 (the DCT's scale), rounded; an AC
/// term makes a cosine across the columns, largest at the edges.
#[test]
fn idct_of_known_blocks() {
    let mut dc = [0; BLOCK];
    dc[0] = 80; // 80 / 8 = 10
    let mut out = [0u8; 64];
    idct_islow_reference(&dc, &mut out, 8);
    assert!(out.iter().all(|&v| v == 138), "{out:?}");
    dc[0] = -2000; // -250 + 128 saturates at 0
    idct_islow_reference(&dc, &mut out, 8);
    assert!(out.iter().all(|&v| v == 0));
    let mut ac = [0; BLOCK];
    ac[1] = 64; // first horizontal harmonic: 64/8 * sqrt(2) cos((2x + 1) pi / 16) = 11.1 cos(...)
    idct_islow_reference(&ac, &mut out, 8);
    let want: Vec<u8> = (0..8)
        .map(|x| (128.0 + 8.0 * 2f64.sqrt() * ((2 * x + 1) as f64 * std::f64::consts::PI / 16.0).cos()).round() as u8)
        .collect();
    for r in 0..8 {
        assert_eq!(&out[r * 8..r * 8 + 8], &want[..], "row {r}");
    }
}

#[test]
fn every_colour_conversion_level_matches_the_reference() {
    let mut next = rng(3);
    for n in [0, 1, 7, 8, 9, 31, 224, 513] {
        let [y, cb, cr]: [Vec<u8>; 3] = std::array::from_fn(|_| (0..n).map(|_| next() as u8).collect());
        let mut want = vec![0u8; 3 * n];
        ycc_to_rgb_reference(&y, &cb, &cr, &mut want);
        for isa in Isa::all_available() {
            let mut got = vec![7u8; 3 * n];
            ycc_to_rgb(isa, &y, &cb, &cr, &mut got);
            assert_eq!(got, want, "{isa:?} {n}");
        }
    }
}

/// Worked by hand from the JFIF equations: grey stays grey, pure chroma moves one channel.
#[test]
fn colour_conversion_of_known_pixels() {
    let mut rgb = [0u8; 9];
    // Y 100 with neutral chroma; Cr 255 (+127): R = 100 + 1.402 * 127 = 278 -> 255,
    // G = 100 - 0.71414 * 127 = 9.3 -> 9; Cb 0 (-128): B = 100 - 1.772 * 128 = -126.8 -> 0,
    // G = 100 + 0.34414 * 128 = 144.05 -> 144.
    ycc_to_rgb_reference(&[100, 100, 100], &[128, 128, 0], &[128, 255, 128], &mut rgb);
    assert_eq!(rgb, [100, 100, 100, 255, 9, 100, 100, 144, 0]);
}
