use super::*;
use crate::testutil::{Rng, assert_close};

#[test]
fn matches_reference_on_many_shapes() {
    let mut seed = 0;
    for isa in Isa::all_available() {
        for (h, w) in [(1, 1), (2, 3), (5, 5), (7, 9), (8, 8), (14, 13)] {
            for channels in [1, 7, 8, 9, 16, 19, 35] {
                for (stride, dilation) in [(1, 1), (2, 1), (1, 2)] {
                    seed += 1;
                    let mut rng = Rng::new(seed);
                    let shape = DwShape {
                        in_h: h,
                        in_w: w,
                        channels,
                        stride,
                        dilation,
                    };
                    let input = rng.vec(h * w * channels);
                    let wt = rng.vec(9 * channels);
                    let bias = rng.vec(channels);
                    let clamp = Clamp::relu6(seed % 2 == 0);
                    let (_, oh, _, _) = shape.geometry();
                    let mut out = vec![f32::NAN; shape.out_len()];
                    dwconv3x3(isa, &shape, &input, &wt, &bias, clamp, 0..oh, &mut out);
                    let expect = dwconv3x3_reference(&shape, &input, &wt, &bias, clamp);
                    assert_close(&out, &expect, 1e-5, &format!("{isa:?} {shape:?}"));
                }
            }
        }
    }
}

#[test]
fn tensorflow_same_padding_is_asymmetric() {
    // 4x4 input, stride 2: output 2x2, total padding 1, all of it at the bottom/right.
    let shape = DwShape {
        in_h: 4,
        in_w: 4,
        channels: 1,
        stride: 2,
        dilation: 1,
    };
    assert_eq!(shape.geometry(), (0, 2, 0, 2));
    let input: Vec<f32> = (0..16).map(|v| v as f32).collect();
    let mut w = vec![0.0; 9];
    w[0] = 1.0; // top-left tap picks input (2*oy, 2*ox)
    let mut out = vec![0.0; 4];
    dwconv3x3(
        Isa::Scalar,
        &shape,
        &input,
        &w,
        &[0.0],
        Clamp::NONE,
        0..2,
        &mut out,
    );
    assert_eq!(out, vec![0.0, 2.0, 8.0, 10.0]);
}

#[test]
fn row_ranges_compose() {
    let mut rng = Rng::new(3);
    let shape = DwShape {
        in_h: 11,
        in_w: 6,
        channels: 12,
        stride: 2,
        dilation: 1,
    };
    let input = rng.vec(11 * 6 * 12);
    let (wt, bias) = (rng.vec(9 * 12), rng.vec(12));
    let (_, oh, _, ow) = shape.geometry();
    for isa in Isa::all_available() {
        let mut whole = vec![0.0; shape.out_len()];
        dwconv3x3(
            isa,
            &shape,
            &input,
            &wt,
            &bias,
            Clamp::RELU6,
            0..oh,
            &mut whole,
        );
        let row = ow * 12;
        let mut parts = vec![0.0; shape.out_len()];
        dwconv3x3(
            isa,
            &shape,
            &input,
            &wt,
            &bias,
            Clamp::RELU6,
            0..2,
            &mut parts[..2 * row],
        );
        dwconv3x3(
            isa,
            &shape,
            &input,
            &wt,
            &bias,
            Clamp::RELU6,
            2..oh,
            &mut parts[2 * row..],
        );
        assert_eq!(whole, parts);
    }
}
