//! The textbook int8 depthwise 3x3 every variant is tested against.

use super::QDwLayer;

/// Textbook loop over explicit coordinates.
pub fn qdwconv3x3_reference(layer: &QDwLayer, input: &[u8]) -> Vec<u8> {
    let s = &layer.shape;
    let c = s.channels;
    let (pt, oh, pl, ow) = s.geometry();
    let mut out = vec![0u8; oh * ow * c];
    for oy in 0..oh {
        for ox in 0..ow {
            for ch in 0..c {
                let mut acc = layer.bias[ch];
                for ky in 0..3 {
                    for kx in 0..3 {
                        let y = (oy * s.stride + ky * s.dilation) as isize - pt as isize;
                        let x = (ox * s.stride + kx * s.dilation) as isize - pl as isize;
                        if y >= 0 && x >= 0 && (y as usize) < s.in_h && (x as usize) < s.in_w {
                            let v = input[(y as usize * s.in_w + x as usize) * c + ch] as i32;
                            acc += (v - layer.input_zero_point) * layer.w[(ky * 3 + kx) * c + ch] as i32;
                        }
                    }
                }
                out[(oy * ow + ox) * c + ch] = layer.stage.finish(layer.requant.get(ch).apply(acc));
            }
        }
    }
    out
}
