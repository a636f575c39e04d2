//! `mnv2 train-det`: SSDLite-MobileNetV2 trained from an ImageNet backbone (batch norms
//! calibrated on the first batch, head initialised at random) with anchor matching, hard-negative
//! mined sigmoid + smooth-L1 losses (or focal loss) and SSD augmentation; every epoch the held-out
//! images are scored (AP@0.5, COCO AP), metrics appended to OUT.metrics.jsonl, the curves drawn to
//! OUT.curves.png, the detector saved to OUT (atomically) and the training state to
//! OUT.train.safetensors for `--resume`.

use crate::args::TrainDetArgs;
use crate::finetune::{load_ema, load_state, save_state};
use crate::train::{parse_schedule, sidecar};
use anyhow::{Context, anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};
use mnv2::engine::{InputSpec, Task};
use mnv2::heads::detect::{AnchorSpec, BoxCorners};
use mnv2::heads::detect_eval::{coco_ap, voc_ap};
use mnv2::heads::ssd_targets::{encode, match_anchors};
use mnv2::image::Rgb8;
use mnv2::train::TrainNet;
use mnv2::train::data::Rng;
use mnv2::train::detdata::{DetDataset, DetSample};
use mnv2::train::optim::{Optimizer, State, ema_update, learning_rate, step};
use mnv2::train::ssd::TrainSsd;
use mnv2::train::ssd_augment::{Labelled, ssd_augment};
use mnv2::train::ssd_loss::{AnchorTarget, ClassLoss, ssd_loss};
use mnv2::{Detector, Options};
use serde_json::json;
use std::process::ExitCode;
use std::time::Instant;

/// Inputs scaled to [-1, 1], as the Object Detection API's MobileNet feature extractors expect.
const INPUT: InputSpec = InputSpec { mean: 127.5, std: 127.5, quant: None, requantized: None, signed: false };

