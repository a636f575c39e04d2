use super::*;
use crate::testutil::Rng;

/// Every level gives the reference's bits, on shapes with and without edge tiles and over
/// several chunks of pixels.
#[test]
fn every_level_equals_the_reference() {
    let mut rng = Rng::new(21);
    for (pixels, cout, cin) in [
        (1, 1, 1),
        (7, 4, 16),
        (50, 5, 17),
        (30, 8, 24),
        (9, 7, 30),
        (40, 12, 40),
        (3000, 24, 144),
        (700, 96, 16),
        (49, 320, 1280),
    ] {
        let (dy, x, start) = (rng.vec(pixels * cout), rng.vec(pixels * cin), rng.vec(cout * cin));
        let mut want = start.clone();
        weight_grad_reference(&dy, &x, cout, cin, &mut want);
        for isa in Isa::all_available() {
            let mut got = start.clone();
            weight_grad(isa, &dy, &x, cout, cin, &mut got);
            assert!(
                got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()),
                "{isa:?} pixels={pixels} cout={cout} cin={cin}"
            );
        }
    }
}

#[test]
#[should_panic(expected = "x has")]
fn refuses_mismatched_shapes() {
    weight_grad(Isa::Scalar, &[0.0; 8], &[0.0; 7], 4, 4, &mut [0.0; 16]);
}
