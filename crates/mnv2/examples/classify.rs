//! Classifies one image with the default model: `cargo run --release --example classify -- IMAGE`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "../shared/images/cat.bmp".into());
    let model = mnv2::default_model_path()?;
    let mut classifier = mnv2::Classifier::load(&model, mnv2::Options::default())?;
    let image = mnv2::image::load_rgb(&path)?;
    for p in classifier.classify(&[image], 5)?.remove(0) {
        println!("{:6.2}%  {} (index {})", 100.0 * p.score, p.label, p.index);
    }
    Ok(())
}
