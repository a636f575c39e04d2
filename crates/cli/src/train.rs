//! `mnv2 train`: a classifier on an image folder. With `--freeze-backbone` only the classifier
//! is trained, on the frozen backbone's features (a linear probe); otherwise the whole network
//! (see `finetune.rs`).

use crate::args::TrainArgs;
use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use mnv2::engine::{ConvWeights, LayerWeights, Model, OutputKind, Tensor};
use mnv2::train::data::{ImageFolder, Rng};
use mnv2::train::optim::{Optimizer, Schedule};
use mnv2::train::probe::{Linear, ProbeConfig};
use mnv2::{Classifier, Options, Precision};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

pub fn main(a: TrainArgs) -> anyhow::Result<ExitCode> {
    if !a.freeze_backbone {
        return crate::finetune::main(a);
    }
    let init = a.init.clone().context("--freeze-backbone needs --init MODEL")?;
    crate::files::create_parent(&a.output)?;
    let config = config(&a);
    let optimizer = Optimizer::parse(&a.optimizer).map_err(anyhow::Error::msg)?;
    let schedule = crate::train::parse_schedule(&a.schedule, a.epochs)?;
    let train = crate::train::open_folder(&a.data)?;
    let val = crate::train::open_folder(&a.val)?;
    if val.classes != train.classes {
        bail!("{} and {} have different class folders", a.data.display(), a.val.display());
    }
    let options = Options { threads: a.threads, precision: Precision::F32, ..Options::default() };
    let mut backbone = Classifier::load(&init, options).with_context(|| format!("loading {}", init.display()))?;
    let started = Instant::now();
    let (xtr, ytr) = features(&mut backbone, &train, "train features")?;
    let (xva, yva) = features(&mut backbone, &val, "val features")?;
    let dim = xtr.len() / ytr.len();
    let feature_seconds = started.elapsed().as_secs_f64();
    let cfg = ProbeConfig {
        optimizer,
        lr: a.lr,
        schedule,
        warmup: 0.0,
        weight_decay: a.weight_decay,
        smoothing: a.label_smoothing,
        batch: a.batch,
    };
    let run = crate::resume::Run::new(&a.output, "state.json", &config, (a.allow_changes, a.epochs, a.stop_after));
    let (state_path, metrics_path) = (&run.state, &run.metrics);
    let (mut lin, mut rng, mut first_epoch) = (Linear::zeros(dim, train.classes.len()), Rng(a.seed), 0);
    if a.resume {
        let stored;
        (lin, rng, first_epoch, stored) = load_state(state_path, dim, train.classes.len())?;
        if !run.resume_from(first_epoch, stored.as_deref())? {
            return Ok(ExitCode::SUCCESS);
        }
    } else {
        crate::files::write(metrics_path, b"")?;
    }
    let bar = ProgressBar::new(a.epochs as u64);
    bar.set_style(ProgressStyle::with_template("{bar:30} epoch {pos}/{len} {msg}").expect("valid template"));
    bar.set_position(first_epoch as u64);
    let last_epoch = a.stop_after.map_or(a.epochs, |s| s.min(a.epochs));
    for epoch in first_epoch..last_epoch {
        let t = Instant::now();
        let (loss, train_acc) = lin.train_epoch(&xtr, &ytr, &cfg, epoch, &mut rng);
        let val_acc = lin.accuracy(&xva, &yva);
        let secs = t.elapsed().as_secs_f64();
        let line = json!({"epoch": epoch + 1, "loss": loss, "train_top1": train_acc, "val_top1": val_acc,
            "images_per_s": ytr.len() as f64 / secs, "seconds": secs});
        crate::files::append_line(metrics_path, &line.to_string())?;
        let model = with_classifier(backbone.model(), &lin, &train.classes);
        let meta = [(
            "mnv2.training".to_string(),
            json!({"epochs": epoch + 1, "init": init.display().to_string(), "mode": "frozen backbone"}).to_string(),
        )];
        mnv2::import::safetensors::save_model(&model, &a.output, &meta.into_iter().collect())?;
        save_state(state_path, &lin, rng, epoch + 1, &config)?;
        bar.set_message(format!("loss {loss:.3} train {:.1}% val {:.1}%", 100.0 * train_acc, 100.0 * val_acc));
        bar.inc(1);
    }
    bar.finish_and_clear();
    crate::plot::training_curves(metrics_path, &sidecar(&a.output, "curves.png"))?;
    eprintln!("mnv2: backbone features took {feature_seconds:.0} s");
    println!("{}", summary(&a.output, state_path, ("val_top1", "val top-1", true), started)?);
    Ok(ExitCode::SUCCESS)
}

