//! Quantized global pooling: TFLite's `AVERAGE_POOL_2D` (uint8 and int8 rounding) and the int8
//! `MEAN` over height and width.

use super::requant_vec::{RequantVec, requantize};
use super::{OutputStage, Requant};
use crate::Isa;

/// `AveragePool` over the whole map, per channel; output quantization equals the input's.
/// `signed` selects int8 rounding (the u8 bytes are int8 values + 128).
pub fn qavgpool_global(input: &[u8], channels: usize, signed: bool, out: &mut [u8]) {
    let count = (input.len() / channels) as i32;
    assert!(count > 0 && out.len() == channels, "pool shapes");
    let offset = if signed { 128 } else { 0 };
    for (o, raw) in out.iter_mut().zip(channel_sums(input, channels)) {
        let acc = raw - offset * count;
        // uint8: (acc + n/2) / n; int8: rounds half away from zero (C++ division truncates).
        let avg = if acc >= 0 { (acc + count / 2) / count } else { (acc - count / 2) / count };
        let lo = if signed { -128 } else { 0 };
        *o = (avg.clamp(lo, lo + 255) + offset) as u8;
    }
}

/// TFLite's optimized `Mean` over height and width (the kernel the references were made with):
/// the raw sum of the stored integers, one requantization by `input_scale / (count *
/// output_scale)`, plus a bias that carries both zero points. See [`MeanParams::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeanParams {
    pub requant: Requant,
    pub bias: i32,
    pub signed: bool,
}

impl MeanParams {
    /// From the input and output quantization in the tensors' own types (int8 zero points for an
    /// int8 model), as `optimized_integer_ops::Mean` prepares them, in float32.
    pub fn new(
        input_scale: f32,
        input_zp: i32,
        output_scale: f32,
        output_zp: i32,
        count: usize,
        signed: bool,
    ) -> MeanParams {
        let temp = input_zp as f32 * input_scale / output_scale;
        let temp = if temp > 0.0 { temp + 0.5 } else { temp - 0.5 };
        let bias = output_zp - temp as i32;
        let real = input_scale / (count as f32 * output_scale);
        MeanParams { requant: Requant::new(real as f64), bias, signed }
    }
}

/// [`MeanParams`] prepared for a number of channels: the requantization in vector form and the
/// output stage that adds the bias and both offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QMean {
    pub params: MeanParams,
    rq: RequantVec,
    stage: OutputStage,
}

impl QMean {
    pub fn new(params: MeanParams, channels: usize) -> QMean {
        let offset = if params.signed { 128 } else { 0 };
        // clamp(requant + bias, -offset, 255 - offset) + offset, as one output stage.
        let stage = OutputStage { zero_point: params.bias + offset, min: 0, max: 255 };
        QMean { params, rq: RequantVec::new(&vec![params.requant; channels]), stage }
    }
    pub fn channels(&self) -> usize {
        self.rq.len()
    }
}

/// [`qmean_global`] for every channel of `m` at once, the requantization vectorised.
pub fn qmean_global_vec(isa: Isa, input: &[u8], m: &QMean, out: &mut [u8]) {
    let channels = m.channels();
    assert!(channels > 0 && input.len().is_multiple_of(channels) && out.len() == channels, "mean shapes");
    let offset = if m.params.signed { 128 } else { 0 };
    let count = (input.len() / channels) as i32;
    let mut acc = channel_sums(input, channels);
    for a in &mut acc {
        *a -= offset * count;
    }
    requantize(isa, &acc, &m.rq, 0, m.stage, out);
}

/// The sum of each channel's bytes over all pixels: runs of up to 257 pixels summed in 16 bits
/// (257 * 255 = 65535), pixel by pixel so the adds vectorise, then added to the 32-bit sums.
fn channel_sums(input: &[u8], channels: usize) -> Vec<i32> {
    let mut sums = vec![0i32; channels];
    let mut run = vec![0u16; channels];
    for pixels in input.chunks(257 * channels) {
        run.fill(0);
        for px in pixels.chunks_exact(channels) {
            for (s, &v) in run.iter_mut().zip(px) {
                *s += v as u16;
            }
        }
        for (s, &r) in sums.iter_mut().zip(&run) {
            *s += r as i32;
        }
    }
    sums
}

/// The mean of each channel over the whole map; `input` and `out` in the u8 representation.
pub fn qmean_global(input: &[u8], channels: usize, p: &MeanParams, out: &mut [u8]) {
    assert!(channels > 0 && input.len().is_multiple_of(channels) && out.len() == channels, "mean shapes");
    let offset = if p.signed { 128 } else { 0 };
    let count = (input.len() / channels) as i32;
    for (o, raw) in out.iter_mut().zip(channel_sums(input, channels)) {
        let acc = raw - offset * count;
        let v = p.requant.apply(acc) + p.bias;
        *o = (v.clamp(-offset, 255 - offset) + offset) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_with_tflite_rounding() {
        let mut out = [0u8; 2];
        // channel 0: 1,2 -> 1.5 -> 2 ; channel 1: 4,4 -> 4
        qavgpool_global(&[1, 4, 2, 4], 2, false, &mut out);
        assert_eq!(out, [2, 4]);
        // int8 values -3, -4 (bytes 125, 124): -3.5 rounds away from zero to -4 -> byte 124
        let mut one = [0u8; 1];
        qavgpool_global(&[125, 124], 1, true, &mut one);
        assert_eq!(one, [124]);
    }

    #[test]
    fn vector_mean_equals_scalar() {
        let mut seed = 5u64;
        for (pixels, channels, signed) in [(49, 1280, true), (300, 33, false), (1, 16, true), (600, 20, true)] {
            let input: Vec<u8> = (0..pixels * channels)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    (seed >> 56) as u8
                })
                .collect();
            let naive: Vec<i32> =
                (0..channels).map(|c| (0..pixels).map(|px| input[px * channels + c] as i32).sum()).collect();
            assert_eq!(channel_sums(&input, channels), naive);
            let p = MeanParams::new(0.05, if signed { -3 } else { 120 }, 0.02, 7, pixels, signed);
            let mut scalar = vec![0u8; channels];
            qmean_global(&input, channels, &p, &mut scalar);
            for isa in Isa::all_available() {
                let mut vector = vec![0u8; channels];
                qmean_global_vec(isa, &input, &QMean::new(p, channels), &mut vector);
                assert_eq!(vector, scalar, "{isa:?} {pixels}x{channels}");
            }
        }
    }

    #[test]
    fn mean_by_hand() {
        // uint8, same scales, zero points 100: bias = 100 - 100 = 0; (103 + 106) / 2 = 104.5 -> 105.
        let p = MeanParams::new(0.5, 100, 0.5, 100, 2, false);
        let mut out = [0u8; 1];
        qmean_global(&[103, 106], 1, &p, &mut out);
        assert_eq!(out, [105]);
        // int8 with zero point -128 in and out, output scale twice the input's: values -128 and
        // -120 (bytes 0, 8) mean -124, real (4 above zero) * 0.5 = 2 above zero -> -126 (byte 2).
        let p = MeanParams::new(0.1, -128, 0.2, -128, 2, true);
        qmean_global(&[0, 8], 1, &p, &mut out);
        assert_eq!(out, [2]);
    }
}
