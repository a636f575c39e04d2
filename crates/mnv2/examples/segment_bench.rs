//! Times one 513x513 segmentation in both precisions: `cargo run --release --example segment_bench -- MODEL`.

use mnv2::engine::{F32Engine, Q8Engine};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: segment_bench MODEL [THREADS]")?;
    let threads: usize = std::env::args().nth(2).map_or(Ok(1), |t| t.parse())?;
    let m = mnv2::import::load(&path)?;
    let input: Vec<u8> = (0..513 * 513 * 3).map(|i| (i * 7 % 251) as u8).collect();
    let mut map = vec![0u8; 513 * 513];
    let q = Q8Engine::new(&m, threads)?;
    let mut s = q.session(1)?;
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        q.run_segment(&mut s, &input, &mut map)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    println!("int8 {path}: min {:.1} ms, median {:.1} ms ({threads} threads)", times[0], times[2]);
    let f = F32Engine::new(&m, threads)?;
    let mut s = f.session(1)?;
    let mut real = Vec::new();
    m.input.extend_real(&mut real, &input);
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        f.run_segment(&mut s, &real, &mut map)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    println!("fp32 {path}: min {:.1} ms, median {:.1} ms ({threads} threads)", times[0], times[2]);
    Ok(())
}