/// The last line of a training run: the final and best value of `key` (a 0..1 metric, shown as
/// `label`), the epochs, the time this run took, and where every output went.
pub(crate) fn summary(
    output: &Path,
    state: &Path,
    (key, label, percent): (&str, &str, bool),
    started: Instant,
) -> anyhow::Result<String> {
    let metrics = sidecar(output, "metrics.jsonl");
    let text =
        std::fs::read_to_string(&metrics).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", metrics.display()))?;
    let history: Vec<serde_json::Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let value = |v: &serde_json::Value| v[key].as_f64();
    let best =
        history.iter().filter_map(|v| Some((value(v)?, v["epoch"].as_u64()?))).max_by(|x, y| x.0.total_cmp(&y.0));
    let last = history.last().and_then(value);
    let scores = match (last, best) {
        (Some(last), Some((best, epoch))) if percent => {
            format!("{label} {:.2}% (best {:.2}% at epoch {epoch})", 100.0 * last, 100.0 * best)
        }
        (Some(last), Some((best, epoch))) => format!("{label} {last:.4} (best {best:.4} at epoch {epoch})"),
        _ => format!("no {label} (nothing held out)"),
    };
    Ok(format!(
        "{}: {scores} after {}, {:.1} s; metrics {}, curves {}, training state {}",
        output.display(),
        crate::count(history.len(), "epoch"),
        started.elapsed().as_secs_f64(),
        metrics.display(),
        sidecar(output, "curves.png").display(),
        state.display()
    ))
}

/// The options of a `train` run that change its result (stored with its checkpoints).
pub(crate) fn config(a: &TrainArgs) -> String {
    let path = crate::resume::path;
    crate::resume::config(&[
        ("data", path(&a.data)),
        ("val", path(&a.val)),
        ("init", a.init.as_deref().map_or(json!(null), path)),
        ("freeze_backbone", json!(a.freeze_backbone)),
        ("width", crate::resume::num(a.width)),
        ("resolution", json!(a.resolution)),
        ("epochs", json!(a.epochs)),
        ("batch", json!(a.batch)),
        ("optimizer", json!(a.optimizer)),
        ("lr", crate::resume::num(a.lr)),
        ("schedule", json!(a.schedule)),
        ("weight_decay", crate::resume::num(a.weight_decay)),
        ("label_smoothing", crate::resume::num(a.label_smoothing)),
        ("ema", a.ema.map_or(json!(null), crate::resume::num)),
        ("seed", json!(a.seed)),
    ])
}

/// An image folder with the images that cannot be used skipped, each named on stderr; more than
/// [`max_skipped`](mnv2::train::data::max_skipped) of them is an error.
pub(crate) fn open_folder(path: &Path) -> anyhow::Result<ImageFolder> {
    let mut set = ImageFolder::open(path).map_err(anyhow::Error::msg)?;
    let total = set.items.len();
    let dropped = set.drop_unreadable();
    for reason in &dropped {
        eprintln!("mnv2: skipping {reason}");
    }
    check_skipped(dropped.len(), total, path)?;
    Ok(set)
}

/// Refuses a training set (`set`) in which more than
/// [`max_skipped`](mnv2::train::data::max_skipped) of its `total` images could not be used, and
/// says how many were skipped otherwise.
pub(crate) fn check_skipped(skipped: usize, total: usize, set: &Path) -> anyhow::Result<()> {
    let limit = mnv2::train::data::max_skipped(total);
    if skipped > limit {
        bail!("{skipped} of the {total} images in {} cannot be used (at most {limit} are skipped)", set.display());
    }
    if skipped > 0 {
        eprintln!("mnv2: {}: skipped {} of {total}", set.display(), crate::count(skipped, "image"));
    }
    Ok(())
}

/// The learning-rate schedule named on the command line.
pub(crate) fn parse_schedule(name: &str, epochs: usize) -> anyhow::Result<Schedule> {
    Ok(match name {
        "cosine" => Schedule::Cosine { epochs: epochs as f32 },
        "exponential" => Schedule::Exponential { rate: 0.98, epochs_per_decay: 1.0 },
        "constant" => Schedule::Constant,
        other => bail!("unknown schedule {other:?} (cosine, exponential, constant)"),
    })
}

