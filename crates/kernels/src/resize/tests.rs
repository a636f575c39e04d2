use super::*;

/// Every level this CPU has gives the textbook bytes: upscaling, the classifiers' shrink by about
/// 2, odd factors and widths (a lone last pixel for AVX2's pairs), one output pixel, and shrinks
/// of 9x (the widest windows one AVX-512 load takes) and 12x (too wide for it: the AVX2 pass
/// takes over, reading each window in five chunks). Every case's last row reaches the end of
/// the input, where AVX2 reads a padded copy.
#[test]
fn every_level_matches_the_reference_on_random_images() {
    let mut state = 1u64;
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) as u8
    };
    for (w, h, ow, oh) in [
        (1, 1, 3, 2),
        (7, 5, 3, 2),
        (64, 48, 224, 224),
        (300, 200, 224, 224),
        (448, 376, 224, 224),
        (513, 340, 100, 513),
        (37, 3, 1, 1),
        (999, 7, 111, 3),
        (1200, 5, 100, 2),
        (250, 3, 23, 1),
        (5, 9, 5, 4),
        (325, 438, 224, 224),
        (40, 300, 60, 100),
        (7, 40, 7, 9),
    ] {
        let img: Vec<u8> = (0..w * h * 3).map(|_| next()).collect();
        let expected = resize_rgb8_reference(&img, (w, h), (ow, oh));
        for isa in Isa::all_available() {
            assert!(resize_rgb8(isa, &img, (w, h), (ow, oh)) == expected, "{w}x{h} -> {ow}x{oh} at {isa:?}");
        }
    }
}

/// Pillow 13's order of the passes, found by resizing random images with it both ways (one
/// pass at a time) and seeing which order its one-call resize matches: the vertical pass
/// first when the height shrinks by more than twice as many pixels as the width.
#[test]
fn pass_order_is_pillows() {
    for (size, out, vertical) in [
        ((55, 60), (50, 50), false), // 10 rows against 2 x 5 columns: not more
        ((55, 61), (50, 50), true),
        ((325, 438), (224, 224), true), // a tall ImageNet crop
        ((325, 400), (224, 224), false),
        ((438, 325), (224, 224), false),
        ((30, 60), (50, 50), true),  // the width grows, the height shrinks
        ((40, 45), (50, 50), false), // both grow
        ((224, 500), (224, 224), true),
    ] {
        assert_eq!(vertical_first(size, out), vertical, "{size:?} -> {out:?}");
    }
}

/// Where the vector pass takes over and where it gives way to the portable one.
#[cfg(target_arch = "x86_64")]
#[test]
fn vector_plan_covers_shrinks_up_to_its_load() {
    // 9x: windows of 19 pixels (57 bytes) fit a 64-byte load; 12x: 25 pixels do not.
    assert!(avx512::HorizontalPlan::new(&coefficients(999, 111), 999).is_some());
    assert!(avx512::HorizontalPlan::new(&coefficients(1200, 100), 1200).is_none());
    assert!(avx512::HorizontalPlan::new(&coefficients(3, 224), 3).is_some());
}

/// PIL's fixed-point weights of a halving, worked by hand: output 0 (centre 1.0, support 2)
/// reads inputs 0..3 with triangle weights 0.75, 0.75, 0.25, output 1 (centre 3.0) inputs 1..4
/// with 0.25, 0.75, 0.75, each over their sum 1.75.
#[test]
fn halving_weights_are_pils() {
    let c = coefficients(4, 2);
    assert_eq!(c.start, vec![0, 1]);
    let unit = (1u32 << PRECISION_BITS) as f64;
    let fixed = |w: f64| (w / 1.75 * unit + 0.5) as i32;
    assert_eq!(c.weights[0], vec![fixed(0.75), fixed(0.75), fixed(0.25)]);
    assert_eq!(c.weights[1], vec![fixed(0.25), fixed(0.75), fixed(0.75)]);
}
