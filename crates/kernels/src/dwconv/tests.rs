use super::*;
use crate::Padding;
use crate::testutil::{Rng, assert_close, padding_for};

#[test]
fn matches_reference_on_many_shapes() {
    let mut seed = 0;
    for isa in Isa::all_available() {
        for (h, w) in [(1, 1), (2, 3), (5, 5), (7, 9), (8, 8), (14, 13), (3, 90)] {
            for channels in [1, 7, 8, 9, 16, 19, 35] {
                for (stride, dilation) in [(1, 1), (2, 1), (1, 2), (1, 4), (2, 2)] {
                    seed += 1;
                    let mut rng = Rng::new(seed);
                    let shape = DwShape { in_h: h, in_w: w, channels, stride, dilation, padding: padding_for(seed) };
                    let input = rng.vec(h * w * channels);
                    let clamp = Clamp::relu6(seed % 2 == 0);
                    let layer = DwLayer { shape, w: rng.vec(9 * channels), bias: rng.vec(channels), clamp };
                    let (_, oh, _, _) = shape.geometry();
                    let mut out = vec![f32::NAN; shape.out_len()];
                    dwconv3x3(isa, &layer, &input, 0..oh, &mut out);
                    let expect = dwconv3x3_reference(&shape, &input, &layer.w, &layer.bias, clamp);
                    assert_close(&out, &expect, 1e-5, &format!("{isa:?} {shape:?}"));
                }
            }
        }
    }
}

#[test]
fn tensorflow_same_padding_is_asymmetric() {
    // 4x4 input, stride 2: output 2x2, total padding 1, all of it at the bottom/right.
    let shape = DwShape { in_h: 4, in_w: 4, channels: 1, stride: 2, dilation: 1, padding: Padding::Same };
    assert_eq!(shape.geometry(), (0, 2, 0, 2));
    let input: Vec<f32> = (0..16).map(|v| v as f32).collect();
    let mut w = vec![0.0; 9];
    w[0] = 1.0; // the top-left tap picks input (2*oy, 2*ox)
    let layer = DwLayer { shape, w, bias: vec![0.0], clamp: Clamp::NONE };
    let mut out = vec![0.0; 4];
    dwconv3x3(Isa::Scalar, &layer, &input, 0..2, &mut out);
    assert_eq!(out, vec![0.0, 2.0, 8.0, 10.0]);
}

#[test]
fn symmetric_padding_pads_one_pixel_on_every_side() {
    // 4x4 input, stride 2, PyTorch's padding 1: output 2x2, output (oy, ox) centred on input
    // (2*oy, 2*ox), so the top-left tap picks input (2*oy - 1, 2*ox - 1): padding for oy or ox 0.
    let shape = DwShape { in_h: 4, in_w: 4, channels: 1, stride: 2, dilation: 1, padding: Padding::Symmetric };
    assert_eq!(shape.geometry(), (1, 2, 1, 2));
    let input: Vec<f32> = (0..16).map(|v| v as f32).collect();
    let mut w = vec![0.0; 9];
    w[0] = 1.0;
    w[4] = 100.0; // the centre tap picks input (2*oy, 2*ox)
    let layer = DwLayer { shape, w, bias: vec![0.0], clamp: Clamp::NONE };
    for isa in Isa::all_available() {
        let mut out = vec![0.0; 4];
        dwconv3x3(isa, &layer, &input, 0..2, &mut out);
        assert_eq!(out, vec![0.0, 200.0, 800.0, 1000.0 + 5.0], "{isa:?}");
    }
}

#[test]
fn row_ranges_compose() {
    let mut rng = Rng::new(3);
    let shape = DwShape { in_h: 11, in_w: 6, channels: 12, stride: 2, dilation: 1, padding: Padding::Same };
    let input = rng.vec(11 * 6 * 12);
    let layer = DwLayer { shape, w: rng.vec(9 * 12), bias: rng.vec(12), clamp: Clamp::RELU6 };
    let (_, oh, _, ow) = shape.geometry();
    let row = ow * 12;
    for isa in Isa::all_available() {
        let mut whole = vec![0.0; shape.out_len()];
        dwconv3x3(isa, &layer, &input, 0..oh, &mut whole);
        let mut parts = vec![0.0; shape.out_len()];
        dwconv3x3(isa, &layer, &input, 0..2, &mut parts[..2 * row]);
        dwconv3x3(isa, &layer, &input, 2..oh, &mut parts[2 * row..]);
        assert_eq!(whole, parts);
    }
}

