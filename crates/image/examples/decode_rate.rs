//! Times JPEG (or any image) decoding to RGB, for `bench/jpeg/run.sh`: mnv2's decoder (its own
//! for baseline JPEGs, as every command uses it) or the image crate's (zune-jpeg for JPEGs, what
//! a Rust program would otherwise call). One JSON line per file: minimum and median ms.
//!
//! `cargo run --release -p mnv2-image --example decode_rate -- [mnv2|image-crate] ITERS FILE...`
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: decode_rate mnv2|image-crate ITERS FILE...";
    let (engine, iters) = match args.as_slice() {
        [e, n, _, ..] => (e.as_str(), n.parse::<usize>().unwrap_or_else(|_| panic!("{usage}"))),
        _ => panic!("{usage}"),
    };
    for path in &args[2..] {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let decode = || -> usize {
            match engine {
                "mnv2" => mnv2_image::decode_rgb(&bytes, path).unwrap_or_else(|e| panic!("{e}")).data.len(),
                "image-crate" => {
                    image::load_from_memory(&bytes).unwrap_or_else(|e| panic!("{path}: {e}")).into_rgb8().len()
                }
                _ => panic!("{usage}"),
            }
        };
        for _ in 0..3 {
            std::hint::black_box(decode());
        }
        let mut ms: Vec<f64> = (0..iters.max(1))
            .map(|_| {
                let start = Instant::now();
                std::hint::black_box(decode());
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        ms.sort_by(f64::total_cmp);
        println!(r#"{{"file": "{path}", "min_ms": {:.4}, "median_ms": {:.4}}}"#, ms[0], ms[ms.len() / 2]);
    }
}
