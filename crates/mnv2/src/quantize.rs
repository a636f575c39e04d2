//! Post-training quantization of a float classifier (a `mnv2 train` output, an imported PyTorch
//! model, or a quantized model's weights dequantized): the float network runs over calibration
//! images to find each activation's range, then `mnv2_model::quantize` makes the int8 model
//! (TFLite's int8 specification) that the int8 engine runs.

use crate::train::TrainNet;
use crate::{Error, Progress};
use mnv2_engine::{InputSpec, Model, OutputKind};
use mnv2_model::quantize::{Ranges, quantize};
use std::path::PathBuf;

/// Images per calibration batch (fewer when there are fewer images).
const BATCH: usize = 8;

/// The batch the calibration network is built for: the network's shapes are fixed, so a last,
/// shorter chunk of images is filled up with repeats of its first image (which leave every
/// minimum and maximum as they are).
fn batch_for(images: &[PathBuf]) -> usize {
    images.len().clamp(1, BATCH)
}

/// At most `count` image files under `folder`, evenly spread over its sorted listing (so a
/// folder of class sub-folders gives every class its share).
pub fn calibration_images(folder: &std::path::Path, count: usize) -> Result<Vec<PathBuf>, Error> {
    let all: Vec<PathBuf> =
        mnv2_image::image_paths(&[folder.to_path_buf()]).into_iter().filter_map(Result::ok).collect();
    if all.is_empty() {
        return Err(Error::Input(format!("no images in {}", folder.display())));
    }
    let n = count.clamp(1, all.len());
    Ok((0..n).map(|i| all[i * all.len() / n].clone()).collect())
}

/// `model` quantized to int8 with ranges calibrated on `images` (prepared as the model
/// prepares images, keeping `crop` of each side).
pub fn quantize_model(
    model: &Model,
    images: &[PathBuf],
    crop: f32,
    progress: &mut dyn Progress,
) -> Result<Model, Error> {
    // One float network with batch norms apart (quantized weights dequantized): calibrated,
    // then folded back into the float model that is quantized.
    let mut net = TrainNet::from_model(model, batch_for(images), model.arch.classes as usize)?;
    let ranges = calibrate_net(&mut net, &model.input, images, crop, progress)?;
    let mut float = net.to_model(model.input.clone(), model.labels.clone(), &model.name);
    if let OutputKind::Softmax { .. } = model.output {
        float.output = OutputKind::Softmax { quant: None, requantized: None };
    }
    Ok(quantize(&float, &ranges)?)
}

/// Every quantized tensor's (min, max) over the images.
pub fn calibrate(model: &Model, images: &[PathBuf], crop: f32, progress: &mut dyn Progress) -> Result<Ranges, Error> {
    let mut net = TrainNet::from_model(model, batch_for(images), model.arch.classes as usize)?;
    calibrate_net(&mut net, &model.input, images, crop, progress)
}

/// [`calibrate`] with the float network made (its inputs normalised and prepared as `input` says).
fn calibrate_net(
    net: &mut TrainNet,
    input: &InputSpec,
    images: &[PathBuf],
    crop: f32,
    progress: &mut dyn Progress,
) -> Result<Ranges, Error> {
    let size = net.arch.resolution as usize;
    let mut ranges: Option<Ranges> = None;
    progress.start(images.len(), "calibrate");
    let batch = batch_for(images);
    let per_image = size * size * 3;
    for chunk in images.chunks(batch) {
        let mut x = Vec::with_capacity(batch * per_image);
        for path in chunk {
            let img = mnv2_image::load_rgb(path)?;
            let prepared = crate::prepare_image(&img, size, crop, input.preprocess)?;
            input.extend_real(&mut x, &prepared.data);
        }
        while x.len() < batch * per_image {
            x.extend_from_within(..per_image);
        }
        let logits = net.forward(&x, batch, false);
        let seen = observe(net, &logits);
        ranges = Some(match ranges {
            None => seen,
            Some(r) => widen(r, seen),
        });
        progress.advance(chunk.len(), "");
    }
    progress.finish();
    ranges.ok_or_else(|| Error::Input("no calibration images".into()))
}

fn span(v: &[f32]) -> (f32, f32) {
    v.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)))
}

fn union(a: (f32, f32), b: (f32, f32)) -> (f32, f32) {
    (a.0.min(b.0), a.1.max(b.1))
}

/// The ranges of one forward pass: each unit's output; a residual block's projection before
/// its shortcut (its output minus the block's input) and the sum.
fn observe(net: &TrainNet, logits: &[f32]) -> Ranges {
    let (acts, pooled) = net.activations().expect("after a forward pass");
    let mut convs: Vec<(f32, f32)> = acts[..=net.head_unit].iter().map(|a| span(a)).collect();
    let mut adds = Vec::new();
    for &(first, count, residual) in &net.blocks {
        let last = first + count - 1;
        if residual {
            let sum = &acts[last];
            let before: Vec<f32> = sum.iter().zip(&acts[first - 1]).map(|(s, x)| s - x).collect();
            convs[last] = span(&before);
            adds.push(Some(span(sum)));
        } else {
            adds.push(None);
        }
    }
    Ranges { convs, adds, pooled: span(pooled), logits: span(logits) }
}

fn widen(a: Ranges, b: Ranges) -> Ranges {
    Ranges {
        convs: a.convs.into_iter().zip(b.convs).map(|(x, y)| union(x, y)).collect(),
        adds: a.adds.into_iter().zip(b.adds).map(|(x, y)| x.zip(y).map(|(x, y)| union(x, y))).collect(),
        pooled: union(a.pooled, b.pooled),
        logits: union(a.logits, b.logits),
    }
}
