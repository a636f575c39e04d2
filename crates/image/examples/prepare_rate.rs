//! Times each step of the classifiers' image preparation on one file: decoding, the central
//! crop and the PIL-exact resize (at every instruction-set level this CPU has):
//! `cargo run --release -p mnv2-image --example prepare_rate -- ../shared/images/pets.jpg`.
use mnv2_image::{central_crop, decode_rgb, resize_bilinear_at};
use mnv2_kernels::Isa;
use std::time::Instant;

/// Minimum and median milliseconds of `f` over `runs` calls.
fn time(runs: usize, mut f: impl FnMut()) -> (f64, f64) {
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    (t[0], t[runs / 2])
}

fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| "../shared/images/pets.jpg".into());
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let img = decode_rgb(&bytes, &path).unwrap_or_else(|e| panic!("{e}"));
    let crop = central_crop(&img, 0.875).unwrap();
    println!("{path}: {}x{}, crop {}x{} -> 224x224 (min / median ms)", img.width, img.height, crop.width, crop.height);
    let (min, med) = time(100, || drop(decode_rgb(&bytes, &path).unwrap()));
    println!("decode        {min:.3} / {med:.3}");
    let (min, med) = time(100, || drop(central_crop(&img, 0.875).unwrap()));
    println!("central crop  {min:.3} / {med:.3}");
    for isa in Isa::all_available() {
        let (min, med) = time(200, || drop(resize_bilinear_at(isa, &crop, 224, 224)));
        println!("resize {:<12} {min:.3} / {med:.3}", isa.name());
    }
}
