//! `mnv2 bench`: latency and throughput of one model on this machine.

use crate::args::BenchArgs;
use anyhow::{Context, bail};
use mnv2::image::Rgb8;
use mnv2::kernels::peak::{PeakKind, PeakMeter};
use mnv2::{Classifier, Detector, Options, Precision, Segmenter};
use serde_json::json;
use std::process::ExitCode;
use std::time::Instant;

/// What is timed.
enum Target {
    /// A classifier (fp32 or int8) on prepared inputs.
    Classify(Box<Classifier>),
    /// A segmenter's network, upsampling and argmax on a prepared input.
    Segment(Box<Segmenter>, Vec<u8>),
    /// A detector's network on a prepared input.
    Detect(Box<Detector>, Vec<f32>),
}

pub fn main(a: BenchArgs) -> anyhow::Result<ExitCode> {
    let model_path = match &a.model {
        Some(p) => p.clone(),
        None => mnv2::default_model_path()?,
    };
    let model = mnv2::import::load(&model_path).with_context(|| format!("loading {}", model_path.display()))?;
    let (file, image) = bench_image(&a, &model)?;
    let (macs, mut target) = make_target(&a, model, &image)?;
    let precision = target.precision();
    let prepared = match &target {
        Target::Classify(c) => c.preprocess(&image)?.data,
        _ => Vec::new(),
    };
    let batch: Vec<&[u8]> = (0..a.batch).map(|_| prepared.as_slice()).collect();
    let from_file = if a.end_to_end { file } else { None };
    let run = |t: &mut Target| run_once(t, from_file.as_deref(), &batch, precision);
    let isa = mnv2::kernels::Isa::detect();
    let kind = if precision == Precision::Int8 { PeakKind::Int8 } else { PeakKind::F32 };
    let (times, peak) = time_runs(&mut target, &run, &a, PeakMeter::new(isa, kind))?;
    let steps = if a.profile { profile_steps(&mut target, &run, a.iters, a.batch)? } else { Vec::new() };
    let threads = if a.threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { a.threads };
    let report = Report {
        model: model_path.display().to_string(),
        precision,
        threads,
        // Threads beyond the cores share them: the peak is that of the cores in use.
        cores: threads.min(std::thread::available_parallelism().map_or(1, |n| n.get())),
        batch: a.batch,
        isa,
        kind,
        times,
        arena: target.arena_bytes(),
        macs: macs as f64 * a.batch as f64,
        peak_per_core: peak.best(),
    };
    report.print(a.json);
    print_profile(&steps, a.json);
    Ok(ExitCode::SUCCESS)
}

/// The bytes of `--image` (refused with `--end-to-end` when missing) and the picture the input is
/// prepared from: that image, or a fixed pseudo-random pattern (the classifier's arithmetic does
/// not depend on the values; segmentation's argmax does, so give it a real image).
fn bench_image(a: &BenchArgs, model: &mnv2::engine::Model) -> anyhow::Result<(Option<Vec<u8>>, Rgb8)> {
    let file = match &a.image {
        Some(p) => Some(mnv2::Limits::global().read_file(p, "an image")?),
        None if a.end_to_end => bail!("--end-to-end needs --image FILE"),
        None => None,
    };
    let image = match (&file, &a.image) {
        (Some(bytes), Some(path)) => mnv2::image::decode_rgb(bytes, &path.display().to_string())?,
        _ => {
            let r = model.arch.resolution as usize;
            Rgb8::new(r, r, (0..r * r * 3).map(|i| ((i * 2_654_435_761usize) >> 13) as u8).collect())
        }
    };
    Ok((file, image))
}

/// The task the model is for, with its prepared input, and its multiply-adds per image.
fn make_target(a: &BenchArgs, model: mnv2::engine::Model, image: &Rgb8) -> anyhow::Result<(u64, Target)> {
    let options = Options { threads: a.threads, precision: a.precision, ..Options::default() };
    let made = if let Some(ssd) = model.ssdlite() {
        let det = Detector::from_model(model, &options, None)?;
        let input = det.prepare(image);
        (ssd.macs(), Target::Detect(Box::new(det), input))
    } else if let Some(deeplab) = model.deeplab() {
        let seg = Segmenter::new(model, options)?;
        let (input, _) = seg.prepare(image);
        (deeplab.macs(), Target::Segment(Box::new(seg), input))
    } else {
        let macs = model.arch.macs();
        let mut c = Classifier::new(model, options)?;
        c.reserve(a.batch)?;
        (macs, Target::Classify(Box::new(c)))
    };
    if a.batch > 1 && !matches!(made.1, Target::Classify(_)) {
        bail!("--batch applies to classifiers; segmenters and detectors run one image at a time");
    }
    Ok(made)
}

impl Target {
    fn precision(&self) -> Precision {
        match self {
            Target::Classify(c) => c.precision(),
            Target::Segment(s, _) => s.precision(),
            Target::Detect(..) => Precision::F32,
        }
    }
    fn arena_bytes(&self) -> usize {
        match self {
            Target::Classify(c) => c.arena_bytes(),
            Target::Segment(s, _) => s.arena_bytes(),
            Target::Detect(d, _) => d.arena_bytes(),
        }
    }
}

