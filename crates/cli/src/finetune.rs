//! `mnv2 train` without `--freeze-backbone`: every layer trained with the hand-written backward
//! passes of `mnv2-train`, from a model (`--init`, batch norms calibrated on the first batch) or
//! from scratch at `--width` / `--resolution` (He-normal initialisation) when there is no init.

use crate::args::TrainArgs;
use crate::train::sidecar;
use anyhow::{Context, bail};
use mnv2::engine::{InputSpec, Model};
use mnv2::train::augment::{color_jitter, hflip, random_resized_crop};
use mnv2::train::data::{ImageFolder, Rng};
use mnv2::train::optim::{Optimizer, State, ema_update, learning_rate, step};
use mnv2::train::{TrainNet, safetensors};
use mnv2::{Classifier, Options, Precision};
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc::sync_channel;
use std::time::Instant;

type Batch = (Vec<f32>, Vec<usize>);

pub fn main(a: TrainArgs) -> anyhow::Result<ExitCode> {
    crate::alloc::reuse_large_allocations();
    let started = Instant::now();
    crate::files::create_parent(&a.output)?;
    let config = crate::train::config(&a);
    let init_name = a.init.as_ref().map_or_else(|| "random (from scratch)".to_string(), |p| p.display().to_string());
    let optimizer = Optimizer::parse(&a.optimizer).map_err(anyhow::Error::msg)?;
    let schedule = crate::train::parse_schedule(&a.schedule, a.epochs)?;
    let train = crate::train::open_folder(&a.data)?;
    let val = crate::train::open_folder(&a.val)?;
    if val.classes != train.classes || train.items.len() < a.batch {
        bail!("train and val need the same classes and at least one full batch of training images");
    }
    let classes = train.classes.len();
    let (mut net, input) = match &a.init {
        Some(init) => {
            let base = mnv2::import::load(init).with_context(|| format!("loading {}", init.display()))?;
            (TrainNet::from_model(&base, a.batch, classes).map_err(anyhow::Error::msg)?, base.input.clone())
        }
        None => {
            let arch = mnv2::arch::Arch::new(a.width, a.resolution, classes as u32)?;
            let mut net = TrainNet::with_padding(arch, a.batch, true);
            net.init_random(a.seed);
            // Inputs scaled to [-1, 1], as the paper trains.
            (net, InputSpec { mean: 127.5, std: 127.5, quant: None, requantized: None, signed: false })
        }
    };
    mnv2::Limits::global().check_memory(a.batch, mnv2::train::step_bytes(&net.arch, a.batch))?;
    let size = net.arch.resolution as usize;
    let run =
        crate::resume::Run::new(&a.output, "train.safetensors", &config, (a.allow_changes, a.epochs, a.stop_after));
    let (state_path, metrics_path) = (&run.state, &run.metrics);
    let mut states: Vec<State> = vec![State::default(); net.params.tensors.len()];
    let (mut rng, mut first_epoch) = (Rng(a.seed), 0usize);
    let mut ema: Option<Vec<Vec<f32>>> = None;
    if a.resume {
        let stored;
        (first_epoch, stored) = load_state(state_path, &mut net, &mut states, &mut rng)?;
        if !run.resume_from(first_epoch, stored.as_deref())? {
            return Ok(ExitCode::SUCCESS);
        }
        if a.ema.is_some() {
            ema = Some(load_ema(state_path, &net)?);
        }
    } else {
        if a.init.is_some() {
            // Calibrate the unfolded batch norms on the first batch (evaluation preprocessing).
            let (x, _) = load_batch(&train.items[..a.batch], &input, size, None);
            net.calibrate_batch_norms(&x?, a.batch);
        }
        crate::files::write(metrics_path, b"")?;
    }
    // Weight decay on convolution and classifier weights, not on batch-norm parameters.
    if a.ema.is_some() && ema.is_none() {
        ema = Some(net.params.tensors.clone());
    }
    let bn_params: Vec<usize> = net.units.iter().flat_map(|u| [u.gamma, u.beta]).chain([net.fc_b]).collect();
    let batches = train.items.len() / a.batch;
    let last_epoch = a.stop_after.map_or(a.epochs, |s| s.min(a.epochs));
    for epoch in first_epoch..last_epoch {
        let t0 = Instant::now();
        let mut order: Vec<usize> = (0..train.items.len()).collect();
        rng.shuffle(&mut order);
        let seeds: Vec<u64> = (0..batches).map(|_| rng.next_u64()).collect();
        let bar = crate::train::epoch_bar(batches, epoch, a.epochs);
        let (mut loss_sum, mut correct, mut seen) = (0f64, 0usize, 0usize);
        std::thread::scope(|scope| -> anyhow::Result<()> {
            // Decoding and augmentation on a worker thread, two batches ahead of the compute.
            let (tx, rx) = sync_channel::<anyhow::Result<Batch>>(2);
            let (order, seeds, items, input) = (&order, &seeds, &train.items, &input);
            scope.spawn(move || {
                for (b, seed) in seeds.iter().enumerate() {
                    let chunk: Vec<_> =
                        order[b * a.batch..(b + 1) * a.batch].iter().map(|&i| items[i].clone()).collect();
                    let (x, labels) = load_batch(&chunk, input, size, Some(Rng(*seed)));
                    if tx.send(x.map(|x| (x, labels))).is_err() {
                        return;
                    }
                }
            });
            for b in 0..batches {
                let (x, labels) = rx.recv().context("data worker stopped")??;
                let (loss, logits, grads) = net.loss_and_grads(&x, &labels, a.label_smoothing);
                for (row, &y) in logits.chunks_exact(classes).zip(&labels) {
                    let top = row.iter().enumerate().max_by(|p, q| p.1.total_cmp(q.1)).map_or(0, |(i, _)| i);
                    correct += (top == y) as usize;
                }
                loss_sum += loss as f64 * labels.len() as f64;
                seen += labels.len();
                let lr = learning_rate(a.lr, schedule, epoch as f32 + b as f32 / batches as f32, 0.0);
                for (i, g) in grads.tensors.iter().enumerate() {
                    let wd = if bn_params.contains(&i) { 0.0 } else { a.weight_decay };
                    step(optimizer, &mut net.params.tensors[i], g, &mut states[i], lr, wd);
                    if let (Some(e), Some(decay)) = (ema.as_mut(), a.ema) {
                        ema_update(&mut e[i], &net.params.tensors[i], decay);
                    }
                }
                bar.set_message(format!(
                    "loss {:.3} top-1 {:.1}% {:.1} img/s",
                    loss_sum / seen as f64,
                    100.0 * correct as f64 / seen as f64,
                    seen as f64 / t0.elapsed().as_secs_f64()
                ));
                bar.inc(1);
            }
            Ok(())
        })?;
        bar.finish_and_clear();
        let secs = t0.elapsed().as_secs_f64();
        // Validate and save the averaged weights when there are some (training keeps the raw ones).
        let raw = ema.as_ref().map(|e| std::mem::replace(&mut net.params.tensors, e.clone()));
        let model = net.to_model(input.clone(), Some(train.classes.clone()), "mnv2 train");
        if let Some(raw) = raw {
            net.params.tensors = raw;
        }
        let val_top1 = validate(&model, &val, a.threads)?;
        let line = json!({"epoch": epoch + 1, "loss": loss_sum / seen as f64, "train_top1": correct as f64 / seen as f64,
            "val_top1": val_top1, "images_per_s": seen as f64 / secs, "seconds": secs});
        crate::files::append_line(metrics_path, &line.to_string())?;
        let meta = [(
            "mnv2.training".to_string(),
            json!({"epochs": epoch + 1, "init": init_name, "mode": "full"}).to_string(),
        )];
        mnv2::import::safetensors::save_model(&model, &a.output, &meta.into_iter().collect())?;
        save_state(state_path, &net, &states, ema.as_ref(), rng, epoch + 1, &config)?;
        crate::plot::training_curves(metrics_path, &sidecar(&a.output, "curves.png"))?;
        eprintln!(
            "epoch {}: loss {:.4}, train top-1 {:.2}%, val top-1 {:.2}%, {:.1} images/s",
            epoch + 1,
            loss_sum / seen as f64,
            100.0 * correct as f64 / seen as f64,
            100.0 * val_top1,
            seen as f64 / secs
        );
    }
    println!("{}", crate::train::summary(&a.output, state_path, ("val_top1", "val top-1", true), started)?);
    Ok(ExitCode::SUCCESS)
}

