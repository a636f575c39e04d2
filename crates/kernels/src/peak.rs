//! The machine's multiply-add peak on one core, measured (for reporting efficiency): float FMAs
//! for the fp32 engine, and the integer multiply-adds the int8 kernels use (`vpdpbusd` with VNNI,
//! `vpmaddwd` without).
//!
//! On a shared host one measurement can land on a busy moment and read low, so [`PeakMeter`]
//! keeps the best of many short ones, taken between the runs it is compared with.

use crate::Isa;

/// The arithmetic a peak is measured for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeakKind {
    /// Float32 fused multiply-adds.
    F32,
    /// 8-bit integer multiply-adds into 32-bit sums.
    Int8,
}

impl PeakKind {
    /// What the peak is called in reports: "fp32 FMA", "int8 VNNI" ...
    pub fn name(self, isa: Isa) -> &'static str {
        match (self, isa.or_scalar()) {
            (PeakKind::F32, Isa::Scalar) => "scalar fp32 FMA",
            (PeakKind::F32, _) => "fp32 FMA",
            (PeakKind::Int8, Isa::Scalar) => "scalar int8",
            (PeakKind::Int8, Isa::Avx512Vnni) => "int8 VNNI (vpdpbusd)",
            (PeakKind::Int8, _) => "int8 (vpmaddwd)",
        }
    }
}

/// The best multiply-add rate of one core seen over many short measurements.
#[derive(Debug, Clone)]
pub struct PeakMeter {
    isa: Isa,
    kind: PeakKind,
    best: f64,
}

impl PeakMeter {
    pub fn new(isa: Isa, kind: PeakKind) -> PeakMeter {
        PeakMeter { isa: isa.or_scalar(), kind, best: 0.0 }
    }
    /// Measures for about `millis` milliseconds and keeps the rate if it is the best so far.
    pub fn sample(&mut self, millis: u64) {
        self.best = self.best.max(measure(self.isa, self.kind, millis));
    }
    /// Multiply-adds per second of one core: the best sample.
    pub fn best(&self) -> f64 {
        self.best
    }
}

/// One measurement of `kind` over about `millis` milliseconds.
fn measure(isa: Isa, kind: PeakKind, millis: u64) -> f64 {
    let start = std::time::Instant::now();
    let mut total = 0u64;
    let mut sink = 0.0f32;
    while start.elapsed().as_millis() < millis as u128 {
        let (macs, s) = match kind {
            PeakKind::F32 => run(isa, 1 << 14),
            PeakKind::Int8 => run_int8(isa, 1 << 14),
        };
        total += macs;
        sink += s;
    }
    std::hint::black_box(sink);
    total as f64 / start.elapsed().as_secs_f64()
}

/// Independent dependency chains each measurement keeps in flight (enough to cover the
/// latency of every unit measured).
#[cfg(target_arch = "x86_64")]
const CHAINS: usize = 10;

/// `iters` rounds of `step` on each of [`CHAINS`] accumulators starting at `start`, summed by
/// `add` at the end. Inlined into each ISA's entry, whose instructions `step` and `add` use.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn chains<V: Copy>(iters: usize, start: V, step: impl Fn(V) -> V, add: impl Fn(V, V) -> V) -> V {
    let mut acc = [start; CHAINS];
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = step(*a);
        }
    }
    acc[1..].iter().fold(acc[0], |s, &a| add(s, a))
}

fn run_int8(isa: Isa, iters: usize) -> (u64, f32) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: PeakMeter::new keeps only levels the CPU has: AVX-512 VNNI (with BW and VL).
        Isa::Avx512Vnni => unsafe { vnni(iters) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above: AVX-512BW.
        Isa::Avx512 => unsafe { madd512(iters) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above: AVX2.
        Isa::Avx2 => unsafe { madd256(iters) },
        _ => scalar_int8(iters),
    }
}

fn scalar_int8(iters: usize) -> (u64, f32) {
    let mut acc = [1i32; 8];
    let m = std::hint::black_box(3i32);
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = a.wrapping_mul(m).wrapping_add(1);
        }
    }
    ((iters * 8) as u64, acc.iter().map(|&a| a as f32).sum())
}

