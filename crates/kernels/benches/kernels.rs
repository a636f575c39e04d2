//! `cargo bench -p mnv2-kernels`: every kernel at the shapes of MobileNetV2 1.0-224, derived from
//! the architecture (not written out), for each instruction set this CPU has. Reports min and
//! median time and G multiply-adds/s. A plain harness: no benchmarking crate to compile.
//! An argument keeps the kernels whose name contains it; `QG=MxKxN` (`FG=MxKxN`) times one int8
//! (fp32) GEMM shape, `DW=HxWxCxS` one depthwise shape (fp32 and int8).

use mnv2_arch::{Arch, Layer};
use mnv2_kernels::Padding;
use mnv2_kernels::aligned::{AlignedVec, Zeroable};
use mnv2_kernels::conv::{ConvShape, PackedConv, conv2d};
use mnv2_kernels::dwconv::{DwLayer, DwShape, dwconv3x3};
use mnv2_kernels::gemm::{PackedB, gemm};
use mnv2_kernels::q8::conv::{QConvLayer, qconv2d};
use mnv2_kernels::q8::dwconv::{QDwLayer, qdwconv3x3};
use mnv2_kernels::q8::gemm::{QPackedB, qgemm};
use mnv2_kernels::q8::requant_vec::RequantVec;
use mnv2_kernels::q8::{OutputStage, Requant, Rounding};
use mnv2_kernels::{Clamp, Isa};
use std::time::Instant;

fn time(mut f: impl FnMut()) -> (f64, f64) {
    f();
    let budget = Instant::now();
    let mut t = Vec::new();
    while t.len() < 5 || (budget.elapsed().as_millis() < 300 && t.len() < 200) {
        let s = Instant::now();
        f();
        t.push(s.elapsed().as_secs_f64());
    }
    t.sort_by(f64::total_cmp);
    (t[0], t[t.len() / 2])
}

/// Activations on 64-byte boundaries, as the engine's arenas keep them.
fn aligned<T: Zeroable>(values: impl ExactSizeIterator<Item = T>) -> AlignedVec<T> {
    let mut v = AlignedVec::zeroed(values.len());
    for (d, x) in v.iter_mut().zip(values) {
        *d = x;
    }
    v
}

fn report(name: &str, isa: Isa, macs: u64, (min, median): (f64, f64)) {
    println!(
        "{name:<44} {:<9} min {:8.1} us  median {:8.1} us  {:6.1} G MAC/s",
        isa.name(),
        min * 1e6,
        median * 1e6,
        macs as f64 / min / 1e9
    );
}

/// An fp32 pointwise conv of `m` pixels, `k` to `n` channels.
fn time_gemm(isa: Isa, m: usize, k: usize, n: usize) -> (f64, f64) {
    let w = PackedB::new(k, n, |kk, j| ((kk * 7 + j * 3) % 15) as f32 * 0.01 - 0.07, &vec![0.0; n]);
    let a = aligned((0..m * k).map(|i| (i * 7 % 251) as f32 * 0.004));
    let mut out = AlignedVec::zeroed(m * n);
    time(|| gemm(isa, &a, &w, None, Clamp::RELU6, &mut out))
}

/// An int8 pointwise conv of `m` pixels, `k` to `n` channels.
fn time_qgemm(isa: Isa, m: usize, k: usize, n: usize) -> (f64, f64) {
    let q = QPackedB::new(
        isa,
        k,
        n,
        |kk, j| ((kk * 7 + j * 3) % 15) as i16 - 7,
        &vec![0; n],
        128,
        vec![Requant::with_rounding(0.001, Rounding::HalfUp); n],
        OutputStage::new(0, 0.02, true),
    );
    let a = aligned((0..m * k).map(|i| (i * 7 % 251) as u8));
    let mut out = AlignedVec::zeroed(m * n);
    time(|| qgemm(isa, &a, &q, &mut out))
}

