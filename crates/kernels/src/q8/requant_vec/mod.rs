//! Requantizing many accumulators at once: per-channel multipliers laid out for SIMD, with an
//! AVX2 path that computes exactly what [`Requant::apply`] computes for every input whose
//! magnitude stays below 2^30 (accumulators of 8-bit convolutions are far smaller).

pub(crate) use super::requant::{OutputStage, Requant, Rounding};
use crate::Isa;

/// Per-channel requantization in structure-of-arrays form; the arrays are padded to a multiple
/// of 16 channels (repeating the last) so that a vector of 16 can always be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequantVec {
    multiplier: Vec<i32>,
    left: Vec<i32>,
    right: Vec<i32>,
    channels: Vec<Requant>,
    half_up: bool,
    /// Single-rounding form (see [`single_rounding`]): per channel the constant added to the
    /// 64-bit product and the total right shift.
    fold: Vec<i64>,
    total_shift: Vec<i64>,
    single: bool,
    /// SIMD128 shifts all lanes alike: the per-channel shifts as multipliers (see `wasm.rs`),
    /// when every right shift is at most 30.
    #[cfg(target_arch = "wasm32")]
    by_multiplies: Option<wasm::ShiftsAsMultiplies>,
}

impl RequantVec {
    pub fn new(channels: &[Requant]) -> RequantVec {
        assert!(!channels.is_empty(), "no channels");
        let half_up = channels[0].rounding == Rounding::HalfUp;
        assert!(channels.iter().all(|r| (r.rounding == Rounding::HalfUp) == half_up), "one rounding per layer");
        let padded = channels.len().next_multiple_of(16);
        let last = channels[channels.len() - 1];
        let all = || channels.iter().chain(std::iter::repeat(&last)).take(padded);
        RequantVec {
            multiplier: all().map(|r| r.multiplier).collect(),
            left: all().map(|r| r.shift.max(0)).collect(),
            right: all().map(|r| (-r.shift).max(0)).collect(),
            channels: channels.to_vec(),
            half_up,
            fold: all().map(|r| single_rounding(r).map_or(0, |(c, _)| c)).collect(),
            total_shift: all().map(|r| single_rounding(r).map_or(0, |(_, s)| s)).collect(),
            single: channels.iter().all(|r| single_rounding(r).is_some()),
            #[cfg(target_arch = "wasm32")]
            by_multiplies: wasm::ShiftsAsMultiplies::new(all()),
        }
    }
    /// Whether every channel's two roundings fold into one: see [`single_rounding`].
    pub fn single(&self) -> bool {
        self.single
    }
    pub fn len(&self) -> usize {
        self.channels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }
    pub fn get(&self, c: usize) -> Requant {
        self.channels[c]
    }
}

/// The half-up requantization as one rounding of the 64-bit product `x * multiplier`:
/// `(constant, shift)` with `apply(x) = floor((x * multiplier + constant) / 2^shift)` for every i32
/// `x`, where the channel allows it (ties toward +infinity, no left shift, right shift at most 21
/// so that a zero point times `2^shift` can join the constant without overflow).
///
/// Why: the high multiply is `h = floor((x m + 2^30) / 2^31)` (see `scale16`) and the shift
/// `floor((h + 2^(r-1)) / 2^r)`; for integers `floor((floor(y / b) + c) / d) = floor((y + c b) /
/// (b d))`, so both are `floor((x m + 2^30 + 2^(30+r)) / 2^(31+r))` (`2^30` alone when r = 0).
/// |x m| < 2^62 and the constant with a zero point below 2^8 stays under 2^61: no overflow.
pub fn single_rounding(r: &Requant) -> Option<(i64, i64)> {
    let right = -r.shift;
    if r.rounding != Rounding::HalfUp || !(0..=21).contains(&right) || r.multiplier < 0 {
        return None;
    }
    let half = if right > 0 { 1i64 << (30 + right) } else { 0 };
    Some(((1i64 << 30) + half, 31 + right as i64))
}

/// The levels vector requantization has its own code for.
pub const VARIANTS: [Isa; 5] = [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon, Isa::Simd128];

/// `out[i] = stage(requant[first + i](acc[i]))` for a run of consecutive channels.
pub fn requantize(isa: Isa, acc: &[i32], rq: &RequantVec, first: usize, stage: OutputStage, out: &mut [u8]) {
    let n = acc.len();
    assert!(out.len() == n && first + n <= rq.len(), "requantize lengths");
    // Advanced by the SIMD paths only.
    #[cfg_attr(not(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "wasm32")), allow(unused_mut))]
    let mut done = 0;
    #[cfg(target_arch = "aarch64")]
    if isa.has(Isa::Neon) {
        // SAFETY: `has` is true only on an aarch64 CPU (with NEON); lengths checked above.
        done = unsafe { neon::requantize(acc, rq, first, stage, out) };
    }
    #[cfg(target_arch = "wasm32")]
    if isa.has(Isa::Simd128) {
        // SAFETY: `has` is true only in a wasm32 build, made for SIMD128; lengths checked above.
        done = unsafe { wasm::requantize(acc, rq, first, stage, out) };
    }
    #[cfg(target_arch = "x86_64")]
    if isa.has(Isa::Avx2) {
        if isa.has(Isa::Avx512) {
            // SAFETY: AVX-512F/BW available; same lengths as below.
            done = unsafe { avx512::requantize(acc, rq, first, stage, out) };
        }
        // SAFETY: AVX2 is available; the function reads acc[done..n], rq arrays at first..first+n
        // and writes out[done..n], all checked above.
        done += unsafe { avx2::requantize(&acc[done..], rq, first + done, stage, &mut out[done..]) };
    }
    let _ = isa;
    for i in done..n {
        out[i] = stage.finish(rq.channels[first + i].apply(acc[i]));
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;

#[cfg(target_arch = "aarch64")]
mod neon;

#[cfg(target_arch = "wasm32")]
pub(crate) mod wasm;

#[cfg(test)]
mod tests;