/// The progress bar of one training epoch (`batches` steps; `epoch` counts from 0).
pub(crate) fn epoch_bar(batches: usize, epoch: usize, epochs: usize) -> ProgressBar {
    let bar = ProgressBar::new(batches as u64);
    bar.set_style(
        ProgressStyle::with_template(&format!("{{bar:30}} epoch {}/{epochs} {{pos}}/{{len}} {{msg}}", epoch + 1))
            .expect("valid template"),
    );
    bar
}

/// `OUT.<suffix>` beside the model file.
pub(crate) fn sidecar(out: &Path, suffix: &str) -> PathBuf {
    let stem = out.file_stem().map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned());
    out.with_file_name(format!("{stem}.{suffix}"))
}

/// Pooled backbone features of every image (evaluation preprocessing), with a progress bar.
fn features(c: &mut Classifier, set: &ImageFolder, what: &str) -> anyhow::Result<(Vec<f32>, Vec<usize>)> {
    let bar = ProgressBar::new(set.items.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(&format!("{{bar:30}} {{pos}}/{{len}} {what} {{per_sec}} eta {{eta}}"))
            .expect("valid template"),
    );
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for chunk in set.items.chunks(16) {
        let mut prepared = Vec::new();
        for (path, label) in chunk {
            let img = mnv2::image::load_rgb(path)?;
            prepared.push(c.preprocess(&img)?.data);
            y.push(*label);
        }
        let refs: Vec<&[u8]> = prepared.iter().map(Vec::as_slice).collect();
        x.extend(c.features(&refs)?);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok((x, y))
}

/// The backbone of `base` with the trained classifier and the new labels.
fn with_classifier(base: &Model, lin: &Linear, labels: &[String]) -> Model {
    let mut m = base.clone();
    m.arch.classes = lin.classes as u32;
    if let Some(LayerWeights::Classifier(w)) = m.layers.last_mut() {
        *w = ConvWeights {
            weights: Tensor::f32(vec![lin.classes, lin.dim], lin.w.clone()),
            bias: Tensor::f32(vec![lin.classes], lin.b.clone()),
            output: None,
        };
    }
    m.output = OutputKind::Logits;
    m.labels = Some(labels.to_vec());
    m
}

fn save_state(path: &Path, lin: &Linear, rng: Rng, epoch: usize, config: &str) -> anyhow::Result<()> {
    let v = json!({"epoch": epoch, "rng": rng.0.to_string(), "config": config, "w": lin.w, "b": lin.b,
        "w_first": lin.state_w.first, "w_second": lin.state_w.second, "w_steps": lin.state_w.steps,
        "b_first": lin.state_b.first, "b_second": lin.state_b.second, "b_steps": lin.state_b.steps});
    let tmp = path.with_extension("json.tmp");
    crate::files::write(&tmp, v.to_string().as_bytes())?;
    std::fs::rename(&tmp, path).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

/// The probe's checkpoint: weights, optimizer state, random state, epochs done, options stored.
fn load_state(path: &Path, dim: usize, classes: usize) -> anyhow::Result<(Linear, Rng, usize, Option<String>)> {
    let v: serde_json::Value = serde_json::from_slice(&crate::finetune::read_checkpoint(path)?)
        .with_context(|| format!("{} is not a checkpoint", path.display()))?;
    let floats = |k: &str| -> Vec<f32> {
        v[k].as_array().map(|a| a.iter().map(|x| x.as_f64().unwrap_or(0.0) as f32).collect()).unwrap_or_default()
    };
    let mut lin = Linear::zeros(dim, classes);
    lin.w = floats("w");
    lin.b = floats("b");
    if lin.w.len() != dim * classes || lin.b.len() != classes {
        bail!("{} does not match this dataset and backbone", path.display());
    }
    lin.state_w.first = floats("w_first");
    lin.state_w.second = floats("w_second");
    lin.state_w.steps = v["w_steps"].as_u64().unwrap_or(0);
    lin.state_b.first = floats("b_first");
    lin.state_b.second = floats("b_second");
    lin.state_b.steps = v["b_steps"].as_u64().unwrap_or(0);
    let rng = Rng(v["rng"].as_str().and_then(|s| s.parse().ok()).context("checkpoint without rng state")?);
    let config = v["config"].as_str().map(str::to_string);
    Ok((lin, rng, v["epoch"].as_u64().unwrap_or(0) as usize, config))
}
