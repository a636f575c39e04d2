//! Writing images.

use crate::{ImageError, Rgb8};
use std::path::Path;

/// Writes an RGB image as PNG.
pub fn save_png(img: &Rgb8, path: impl AsRef<Path>) -> Result<(), ImageError> {
    let path = path.as_ref();
    let buf =
        image::RgbImage::from_raw(img.width as u32, img.height as u32, img.data.clone()).ok_or(ImageError::Empty)?;
    buf.save_with_format(path, image::ImageFormat::Png)
        .map_err(|e| ImageError::Write { path: path.display().to_string(), reason: e.to_string() })
}

/// An RGB image as PNG bytes (for answers over a network).
pub fn encode_png(img: &Rgb8) -> Result<Vec<u8>, ImageError> {
    let buf =
        image::RgbImage::from_raw(img.width as u32, img.height as u32, img.data.clone()).ok_or(ImageError::Empty)?;
    let mut out = std::io::Cursor::new(Vec::new());
    buf.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| ImageError::Write { path: "PNG in memory".into(), reason: e.to_string() })?;
    Ok(out.into_inner())
}

/// Writes 8-bit single-channel values (a class map) as a grayscale PNG.
pub fn save_gray_png(width: usize, height: usize, values: &[u8], path: impl AsRef<Path>) -> Result<(), ImageError> {
    let path = path.as_ref();
    let buf = image::GrayImage::from_raw(width as u32, height as u32, values.to_vec()).ok_or(ImageError::Empty)?;
    buf.save_with_format(path, image::ImageFormat::Png)
        .map_err(|e| ImageError::Write { path: path.display().to_string(), reason: e.to_string() })
}

/// Reads an 8-bit single-channel PNG (a mask), converting other layouts to luma.
pub fn load_gray(path: impl AsRef<Path>) -> Result<(usize, usize, Vec<u8>), ImageError> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let limits = mnv2_limits::Limits::global();
    let bytes = limits.read_file(path, "a mask")?;
    // The same header checks as every image (format, truncation, pixels), no EXIF turn.
    let decoder = crate::decode::checked_decoder(&bytes, &name, &limits)?;
    let img = image::DynamicImage::from_decoder(decoder)
        .map_err(|e| ImageError::Decode { path: name, reason: e.to_string() })?;
    let g = img.into_luma8();
    Ok((g.width() as usize, g.height() as usize, g.into_raw()))
}
