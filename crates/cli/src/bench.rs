//! `mnv2 bench`: latency and throughput of one model on this machine.

use crate::args::BenchArgs;
use anyhow::{Context, bail};
use mnv2::kernels::peak::{PeakKind, PeakMeter};
use mnv2::{Classifier, Options, Precision};
use serde_json::json;
use std::process::ExitCode;
use std::time::Instant;

/// What is timed: a classifier (fp32 or int8) or a detector's network.
enum Target {
    Classify(Box<Classifier>, u64),
    Detect(Box<DetectBench>),
}

/// A detector's engine with its buffers.
struct DetectBench {
    macs: u64,
    engine: mnv2::engine::F32Engine,
    session: mnv2::engine::F32Session,
    input: Vec<f32>,
    output: Vec<f32>,
}

pub fn main(a: BenchArgs) -> anyhow::Result<ExitCode> {
    if a.iters == 0 || a.batch == 0 {
        bail!("--iters and --batch must be at least 1");
    }
    let model_path = match &a.model {
        Some(p) => p.clone(),
        None => mnv2::default_model_path()?,
    };
    let model = mnv2::import::load(&model_path).with_context(|| format!("loading {}", model_path.display()))?;
    let mut target = match model.ssdlite() {
        // Detectors run in float32 through the engine: the network, not the box post-processing.
        Some(ssd) => {
            let engine = mnv2::engine::F32Engine::new(&model, a.threads)?;
            let session = engine.session(a.batch)?;
            let input = vec![0.25; a.batch * model.arch.input().len()];
            let output = vec![0.0; a.batch * engine.output_len()];
            Target::Detect(Box::new(DetectBench { macs: ssd.macs(), engine, session, input, output }))
        }
        None => {
            let macs = model.arch.macs();
            let options = Options { threads: a.threads, precision: a.precision, ..Options::default() };
            Target::Classify(Box::new(Classifier::new(model, options)?), macs)
        }
    };
    let precision = match &target {
        Target::Classify(c, _) => c.precision(),
        Target::Detect(_) => Precision::F32,
    };
    let input_len = match &target {
        Target::Classify(c, _) => c.model().arch.input().len(),
        Target::Detect(_) => 0,
    };
    // A fixed pseudo-random image (the arithmetic does not depend on the values).
    let image: Vec<u8> = (0..input_len).map(|i| ((i * 2_654_435_761usize) >> 13) as u8).collect();
    let batch: Vec<&[u8]> = (0..a.batch).map(|_| image.as_slice()).collect();
    let run = |t: &mut Target| -> anyhow::Result<()> {
        match t {
            Target::Classify(c, _) if precision == Precision::Int8 => drop(c.run_int8(&batch)?),
            Target::Classify(c, _) => drop(c.run_bytes(&batch)?),
            Target::Detect(d) => d.engine.run(&mut d.session, &d.input, &mut d.output)?,
        }
        Ok(())
    };
    for _ in 0..a.warmup.max(1) {
        run(&mut target)?;
    }
    // The peak is the best of short measurements taken before and between the timed runs, so that
    // one busy moment on a shared host does not set it.
    let isa = mnv2::kernels::Isa::detect();
    let kind = if precision == Precision::Int8 { PeakKind::Int8 } else { PeakKind::F32 };
    let mut peak_meter = PeakMeter::new(isa, kind);
    for _ in 0..5 {
        peak_meter.sample(20);
    }
    let mut times = Vec::with_capacity(a.iters);
    for i in 0..a.iters {
        let t = Instant::now();
        run(&mut target)?;
        times.push(t.elapsed().as_secs_f64());
        if (i + 1) % a.iters.div_ceil(5) == 0 {
            peak_meter.sample(20);
        }
    }
    times.sort_by(f64::total_cmp);
    let pick = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    let (min, median, p90) = (times[0], pick(0.5), pick(0.9));
    let images_per_s = a.batch as f64 / median;
    let (macs, arena) = match &target {
        Target::Classify(c, m) => (*m, c.arena_bytes()),
        Target::Detect(d) => (d.macs, d.session.arena_bytes()),
    };
    let macs = macs as f64 * a.batch as f64;
    let threads = if a.threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { a.threads };
    // Threads beyond the cores share them: the peak is that of the cores in use.
    let cores = threads.min(std::thread::available_parallelism().map_or(1, |n| n.get()));
    let peak = peak_meter.best() * cores as f64;
    let fraction = macs / median / peak;
    if a.json {
        let v = json!({
            "model": model_path.display().to_string(), "precision": format!("{precision:?}").to_lowercase(),
            "threads": threads, "batch": a.batch, "iters": a.iters, "isa": isa.name(),
            "latency_ms": {"min": min * 1e3, "median": median * 1e3, "p90": p90 * 1e3},
            "images_per_s": images_per_s, "arena_bytes": arena,
            "macs_per_s": macs / median, "peak_macs_per_s": peak, "peak": kind.name(isa),
            "fraction_of_peak": fraction,
        });
        println!("{v}");
    } else {
        println!("model      {}", model_path.display());
        println!(
            "precision  {precision:?}, {threads} thread(s), batch {}, {} ({} iterations)",
            a.batch,
            isa.name(),
            a.iters
        );
        println!(
            "latency    min {:.2} ms, median {:.2} ms, p90 {:.2} ms (per batch)",
            min * 1e3,
            median * 1e3,
            p90 * 1e3
        );
        println!("throughput {images_per_s:.1} images/s");
        println!("arena      {arena} bytes of activations");
        // Above 100% can only mean the peak read low (the core was busy while it was sampled).
        let note = if fraction > 1.0 { " (above 100%: the peak was under-measured on a busy core)" } else { "" };
        println!(
            "compute    {:.1} G multiply-adds/s = {:.0}% of the measured {} peak ({:.1} G/s on {}){note}",
            macs / median / 1e9,
            100.0 * fraction,
            kind.name(isa),
            peak / 1e9,
            crate::count(cores, "core"),
        );
    }
    Ok(ExitCode::SUCCESS)
}
