//! Textbook full conv with explicit zero padding, weights in OHWI.

use super::ConvShape;
use crate::Clamp;

pub fn conv_reference(shape: &ConvShape, input: &[f32], ohwi: &[f32], bias: &[f32], clamp: Clamp) -> Vec<f32> {
    let (pt, oh, pl, ow) = shape.geometry();
    let (k, ic, oc) = (shape.kernel, shape.in_c, shape.out_c);
    let mut out = vec![0.0; oh * ow * oc];
    for oy in 0..oh {
        for ox in 0..ow {
            for o in 0..oc {
                let mut s = bias[o] as f64;
                for ky in 0..k {
                    for kx in 0..k {
                        let y = (oy * shape.stride + ky) as isize - pt as isize;
                        let x = (ox * shape.stride + kx) as isize - pl as isize;
                        if y < 0 || x < 0 || y >= shape.in_h as isize || x >= shape.in_w as isize {
                            continue;
                        }
                        for i in 0..ic {
                            let v = input[(y as usize * shape.in_w + x as usize) * ic + i] as f64;
                            s += v * ohwi[((o * k + ky) * k + kx) * ic + i] as f64;
                        }
                    }
                }
                out[(oy * ow + ox) * oc + o] = clamp.apply(s as f32);
            }
        }
    }
    out
}
