//! Decoding files into RGB with EXIF orientation applied, within the process-wide limits
//! (`mnv2_limits::Limits`): the file's size before it is read, the image's pixels from its header
//! before anything of that size is allocated, and a truncated file is an error, never a picture
//! with its missing part filled in.

use crate::{ImageError, Rgb8};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};
use mnv2_limits::Limits;
use std::io::Cursor;
use std::path::Path;

/// Reads and decodes an image file (JPEG, PNG, BMP, WebP) to RGB, upright, within
/// [`Limits::global`].
pub fn load_rgb(path: impl AsRef<Path>) -> Result<Rgb8, ImageError> {
    load_rgb_within(path, &Limits::global())
}

/// [`load_rgb`] within the given limits.
pub fn load_rgb_within(path: impl AsRef<Path>, limits: &Limits) -> Result<Rgb8, ImageError> {
    let path = path.as_ref();
    let bytes = limits.read_file(path, "an image")?;
    decode_rgb_within(&bytes, &path.display().to_string(), limits)
}

/// Decodes image bytes to RGB, upright (`name` is used in messages), within [`Limits::global`].
pub fn decode_rgb(bytes: &[u8], name: &str) -> Result<Rgb8, ImageError> {
    decode_rgb_within(bytes, name, &Limits::global())
}

/// Checks an image file without decoding its pixels: readable, a supported format, complete (as
/// far as the format shows without decoding) and within the limits. Returns its size as stored.
pub fn check_image(path: impl AsRef<Path>, limits: &Limits) -> Result<(usize, usize), ImageError> {
    let path = path.as_ref();
    let bytes = limits.read_file(path, "an image")?;
    let (w, h) = checked_decoder(&bytes, &path.display().to_string(), limits)?.dimensions();
    Ok((w as usize, h as usize))
}

/// [`decode_rgb`] within the given limits.
///
/// Baseline JPEGs (the common case) go through this crate's own decoder, whose bytes are
/// libjpeg-turbo's, as PIL decodes them; every other image, and every error, through the image
/// crate's decoders.
pub fn decode_rgb_within(bytes: &[u8], name: &str, limits: &Limits) -> Result<Rgb8, ImageError> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF])
        && jpeg_is_complete(bytes)
        && let Some(rgb) = crate::jpeg::decode(bytes, limits.max_pixels)
    {
        return Ok(rgb);
    }
    decode_any(bytes, name, limits)
}

/// [`decode_rgb_within`] and then [`crate::central_crop`] keeping `fraction` of each side, with
/// the same bytes: a baseline JPEG stored upright makes only the crop's pixels (and leaves the
/// entropy-coded data after it unread), about a fifth less work at the usual 0.875.
pub fn decode_central_crop_within(
    bytes: &[u8],
    name: &str,
    limits: &Limits,
    fraction: f32,
) -> Result<Rgb8, ImageError> {
    if !(fraction > 0.0 && fraction <= 1.0) {
        return Err(ImageError::CropFraction(fraction));
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF])
        && jpeg_is_complete(bytes)
        && let Some(rgb) = crate::jpeg::decode_central_crop(bytes, limits.max_pixels, fraction)
    {
        return Ok(rgb);
    }
    crate::central_crop(&decode_any(bytes, name, limits)?, fraction)
}

/// Any supported image through the image crate's decoders.
pub(crate) fn decode_any(bytes: &[u8], name: &str, limits: &Limits) -> Result<Rgb8, ImageError> {
    let fail = |reason: String| ImageError::Decode { path: name.to_string(), reason };
    let err = |e: image::ImageError| fail(e.to_string());
    let mut decoder = checked_decoder(bytes, name, limits)?;
    let orientation = decoder.orientation().map_err(err)?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(err)?;
    img.apply_orientation(orientation);
    let rgb = img.into_rgb8();
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    Ok(Rgb8::new(w, h, rgb.into_raw()))
}

/// `img` turned upright as its EXIF orientation says.
pub(crate) fn orient(img: Rgb8, orientation: Option<Orientation>) -> Rgb8 {
    match orientation {
        None | Some(Orientation::NoTransforms) => img,
        Some(turn) => {
            let raw =
                image::RgbImage::from_raw(img.width as u32, img.height as u32, img.data).expect("RGB buffer size");
            let mut dynamic = DynamicImage::ImageRgb8(raw);
            dynamic.apply_orientation(turn);
            let rgb = dynamic.into_rgb8();
            let (w, h) = (rgb.width() as usize, rgb.height() as usize);
            Rgb8::new(w, h, rgb.into_raw())
        }
    }
}