/// Decodes, (augments,) and normalises a batch of images to NHWC floats.
fn load_batch(
    items: &[(std::path::PathBuf, usize)],
    input: &InputSpec,
    size: usize,
    augment: Option<Rng>,
) -> (anyhow::Result<Vec<f32>>, Vec<usize>) {
    let labels = items.iter().map(|(_, l)| *l).collect();
    let run = || -> anyhow::Result<Vec<f32>> {
        let mut rng = augment;
        let mut x = Vec::with_capacity(items.len() * size * size * 3);
        for (path, _) in items {
            let img = mnv2::image::load_rgb(path)?;
            let img = match rng.as_mut() {
                Some(r) => {
                    let mut c = random_resized_crop(&img, size, r, 0.08);
                    if r.uniform() < 0.5 {
                        hflip(&mut c);
                    }
                    color_jitter(&mut c, r, 0.2);
                    c
                }
                None => mnv2::image::prepare(&img, size, 0.875)?,
            };
            x.extend(img.data.iter().map(|&v| (v as f32 - input.mean) / input.std));
        }
        Ok(x)
    };
    (run(), labels)
}

/// Validation top-1 of the folded model in float32.
fn validate(model: &Model, val: &ImageFolder, threads: usize) -> anyhow::Result<f64> {
    let mut c = Classifier::new(model.clone(), Options { threads, precision: Precision::F32, ..Options::default() })?;
    let mut correct = 0;
    for chunk in val.items.chunks(16) {
        let images = chunk.iter().map(|(p, _)| mnv2::image::load_rgb(p)).collect::<Result<Vec<_>, _>>()?;
        for ((_, y), p) in chunk.iter().zip(c.classify(&images, 1)?) {
            correct += (p[0].index == *y) as usize;
        }
    }
    Ok(correct as f64 / val.items.len() as f64)
}

