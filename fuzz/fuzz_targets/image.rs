//! Image decoding (JPEG, PNG, BMP, WebP, EXIF orientation) and the preprocessing of every task:
//! central crop + PIL bilinear resize (classification), TF1 bilinear resize (detection) and the
//! segmenter's resize and pad. Images are capped at 4 M pixels here so that each run stays fast;
//! the cap itself is tested separately.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = mnv2::Limits { max_pixels: 1 << 22, ..mnv2::Limits::DEFAULT };
    if let Ok(img) = mnv2::image::decode_rgb_within(data, "fuzz", &limits) {
        let _ = mnv2::image::prepare(&img, 224, 0.875);
        let _ = mnv2::image::resize_bilinear_tf1(&img, 300, 300);
        let _ = mnv2::Segmenter::letterbox(&img, 513);
    }
});