/// A shape given as `VAR=AxBxC...` with as many numbers as `form` has letters (panics otherwise).
fn shape_from_env(var: &str, form: &str) -> Option<(String, Vec<usize>)> {
    let v = std::env::var(var).ok()?;
    let d: Vec<usize> = v.split('x').map(|x| x.parse().unwrap_or_else(|_| panic!("{var}={form}"))).collect();
    assert_eq!(d.len(), form.split('x').count(), "{var}={form}");
    Some((v, d))
}

/// An fp32 depthwise 3x3 over a whole map.
fn time_dwconv(isa: Isa, shape: DwShape) -> (f64, f64) {
    let c = shape.channels;
    let layer = DwLayer { shape, w: vec![0.1; 9 * c], bias: vec![0.0; c], clamp: Clamp::RELU6 };
    let input = aligned((0..shape.in_h * shape.in_w * c).map(|i| (i % 13) as f32 * 0.1));
    let mut out = AlignedVec::zeroed(shape.out_len());
    let oh = shape.geometry().1;
    time(|| dwconv3x3(isa, &layer, &input, 0..oh, &mut out))
}

/// An int8 depthwise 3x3 over a whole map.
fn time_qdwconv(isa: Isa, shape: DwShape) -> (f64, f64) {
    let c = shape.channels;
    let q = QDwLayer::new(
        isa,
        shape,
        (0..9 * c).map(|i| (i * 5 % 31) as i16 - 15).collect(),
        vec![0; c],
        128,
        RequantVec::new(&vec![Requant::with_rounding(0.001, Rounding::HalfUp); c]),
        OutputStage::new(0, 0.02, true),
    );
    let qin = aligned((0..shape.in_h * shape.in_w * c).map(|i| (i * 7 % 251) as u8));
    let mut qout = AlignedVec::zeroed(shape.out_len());
    let oh = shape.geometry().1;
    time(|| qdwconv3x3(isa, &q, &qin, 0..oh, &mut qout))
}

/// The stem (3x3 stride 2 on 224x224x3) in fp32 and int8.
fn bench_stem(isa: Isa, out_c: usize, macs: u64, wanted: &dyn Fn(&str) -> bool) {
    let shape = ConvShape { in_h: 224, in_w: 224, in_c: 3, out_c, kernel: 3, stride: 2, padding: Padding::Same };
    let name = format!("int8 stem conv3x3 s2 224x224x3->{out_c}");
    if wanted(&name) {
        let q = QConvLayer::new(
            isa,
            shape,
            &(0..out_c * 27).map(|i| (i * 5 % 31) as i16 - 15).collect::<Vec<_>>(),
            vec![0; out_c],
            128,
            vec![Requant::with_rounding(0.001, Rounding::HalfUp); out_c],
            OutputStage::new(0, 0.02, true),
        );
        let qin = aligned((0..224 * 224 * 3).map(|i| (i * 7 % 251) as u8));
        let mut qout = AlignedVec::zeroed(shape.out_len());
        report(&name, isa, macs, time(|| qconv2d(isa, &q, &qin, 0..112, &mut qout)));
    }
    let name = format!("f32 stem conv3x3 s2 224x224x3->{out_c}");
    if wanted(&name) {
        let w = PackedConv::from_ohwi(out_c, 3, 3, &vec![0.1; out_c * 27], &vec![0.0; out_c]);
        let input = vec![0.5f32; 224 * 224 * 3];
        let mut out = vec![0.0; shape.out_len()];
        report(&name, isa, macs, time(|| conv2d(isa, &shape, &input, &w, Clamp::RELU6, 0..112, &mut out)));
    }
}

