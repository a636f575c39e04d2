//! `mnv2 quantize`: a float classifier to int8, calibrated on a folder of images.

use crate::args::QuantizeArgs;
use anyhow::Context;
use std::process::ExitCode;

pub fn main(a: QuantizeArgs) -> anyhow::Result<ExitCode> {
    crate::files::create_parent(&a.output)?;
    let model = mnv2::import::load(&a.model).with_context(|| format!("loading {}", a.model.display()))?;
    let images = mnv2::quantize::calibration_images(&a.images, a.count)?;
    let mut bar = crate::progress::Bar::default();
    let quantized = mnv2::quantize::quantize_model(&model, &images, a.crop, &mut bar)?;
    mnv2::import::safetensors::save_model(&quantized, &a.output, &Default::default())?;
    eprintln!("{}: int8, calibrated on {} images from {}", a.output.display(), images.len(), a.images.display());
    Ok(ExitCode::SUCCESS)
}
