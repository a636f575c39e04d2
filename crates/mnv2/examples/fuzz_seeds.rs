//! Writes small seed inputs for the fuzz targets that `../shared` has no small files for:
//! `cargo run --release -p mnv2 --example fuzz_seeds -- OUT_DIR SHARED_DIR` (run by
//! `tools/fuzz.sh`). Each seed is a valid file of its kind, so that the fuzzer starts from inputs
//! that reach deep into the parsers.

use std::io::Cursor;
use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    seeds()
}

fn seeds() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [out, shared] = args.as_slice() else {
        return Err("usage: fuzz_seeds OUT_DIR SHARED_DIR".into());
    };
    let dir = |name: &str| -> std::io::Result<PathBuf> {
        let d = out.join(name);
        std::fs::create_dir_all(&d)?;
        Ok(d)
    };
    // safetensors: a small mnv2 model (width 0.35, 96x96, 10 classes, random weights: 1.7 MB, so
    // that the fuzzer's corpus of its mutations stays within memory) and a training checkpoint.
    let arch = mnv2::arch::Arch::new(0.35, 96, 10)?;
    let mut net = mnv2::train::TrainNet::with_padding(arch, 1, true);
    net.init_random(1);
    let input = mnv2::engine::InputSpec::uniform(127.5, 127.5);
    let model = net.to_model(input, None, "fuzz seed");
    let st = dir("safetensors")?;
    mnv2::import::safetensors::save_model(&model, &st.join("small.safetensors"), &Default::default())?;
    let w = [0.5f32, -1.0, 2.0, 0.25];
    let meta = [("epoch".to_string(), "3".to_string()), ("steps".to_string(), "[3]".to_string())];
    let checkpoint = mnv2::import::safetensors::encode(
        &[("param.w".into(), vec![2, 2], &w), ("first.w".into(), vec![4], &w)],
        &meta.into_iter().collect(),
    );
    std::fs::write(dir("checkpoint")?.join("checkpoint.safetensors"), checkpoint)?;
    // .npy: each dtype `mnv2 run` reads.
    let npy = dir("npy")?;
    std::fs::write(npy.join("f32.npy"), mnv2::npy::f32_bytes(&[1, 2, 2, 3], &[0.5; 12]))?;
    std::fs::write(npy.join("u8.npy"), mnv2::npy::u8_bytes(&[2, 6], &[7; 12]))?;
    std::fs::write(npy.join("i8.npy"), mnv2::npy::i8_bytes(&[12], &[-3; 12]))?;
    // Images: a small picture in every format and colour type the decoders take.
    let img = image::RgbImage::from_fn(16, 12, |x, y| image::Rgb([(x * 16) as u8, (y * 20) as u8, (x ^ y) as u8]));
    let images = dir("image")?;
    let formats = [
        ("png", image::ImageFormat::Png),
        ("bmp", image::ImageFormat::Bmp),
        ("webp", image::ImageFormat::WebP),
        ("jpg", image::ImageFormat::Jpeg),
    ];
    for (ext, format) in formats {
        write_image(&image::DynamicImage::ImageRgb8(img.clone()), format, &images.join(format!("rgb.{ext}")))?;
    }
    let gray16 = image::DynamicImage::ImageRgb8(img.clone()).into_luma16();
    write_image(&image::DynamicImage::ImageLuma16(gray16), image::ImageFormat::Png, &images.join("gray16.png"))?;
    let rgba = image::DynamicImage::ImageRgb8(img).into_rgba8();
    write_image(&image::DynamicImage::ImageRgba8(rgba), image::ImageFormat::Png, &images.join("rgba.png"))?;
    // GraphDefs: the pedestrian detector cut after its last whole node before 1 MiB, so that it
    // is still a valid protobuf (the fuzzer's inputs are capped at 1 MiB: whole 13 MB graphs
    // would fill its memory with their mutations).
    let pb = std::fs::read(shared.join("models/ssdlite_mobilenet_v2_pedestrian_frozen.pb"))?;
    std::fs::write(dir("graphdef")?.join("ssdlite_prefix.pb"), &pb[..node_prefix(&pb, 1 << 20)])?;
    Ok(())
}

/// The length of the longest run of whole top-level fields of a protobuf message within `max`
/// bytes (GraphDef's nodes are field 1, length-delimited).
fn node_prefix(pb: &[u8], max: usize) -> usize {
    let varint = |at: &mut usize| -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *pb.get(*at)?;
            *at += 1;
            v |= ((b & 0x7F) as u64) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    };
    let (mut at, mut end) = (0usize, 0usize);
    while at < pb.len() {
        let Some(key) = varint(&mut at) else { break };
        let len = match key & 7 {
            2 => varint(&mut at).unwrap_or(u64::MAX) as usize,
            0 => {
                varint(&mut at);
                0
            }
            _ => break,
        };
        at = at.saturating_add(len);
        if at > max.min(pb.len()) {
            break;
        }
        end = at;
    }
    end
}

fn write_image(img: &image::DynamicImage, format: image::ImageFormat, path: &Path) -> image::ImageResult<()> {
    let mut bytes = Cursor::new(Vec::new());
    img.write_to(&mut bytes, format)?;
    std::fs::write(path, bytes.into_inner()).map_err(image::ImageError::IoError)
}
