//! The machine's float multiply-add peak on one core, measured (for reporting efficiency).

use crate::Isa;

/// Multiply-adds per second one core sustains with the given instruction set, measured over about
/// `millis` milliseconds of independent FMA chains.
pub fn measure_peak_macs(isa: Isa, millis: u64) -> f64 {
    let start = std::time::Instant::now();
    let mut total = 0u64;
    let mut sink = 0.0f32;
    while start.elapsed().as_millis() < millis as u128 {
        let (macs, s) = run(isa.or_scalar(), 1 << 16);
        total += macs;
        sink += s;
    }
    std::hint::black_box(sink);
    total as f64 / start.elapsed().as_secs_f64()
}

fn run(isa: Isa, iters: usize) -> (u64, f32) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: AVX-512F detected.
        Isa::Avx2 if crate::isa::has_avx512() => unsafe { avx512(iters) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: or_scalar() returned Avx2, so AVX2 and FMA are present.
        Isa::Avx2 => unsafe { avx2(iters) },
        _ => scalar(iters),
    }
}

fn scalar(iters: usize) -> (u64, f32) {
    let mut acc = [1.0f32; 8];
    let m = std::hint::black_box(0.999_999f32);
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = a.mul_add(m, 1e-7);
        }
    }
    ((iters * 8) as u64, acc.iter().sum())
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2(iters: usize) -> (u64, f32) {
    use std::arch::x86_64::*;
    let m = _mm256_set1_ps(std::hint::black_box(0.999_999));
    let c = _mm256_set1_ps(1e-7);
    let mut acc = [_mm256_set1_ps(1.0); 10];
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = _mm256_fmadd_ps(*a, m, c);
        }
    }
    let mut out = [0f32; 8];
    let mut s = _mm256_setzero_ps();
    for a in acc {
        s = _mm256_add_ps(s, a);
    }
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), s) };
    ((iters * 10 * 8) as u64, out.iter().sum())
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn avx512(iters: usize) -> (u64, f32) {
    use std::arch::x86_64::*;
    let m = _mm512_set1_ps(std::hint::black_box(0.999_999));
    let c = _mm512_set1_ps(1e-7);
    let mut acc = [_mm512_set1_ps(1.0); 10];
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = _mm512_fmadd_ps(*a, m, c);
        }
    }
    let mut s = _mm512_setzero_ps();
    for a in acc {
        s = _mm512_add_ps(s, a);
    }
    ((iters * 10 * 16) as u64, _mm512_reduce_add_ps(s))
}
