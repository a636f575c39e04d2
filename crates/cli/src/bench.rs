//! `mnv2 bench`: latency and throughput of one model on this machine (timed by `mnv2::bench`).

use crate::args::BenchArgs;
use anyhow::{Context, bail};
use mnv2::bench::Bench;
use mnv2::image::Rgb8;
use mnv2::kernels::peak::{PeakKind, PeakMeter};
use mnv2::{Options, Precision};
use serde_json::json;
use std::process::ExitCode;

pub fn main(a: BenchArgs) -> anyhow::Result<ExitCode> {
    let model_path = match &a.model {
        Some(p) => p.clone(),
        None => mnv2::default_model_path()?,
    };
    let model = mnv2::import::load(&model_path).with_context(|| format!("loading {}", model_path.display()))?;
    if a.profile && a.batch != 1 {
        bail!("--profile times the steps of one image: use --batch 1");
    }
    let (file, image) = bench_image(&a, &model)?;
    let options = Options { threads: a.threads, precision: a.precision, ..Options::default() };
    let mut bench = Bench::new(model, options, a.batch, &image, if a.end_to_end { file } else { None })?;
    let precision = bench.precision();
    let isa = mnv2::kernels::Isa::detect();
    let kind = if precision == Precision::Int8 { PeakKind::Int8 } else { PeakKind::F32 };
    let (times, peak) = bench.time(a.warmup, a.iters, PeakMeter::new(isa, kind))?;
    let steps = if a.profile { bench.profile(a.iters)? } else { Vec::new() };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = if a.threads == 0 { cores } else { a.threads };
    let report = Report {
        model: model_path.display().to_string(),
        precision,
        threads,
        // Threads beyond the cores share them: the peak is that of the cores in use.
        cores: threads.min(cores),
        batch: a.batch,
        isa,
        kind,
        times,
        arena: bench.arena_bytes(),
        macs: bench.macs_per_image as f64 * a.batch as f64,
        peak_per_core: peak.best(),
    };
    report.print(a.json);
    print_profile(&steps, a.json);
    Ok(ExitCode::SUCCESS)
}

/// The bytes of `--image` (refused with `--end-to-end` when missing) and the picture the input is
/// prepared from: that image, or a fixed pseudo-random pattern.
fn bench_image(a: &BenchArgs, model: &mnv2::engine::Model) -> anyhow::Result<(Option<Vec<u8>>, Rgb8)> {
    let file = match &a.image {
        Some(p) => Some(mnv2::Limits::global().read_file(p, "an image")?),
        None if a.end_to_end => bail!("--end-to-end needs --image FILE"),
        None => None,
    };
    let image = match (&file, &a.image) {
        (Some(bytes), Some(path)) => mnv2::image::decode_rgb(bytes, &path.display().to_string())?,
        _ => mnv2::bench::pattern(model.arch.resolution as usize),
    };
    Ok((file, image))
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
