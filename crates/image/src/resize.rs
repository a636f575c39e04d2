//! Bilinear resize with PIL's semantics (the passes are `mnv2_kernels::resize`): a triangle
//! filter whose support widens by the scale factor when shrinking, so it averages rather than
//! aliases, and PIL's fixed-point arithmetic, so the bytes match `Image.resize`.

use crate::Rgb8;
use mnv2_kernels::Isa;
use mnv2_kernels::resize::resize_rgb8;

/// Resizes to `out_w` x `out_h` exactly as PIL's `Image.resize(size, Image.BILINEAR)`, with the
/// best code this CPU has ([`Isa::detect`]).
pub fn resize_bilinear(img: &Rgb8, out_w: usize, out_h: usize) -> Rgb8 {
    resize_bilinear_at(Isa::detect(), img, out_w, out_h)
}

/// [`resize_bilinear`] with the code of level `isa` (or the best below it this CPU has): the
/// same bytes at every level.
pub fn resize_bilinear_at(isa: Isa, img: &Rgb8, out_w: usize, out_h: usize) -> Rgb8 {
    Rgb8::new(out_w, out_h, resize_rgb8(isa, &img.data, (img.width, img.height), (out_w, out_h)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_and_constant() {
        let img = Rgb8::new(3, 2, (0..18).collect());
        assert_eq!(resize_bilinear(&img, 3, 2), img);
        let flat = Rgb8::new(9, 7, vec![77; 9 * 7 * 3]);
        for isa in Isa::all_available() {
            assert!(resize_bilinear_at(isa, &flat, 4, 3).data.iter().all(|&v| v == 77));
            assert!(resize_bilinear_at(isa, &flat, 20, 11).data.iter().all(|&v| v == 77));
        }
    }

    #[test]
    fn halving_averages_pairs_with_triangle_weights() {
        // 4 -> 2: scale 2, support 2; output 0 centred at 1.0 reads inputs 0..3 with triangle
        // weights 0.75, 0.75, 0.25 (output 1 reads 1..4 with 0.25, 0.75, 0.75).
        let img = Rgb8::new(4, 1, vec![0, 0, 0, 100, 100, 100, 200, 200, 200, 0, 0, 0]);
        // (0*0.75 + 100*0.75 + 200*0.25) / 1.75 = 71.43 -> 71; (100*.25+200*.75+0*.75)/1.75 = 100
        for isa in Isa::all_available() {
            assert_eq!(resize_bilinear_at(isa, &img, 2, 1).data, vec![71, 71, 71, 100, 100, 100]);
        }
    }
}