/// A bottleneck's expansion, depthwise and projection in fp32 and int8.
fn bench_block(isa: Isa, b: &mnv2_arch::Bottleneck, wanted: &dyn Fn(&str) -> bool) {
    let (dw_in, dw_out) = b.depthwise_shapes();
    let hw = (dw_in.h * dw_in.w) as usize;
    let mut gemms = Vec::new();
    if let Some(e) = b.expand() {
        gemms.push(("expand", hw, e));
    }
    let pr = b.project();
    gemms.push(("project", (pr.input.h * pr.input.w) as usize, pr));
    for (what, m, c) in gemms {
        let (k, n) = (c.input.c as usize, c.output.c as usize);
        let name = format!("f32 gemm {what} {m}x{k}x{n}");
        if wanted(&name) {
            report(&name, isa, c.macs(), time_gemm(isa, m, k, n));
        }
        let name = format!("int8 gemm {what} {m}x{k}x{n}");
        if wanted(&name) {
            report(&name, isa, c.macs(), time_qgemm(isa, m, k, n));
        }
    }
    let c = dw_in.c as usize;
    let shape = DwShape {
        in_h: dw_in.h as usize,
        in_w: dw_in.w as usize,
        channels: c,
        stride: b.stride as usize,
        dilation: 1,
        padding: Padding::Same,
    };
    let macs = 9 * dw_out.len() as u64;
    let name = format!("f32 dwconv3x3 s{} {}x{}x{}", b.stride, dw_in.h, dw_in.w, c);
    if wanted(&name) {
        report(&name, isa, macs, time_dwconv(isa, shape));
    }
    let name = format!("int8 dwconv3x3 s{} {}x{}x{}", b.stride, dw_in.h, dw_in.w, c);
    if wanted(&name) {
        report(&name, isa, macs, time_qdwconv(isa, shape));
    }
}

/// One shape from the environment (`FG`, `DW`, `QG`) at every level; false when none is set.
fn bench_one_shape() -> bool {
    if let Some((v, d)) = shape_from_env("FG", "MxKxN") {
        for isa in Isa::all_available() {
            report(&format!("gemm {v}"), isa, (d[0] * d[1] * d[2]) as u64, time_gemm(isa, d[0], d[1], d[2]));
        }
    } else if let Some((v, d)) = shape_from_env("DW", "HxWxCxS") {
        let shape =
            DwShape { in_h: d[0], in_w: d[1], channels: d[2], stride: d[3], dilation: 1, padding: Padding::Same };
        for isa in Isa::all_available() {
            report(&format!("f32 dwconv {v}"), isa, 9 * shape.out_len() as u64, time_dwconv(isa, shape));
            report(&format!("int8 dwconv {v}"), isa, 9 * shape.out_len() as u64, time_qdwconv(isa, shape));
        }
    } else if let Some((v, d)) = shape_from_env("QG", "MxKxN") {
        for isa in Isa::all_available() {
            report(&format!("qgemm {v}"), isa, (d[0] * d[1] * d[2]) as u64, time_qgemm(isa, d[0], d[1], d[2]));
        }
    } else {
        return false;
    }
    true
}

fn main() {
    if bench_one_shape() {
        return;
    }
    let arch = Arch::new(1.0, 224, 1001).unwrap();
    let filter = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    for isa in Isa::all_available() {
        let mut seen = std::collections::HashSet::new();
        for layer in arch.layers() {
            // Repeats of a Table 2 row have the same shapes: time each shape once.
            if !seen.insert(format!("{:?}", (layer.input(), layer.output(), layer.operator()))) {
                continue;
            }
            match &layer {
                Layer::Stem(c) => bench_stem(isa, c.output.c as usize, c.macs(), &wanted),
                Layer::Bottleneck(b) => bench_block(isa, b, &wanted),
                Layer::Head(c) | Layer::Classifier(c) => {
                    let (k, n, m) = (c.input.c as usize, c.output.c as usize, (c.input.h * c.input.w) as usize);
                    let what = if matches!(layer, Layer::Head(_)) { "head" } else { "classifier" };
                    let name = format!("int8 gemm {what} {m}x{k}x{n}");
                    if wanted(&name) {
                        report(&name, isa, c.macs(), time_qgemm(isa, m, k, n));
                    }
                }
                _ => {}
            }
        }
    }
}
