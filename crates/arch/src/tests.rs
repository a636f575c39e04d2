use super::*;

/// The published TF-slim family (`../shared/docs/mobilenetv2.md`): width, resolution, MACs (M), params (M).
const PUBLISHED: [(f32, u32, f64, f64); 22] = [
    (1.4, 224, 582.0, 6.06),
    (1.3, 224, 509.0, 5.34),
    (1.0, 224, 300.0, 3.47),
    (1.0, 192, 221.0, 3.47),
    (1.0, 160, 154.0, 3.47),
    (1.0, 128, 99.0, 3.47),
    (1.0, 96, 56.0, 3.47),
    (0.75, 224, 209.0, 2.61),
    (0.75, 192, 153.0, 2.61),
    (0.75, 160, 107.0, 2.61),
    (0.75, 128, 69.0, 2.61),
    (0.75, 96, 39.0, 2.61),
    (0.5, 224, 97.0, 1.95),
    (0.5, 192, 71.0, 1.95),
    (0.5, 160, 50.0, 1.95),
    (0.5, 128, 32.0, 1.95),
    (0.5, 96, 18.0, 1.95),
    (0.35, 224, 59.0, 1.66),
    (0.35, 192, 43.0, 1.66),
    (0.35, 160, 30.0, 1.66),
    (0.35, 128, 20.0, 1.66),
    (0.35, 96, 11.0, 1.66),
];

#[test]
fn published_family_params_and_macs() {
    for (w, r, macs, params) in PUBLISHED {
        let arch = Arch::new(w, r, 1001).unwrap();
        let p = arch.params() as f64 / 1e6;
        let m = arch.macs() as f64 / 1e6;
        assert!((p - params).abs() <= 0.01, "{w}_{r}: params {p:.4} M, published {params}");
        assert!((m - macs).abs() <= 1.0, "{w}_{r}: MACs {m:.3} M, published {macs}");
    }
}

#[test]
fn torchvision_trainable_count() {
    // torchvision.models.mobilenet_v2().parameters() sums to 3 504 872 (1000 classes).
    assert_eq!(Arch::new(1.0, 224, 1000).unwrap().trainable_params(), 3_504_872);
}

#[test]
fn table_2_shapes_at_224() {
    let arch = Arch::new(1.0, 224, 1001).unwrap();
    let layers = arch.layers();
    assert_eq!(layers.len(), 1 + 17 + 3);
    assert_eq!(layers[0].output(), Shape::new(112, 112, 32));
    // (input h, input c, output c) of the first layer of each Table 2 row.
    let blocks = arch.bottlenecks();
    let firsts: Vec<_> = [0, 1, 3, 6, 10, 13, 16].iter().map(|&i| blocks[i]).collect();
    let expect = [(112, 32, 16), (112, 16, 24), (56, 24, 32), (28, 32, 64), (14, 64, 96), (14, 96, 160), (7, 160, 320)];
    for (b, (h, cin, cout)) in firsts.iter().zip(expect) {
        assert_eq!((b.input.h, b.input.c, b.out), (h, cin, cout), "block {}", b.index);
    }
    assert_eq!(blocks[16].output(), Shape::new(7, 7, 320));
    assert_eq!(layers[18].output(), Shape::new(7, 7, 1280));
    assert_eq!(layers[20].output(), Shape::new(1, 1, 1001));
    // Residuals: every repeat after the first of a row (10 of them).
    assert_eq!(blocks.iter().filter(|b| b.residual).count(), 10);
    assert!(!blocks[0].has_expand() && blocks[0].hidden == 32);
}

#[test]
fn make_divisible_rules() {
    assert_eq!(make_divisible(32.0 * 0.35, 8), 16); // 8 would lose more than 10%
    assert_eq!(make_divisible(16.0 * 0.35, 8), 8);
    assert_eq!(make_divisible(24.0 * 0.75, 8), 24); // 18 rounds up to 24 (nearest: 16 < 0.9*18)
    assert_eq!(make_divisible(1280.0 * 1.4, 8), 1792);
    assert_eq!(head_channels(0.5), 1280);
    assert_eq!(head_channels(1.4), 1792);
    // Expansion by make_divisible equals plain multiplication for channels that are multiples of 8.
    for w in [0.35f32, 0.5, 0.75, 1.0, 1.3, 1.4] {
        for b in Arch::new(w, 224, 10).unwrap().bottlenecks() {
            assert_eq!(b.hidden, b.input.c * b.expansion);
        }
    }
}

#[test]
fn odd_resolutions_use_ceil_division() {
    let arch = Arch::new(1.0, 225, 10).unwrap();
    assert_eq!(arch.layers()[0].output().h, 113);
    assert_eq!(arch.bottlenecks()[16].output().h, 8);
}

#[test]
fn output_stride_16_dilates_the_last_stages() {
    let arch = Arch::new(1.0, 513, 21).unwrap().with_output_stride(16).unwrap();
    let blocks = arch.bottlenecks();
    assert_eq!(blocks[16].output().h, 33);
    // Block 14 (first of the 160-channel row) keeps stride 1 and rate 1; later ones dilate by 2.
    assert_eq!((blocks[13].stride, blocks[13].dilation), (1, 1));
    assert_eq!((blocks[14].stride, blocks[14].dilation), (1, 2));
    assert_eq!((blocks[16].stride, blocks[16].dilation), (1, 2));
}

#[test]
fn bad_arguments_are_errors() {
    assert_eq!(Arch::new(0.0, 224, 10), Err(ArchError::Width(0.0)));
    assert!(Arch::new(f32::NAN, 224, 10).is_err());
    assert_eq!(Arch::new(1.0, 8, 10), Err(ArchError::Resolution(8)));
    assert_eq!(Arch::new(1.0, 224, 0), Err(ArchError::Classes));
    assert!(Arch::new(1.0, 224, 10).unwrap().with_output_stride(4).is_err());
}

#[test]
fn padding_geometry_by_hand() {
    // 224 by a 3-wide window every 2: 112 outputs span 223 + 3 - 224 = 1 extra pixel, after.
    assert_eq!(Padding::TensorFlowSame.before_after(224, 3, 2), (0, 1));
    assert_eq!(Padding::Symmetric.before_after(224, 3, 2), (1, 1));
    // Odd sizes: 7 -> 4 outputs need 2 extra pixels, one on each side, as symmetric padding has.
    assert_eq!(Padding::TensorFlowSame.before_after(7, 3, 2), (1, 1));
    assert_eq!(Padding::TensorFlowSame.before_after(56, 3, 1), (1, 1));
    assert_eq!(Padding::TensorFlowSame.before_after(7, 1, 1), (0, 0));
}
