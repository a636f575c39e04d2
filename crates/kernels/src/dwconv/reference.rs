//! Textbook depthwise conv: explicit zero padding, one output at a time.

use super::DwShape;
use crate::Clamp;

pub fn dwconv3x3_reference(shape: &DwShape, input: &[f32], w: &[f32], bias: &[f32], clamp: Clamp) -> Vec<f32> {
    let c = shape.channels;
    let (pt, oh, pl, ow) = shape.geometry();
    let at = |y: isize, x: isize, ch: usize| -> f64 {
        if y < 0 || x < 0 || y >= shape.in_h as isize || x >= shape.in_w as isize {
            0.0
        } else {
            input[(y as usize * shape.in_w + x as usize) * c + ch] as f64
        }
    };
    let mut out = vec![0.0; oh * ow * c];
    for oy in 0..oh {
        for ox in 0..ow {
            for ch in 0..c {
                let mut s = bias[ch] as f64;
                for ky in 0..3 {
                    for kx in 0..3 {
                        let y = (oy * shape.stride + ky * shape.dilation) as isize - pt as isize;
                        let x = (ox * shape.stride + kx * shape.dilation) as isize - pl as isize;
                        s += at(y, x, ch) * w[(ky * 3 + kx) * c + ch] as f64;
                    }
                }
                out[(oy * ow + ox) * c + ch] = clamp.apply(s as f32);
            }
        }
    }
    out
}
