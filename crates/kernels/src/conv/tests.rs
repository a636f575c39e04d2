use super::*;
use crate::Padding;
use crate::testutil::{Rng, assert_close, padding_for};

#[test]
fn matches_reference_on_many_shapes() {
    let mut seed = 100;
    for isa in Isa::all_available() {
        for (h, w) in [(1, 1), (3, 4), (7, 7), (10, 9), (16, 16), (40, 37)] {
            for (in_c, out_c) in [(1, 1), (3, 8), (3, 16), (3, 17), (5, 32)] {
                for (kernel, stride) in [(3, 2), (3, 1), (1, 1), (5, 2)] {
                    seed += 1;
                    let mut rng = Rng::new(seed);
                    let shape = ConvShape { in_h: h, in_w: w, in_c, out_c, kernel, stride, padding: padding_for(seed) };
                    let input = rng.vec(h * w * in_c);
                    let ohwi = rng.vec(out_c * kernel * kernel * in_c);
                    let bias = rng.vec(out_c);
                    let packed = PackedConv::from_ohwi(out_c, kernel, in_c, &ohwi, &bias);
                    let clamp = Clamp::relu6(seed % 2 == 1);
                    let (_, oh, _, _) = shape.geometry();
                    let mut out = vec![f32::NAN; shape.out_len()];
                    conv2d(isa, &shape, &input, &packed, clamp, 0..oh, &mut out);
                    let expect = conv_reference(&shape, &input, &ohwi, &bias, clamp);
                    assert_close(&out, &expect, 1e-5, &format!("{isa:?} {shape:?}"));
                }
            }
        }
    }
}

#[test]
fn stem_at_224_pads_bottom_right_only() {
    let shape = ConvShape { in_h: 224, in_w: 224, in_c: 3, out_c: 32, kernel: 3, stride: 2, padding: Padding::Same };
    assert_eq!(shape.geometry(), (0, 112, 0, 112));
    let odd = ConvShape { in_h: 225, ..shape };
    assert_eq!(odd.geometry().0, 1);
}
