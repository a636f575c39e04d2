//! `mnv2 export`: a classifier written for another runtime (ONNX).

use crate::args::ExportArgs;
use anyhow::{Context, bail};
use std::process::ExitCode;

pub fn main(a: ExportArgs) -> anyhow::Result<ExitCode> {
    let model = mnv2::import::load(&a.model).with_context(|| format!("loading {}", a.model.display()))?;
    let ext = a.output.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let bytes = match ext.as_str() {
        "onnx" => mnv2::import::onnx::to_onnx(&model)?,
        "tflite" => bail!("{}: TFLite export is not written yet (ONNX is: -o MODEL.onnx)", a.output.display()),
        _ => bail!("{}: unknown format (the extension picks it: .onnx)", a.output.display()),
    };
    crate::files::create_parent(&a.output)?;
    crate::files::write(&a.output, &bytes)?;
    eprintln!(
        "{}: ONNX opset 17, float32, input NCHW [batch, 3, {r}, {r}]",
        a.output.display(),
        r = model.arch.resolution
    );
    Ok(ExitCode::SUCCESS)
}
