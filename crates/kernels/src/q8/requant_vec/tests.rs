//! Every level against the scalar requantization, ties and the whole i32 range included.

use super::*;
use crate::testutil::Rng;

#[test]
fn simd_equals_scalar() {
    let mut rng = Rng::new(11);
    for rounding in [Rounding::AwayFromZero, Rounding::HalfUp] {
        for n in [1, 7, 8, 9, 16, 33, 100] {
            let chans: Vec<Requant> = (0..n)
                .map(|_| {
                    let real = match rng.next_u64() % 4 {
                        0 => 1e-4 + (rng.next_u64() % 1000) as f64 * 1e-6,
                        1 => 0.01 + (rng.next_u64() % 1000) as f64 * 1e-4,
                        2 => 0.5 + (rng.next_u64() % 100) as f64 * 0.01,
                        _ => 1.0 + (rng.next_u64() % 400) as f64 * 0.01,
                    };
                    Requant::with_rounding(real, rounding)
                })
                .collect();
            let rq = RequantVec::new(&chans);
            let stage = OutputStage::new((rng.next_u64() % 256) as i32, 0.05, rng.next_u64().is_multiple_of(2));
            for _ in 0..50 {
                let acc: Vec<i32> = (0..n).map(|_| (rng.next_u64() % (1 << 22)) as i32 - (1 << 21)).collect();
                let mut expect = vec![0u8; n];
                for i in 0..n {
                    expect[i] = stage.finish(chans[i].apply(acc[i]));
                }
                for isa in Isa::all_available() {
                    let mut out = vec![0u8; n];
                    requantize(isa, &acc, &rq, 0, stage, &mut out);
                    assert_eq!(out, expect, "{isa:?} {rounding:?} n={n}");
                }
            }
        }
    }
}

#[test]
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))] // the vector checks are x86-64's
fn simd_equals_scalar_over_the_whole_i32_range() {
    // Multipliers below one (no left shift): any accumulator, including the extremes. Tiny
    // multipliers (shifts over 21) keep the two-rounding form, the others take the single one.
    let mut rng = Rng::new(12);
    for rounding in [Rounding::AwayFromZero, Rounding::HalfUp] {
        for smallest in [1e-9, 1e-5] {
            let chans: Vec<Requant> = (0..48)
                .map(|i| {
                    let step = if i == 0 { 0 } else { rng.next_u64() % 10_000 };
                    Requant::with_rounding(smallest + step as f64 * 4.9e-5, rounding)
                })
                .collect();
            let rq = RequantVec::new(&chans);
            assert_eq!(rq.single(), rounding == Rounding::HalfUp && smallest > 1e-6);
            let zp = 77;
            let stage = OutputStage { zero_point: zp, min: i32::MIN, max: i32::MAX };
            for round in 0..200 {
                let mut acc: Vec<i32> = (0..48).map(|_| rng.next_u64() as i32).collect();
                if round == 0 {
                    acc[..4].copy_from_slice(&[i32::MIN, i32::MAX, i32::MIN + 1, -1]);
                }
                let expect: Vec<i32> = acc.iter().zip(&chans).map(|(&a, c)| c.apply(a)).collect();
                #[cfg(target_arch = "x86_64")]
                if Isa::Avx512.available() {
                    for g in 0..3 {
                        // SAFETY: AVX-512F detected; 16 lanes from channel 16 g.
                        let (scaled, with_zp): ([i32; 16], [i32; 16]) = unsafe {
                            use std::arch::x86_64::*;
                            let p = avx512::Params16::load(&rq, 16 * g, stage);
                            let x = _mm512_loadu_si512(acc[16 * g..].as_ptr() as *const _);
                            (
                                std::mem::transmute::<__m512i, [i32; 16]>(avx512::scale16(x, &p)),
                                std::mem::transmute::<__m512i, [i32; 16]>(avx512::scale_zp16(x, &p)),
                            )
                        };
                        let want = &expect[16 * g..16 * (g + 1)];
                        assert_eq!(scaled[..], *want, "{rounding:?}");
                        assert!(with_zp.iter().zip(want).all(|(&y, &e)| y == e + zp), "{rounding:?} {smallest}");
                    }
                }
            }
        }
    }
}

#[test]
fn exact_ties() {
    // Values that land exactly on .5 after the high multiply: -18 * 0.25 and 18 * 0.25, 10 * 0.25.
    for rounding in [Rounding::AwayFromZero, Rounding::HalfUp] {
        let chans = vec![Requant::with_rounding(0.25, rounding); 8];
        let rq = RequantVec::new(&chans);
        let acc = [-18, 18, 10, -10, 6, -6, 2, -2];
        let stage = OutputStage { zero_point: 128, min: 0, max: 255 };
        let expect: Vec<u8> = acc.iter().map(|&a| stage.finish(chans[0].apply(a))).collect();
        for isa in Isa::all_available() {
            let mut out = vec![0u8; 8];
            requantize(isa, &acc, &rq, 0, stage, &mut out);
            assert_eq!(out, expect, "{isa:?} {rounding:?}");
        }
    }
}
