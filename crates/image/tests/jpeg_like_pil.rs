//! The JPEG decoder against PIL (libjpeg-turbo): the 100 ImageNet photographs of
//! `../shared/reference/imagenet100`, whose `inputs/*.png` are PIL's decode, central 87.5%
//! crop and bilinear resize to 224 (see that folder's README). This crate's crop and resize
//! are PIL's, so an exact decoder gives those bytes exactly; a decoder off by one level in one
//! sample of one block changes them.

use mnv2_image::{Limits, decode_central_crop_within, decode_rgb, load_rgb, prepare, resize_bilinear};

#[test]
fn imagenet_jpegs_decode_to_pils_bytes() {
    let dir = mnv2_testdata::shared_file("reference/imagenet100/originals");
    let mut paths: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    assert_eq!(paths.len(), 100);
    let mut differing = Vec::new();
    for path in &paths {
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let file = std::fs::read(path).unwrap();
        let ours = prepare(&decode_rgb(&file, &stem).unwrap(), 224, 0.875).unwrap();
        // The same through the decoder that makes only the crop's pixels.
        let crop_first = decode_central_crop_within(&file, &stem, &Limits::global(), 0.875).unwrap();
        let crop_first = resize_bilinear(&crop_first, 224, 224);
        let pil = load_rgb(dir.join(format!("../inputs/{stem}.png"))).unwrap();
        for (how, image) in [("whole", &ours), ("crop first", &crop_first)] {
            let bytes = image.data.iter().zip(&pil.data).filter(|(a, b)| a != b).count();
            if bytes > 0 {
                differing.push((format!("{stem} ({how})"), bytes));
            }
        }
    }
    assert!(differing.is_empty(), "images whose bytes differ from PIL's (and how many bytes): {differing:?}");
}
