//! Quantized global pooling: TFLite's `AVERAGE_POOL_2D` (uint8 and int8 rounding) and the int8
//! `MEAN` over height and width.

use super::Requant;

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

/// The sum of each channel's bytes over all pixels (pixel by pixel, so the adds vectorise).
fn channel_sums(input: &[u8], channels: usize) -> Vec<i32> {
    let mut sums = vec![0i32; channels];
    for px in input.chunks_exact(channels) {
        for (s, &v) in sums.iter_mut().zip(px) {
            *s += v as i32;
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