/// One timed run: from the image file's bytes (`from_file`: decoding, preprocessing and
/// post-processing included) or from the prepared input (`batch` of them for a classifier).
fn run_once(t: &mut Target, from_file: Option<&[u8]>, batch: &[&[u8]], precision: Precision) -> anyhow::Result<()> {
    let decode = |bytes| mnv2::image::decode_rgb(bytes, "image");
    match (t, from_file) {
        (Target::Classify(c), Some(bytes)) => drop(c.classify(&[decode(bytes)?], 5)?),
        (Target::Segment(s, _), Some(bytes)) => drop(s.segment(&decode(bytes)?)?),
        (Target::Detect(d, _), Some(bytes)) => drop(d.detect(&decode(bytes)?)?),
        (Target::Classify(c), None) if precision == Precision::Int8 => drop(c.run_int8(batch)?),
        (Target::Classify(c), None) => drop(c.run_bytes(batch)?),
        (Target::Segment(s, input), None) => drop(s.run_input(input)?),
        (Target::Detect(d, input), None) => drop(d.run_input(input)?),
    }
    Ok(())
}

/// The warm-up, then `iters` timed runs (seconds each, sorted), with the peak measured as the best
/// of short samples before and between them, so that one busy moment on a shared host does not
/// set it.
fn time_runs(
    target: &mut Target,
    run: &impl Fn(&mut Target) -> anyhow::Result<()>,
    a: &BenchArgs,
    mut peak: PeakMeter,
) -> anyhow::Result<(Vec<f64>, PeakMeter)> {
    for _ in 0..a.warmup.max(1) {
        run(target)?;
    }
    for _ in 0..5 {
        peak.sample(20);
    }
    let mut times = Vec::with_capacity(a.iters);
    for i in 0..a.iters {
        let t = Instant::now();
        run(target)?;
        times.push(t.elapsed().as_secs_f64());
        if (i + 1) % a.iters.div_ceil(5) == 0 {
            peak.sample(20);
        }
    }
    times.sort_by(f64::total_cmp);
    Ok((times, peak))
}

/// What `bench` prints.
struct Report {
    model: String,
    precision: Precision,
    threads: usize,
    cores: usize,
    batch: usize,
    isa: mnv2::kernels::Isa,
    kind: PeakKind,
    /// Seconds per batch, sorted.
    times: Vec<f64>,
    arena: usize,
    /// Multiply-adds per batch.
    macs: f64,
    peak_per_core: f64,
}

impl Report {
    fn print(&self, as_json: bool) {
        let pick = |q: f64| self.times[((self.times.len() - 1) as f64 * q).round() as usize];
        let (min, median, p90) = (self.times[0], pick(0.5), pick(0.9));
        let images_per_s = self.batch as f64 / median;
        let peak = self.peak_per_core * self.cores as f64;
        let fraction = self.macs / median / peak;
        let (isa, kind, precision) = (self.isa, self.kind, self.precision);
        if as_json {
            let v = json!({
                "model": self.model, "precision": format!("{precision:?}").to_lowercase(),
                "threads": self.threads, "batch": self.batch, "iters": self.times.len(), "isa": isa.name(),
                "latency_ms": {"min": min * 1e3, "median": median * 1e3, "p90": p90 * 1e3},
                "images_per_s": images_per_s, "arena_bytes": self.arena,
                "macs_per_s": self.macs / median, "peak_macs_per_s": peak, "peak": kind.name(isa),
                "fraction_of_peak": fraction,
            });
            println!("{v}");
            return;
        }
        println!("model      {}", self.model);
        println!(
            "precision  {precision:?}, {} thread(s), batch {}, {} ({} iterations)",
            self.threads,
            self.batch,
            isa.name(),
            self.times.len()
        );
        println!(
            "latency    min {:.2} ms, median {:.2} ms, p90 {:.2} ms (per batch)",
            min * 1e3,
            median * 1e3,
            p90 * 1e3
        );
        println!("throughput {images_per_s:.1} images/s");
        println!("arena      {} bytes of activations", self.arena);
        // Above 100% can only mean the peak read low (the core was busy while it was sampled).
        let note = if fraction > 1.0 { " (above 100%: the peak was under-measured on a busy core)" } else { "" };
        println!(
            "compute    {:.1} G multiply-adds/s = {:.0}% of the measured {} peak ({:.1} G/s on {}){note}",
            self.macs / median / 1e9,
            100.0 * fraction,
            kind.name(isa),
            peak / 1e9,
            crate::count(self.cores, "core"),
        );
    }
}

/// Each step's minimum time over `iters` profiled runs (batch 1 runs on this thread, where the
/// engine records its steps).
fn profile_steps(
    target: &mut Target,
    run: &impl Fn(&mut Target) -> anyhow::Result<()>,
    iters: usize,
    batch: usize,
) -> anyhow::Result<Vec<mnv2::engine::profile::StepTime>> {
    if batch != 1 {
        bail!("--profile times the steps of one image: use --batch 1");
    }
    let mut best: Vec<mnv2::engine::profile::StepTime> = Vec::new();
    for _ in 0..iters {
        mnv2::engine::profile::start();
        let result = run(target);
        let steps = mnv2::engine::profile::finish();
        result?;
        if best.is_empty() {
            best = steps;
        } else {
            for (b, s) in best.iter_mut().zip(steps) {
                b.seconds = b.seconds.min(s.seconds);
            }
        }
    }
    Ok(best)
}

/// The profile as a table (or one JSON array of {step, us}).
fn print_profile(steps: &[mnv2::engine::profile::StepTime], as_json: bool) {
    if steps.is_empty() {
        return;
    }
    let total: f64 = steps.iter().map(|s| s.seconds).sum();
    if as_json {
        let v: Vec<_> = steps.iter().map(|s| json!({"step": s.step, "us": s.seconds * 1e6})).collect();
        println!("{}", json!({"profile": v}));
        return;
    }
    println!("profile    minimum per step over the profiled runs (sum {:.3} ms)", total * 1e3);
    for s in steps {
        println!("  {:>9.1} us {:>5.1}%  {}", s.seconds * 1e6, 100.0 * s.seconds / total, s.step);
    }
}
