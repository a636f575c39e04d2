//! Every level against the scalar add.

use super::*;

#[test]
fn in_place_simd_equals_scalar() {
    let p = QAdd::new(0.0213, 131, 0.0177, 120, 0.0302, OutputStage::new(127, 0.0302, false));
    let a: Vec<u8> = (0..1000u32).map(|i| (i.wrapping_mul(2654435761) >> 7) as u8).collect();
    let b: Vec<u8> = (0..1000u32).map(|i| (i.wrapping_mul(40503) >> 3) as u8).collect();
    let expect: Vec<u8> = a.iter().zip(&b).map(|(&x, &y)| p.apply(x, y)).collect();
    for isa in crate::Isa::all_available() {
        let mut out = b.clone();
        qadd_in_place(isa, &p, &a, &mut out);
        assert_eq!(out, expect, "{isa:?}");
    }
}

#[test]
fn equal_scales_add_reals() {
    // Both inputs and output at scale 0.1, zero point 10: reals 1.0 + 2.0 = 3.0 -> q 40.
    let p = QAdd::new(0.1, 10, 0.1, 10, 0.1, OutputStage::new(10, 0.1, false));
    assert_eq!(p.apply(20, 30), 40);
    // Output at twice the scale: 3.0 / 0.2 = 15 -> q 25.
    let p = QAdd::new(0.1, 10, 0.1, 10, 0.2, OutputStage::new(10, 0.2, false));
    assert_eq!(p.apply(20, 30), 25);
    // Saturates at the top of the range.
    assert_eq!(p.apply(255, 255), 255);
}
