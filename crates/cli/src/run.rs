//! `mnv2 run`: one prepared input tensor through the model, raw output to .npy.

use crate::args::RunArgs;
use anyhow::{Context, bail};
use mnv2::npy::{self, NpyData};
use mnv2::{Classifier, Options};
use std::process::ExitCode;

pub fn main(a: RunArgs) -> anyhow::Result<ExitCode> {
    crate::files::create_parent(&a.output)?;
    let model_path = match &a.model {
        Some(p) => p.clone(),
        None => mnv2::default_model_path()?,
    };
    let options = Options { threads: a.threads, precision: a.precision, ..Options::default() };
    let mut c = Classifier::load(&model_path, options).with_context(|| format!("loading {}", model_path.display()))?;
    let per_image = c.model().arch.input().len();
    let ext = a.input.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let output = if c.precision() == mnv2::Precision::Int8 {
        crate::files::write(&a.output, &int8_output(&mut c, &a.input, &ext, per_image)?)?;
        return Ok(ExitCode::SUCCESS);
    } else if ext == "npy" {
        let bytes = read_input(&a.input)?;
        let arr = npy::parse(&bytes).with_context(|| a.input.display().to_string())?;
        let n: usize = arr.shape.iter().product();
        if n == 0 || !n.is_multiple_of(per_image) {
            bail!(
                "{}: shape {:?} is not a batch of {}x{}x3 inputs",
                a.input.display(),
                arr.shape,
                c.input_size(),
                c.input_size()
            );
        }
        let batch = n / per_image;
        let s = c.input_size();
        match arr.data {
            // PyTorch's NCHW ([n, 3, s, s]) is recognised by its shape and made NHWC.
            NpyData::F32(v) if arr.shape.len() == 4 && arr.shape[1..] == [3, s, s] && s != 3 => {
                c.run_real(&npy::nchw_to_nhwc(&v, batch, 3, s, s), batch)?
            }
            NpyData::F32(v) => c.run_real(&v, batch)?,
            NpyData::U8(v) => c.run_bytes(&v.chunks_exact(per_image).collect::<Vec<_>>())?,
            NpyData::I8(v) => {
                let bytes: Vec<u8> = v.iter().map(|&x| (x as i16 + 128) as u8).collect();
                c.run_bytes(&bytes.chunks_exact(per_image).collect::<Vec<_>>())?
            }
        }
    } else {
        let img = mnv2::image::load_rgb(&a.input)?;
        let size = c.input_size();
        if (img.width, img.height) != (size, size) {
            bail!(
                "{}: image is {}x{}, the model takes {size}x{size} (use `mnv2 classify` for any image)",
                a.input.display(),
                img.width,
                img.height
            );
        }
        c.run_bytes(&[&img.data])?
    };
    let classes = c.model().arch.classes as usize;
    let bytes = npy::f32_bytes(&[output.len() / classes, classes], &output);
    crate::files::write(&a.output, &bytes)?;
    Ok(ExitCode::SUCCESS)
}

/// Integer execution: the model's raw output tensor as a `.npy`, uint8 (or int8) as TFLite
/// gives it.
fn int8_output(c: &mut Classifier, input: &std::path::Path, ext: &str, per_image: usize) -> anyhow::Result<Vec<u8>> {
    let bytes = load_input_bytes(input, ext, per_image)?;
    let raw = c.run_int8(&bytes.chunks_exact(per_image).collect::<Vec<_>>())?;
    let classes = c.model().arch.classes as usize;
    let shape = [raw.len() / classes, classes];
    Ok(if c.raw_output_is_int8() {
        npy::i8_bytes(&shape, &raw.iter().map(|&b| (b as i16 - 128) as i8).collect::<Vec<_>>())
    } else {
        npy::u8_bytes(&shape, &raw)
    })
}

/// The input as the model's uint8 bytes (int8 inputs stored +128): a `.npy` of uint8 or int8, or
/// an image of exactly the model's input size.
fn load_input_bytes(path: &std::path::Path, ext: &str, per_image: usize) -> anyhow::Result<Vec<u8>> {
    let bytes = if ext == "npy" {
        let raw = read_input(path)?;
        match npy::parse(&raw).with_context(|| path.display().to_string())?.data {
            NpyData::U8(v) => v,
            NpyData::I8(v) => v.iter().map(|&x| (x as i16 + 128) as u8).collect(),
            NpyData::F32(_) => bail!("{}: float input needs --precision f32 (int8 takes uint8 bytes)", path.display()),
        }
    } else {
        mnv2::image::load_rgb(path)?.data
    };
    if bytes.is_empty() || !bytes.len().is_multiple_of(per_image) {
        bail!("{}: {} values are not a batch of {per_image}-value inputs", path.display(), bytes.len());
    }
    Ok(bytes)
}

/// A `.npy` input, within the file-size limit.
fn read_input(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    Ok(mnv2::Limits::global().read_file(path, "an input tensor")?)
}