/// Independent chains of `vpdpbusd`: 64 u8 x i8 products summed into 16 lanes per instruction.
///
/// # Safety
/// The CPU must have AVX-512F, BW and VNNI.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn vnni(iters: usize) -> (u64, f32) {
    use std::arch::x86_64::*;
    let a = _mm512_set1_epi8(std::hint::black_box(3));
    let b = _mm512_set1_epi8(std::hint::black_box(-2));
    let s = chains(iters, _mm512_setzero_si512(), |s| _mm512_dpbusd_epi32(s, a, b), |x, y| _mm512_add_epi32(x, y));
    ((iters * CHAINS * 64) as u64, _mm512_reduce_add_epi32(s) as f32)
}

/// Independent chains of `vpmaddwd` on zmm (32 i16 x i16 products per instruction) and adds,
/// as the integer kernels run without VNNI.
///
/// # Safety
/// The CPU must have AVX-512F and BW.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn madd512(iters: usize) -> (u64, f32) {
    use std::arch::x86_64::*;
    let a = _mm512_set1_epi16(std::hint::black_box(3));
    let step = |s| _mm512_add_epi32(s, _mm512_madd_epi16(a, a));
    let s = chains(iters, _mm512_setzero_si512(), step, |x, y| _mm512_add_epi32(x, y));
    ((iters * CHAINS * 32) as u64, _mm512_reduce_add_epi32(s) as f32)
}

/// [`madd512`] on ymm registers (16 products per instruction).
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn madd256(iters: usize) -> (u64, f32) {
    use std::arch::x86_64::*;
    let a = _mm256_set1_epi16(std::hint::black_box(3));
    let step = |s| _mm256_add_epi32(s, _mm256_madd_epi16(a, a));
    let s = chains(iters, _mm256_setzero_si256(), step, |x, y| _mm256_add_epi32(x, y));
    let mut out = [0i32; 8];
    // SAFETY: `out` holds 8 i32, the 32 bytes stored.
    unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), s) };
    ((iters * CHAINS * 16) as u64, out.iter().map(|&v| v as f32).sum())
}

fn run(isa: Isa, iters: usize) -> (u64, f32) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: PeakMeter::new keeps only levels the CPU has: AVX-512F.
        Isa::Avx512 | Isa::Avx512Vnni => unsafe { avx512(iters) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above: AVX2 and FMA.
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

/// Independent chains of 256-bit FMAs (10 accumulators).
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2(iters: usize) -> (u64, f32) {
    use std::arch::x86_64::*;
    let (m, c) = (_mm256_set1_ps(std::hint::black_box(0.999_999)), _mm256_set1_ps(1e-7));
    let s = chains(iters, _mm256_set1_ps(1.0), |a| _mm256_fmadd_ps(a, m, c), |x, y| _mm256_add_ps(x, y));
    let mut out = [0f32; 8];
    // SAFETY: `out` holds the 8 floats stored.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), s) };
    ((iters * CHAINS * 8) as u64, out.iter().sum())
}

/// Independent chains of 512-bit FMAs (10 accumulators).
///
/// # Safety
/// The CPU must have AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn avx512(iters: usize) -> (u64, f32) {
    use std::arch::x86_64::*;
    let (m, c) = (_mm512_set1_ps(std::hint::black_box(0.999_999)), _mm512_set1_ps(1e-7));
    let s = chains(iters, _mm512_set1_ps(1.0), |a| _mm512_fmadd_ps(a, m, c), |x, y| _mm512_add_ps(x, y));
    ((iters * CHAINS * 16) as u64, _mm512_reduce_add_ps(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both peaks are positive on this CPU's best level, and the meter keeps the best sample.
    #[test]
    fn peaks_are_measured_and_the_best_is_kept() {
        for kind in [PeakKind::F32, PeakKind::Int8] {
            for isa in [Isa::Scalar, Isa::detect()] {
                let mut m = PeakMeter::new(isa, kind);
                m.sample(2);
                let first = m.best();
                assert!(first > 1e6, "{kind:?} {isa:?}: {first}");
                m.sample(2);
                assert!(m.best() >= first);
                assert!(!kind.name(isa).is_empty());
            }
        }
    }
}