pub fn main(a: TrainDetArgs) -> anyhow::Result<ExitCode> {
    crate::alloc::reuse_large_allocations();
    let started = Instant::now();
    crate::files::create_parent(&a.output)?;
    let config = config(&a);
    let optimizer = Optimizer::parse(&a.optimizer).map_err(anyhow::Error::msg)?;
    let schedule = parse_schedule(&a.schedule, a.epochs)?;
    let loss_kind = if a.focal { ClassLoss::Focal { alpha: 0.25, gamma: 2.0 } } else { ClassLoss::default() };
    let data = DetDataset::open(&a.data, a.images.as_deref()).map_err(|e| anyhow!(e))?;
    // A seeded split; the held-out names are written out so eval-det can score them later.
    let mut order: Vec<usize> = (0..data.samples.len()).collect();
    Rng(a.seed ^ 0x5eed).shuffle(&mut order);
    let held = (data.samples.len() as f32 * a.holdout).round() as usize;
    let (val_idx, train_idx) = order.split_at(held);
    let mut val: Vec<DetSample> = val_idx.iter().map(|&i| data.samples[i].clone()).collect();
    val.sort_by(|x, y| x.image.cmp(&y.image));
    let holdout_path = sidecar(&a.output, "holdout.txt");
    let names: Vec<String> =
        val.iter().map(|s| s.image.file_name().unwrap_or_default().to_string_lossy().into_owned()).collect();
    crate::files::write(&holdout_path, (names.join("\n") + "\n").as_bytes())?;
    if train_idx.len() < a.batch {
        bail!("{} training images, fewer than one batch of {}", train_idx.len(), a.batch);
    }
    // Decode the training images once; augmentation works on the decoded pixels.
    let bar = ProgressBar::new(train_idx.len() as u64);
    bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} decoding training images").expect("template"));
    let mut train: Vec<(Rgb8, Vec<Labelled>)> = Vec::new();
    let mut skipped = 0;
    for &i in train_idx {
        let s = &data.samples[i];
        match mnv2::image::load_rgb(&s.image) {
            Ok(img) => train.push((img, s.boxes.iter().filter(|b| !b.crowd).map(|b| (b.bbox, b.class)).collect())),
            Err(e) => {
                skipped += 1;
                bar.suspend(|| eprintln!("mnv2: skipping {e}"));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    crate::train::check_skipped(skipped, train_idx.len(), &a.data)?;
    if train.len() < a.batch {
        bail!("{} usable training images, fewer than one batch of {}", train.len(), a.batch);
    }

    let init = match &a.init {
        Some(p) => p.clone(),
        None => mnv2::default_model_path()?,
    };
    let mut base = mnv2::import::load(&init).with_context(|| format!("loading {}", init.display()))?;
    base.arch.resolution = a.resolution;
    mnv2::Limits::global().check_memory(a.batch, mnv2::train::step_bytes(&base.arch, a.batch))?;
    let classes = data.classes.len();
    let size = a.resolution as usize;
    let first: Vec<f32> = train[..a.batch].iter().flat_map(|(img, _)| normalise(img, size)).collect();
    let mut model = match base.task {
        // Fine-tuning a detector (a new class count re-initialises the class predictors).
        Task::Detect(_) => {
            let mut m = TrainSsd::from_model(&base, a.batch, classes, a.seed).map_err(anyhow::Error::msg)?;
            m.calibrate(&first);
            m
        }
        Task::Classify => {
            let ssd = mnv2::arch::SsdLite::new(base.arch.width, a.resolution, classes as u32)?;
            let mut net = TrainNet::from_model(&base, a.batch, 1).map_err(anyhow::Error::msg)?;
            net.calibrate_batch_norms(&first, a.batch);
            TrainSsd::new(net, ssd, a.seed).map_err(anyhow::Error::msg)?
        }
        Task::Segment(_) => bail!("--init must be an ImageNet classifier or a detector, not a segmentation model"),
    };
    let ssd = model.ssd;
    let maps: Vec<(u32, u32)> = ssd.feature_maps().iter().map(|m| (m.h, m.w)).collect();
    let anchors = AnchorSpec::default().anchors(&maps);

    let run =
        crate::resume::Run::new(&a.output, "train.safetensors", &config, (a.allow_changes, a.epochs, a.stop_after));
    let (state_path, metrics_path) = (&run.state, &run.metrics);
    let mut states: Vec<State> = vec![State::default(); model.net.params.tensors.len()];
    let (mut rng, mut first_epoch) = (Rng(a.seed), 0usize);
    let mut ema: Option<Vec<Vec<f32>>> = None;
    if a.resume {
        let stored;
        (first_epoch, stored) = load_state(state_path, &mut model.net, &mut states, &mut rng)?;
        if !run.resume_from(first_epoch, stored.as_deref())? {
            return Ok(ExitCode::SUCCESS);
        }
        if a.ema.is_some() {
            ema = Some(load_ema(state_path, &model.net)?);
        }
    } else {
        crate::files::write(metrics_path, b"")?;
    }
    if a.ema.is_some() {
        ema.get_or_insert_with(|| model.net.params.tensors.clone());
    }
    // No weight decay on batch norms and biases; the unused classifier is not trained.
    let net = &model.net;
    let mut no_decay: Vec<bool> = net.params.names.iter().map(|n| n.ends_with("_conv.bias")).collect();
    for u in &net.units {
        no_decay[u.gamma] = true;
        no_decay[u.beta] = true;
    }
    let frozen = [net.fc_w, net.fc_b];
    let batches = train.len() / a.batch;
    let last_epoch = a.stop_after.map_or(a.epochs, |s| s.min(a.epochs));
    let slots = classes + 1;
    for epoch in first_epoch..last_epoch {
        let t0 = Instant::now();
        let mut order: Vec<usize> = (0..train.len()).collect();
        rng.shuffle(&mut order);
        let bar = crate::train::epoch_bar(batches, epoch, a.epochs);
        let (mut loss_sum, mut loc_sum, mut cls_sum, mut seen) = (0f64, 0f64, 0f64, 0usize);
        for b in 0..batches {
            let mut x = Vec::with_capacity(a.batch * size * size * 3);
            let mut targets: Vec<Vec<AnchorTarget>> = Vec::with_capacity(a.batch);
            for &i in &order[b * a.batch..(b + 1) * a.batch] {
                let (img, boxes) = &train[i];
                let (aug, kept) = ssd_augment(img, boxes, a.zoom_out, &mut rng);
                x.extend(normalise(&aug, size));
                targets.push(anchor_targets(&anchors, &aug, &kept));
            }
            let (codes, logits, cache) = model.forward(&x, true);
            let (mut dcodes, mut dlogits) = (vec![0.0; codes.len()], vec![0.0; logits.len()]);
            let loss = ssd_loss(&codes, &logits, &targets, slots, loss_kind, &mut dcodes, &mut dlogits);
            let grads = model.backward(&dcodes, &dlogits, cache.expect("training cache"));
            let lr = learning_rate(a.lr, schedule, epoch as f32 + b as f32 / batches as f32, 0.3);
            for (i, g) in grads.tensors.iter().enumerate() {
                if frozen.contains(&i) {
                    continue;
                }
                let wd = if no_decay[i] { 0.0 } else { a.weight_decay };
                step(optimizer, &mut model.net.params.tensors[i], g, &mut states[i], lr, wd);
                if let (Some(e), Some(decay)) = (ema.as_mut(), a.ema) {
                    ema_update(&mut e[i], &model.net.params.tensors[i], decay);
                }
            }
            loss_sum += loss.total() as f64 * a.batch as f64;
            loc_sum += loss.localization as f64 * a.batch as f64;
            cls_sum += loss.classification as f64 * a.batch as f64;
            seen += a.batch;
            bar.set_message(format!(
                "loss {:.3} (box {:.3}, class {:.3}) {:.2} img/s",
                loss_sum / seen as f64,
                loc_sum / seen as f64,
                cls_sum / seen as f64,
                seen as f64 / t0.elapsed().as_secs_f64()
            ));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let secs = t0.elapsed().as_secs_f64();
        // Evaluate and save the averaged weights when there are some (training keeps the raw ones).
        let raw = ema.as_ref().map(|e| std::mem::replace(&mut model.net.params.tensors, e.clone()));
        let folded = model.to_model(INPUT, Some(data.classes.clone()), "mnv2 train-det");
        if let Some(raw) = raw {
            model.net.params.tensors = raw;
        }
        let scores = evaluate(&folded, &val, a.threads)?;
        let line = json!({"epoch": epoch + 1, "loss": loss_sum / seen as f64, "loc_loss": loc_sum / seen as f64,
            "cls_loss": cls_sum / seen as f64, "val_ap50": scores.map(|s| s.0), "val_coco_ap": scores.map(|s| s.1),
            "images_per_s": seen as f64 / secs, "seconds": secs});
        crate::files::append_line(metrics_path, &line.to_string())?;
        let meta = [(
            "mnv2.training".to_string(),
            json!({"epochs": epoch + 1, "init": init.display().to_string(), "task": "detect"}).to_string(),
        )];
        mnv2::import::safetensors::save_model(&folded, &a.output, &meta.into_iter().collect())?;
        save_state(state_path, &model.net, &states, ema.as_ref(), rng, epoch + 1, &config)?;
        crate::plot::detection_curves(metrics_path, &sidecar(&a.output, "curves.png"))?;
        let scores = match scores {
            Some((ap50, coco)) => format!("held-out AP@0.5 {ap50:.4}, COCO AP {coco:.4}"),
            None => "no held-out images".to_string(),
        };
        eprintln!(
            "epoch {}: loss {:.4} (box {:.4}, class {:.4}), {scores}, {:.2} images/s",
            epoch + 1,
            loss_sum / seen as f64,
            loc_sum / seen as f64,
            cls_sum / seen as f64,
            seen as f64 / secs
        );
    }
    let key = ("val_ap50", "held-out AP@0.5", false);
    println!("{}", crate::train::summary(&a.output, state_path, key, started)?);
    Ok(ExitCode::SUCCESS)
}

/// The options of a `train-det` run that change its result (stored with its checkpoints).
fn config(a: &TrainDetArgs) -> String {
    let path = crate::resume::path;
    crate::resume::config(&[
        ("data", path(&a.data)),
        ("images", a.images.as_deref().map_or(json!(null), path)),
        ("holdout", crate::resume::num(a.holdout)),
        ("init", a.init.as_deref().map_or(json!(null), path)),
        ("resolution", json!(a.resolution)),
        ("epochs", json!(a.epochs)),
        ("batch", json!(a.batch)),
        ("optimizer", json!(a.optimizer)),
        ("lr", crate::resume::num(a.lr)),
        ("schedule", json!(a.schedule)),
        ("weight_decay", crate::resume::num(a.weight_decay)),
        ("zoom_out", crate::resume::num(a.zoom_out)),
        ("focal", json!(a.focal)),
        ("ema", a.ema.map_or(json!(null), crate::resume::num)),
        ("seed", json!(a.seed)),
    ])
}

/// The detector's input: TF1 bilinear resize to `size` x `size`, scaled to [-1, 1].
fn normalise(img: &Rgb8, size: usize) -> Vec<f32> {
    mnv2::image::resize_bilinear_tf1(img, size, size).into_iter().map(|v| (v - INPUT.mean) / INPUT.std).collect()
}

/// Anchor targets of one augmented image: matched anchors get the box's class and code.
fn anchor_targets(anchors: &[BoxCorners], img: &Rgb8, boxes: &[Labelled]) -> Vec<AnchorTarget> {
    let (w, h) = (img.width as f32, img.height as f32);
    let gts: Vec<BoxCorners> = boxes.iter().map(|(b, _)| [b[1] / h, b[0] / w, b[3] / h, b[2] / w]).collect();
    match_anchors(anchors, &gts)
        .into_iter()
        .zip(anchors)
        .map(|(m, anchor)| m.map(|g| (boxes[g].1, encode(&gts[g], anchor))))
        .collect()
}

/// Held-out AP@0.5 (VOC) and COCO AP of a folded model; None when nothing is held out.
fn evaluate(model: &mnv2::engine::Model, val: &[DetSample], threads: usize) -> anyhow::Result<Option<(f64, f64)>> {
    if val.is_empty() {
        return Ok(None);
    }
    let mut det = Detector::from_model(model.clone(), &Options { threads, ..Options::default() }, None)?;
    let images = crate::eval_det::detect_all(&mut det, val, None)?;
    let classes: Vec<usize> = (1..=det.classes()).collect();
    let aps: Vec<f64> = classes.iter().filter_map(|&c| voc_ap(&images, c, 0.5)).collect();
    let ap50 = if aps.is_empty() { 0.0 } else { aps.iter().sum::<f64>() / aps.len() as f64 };
    Ok(Some((ap50, coco_ap(&images, &classes).map_or(0.0, |c| c.ap))))
}
