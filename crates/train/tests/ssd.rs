//! The trainable SSDLite: its forward pass against the inference engine (whose SSD head matches
//! TensorFlow), and its backward pass against finite differences.

use mnv2_arch::{Arch, SsdLite};
use mnv2_engine::{F32Engine, InputSpec};
use mnv2_train::TrainNet;
use mnv2_train::ssd::TrainSsd;
use mnv2_train::ssd_loss::{ClassLoss, ssd_loss};

fn small(batch: usize) -> TrainSsd {
    let arch = Arch::new(0.35, 96, 2).unwrap();
    let mut net = TrainNet::with_padding(arch, batch, true);
    net.init_random(3);
    TrainSsd::new(net, SsdLite::new(0.35, 96, 1).unwrap(), 5).unwrap()
}

fn input(batch: usize, seed: u32) -> Vec<f32> {
    (0..batch * 96 * 96 * 3)
        .map(|i| (((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 2001) as f32 / 1000.0 - 1.0)
        .collect()
}

#[test]
fn eval_forward_matches_the_inference_engine() {
    let mut ssd = small(2);
    // Give the batch norms non-trivial running statistics: a few training-mode passes.
    for s in 0..3 {
        ssd.forward(&input(2, s), true);
    }
    let x = input(2, 11);
    let (codes, logits, _) = ssd.forward(&x, false);
    let spec = InputSpec::uniform(127.5, 127.5);
    let model = ssd.to_model(spec, None, "test");
    let engine = F32Engine::new(&model, 1).unwrap();
    let mut session = engine.session(2).unwrap();
    let mut out = vec![0.0; 2 * engine.output_len()];
    engine.run(&mut session, &x, &mut out).unwrap();
    let a = ssd.anchors();
    let per = engine.output_len();
    let mut worst = 0f32;
    for img in 0..2 {
        let (b, l) = out[img * per..(img + 1) * per].split_at(a * 4);
        for (x, y) in b.iter().zip(&codes[img * a * 4..(img + 1) * a * 4]) {
            worst = worst.max((x - y).abs() / (1.0 + y.abs()));
        }
        for (x, y) in l.iter().zip(&logits[img * a * 2..(img + 1) * a * 2]) {
            worst = worst.max((x - y).abs() / (1.0 + y.abs()));
        }
    }
    assert!(worst < 1e-3, "training forward and engine differ by {worst}");
}

#[test]
fn gradients_match_finite_differences() {
    let mut ssd = small(2);
    let a = ssd.anchors();
    let x = input(2, 7);
    // Targets: a handful of matched anchors per image with made-up codes.
    let mut targets = vec![vec![None; a]; 2];
    for (img, t) in targets.iter_mut().enumerate() {
        for k in 0..4 {
            t[(37 * k + 11 * img) % a] = Some((1, [0.3 * k as f32, -0.2, 0.5, 0.1 * img as f32]));
        }
    }
    let kind = ClassLoss::Focal { alpha: 0.25, gamma: 2.0 }; // smooth in the logits (no mining switches)
    let loss_of = |ssd: &mut TrainSsd| {
        let (c, l, _) = ssd.forward(&x, true);
        let (mut dc, mut dl) = (vec![0.0; c.len()], vec![0.0; l.len()]);
        ssd_loss(&c, &l, &targets, 2, kind, &mut dc, &mut dl).total() as f64
    };
    let (c, l, cache) = ssd.forward(&x, true);
    let (mut dc, mut dl) = (vec![0.0; c.len()], vec![0.0; l.len()]);
    ssd_loss(&c, &l, &targets, 2, kind, &mut dc, &mut dl);
    let g = ssd.backward(&dc, &dl, cache.unwrap());
    let names = [
        "features.0.0.weight",
        "features.14.conv.0.0.weight", // the tapped expansion
        "features.18.0.weight",
        "ssd.extras.0.reduce.weight",
        "ssd.extras.0.expand.weight",
        "ssd.predictors.0.box_depthwise.weight",
        "ssd.predictors.0.box_conv.weight",
        "ssd.predictors.5.class_conv.bias",
    ];
    for name in names {
        let p = ssd.net.params.index(name).unwrap_or_else(|| panic!("no {name}"));
        let len = ssd.net.params.tensors[p].len();
        // The largest analytic entries: finite differences of tiny ones are noise.
        let mut idx: Vec<usize> = (0..len).collect();
        idx.sort_by(|&i, &j| g.tensors[p][j].abs().total_cmp(&g.tensors[p][i].abs()));
        // ReLU6 kinks and two-sample batch norms on the small maps make the loss piecewise
        // smooth: at least two of the three largest entries must agree within 10%.
        let mut agree = 0;
        for &i in idx.iter().take(3) {
            let eps = 1e-3f32;
            let orig = ssd.net.params.tensors[p][i];
            ssd.net.params.tensors[p][i] = orig + eps;
            let up = loss_of(&mut ssd);
            ssd.net.params.tensors[p][i] = orig - eps;
            let down = loss_of(&mut ssd);
            ssd.net.params.tensors[p][i] = orig;
            let num = (up - down) / (2.0 * eps as f64);
            let ana = g.tensors[p][i] as f64;
            eprintln!("{name}[{i}]: numeric {num}, analytic {ana}");
            agree += ((num - ana).abs() <= 0.1 * ana.abs()) as usize;
        }
        assert!(agree >= 2, "{name}: only {agree} of 3 entries agree with finite differences");
    }
}

#[test]
fn a_released_detector_made_trainable_reproduces_itself() {
    let pb = mnv2_testdata::shared_file("models/ssdlite_mobilenet_v2_pedestrian_frozen.pb");
    let model = mnv2_import::load(&pb).unwrap();
    let mut ssd = TrainSsd::from_model(&model, 2, 1, 1).unwrap();
    let x: Vec<f32> = (0..2 * 300 * 300 * 3)
        .map(|i| (((i as u32).wrapping_mul(2654435761) >> 8) % 2001) as f32 / 1000.0 - 1.0)
        .collect();
    ssd.calibrate(&x);
    // Training mode on the calibration batch and evaluation both reproduce the folded graph.
    let (codes, logits, _) = ssd.forward(&x, false);
    let engine = F32Engine::new(&model, 1).unwrap();
    let mut session = engine.session(2).unwrap();
    let mut out = vec![0.0; 2 * engine.output_len()];
    engine.run(&mut session, &x, &mut out).unwrap();
    let (a, per) = (ssd.anchors(), engine.output_len());
    let mut worst = 0f32;
    for img in 0..2 {
        let (b, l) = out[img * per..(img + 1) * per].split_at(a * 4);
        let pairs = b.iter().zip(&codes[img * a * 4..]).chain(l.iter().zip(&logits[img * a * 2..]));
        worst = pairs.fold(worst, |w, (x, y)| w.max((x - y).abs() / (1.0 + y.abs())));
    }
    assert!(worst < 1e-3, "trainable copy differs from the graph by {worst}");
    // A new class count keeps everything but the class predictors' last convs.
    assert!(TrainSsd::from_model(&model, 2, 3, 1).is_ok());
}