#[test]
fn windows_of_rows_give_the_same_bits() {
    let mut rng = Rng::new(9);
    for (stride, dilation) in [(1, 1), (2, 1), (1, 2), (1, 4), (2, 2)] {
        let shape = DwShape { in_h: 13, in_w: 5, channels: 10, stride, dilation, padding: Padding::Same };
        let input = rng.vec(13 * 5 * 10);
        let layer = DwLayer { shape, w: rng.vec(90), bias: rng.vec(10), clamp: Clamp::RELU6 };
        let (pt, oh, _, ow) = shape.geometry();
        let row = ow * 10;
        for isa in Isa::all_available() {
            let mut whole = vec![0.0; shape.out_len()];
            dwconv3x3(isa, &layer, &input, 0..oh, &mut whole);
            for oy in 0..oh {
                let lo = (oy * stride).saturating_sub(pt);
                let hi = (oy * stride + 2 * dilation).saturating_sub(pt).min(12);
                let mut one = vec![0.0; row];
                dwconv3x3_window(isa, &layer, &input[lo * 50..(hi + 1) * 50], lo, oy..oy + 1, &mut one);
                assert_eq!(one, whole[oy * row..(oy + 1) * row], "{isa:?} s{stride} d{dilation} row {oy}");
            }
        }
    }
}

#[test]
fn rings_of_rows_give_the_same_bits() {
    // Row iy in slot iy % slots, with one slot more than the two output rows read, so that
    // the needed rows wrap around the ring's end.
    let mut rng = Rng::new(10);
    for (stride, dilation) in [(1, 1), (2, 1), (1, 2), (1, 4), (2, 2)] {
        for channels in [10, 32] {
            let shape = DwShape { in_h: 13, in_w: 5, channels, stride, dilation, padding: Padding::Same };
            let row_len = 5 * channels;
            let input = rng.vec(13 * row_len);
            let layer = DwLayer { shape, w: rng.vec(9 * channels), bias: rng.vec(channels), clamp: Clamp::RELU6 };
            let (_, oh, _, ow) = shape.geometry();
            let slots = stride + 2 * dilation + 2;
            for isa in Isa::all_available() {
                let mut whole = vec![0.0; shape.out_len()];
                dwconv3x3(isa, &layer, &input, 0..oh, &mut whole);
                for oy in 0..oh - 1 {
                    let band = oy..oy + 2;
                    let (first, last) = shape.input_rows(&band);
                    let mut ring = vec![f32::NAN; slots * row_len];
                    for iy in first..=last {
                        ring[iy % slots * row_len..][..row_len].copy_from_slice(&input[iy * row_len..][..row_len]);
                    }
                    let mut two = vec![0.0; 2 * ow * channels];
                    dwconv3x3_ring(isa, &layer, &ring, band, &mut two);
                    assert_eq!(two, whole[oy * ow * channels..][..two.len()], "{isa:?} s{stride} d{dilation} {oy}");
                }
            }
        }
    }
}

#[test]
fn avx512_is_bit_identical_to_avx2() {
    if !Isa::Avx512.available() {
        eprintln!("skipped: needs avx512f");
        return;
    }
    let mut seed = 100;
    for (h, w) in [(1, 1), (3, 2), (7, 9), (14, 13), (5, 14), (3, 16), (4, 28), (19, 19), (3, 45), (4, 93)] {
        for channels in [8, 16, 24, 35, 48, 144] {
            for (stride, dilation) in [(1, 1), (2, 1), (1, 2), (1, 4), (2, 2)] {
                seed += 1;
                let mut rng = Rng::new(seed);
                let shape = DwShape { in_h: h, in_w: w, channels, stride, dilation, padding: padding_for(seed) };
                let input = rng.vec(h * w * channels);
                let layer = DwLayer { shape, w: rng.vec(9 * channels), bias: rng.vec(channels), clamp: Clamp::RELU6 };
                let (_, oh, _, _) = shape.geometry();
                let (mut narrow, mut wide) = (vec![0.0; shape.out_len()], vec![0.0; shape.out_len()]);
                window_impl(Isa::Avx512, false, &layer, &input, Some(0), 0..oh, &mut narrow);
                window_impl(Isa::Avx512, true, &layer, &input, Some(0), 0..oh, &mut wide);
                assert_eq!(narrow, wide, "{shape:?}");
            }
        }
    }
}

/// SIMD128 multiplies then adds, tap by tap in the portable body's order: the same bits.
#[test]
#[cfg(target_arch = "wasm32")]
fn simd128_is_bit_identical_to_portable() {
    let mut seed = 200;
    for (h, w) in [(1, 1), (7, 9), (14, 13), (3, 45)] {
        for channels in [4, 9, 24, 35, 144] {
            for (stride, dilation) in [(1, 1), (2, 1), (1, 2)] {
                seed += 1;
                let mut rng = Rng::new(seed);
                let shape = DwShape { in_h: h, in_w: w, channels, stride, dilation, padding: padding_for(seed) };
                let input = rng.vec(h * w * channels);
                let layer = DwLayer { shape, w: rng.vec(9 * channels), bias: rng.vec(channels), clamp: Clamp::RELU6 };
                let (_, oh, _, _) = shape.geometry();
                let (mut simd, mut portable) = (vec![0.0; shape.out_len()], vec![0.0; shape.out_len()]);
                dwconv3x3(Isa::Simd128, &layer, &input, 0..oh, &mut simd);
                dwconv3x3(Isa::Scalar, &layer, &input, 0..oh, &mut portable);
                assert!(simd.iter().zip(&portable).all(|(x, y)| x.to_bits() == y.to_bits()), "{shape:?}");
            }
        }
    }
}
