use super::*;
use crate::testutil::{Rng, assert_close};

fn check(isa: Isa, m: usize, k: usize, n: usize, residual: bool, clamp: Clamp, seed: u64) {
    let mut rng = Rng::new(seed);
    let a = rng.vec(m * k);
    let w = rng.vec(k * n);
    let bias = rng.vec(n);
    let r = residual.then(|| rng.vec(m * n));
    let packed = PackedB::new(k, n, |kk, j| w[kk * n + j], &bias);
    let mut out = vec![f32::NAN; m * n];
    gemm(isa, &a, &packed, r.as_deref(), clamp, &mut out);
    let expect = gemm_reference(&a, m, &w, &bias, r.as_deref(), clamp);
    assert_close(&out, &expect, 1e-5 * (k as f32).sqrt(), &format!("{isa:?} m={m} k={k} n={n}"));
}

#[test]
fn matches_reference_on_many_shapes() {
    for isa in Isa::all_available() {
        let mut seed = 1;
        for m in [1, 2, 5, 6, 7, 13, 49, 73, 150] {
            for k in [1, 3, 8, 16, 17, 96, 160] {
                for n in [1, 8, 15, 16, 17, 24, 30, 33, 100] {
                    seed += 1;
                    check(isa, m, k, n, seed % 3 == 0, Clamp::relu6(seed % 2 == 0), seed);
                }
            }
        }
    }
}

#[test]
fn mobilenet_shapes() {
    for isa in Isa::all_available() {
        // (pixels, in, out): an expand at 56x56, a project at 14x14, the head, the classifier.
        for (m, k, n) in [(56 * 56, 24, 144), (14 * 14, 576, 96), (49, 320, 1280), (2, 1280, 1001)] {
            check(isa, m, k, n, n == 96, Clamp::relu6(n == 144), m as u64);
        }
    }
}

#[test]
fn row_split_is_bit_identical() {
    let mut rng = Rng::new(7);
    let (m, k, n) = (97, 40, 37);
    let a = rng.vec(m * k);
    let bias = rng.vec(n);
    let w = rng.vec(k * n);
    let packed = PackedB::new(k, n, |kk, j| w[kk * n + j], &bias);
    for isa in Isa::all_available() {
        let mut whole = vec![0.0; m * n];
        gemm(isa, &a, &packed, None, Clamp::NONE, &mut whole);
        let mut parts = vec![0.0; m * n];
        for (r0, r1) in [(0, 1), (1, 8), (8, 50), (50, 97)] {
            gemm(isa, &a[r0 * k..r1 * k], &packed, None, Clamp::NONE, &mut parts[r0 * n..r1 * n]);
        }
        assert_eq!(whole, parts, "{isa:?}");
    }
}

#[test]
fn avx512_tiles_are_bit_identical_to_avx2() {
    if !Isa::Avx512.available() {
        eprintln!("skipped: needs avx512f");
        return;
    }
    let mut rng = Rng::new(11);
    for (m, k, n) in [
        (1, 1, 32),
        (7, 17, 33),
        (13, 96, 64),
        (50, 96, 24),
        (9, 33, 20),
        (30, 24, 52),
        (13, 40, 30),
        (150, 160, 100),
        (49, 320, 1280),
    ] {
        let a = rng.vec(m * k);
        let (w, bias, r) = (rng.vec(k * n), rng.vec(n), rng.vec(m * n));
        let packed = PackedB::new(k, n, |kk, j| w[kk * n + j], &bias);
        let (mut narrow, mut wide) = (vec![0.0; m * n], vec![0.0; m * n]);
        gemm_tiles(Isa::Avx512, false, &a, &packed, 0..packed.panels(), Some(&r), Clamp::RELU6, &mut narrow);
        gemm_tiles(Isa::Avx512, true, &a, &packed, 0..packed.panels(), Some(&r), Clamp::RELU6, &mut wide);
        assert_eq!(narrow, wide, "m={m} k={k} n={n}");
    }
}

#[test]
fn avx2_is_tested_or_says_skipped() {
    if !Isa::Avx2.available() {
        eprintln!("skipped: needs avx2+fma");
    }
}

#[test]
fn column_split_is_bit_identical() {
    let mut rng = Rng::new(9);
    for (m, k, n) in [(1, 1280, 1001), (3, 40, 37), (13, 17, 100), (49, 96, 160)] {
        let a = rng.vec(m * k);
        let (w, bias, r) = (rng.vec(k * n), rng.vec(n), rng.vec(m * n));
        let packed = PackedB::new(k, n, |kk, j| w[kk * n + j], &bias);
        let panels = packed.panels();
        for isa in Isa::all_available() {
            let mut whole = vec![0.0; m * n];
            gemm(isa, &a, &packed, Some(&r), Clamp::RELU6, &mut whole);
            // Every split point, each part with its own dense output and residual.
            for split in 1..panels {
                let mut joined = vec![f32::NAN; m * n];
                for part in [0..split, split..panels] {
                    let (c0, c1) = (part.start * NR, (part.end * NR).min(n));
                    let cols = |v: &[f32]| -> Vec<f32> { v.chunks(n).flat_map(|row| row[c0..c1].to_vec()).collect() };
                    let mut out = vec![f32::NAN; m * (c1 - c0)];
                    gemm_panels(isa, &a, &packed, part, Some(&cols(&r)), Clamp::RELU6, &mut out);
                    for (row, got) in joined.chunks_mut(n).zip(out.chunks(c1 - c0)) {
                        row[c0..c1].copy_from_slice(got);
                    }
                }
                assert_eq!(joined, whole, "{isa:?} m={m} k={k} n={n} split at panel {split}");
            }
        }
    }
}

/// SIMD128 has no fused multiply-add: a multiply and an add in the portable tile's order give
/// the portable tile's bits.
#[test]
#[cfg(target_arch = "wasm32")]
fn simd128_is_bit_identical_to_portable() {
    let mut rng = Rng::new(9);
    for (m, k, n) in [(49, 96, 24), (7, 17, 33), (196, 576, 96)] {
        let a = rng.vec(m * k);
        let (w, bias) = (rng.vec(k * n), rng.vec(n));
        let packed = PackedB::new(k, n, |kk, j| w[kk * n + j], &bias);
        let (mut simd, mut portable) = (vec![0.0; m * n], vec![0.0; m * n]);
        gemm(Isa::Simd128, &a, &packed, None, Clamp::relu6(true), &mut simd);
        gemm(Isa::Scalar, &a, &packed, None, Clamp::relu6(true), &mut portable);
        assert!(simd.iter().zip(&portable).all(|(x, y)| x.to_bits() == y.to_bits()), "m={m} k={k} n={n}");
    }
}
