//! Every level against the reference product, on many shapes and weight kinds.

use super::*;
use crate::testutil::{Rng, quant_weights, rounding};

#[test]
fn matches_reference_exactly() {
    let mut seed = 0;
    for isa in Isa::all_available() {
        for m in [1, 3, 4, 5, 8, 9, 17, 49, 64, 97] {
            for k in [1, 2, 3, 4, 8, 12, 16, 17, 64, 96, 145, 148, 200] {
                for n in [1, 8, 15, 16, 17, 32, 33, 48, 64, 96, 144] {
                    seed += 1;
                    let mut rng = Rng::new(seed);
                    let a: Vec<u8> = (0..m * k).map(|_| rng.next_u64() as u8).collect();
                    // int8, uint8 and wider weights in turn (VNNI takes the first two).
                    let w = quant_weights(&mut rng, k * n, seed);
                    let bias: Vec<i32> = (0..n).map(|_| (rng.next_u64() % 20001) as i32 - 10000).collect();
                    let requant: Vec<Requant> = (0..n)
                        .map(|_| Requant::with_rounding(0.0005 + (rng.next_u64() % 1000) as f64 * 1e-5, rounding(seed)))
                        .collect();
                    let za = (rng.next_u64() % 256) as i32;
                    let stage = OutputStage::new((rng.next_u64() % 256) as i32, 0.05, seed % 2 == 0);
                    let packed = QPackedB::new(isa, k, n, |kk, j| w[kk * n + j], &bias, za, requant.clone(), stage);
                    let mut out = vec![0u8; m * n];
                    qgemm(isa, &a, &packed, &mut out);
                    let expect = qgemm_reference(&a, m, &w, &bias, za, &requant, stage);
                    assert_eq!(out, expect, "{isa:?} m={m} k={k} n={n}");
                }
            }
        }
    }
}

/// A one-row product split by column ranges (whole groups of 64, any tail) equals the whole
/// product, for weights with the VNNI layout (int8 and uint8 kinds, shifted or not).
#[test]
fn column_ranges_equal_the_whole_row() {
    let isa = Isa::detect();
    for (seed, (k, n)) in [(16, 64), (148, 130), (1280, 1001), (64, 40), (96, 200)].into_iter().enumerate() {
        for kind in 0..2u64 {
            let mut rng = Rng::new(seed as u64 * 7 + kind);
            let a: Vec<u8> = (0..k).map(|_| rng.next_u64() as u8).collect();
            let w = quant_weights(&mut rng, k * n, kind);
            let bias: Vec<i32> = (0..n).map(|_| (rng.next_u64() % 2001) as i32 - 1000).collect();
            let requant = vec![Requant::with_rounding(0.001, rounding(kind)); n];
            let stage = OutputStage::new(3, 0.05, false);
            let packed = QPackedB::new(isa, k, n, |kk, j| w[kk * n + j], &bias, 7, requant, stage);
            if !packed.by_columns(isa) {
                continue; // no VNNI on this CPU: nothing to split
            }
            let mut whole = vec![0u8; n];
            qgemm(isa, &a, &packed, &mut whole);
            for step in [64, 128, 512] {
                let mut parts = vec![0u8; n];
                for (i, chunk) in parts.chunks_mut(step).enumerate() {
                    qgemm_columns(&a, &packed, i * step, chunk);
                }
                assert_eq!(parts, whole, "k={k} n={n} kind={kind} step={step}");
            }
        }
    }
}
