//! Decoding files into RGB with EXIF orientation applied.

use crate::{ImageError, Rgb8};
use image::{DynamicImage, ImageDecoder, ImageReader};
use std::io::Cursor;
use std::path::Path;

/// Reads and decodes an image file (JPEG, PNG, BMP, WebP) to RGB, upright.
pub fn load_rgb(path: impl AsRef<Path>) -> Result<Rgb8, ImageError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| ImageError::Io { path: path.display().to_string(), source })?;
    decode_rgb(&bytes, &path.display().to_string())
}

/// Decodes image bytes to RGB, upright (`name` is used in messages).
pub fn decode_rgb(bytes: &[u8], name: &str) -> Result<Rgb8, ImageError> {
    let err = |e: image::ImageError| ImageError::Decode { path: name.to_string(), reason: e.to_string() };
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ImageError::Decode { path: name.to_string(), reason: e.to_string() })?;
    if reader.format().is_none() {
        return Err(ImageError::Decode { path: name.to_string(), reason: "not a JPEG, PNG, BMP or WebP image".into() });
    }
    let mut decoder = reader.into_decoder().map_err(err)?;
    let orientation = decoder.orientation().map_err(err)?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(err)?;
    img.apply_orientation(orientation);
    let rgb = img.to_rgb8();
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    if w == 0 || h == 0 {
        return Err(ImageError::Empty);
    }
    Ok(Rgb8::new(w, h, rgb.into_raw()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JPEG of `w` x `h` pixels, left half red and right half blue.
    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img =
            image::RgbImage::from_fn(
                w,
                h,
                |x, _| {
                    if x < w / 2 { image::Rgb([255, 0, 0]) } else { image::Rgb([0, 0, 255]) }
                },
            );
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95).encode_image(&img).unwrap();
        out
    }

    /// Inserts an APP1 Exif segment with the given orientation right after the SOI marker.
    fn with_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
        let mut tiff = b"II*\0\x08\0\0\0".to_vec(); // little-endian TIFF, IFD at offset 8
        tiff.extend_from_slice(&1u16.to_le_bytes()); // one entry
        tiff.extend_from_slice(&0x0112u16.to_le_bytes()); // Orientation
        tiff.extend_from_slice(&3u16.to_le_bytes()); // SHORT
        tiff.extend_from_slice(&1u32.to_le_bytes());
        tiff.extend_from_slice(&orientation.to_le_bytes());
        tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // value padding, next IFD = 0
        let mut seg = b"Exif\0\0".to_vec();
        seg.extend_from_slice(&tiff);
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&((seg.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(&seg);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    #[test]
    fn exif_orientation_is_applied() {
        let plain = decode_rgb(&jpeg(16, 8), "plain").unwrap();
        assert_eq!((plain.width, plain.height), (16, 8));
        // Orientation 6: the stored image must be turned 90 degrees clockwise to be upright,
        // so the red left half ends up on top.
        let turned = decode_rgb(&with_orientation(&jpeg(16, 8), 6), "turned").unwrap();
        assert_eq!((turned.width, turned.height), (8, 16));
        let px = |x: usize, y: usize| -> [u8; 3] {
            let i = (y * turned.width + x) * 3;
            [turned.data[i], turned.data[i + 1], turned.data[i + 2]]
        };
        assert!(px(4, 1)[0] > 200 && px(4, 1)[2] < 60, "top should be red: {:?}", px(4, 1));
        assert!(px(4, 14)[2] > 200 && px(4, 14)[0] < 60, "bottom should be blue: {:?}", px(4, 14));
    }

    #[test]
    fn garbage_and_truncation_are_errors() {
        assert!(decode_rgb(b"not an image", "x").is_err());
        let j = jpeg(32, 32);
        for n in [0, 2, 10, 100, j.len() / 2] {
            assert!(decode_rgb(&j[..n], "cut").is_err(), "{n} bytes accepted");
        }
    }
}
