//! Rates of the pointwise weight gradient and of the GEMM on MobileNetV2's 1x1 shapes (batch 16):
//! `cargo run --release -p mnv2-kernels --example wgrad_rate`.
use mnv2_kernels::gemm::{PackedB, gemm};
use mnv2_kernels::{Clamp, Isa};
use std::time::Instant;

fn best(mut f: impl FnMut()) -> f64 {
    (0..5)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let isa = Isa::detect();
    for (hw, cin, cout) in [
        (112 * 112, 32, 16),
        (112 * 112, 16, 96),
        (56 * 56, 96, 24),
        (56 * 56, 24, 144),
        (56 * 56, 144, 24),
        (28 * 28, 32, 192),
        (28 * 28, 192, 32),
        (14 * 14, 64, 384),
        (14 * 14, 384, 64),
        (14 * 14, 576, 96),
        (7 * 7, 160, 960),
        (7 * 7, 960, 320),
        (7 * 7, 320, 1280),
    ] {
        let p = 16 * hw;
        let x: Vec<f32> = (0..p * cin).map(|i| (i % 97) as f32 * 0.01).collect();
        let dy: Vec<f32> = (0..p * cout).map(|i| (i % 89) as f32 * 0.01).collect();
        let mut dw = vec![0.0; cout * cin];
        let flops = 2.0 * (p * cin * cout) as f64;
        let tw = best(|| mnv2_kernels::wgrad::weight_grad(isa, &dy, &x, cout, cin, &mut dw));
        let packed = PackedB::new(cin, cout, |k, j| ((k + j) % 7) as f32, &vec![0.0; cout]);
        let mut y = vec![0.0; p * cout];
        let tg = best(|| gemm(isa, &x, &packed, None, Clamp::NONE, &mut y));
        let packed_t = PackedB::new(cout, cin, |k, j| ((k + j) % 7) as f32, &vec![0.0; cin]);
        let mut dx = vec![0.0; p * cin];
        let tb = best(|| gemm(isa, &dy, &packed_t, None, Clamp::NONE, &mut dx));
        println!(
            "p {p:6} cin {cin:4} cout {cout:4}: wgrad {:5.1} GF/s {:6.2} ms | fwd gemm {:5.1} GF/s {:6.2} ms | dx gemm {:5.1} GF/s {:6.2} ms",
            flops / tw / 1e9,
            tw * 1e3,
            flops / tg / 1e9,
            tg * 1e3,
            flops / tb / 1e9,
            tb * 1e3
        );
    }
}
