//! Central crop.

use crate::{ImageError, Rgb8};

/// The crop box (left, top, width, height) keeping `fraction` of each side, centred. The margin
/// is `(side - side * fraction) / 2` rounded half to even, and the crop keeps what is between the
/// two margins: the rule that produced `../shared/reference/imagenet100/inputs`.
pub fn central_crop_box(
    width: usize,
    height: usize,
    fraction: f32,
) -> Result<(usize, usize, usize, usize), ImageError> {
    if !(fraction > 0.0 && fraction <= 1.0) {
        return Err(ImageError::CropFraction(fraction));
    }
    if width == 0 || height == 0 {
        return Err(ImageError::Empty);
    }
    let margin = |side: usize| {
        let m = ((side as f64 - side as f64 * fraction as f64) / 2.0).round_ties_even() as usize;
        m.min((side - 1) / 2)
    };
    let (l, t) = (margin(width), margin(height));
    Ok((l, t, width - 2 * l, height - 2 * t))
}

/// Copies the central crop keeping `fraction` of each side.
pub fn central_crop(img: &Rgb8, fraction: f32) -> Result<Rgb8, ImageError> {
    let (l, t, w, h) = central_crop_box(img.width, img.height, fraction)?;
    let mut data = Vec::with_capacity(w * h * 3);
    for y in t..t + h {
        let row = (y * img.width + l) * 3;
        data.extend_from_slice(&img.data[row..row + w * 3]);
    }
    Ok(Rgb8::new(w, h, data))
}

/// torchvision's evaluation preprocessing: the shorter side resized to `size / fraction`
/// (`Resize(256)` for 224: the longer side scaled and truncated, as torchvision computes it;
/// PIL's bilinear), then the central `size` x `size` crop (`CenterCrop(224)`: offsets rounded
/// half to even, as Python's `round`).
pub fn resize_then_crop(img: &Rgb8, size: usize, fraction: f32) -> Result<Rgb8, ImageError> {
    if !(fraction > 0.0 && fraction <= 1.0) {
        return Err(ImageError::CropFraction(fraction));
    }
    if img.width == 0 || img.height == 0 {
        return Err(ImageError::Empty);
    }
    let short = ((size as f64 / fraction as f64).round() as usize).max(size);
    let scaled = |long: usize, short_side: usize| (short as f64 * long as f64 / short_side as f64) as usize;
    let (w, h) = if img.width <= img.height {
        (short, scaled(img.height, img.width).max(size))
    } else {
        (scaled(img.width, img.height).max(size), short)
    };
    let resized = if (w, h) == (img.width, img.height) { img.clone() } else { crate::resize_bilinear(img, w, h) };
    let (l, t) =
        (((w - size) as f64 / 2.0).round_ties_even() as usize, ((h - size) as f64 / 2.0).round_ties_even() as usize);
    let mut data = Vec::with_capacity(size * size * 3);
    for y in t..t + size {
        let row = (y * w + l) * 3;
        data.extend_from_slice(&resized.data[row..row + size * 3]);
    }
    Ok(Rgb8::new(size, size, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_of_the_reference_preprocessing() {
        // Found by matching PIL crops against ../shared/reference/imagenet100/inputs.
        assert_eq!(central_crop_box(500, 375, 0.875).unwrap(), (31, 23, 438, 329));
        assert_eq!(central_crop_box(500, 376, 0.875).unwrap(), (31, 24, 438, 328)); // 23.5 -> 24
        assert_eq!(central_crop_box(400, 296, 0.875).unwrap(), (25, 18, 350, 260)); // 18.5 -> 18
        assert_eq!(central_crop_box(526, 497, 0.875).unwrap(), (33, 31, 460, 435));
        assert_eq!(central_crop_box(7, 1, 1.0).unwrap(), (0, 0, 7, 1));
        assert_eq!(central_crop_box(1, 1, 0.01).unwrap(), (0, 0, 1, 1));
    }

    #[test]
    fn bad_fractions() {
        assert!(central_crop_box(10, 10, 0.0).is_err());
        assert!(central_crop_box(10, 10, 1.5).is_err());
        assert!(central_crop_box(10, 10, f32::NAN).is_err());
        assert!(central_crop_box(0, 10, 0.5).is_err());
    }
}
