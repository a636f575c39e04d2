//! Image decoding (JPEG, PNG, BMP, WebP, EXIF orientation) and the preprocessing of every task:
//! central crop + PIL bilinear resize (classification), TF1 bilinear resize (detection) and the
//! segmenter's resize and pad; and the central crop decoded alone against the whole image
//! cropped. Images are capped at 4 M pixels here so that each run stays fast; the cap itself is
//! tested separately.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = mnv2::Limits { max_pixels: 1 << 22, ..mnv2::Limits::DEFAULT };
    // The crop-first decoding (classifiers' inputs) makes the same bytes as decoding the whole
    // and cropping, for any input both accept; the last byte picks the fraction.
    let fraction = (data.last().copied().unwrap_or(223) as f32 + 1.0) / 256.0;
    let cropped = mnv2::image::decode_central_crop_within(data, "fuzz", &limits, fraction);
    if let Ok(img) = mnv2::image::decode_rgb_within(data, "fuzz", &limits) {
        if let Ok(cropped) = cropped {
            let want = mnv2::image::central_crop(&img, fraction).expect("a valid fraction");
            assert!(cropped == want, "crop-first decoding differs from decoding and cropping");
        }
        let _ = mnv2::image::prepare(&img, 224, 0.875);
        let _ = mnv2::image::resize_bilinear_tf1(&img, 300, 300);
        let _ = mnv2::Segmenter::letterbox(&img, 513);
    }
});
