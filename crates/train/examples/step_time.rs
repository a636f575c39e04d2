//! Times training steps (forward, loss, backward and an AdamW update; no data loading) of
//! MobileNetV2 1.0-224 and prints each and the fastest:
//! `cargo run --release -p mnv2-train --example step_time -- [BATCH [STEPS]]`.

use mnv2_train::optim::{Optimizer, State, step};

fn main() {
    let batch: usize = std::env::args().nth(1).map_or(8, |b| b.parse().expect("batch"));
    let arch = mnv2_arch::Arch::new(1.0, 224, 5).unwrap();
    let mut net = mnv2_train::TrainNet::new(arch, batch);
    for t in net.params.tensors.iter_mut() {
        for (i, v) in t.iter_mut().enumerate() {
            *v = ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.1;
        }
    }
    let input: Vec<f32> = (0..batch * 224 * 224 * 3).map(|i| (i % 255) as f32 / 128.0 - 1.0).collect();
    let labels: Vec<usize> = (0..batch).map(|i| i % 5).collect();
    let steps: usize = std::env::args().nth(2).map_or(2, |s| s.parse().expect("steps"));
    let mut best = f64::INFINITY;
    let adamw = Optimizer::parse("adamw").unwrap();
    let mut states = vec![State::default(); net.params.tensors.len()];
    for _ in 0..steps {
        let t = std::time::Instant::now();
        let (loss, _, grads) = net.loss_and_grads(&input, &labels, 0.1);
        for ((w, g), s) in net.params.tensors.iter_mut().zip(&grads.tensors).zip(&mut states) {
            step(adamw, w, g, s, 1e-3, 4e-5);
        }
        net.recycle(grads);
        let s = t.elapsed().as_secs_f64();
        println!("batch {batch}: {:.2} s per step, {:.1} images/s (loss {loss:.3})", s, batch as f64 / s);
        best = best.min(s);
    }
    println!("fastest: {best:.3} s, {:.1} images/s", batch as f64 / best);
}