pub(crate) fn save_state(
    path: &Path,
    net: &TrainNet,
    states: &[State],
    ema: Option<&Vec<Vec<f32>>>,
    rng: Rng,
    epoch: usize,
    config: &str,
) -> anyhow::Result<()> {
    let mut tensors: Vec<(String, Vec<usize>, &[f32])> = Vec::new();
    for (i, (name, t)) in net.params.names.iter().zip(&net.params.tensors).enumerate() {
        tensors.push((format!("param.{name}"), vec![t.len()], t));
        if let Some(e) = ema {
            tensors.push((format!("ema.{name}"), vec![e[i].len()], &e[i]));
        }
        tensors.push((format!("first.{name}"), vec![states[i].first.len()], &states[i].first));
        tensors.push((format!("second.{name}"), vec![states[i].second.len()], &states[i].second));
    }
    for (i, (m, v)) in net.running.mean.iter().zip(&net.running.var).enumerate() {
        tensors.push((format!("running_mean.{i}"), vec![m.len()], m));
        tensors.push((format!("running_var.{i}"), vec![v.len()], v));
    }
    let steps: Vec<u64> = states.iter().map(|s| s.steps).collect();
    let meta = [
        ("epoch".to_string(), epoch.to_string()),
        ("rng".to_string(), rng.0.to_string()),
        ("steps".to_string(), json!(steps).to_string()),
        ("config".to_string(), config.to_string()),
    ];
    safetensors::write(path, &tensors, &meta.into_iter().collect())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(())
}

/// Loads a checkpoint into `net`, `states` and `rng`: the epochs done and the options stored.
pub(crate) fn load_state(
    path: &Path,
    net: &mut TrainNet,
    states: &mut [State],
    rng: &mut Rng,
) -> anyhow::Result<(usize, Option<String>)> {
    let bytes = read_checkpoint(path)?;
    let (t, meta) = safetensors::read(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let steps: Vec<u64> = serde_json::from_str(meta.get("steps").context("no steps")?)?;
    for (i, name) in net.params.names.clone().iter().enumerate() {
        let get = |k: &str| {
            t.get(&format!("{k}.{name}"))
                .map(|x| x.data.clone())
                .with_context(|| format!("checkpoint lacks {k}.{name}"))
        };
        net.params.tensors[i] = get("param")?;
        states[i] = State { first: get("first")?, second: get("second")?, steps: steps.get(i).copied().unwrap_or(0) };
    }
    for i in 0..net.running.mean.len() {
        net.running.mean[i] = t.get(&format!("running_mean.{i}")).context("running mean")?.data.clone();
        net.running.var[i] = t.get(&format!("running_var.{i}")).context("running var")?.data.clone();
    }
    *rng = Rng(meta.get("rng").and_then(|s| s.parse().ok()).context("no rng")?);
    Ok((meta.get("epoch").and_then(|s| s.parse().ok()).unwrap_or(0), meta.get("config").cloned()))
}

/// The bytes of a training checkpoint, or an error that says there is nothing to resume.
pub(crate) fn read_checkpoint(path: &Path) -> anyhow::Result<Vec<u8>> {
    mnv2::limits::read_file(path, 1 << 30, "a training checkpoint")
        .with_context(|| format!("nothing to resume from {}", path.display()))
}

pub(crate) fn load_ema(path: &Path, net: &TrainNet) -> anyhow::Result<Vec<Vec<f32>>> {
    let (t, _) = safetensors::read(&read_checkpoint(path)?).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    net.params
        .names
        .iter()
        .map(|n| {
            t.get(&format!("ema.{n}")).map(|x| x.data.clone()).with_context(|| format!("checkpoint lacks ema.{n}"))
        })
        .collect()
}
