//! The image pipeline in front of the network: decode (JPEG, PNG, BMP, WebP) with EXIF
//! orientation applied, central crop, and a bilinear resize that matches PIL's `BILINEAR` byte for
//! byte (it low-pass filters when shrinking).
//!
//! ```no_run
//! let img = mnv2_image::load_rgb("../shared/images/cat.bmp").unwrap();
//! let input = mnv2_image::prepare(&img, 224, 0.875).unwrap();
//! assert_eq!(input.data.len(), 224 * 224 * 3);
//! ```

mod crop;
mod decode;
mod draw;
pub mod font;
mod jpeg;
mod paths;
pub mod plot;
mod resize;
mod resize_tf1;

pub use crop::{central_crop, central_crop_box, resize_then_crop};
pub use decode::{check_image, decode_central_crop_within, decode_rgb, decode_rgb_within, load_rgb, load_rgb_within};
pub use mnv2_limits::{LimitError, Limits};
pub use paths::image_paths;
pub use resize::{resize_bilinear, resize_bilinear_at};
pub use resize_tf1::resize_bilinear_tf1;
pub use save::{encode_png, load_gray, save_gray_png, save_png};

mod save;

use thiserror::Error;

/// Why an image could not be used.
#[derive(Debug, Error)]
pub enum ImageError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("cannot decode {path}: {reason}")]
    Decode { path: String, reason: String },
    #[error("cannot write {path}: {reason}")]
    Write { path: String, reason: String },
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error("image is empty (0 pixels)")]
    Empty,
    #[error("crop fraction {0} is outside (0, 1]")]
    CropFraction(f32),
}

/// File extensions of the images mnv2 reads (any case): JPEG, PNG, BMP, WebP.
pub const IMAGE_EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "jfif", "png", "bmp", "webp"];

/// Whether `path` has one of the [`IMAGE_EXTENSIONS`]: how folders are searched for images.
pub fn is_image_path(path: &std::path::Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// An 8-bit RGB image, rows top to bottom, pixels interleaved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgb8 {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl Rgb8 {
    pub fn new(width: usize, height: usize, data: Vec<u8>) -> Rgb8 {
        assert_eq!(data.len(), width * height * 3, "RGB buffer size");
        Rgb8 { width, height, data }
    }
}

/// Central crop keeping `fraction` of each side, then resize to `size` x `size`:
/// the evaluation preprocessing of the TF-slim release (fraction 0.875).
pub fn prepare(img: &Rgb8, size: usize, fraction: f32) -> Result<Rgb8, ImageError> {
    let cropped = central_crop(img, fraction)?;
    Ok(resize_bilinear(&cropped, size, size))
}