/// A decoder for `bytes` whose header has been read and checked: a known format, not visibly
/// truncated, not empty, within `limits` (nothing of the image's size is allocated yet).
pub(crate) fn checked_decoder<'a>(
    bytes: &'a [u8],
    name: &str,
    limits: &Limits,
) -> Result<impl ImageDecoder + 'a, ImageError> {
    let fail = |reason: String| ImageError::Decode { path: name.to_string(), reason };
    let err = |e: image::ImageError| fail(e.to_string());
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| fail(e.to_string()))?;
    let Some(format) = reader.format() else {
        return Err(fail("not a JPEG, PNG, BMP or WebP image".into()));
    };
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err(fail("truncated JPEG (no end-of-image marker after its last scan)".into()));
    }
    if format == ImageFormat::WebP && !riff_is_complete(bytes) {
        return Err(fail("truncated WebP (shorter than its RIFF header says)".into()));
    }
    // The decoders' own allocation cap, in case one allocates more than its output: 8 bytes per
    // pixel is the widest colour type (16-bit RGBA).
    let mut caps = image::Limits::default();
    caps.max_alloc = Some(limits.max_pixels.saturating_mul(8).saturating_add(16 << 20));
    reader.limits(caps);
    let decoder = reader.into_decoder().map_err(err)?;
    let (w, h) = decoder.dimensions();
    limits.check_pixels(w, h).map_err(|e| fail(e.to_string()))?;
    if w == 0 || h == 0 {
        return Err(ImageError::Empty);
    }
    Ok(decoder)
}

/// Whether a JPEG's bytes end its last scan with an end-of-image marker (FF D9). The decoder
/// fills a cut-off scan with grey and reports nothing, so this is the only sign of truncation.
/// Entropy-coded data never holds FF followed by a marker code (FF bytes are stuffed as FF 00),
/// so the last start-of-scan marker (FF DA) must come before the last end-of-image marker;
/// markers inside an embedded EXIF thumbnail come before the main image's scans. (The search
/// goes from the end over the FF bytes only: the scan's data is most of the file.)
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last = |code: u8| memchr::memrchr_iter(0xFF, bytes).find(|&i| bytes.get(i + 1) == Some(&code));
    match (last(0xDA), last(0xD9)) {
        (Some(scan), Some(end)) => end > scan,
        _ => false,
    }
}

/// Whether a RIFF file (WebP) is as long as its header says: the length after the first 8 bytes
/// is stored at bytes 4..8.
fn riff_is_complete(bytes: &[u8]) -> bool {
    let Some(len) = bytes.get(4..8) else { return false };
    let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
    bytes.len() >= len.saturating_add(8)
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
        for n in [0, 2, 10, 100, j.len() / 2, j.len() - 2] {
            assert!(decode_rgb(&j[..n], "cut").is_err(), "{n} bytes accepted");
        }
        assert!(decode_rgb(&j, "whole").is_ok());
    }

    fn encoded(img: &image::RgbImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    /// Every format cut anywhere before its last pixel is an error, not a part-grey picture.
    #[test]
    fn truncation_of_every_format_is_an_error() {
        let img = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([(x * 4) as u8, (y * 5) as u8, (x ^ y) as u8]));
        for format in [ImageFormat::Png, ImageFormat::Bmp, ImageFormat::WebP, ImageFormat::Jpeg] {
            let bytes = encoded(&img, format);
            assert!(decode_rgb(&bytes, "whole").is_ok(), "{format:?}");
            // A PNG cut inside its 12-byte IEND chunk still holds every pixel.
            let last = if format == ImageFormat::Png { bytes.len() - 13 } else { bytes.len() - 1 };
            for cut in [bytes.len() / 3, bytes.len() / 2, bytes.len() * 9 / 10, last] {
                assert!(decode_rgb(&bytes[..cut], "cut").is_err(), "{format:?} cut to {cut} of {}", bytes.len());
            }
        }
    }

    /// A PNG header declaring a huge image (the data is a few bytes) is refused from the header.
    #[test]
    fn a_declared_huge_image_is_refused_before_decoding() {
        let mut png = encoded(&image::RgbImage::new(1, 1), ImageFormat::Png);
        // IHDR's width and height follow the 8-byte signature, the chunk length and its type.
        png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        png[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        let msg = decode_rgb(&png, "bomb.png").unwrap_err().to_string();
        // On 32-bit targets (WebAssembly) the image crate refuses it first: 30 GB are not
        // addressable there ("Memory limit exceeded"), before the size is checked against ours.
        let ours = msg.contains("100000x100000") && msg.contains("limit");
        assert!(ours || (cfg!(target_pointer_width = "32") && msg.contains("limit")), "{msg}");
        let small = Limits { max_pixels: 100, ..Limits::DEFAULT };
        let ok = encoded(&image::RgbImage::new(10, 10), ImageFormat::Png);
        assert!(decode_rgb_within(&ok, "ok", &small).is_ok());
        let big = encoded(&image::RgbImage::new(11, 10), ImageFormat::Png);
        assert!(decode_rgb_within(&big, "big", &small).is_err());
    }

    /// CRC-32 (IEEE) as PNG chunks use it, bit by bit.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut c = !0u32;
        for &b in bytes {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            }
        }
        !c
    }
}
