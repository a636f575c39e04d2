//! `mnv2 export`: a classifier written for another runtime (ONNX or TFLite).

use crate::args::ExportArgs;
use anyhow::{Context, bail};
use std::process::ExitCode;

pub fn main(a: ExportArgs) -> anyhow::Result<ExitCode> {
    let model = mnv2::import::load(&a.model).with_context(|| format!("loading {}", a.model.display()))?;
    let ext = a.output.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let r = model.arch.resolution;
    let (bytes, described) = match ext.as_str() {
        "onnx" => {
            (mnv2::import::onnx::to_onnx(&model)?, format!("ONNX opset 17, float32, input NCHW [batch, 3, {r}, {r}]"))
        }
        "tflite" => {
            let input = match (&model.input.quant, model.input.signed) {
                (None, _) => "float32",
                (Some(_), false) => "uint8",
                (Some(_), true) => "int8",
            };
            let arithmetic = if model.is_quantized() { "integer" } else { "float32" };
            (
                mnv2::import::to_tflite(&model)?,
                format!("TFLite, {arithmetic} arithmetic, input NHWC [1, {r}, {r}, 3] {input}"),
            )
        }
        _ => bail!("{}: unknown format (the extension picks it: .onnx or .tflite)", a.output.display()),
    };
    crate::files::create_parent(&a.output)?;
    crate::files::write(&a.output, &bytes)?;
    eprintln!("{}: {described}", a.output.display());
    Ok(ExitCode::SUCCESS)
}
