//! One training step of torchvision's MobileNetV2 (width 0.35, 64x64, 10 classes) against the
//! PyTorch dump in ../shared/reference/train: loss, logits, every gradient, the running
//! statistics after the step and the eval-mode logits.

use mnv2_arch::Arch;
use mnv2_import::safetensors::F32Tensor;
use mnv2_train::TrainNet;

use mnv2_testdata::shared_file;

/// PyTorch layouts to ours: OIHW -> OHWI, depthwise (C,1,3,3) -> [3][3][C], NCHW -> NHWC.
fn to_ours(t: &F32Tensor) -> Vec<f32> {
    match t.shape[..] {
        [o, 1, kh, kw] if kh > 1 => {
            let mut v = vec![0.0; t.data.len()];
            for c in 0..o {
                for k in 0..kh * kw {
                    v[k * o + c] = t.data[c * kh * kw + k];
                }
            }
            v
        }
        [o, i, kh, kw] => {
            let mut v = vec![0.0; t.data.len()];
            for a in 0..o {
                for y in 0..kh {
                    for x in 0..kw {
                        for b in 0..i {
                            v[((a * kh + y) * kw + x) * i + b] = t.data[((a * i + b) * kh + y) * kw + x];
                        }
                    }
                }
            }
            v
        }
        _ => t.data.clone(),
    }
}

fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (num / den.max(1e-30)).sqrt()
}

#[test]
fn one_step_matches_pytorch() {
    let bytes = std::fs::read(shared_file("reference/train/mobilenet_v2_0.35_64_step.safetensors")).unwrap();
    let (t, _) = mnv2_import::safetensors::read(&bytes).unwrap();
    let arch = Arch::new(0.35, 64, 10).unwrap();
    let mut net = TrainNet::new(arch, 4);
    for (i, name) in net.params.names.clone().iter().enumerate() {
        let src = t.get(&format!("before.{name}")).unwrap_or_else(|| panic!("no before.{name}"));
        let v = to_ours(src);
        assert_eq!(v.len(), net.params.tensors[i].len(), "{name}");
        net.params.tensors[i] = v;
    }
    for u in net.units.clone() {
        net.running.mean[u.bn] = t[&format!("before.{}.running_mean", u.bn_name)].data.clone();
        net.running.var[u.bn] = t[&format!("before.{}.running_var", u.bn_name)].data.clone();
    }
    let input = to_nhwc(&t["input"]);
    let labels: Vec<usize> = t["labels"].data.iter().map(|&v| v as usize).collect();
    let (loss, logits, grads) = net.loss_and_grads(&input, &labels, 0.1);
    let ref_loss = t["loss"].data[0];
    eprintln!("loss {loss} vs PyTorch {ref_loss}; logits rel err {:.2e}", rel_err(&logits, &t["logits"].data));
    assert!(((loss - ref_loss) / ref_loss).abs() < 1e-4);
    assert!(rel_err(&logits, &t["logits"].data) < 1e-4);
    let mut worst = (0.0, String::new());
    for (i, name) in grads.names.iter().enumerate() {
        let r = to_ours(&t[&format!("grad.{name}")]);
        let e = rel_err(&grads.tensors[i], &r);
        let norm = r.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
        // The shift of a batch norm whose output goes only into another conv + batch norm has a
        // gradient that is zero in exact arithmetic (the next normalisation removes any constant):
        // PyTorch's is rounding noise (norm ~1e-6), so those are compared in absolute terms.
        if norm < 1e-4 {
            assert!(e * norm <= 1e-5, "grad.{name}: |difference| {:.2e} for a zero gradient", e * norm);
            continue;
        }
        if e > worst.0 {
            worst = (e, name.clone());
        }
        assert!(e <= 1e-3, "grad.{name}: relative error {e:.2e} (norm {norm:.2e})");
    }
    eprintln!("{} gradients, worst relative error {:.2e} ({})", grads.names.len(), worst.0, worst.1);
    for u in &net.units {
        let m = rel_err(&net.running.mean[u.bn], &t[&format!("after.{}.running_mean", u.bn_name)].data);
        let v = rel_err(&net.running.var[u.bn], &t[&format!("after.{}.running_var", u.bn_name)].data);
        assert!(m < 1e-4 && v < 1e-4, "{}: running stats {m:.2e} {v:.2e}", u.bn_name);
    }
    let eval_logits = net.forward(&input, 4, false);
    let e = rel_err(&eval_logits, &t["eval_logits"].data);
    eprintln!("eval logits rel err {e:.2e}");
    assert!(e < 1e-4);
}

fn to_nhwc(t: &F32Tensor) -> Vec<f32> {
    let [n, c, h, w] = t.shape[..] else { panic!("NCHW input") };
    let mut v = vec![0.0; t.data.len()];
    for a in 0..n {
        for ch in 0..c {
            for y in 0..h {
                for x in 0..w {
                    v[((a * h + y) * w + x) * c + ch] = t.data[((a * c + ch) * h + y) * w + x];
                }
            }
        }
    }
    v
}

/// A TFLite model made trainable (TF padding, batch norms calibrated on a batch) computes the same
/// logits in eval mode as the inference engine, and folding it back gives the inference model.
#[test]
fn tflite_model_round_trips_through_training_form() {
    use mnv2_engine::F32Engine;
    let model = mnv2_import::load(shared_file("models/mobilenet_v2_1.0_224_quant.tflite")).unwrap();
    let batch = 2;
    let input: Vec<f32> = (0..batch * 224 * 224 * 3).map(|i| ((i * 37 % 255) as f32 - 128.0) / 128.0).collect();
    let e = F32Engine::new(&model, 1).unwrap();
    let mut reference = vec![0.0; batch * 1001];
    e.run(&mut e.session(batch).unwrap(), &input, &mut reference).unwrap();
    let mut net = TrainNet::from_model(&model, batch, 1001).unwrap();
    net.calibrate_batch_norms(&input, batch);
    let back = net.to_model(model.input.clone(), None, "back");
    // Training mode on the calibration batch reproduces the folded network (before the softmax).
    let train_logits = net.forward(&input, batch, true);
    let mut probs = train_logits.clone();
    mnv2_engine::softmax_in_place(&mut probs, 1001);
    assert!(rel_err(&probs, &reference) < 1e-3, "train mode {:.2e}", rel_err(&probs, &reference));
    let e = F32Engine::new(&back, 1).unwrap();
    let mut logits = vec![0.0; batch * 1001];
    e.run(&mut e.session(batch).unwrap(), &input, &mut logits).unwrap();
    mnv2_engine::softmax_in_place(&mut logits, 1001);
    assert!(rel_err(&logits, &reference) < 1e-3, "folded back {:.2e}", rel_err(&logits, &reference));
}
