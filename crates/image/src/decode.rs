//! Decoding files into RGB with EXIF orientation applied.

use crate::{ImageError, Rgb8};
use image::{DynamicImage, ImageDecoder, ImageReader};
use std::io::Cursor;
use std::path::Path;

/// Reads and decodes an image file (JPEG, PNG, BMP, WebP) to RGB, upright.
pub fn load_rgb(path: impl AsRef<Path>) -> Result<Rgb8, ImageError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| ImageError::Io {
        path: path.display().to_string(),
        source,
    })?;
    decode_rgb(&bytes, &path.display().to_string())
}

/// Decodes image bytes to RGB, upright (`name` is used in messages).
pub fn decode_rgb(bytes: &[u8], name: &str) -> Result<Rgb8, ImageError> {
    let err = |e: image::ImageError| ImageError::Decode {
        path: name.to_string(),
        reason: e.to_string(),
    };
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ImageError::Decode {
            path: name.to_string(),
            reason: e.to_string(),
        })?;
    if reader.format().is_none() {
        return Err(ImageError::Decode {
            path: name.to_string(),
            reason: "not a JPEG, PNG, BMP or WebP image".into(),
        });
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
