//! Images from JavaScript: RGBA bytes (an `ImageData`'s layout) to mnv2's RGB, and back.

use mnv2::image::Rgb8;
use wasm_bindgen::{Clamped, JsError};
use web_sys::ImageData;

/// The RGB image of RGBA bytes `width` x `height` (alpha dropped), sizes checked against each
/// other and against mnv2's pixel limit before anything is allocated.
pub(crate) fn rgb_of_rgba(rgba: &[u8], width: u32, height: u32) -> Result<Rgb8, JsError> {
    mnv2::Limits::global().check_pixels(width, height).map_err(crate::js_error)?;
    let pixels = width as usize * height as usize;
    if pixels == 0 || rgba.len() != pixels * 4 {
        return Err(JsError::new(&format!(
            "image: {} bytes of RGBA for {width}x{height} (expected {})",
            rgba.len(),
            pixels * 4
        )));
    }
    let data = rgba.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
    Ok(Rgb8::new(width as usize, height as usize, data))
}

/// The RGB image of an `ImageData`.
pub(crate) fn rgb_of_image_data(image: &ImageData) -> Result<Rgb8, JsError> {
    rgb_of_rgba(&image.data(), image.width(), image.height())
}

/// An opaque `ImageData` of an RGB image.
pub(crate) fn image_data_of_rgb(image: &Rgb8) -> Result<ImageData, JsError> {
    let rgba: Vec<u8> = image.data.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
    ImageData::new_with_u8_clamped_array_and_sh(Clamped(&rgba), image.width as u32, image.height as u32)
        .map_err(|e| JsError::new(&format!("ImageData: {e:?}")))
}
