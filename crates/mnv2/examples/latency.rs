//! Batch-1 latency of a classifier's engine on one thread, at every ISA level this build can
//! run: the way to time the engine where `mnv2 bench` cannot go (WebAssembly under Node.js's
//! WASI, an ARM board), e.g. with `tools/wasm.sh`'s target:
//!   cargo build --release --target wasm32-wasip1 -p mnv2 --example latency
//!   node tools/wasi-run.mjs target/wasm32-wasip1/release/examples/latency.wasm MODEL [RUNS [LEVEL]]
//! With MNV2_PROFILE=1, the time of each step of the fp32 run's last call is printed too.

use mnv2::engine::{F32Engine, Q8Engine};
use mnv2::kernels::Isa;
use std::time::Instant;

/// Minimum and median milliseconds of `runs` calls of `f` (after one untimed call).
fn time(runs: usize, mut f: impl FnMut()) -> (f64, f64) {
    f();
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[0], times[runs / 2])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).ok_or("usage: latency MODEL [RUNS [LEVEL]]")?;
    let runs: usize = args.get(2).map_or(Ok(30), |r| r.parse())?.max(1);
    let only = args.get(3).map(|name| Isa::parse(name).ok_or(format!("unknown level {name}"))).transpose()?;
    let model = mnv2::import::load(path)?;
    let size = model.arch.resolution as usize;
    // A fixed pseudo-random image, as bytes and as real values in [-1, 1].
    let bytes: Vec<u8> = (0..size * size * 3).map(|i| (i * 7919 % 251) as u8).collect();
    let real: Vec<f32> = bytes.iter().map(|&b| b as f32 / 127.5 - 1.0).collect();
    for isa in Isa::all_available().into_iter().filter(|&i| only.is_none_or(|o| o == i)) {
        if model.is_quantized() {
            let e = Q8Engine::with_isa(&model, 1, isa)?;
            let (mut session, mut out) = (e.session(1)?, vec![0u8; e.output_len()]);
            let (min, median) = time(runs, || e.run(&mut session, &bytes, &mut out).expect("int8 run"));
            println!("int8 {:<8} min {min:.2} ms, median {median:.2} ms", isa.name());
        }
        let e = F32Engine::with_isa(&model, 1, isa)?;
        let (mut session, mut out) = (e.session(1)?, vec![0f32; e.output_len()]);
        let (min, median) = time(runs, || e.run(&mut session, &real, &mut out).expect("fp32 run"));
        println!("fp32 {:<8} min {min:.2} ms, median {median:.2} ms", isa.name());
        if std::env::var_os("MNV2_PROFILE").is_some() {
            mnv2::engine::profile::start();
            e.run(&mut session, &real, &mut out)?;
            for s in mnv2::engine::profile::finish() {
                println!("  {:7.3} ms  {}", s.seconds * 1e3, s.step);
            }
        }
    }
    Ok(())
}
