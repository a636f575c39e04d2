//! Integer execution on the 100 reference inputs: TFLite's output bytes, any threads and batch.

mod common;

use common::*;
use mnv2::{Classifier, Options, Precision};

const MODELS: [&str; 2] = ["mobilenet_v2_1.0_224_quant", "tf2_mobilenet_v2_1.0_224_ptq"];

fn inputs() -> (Vec<String>, Vec<Vec<u8>>) {
    let names = imagenet100();
    let dir = shared_file("reference/imagenet100/inputs");
    let data = names.iter().map(|n| mnv2::image::load_rgb(dir.join(format!("{n}.png"))).unwrap().data).collect();
    (names, data)
}

#[test]
fn int8_outputs_match_tflite_on_100_images() {
    let (names, data) = inputs();
    let dir = shared_file("reference/imagenet100/inputs");
    for name in MODELS {
        let options = Options { precision: Precision::Int8, threads: 2, ..Options::default() };
        let mut c = Classifier::load(model(name), options).unwrap();
        let (mut same, mut total, mut worst, mut top1) = (0usize, 0usize, 0u8, 0usize);
        for (chunk, chunk_names) in data.chunks(7).zip(names.chunks(7)) {
            let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
            let out = c.run_int8(&refs).unwrap();
            for (ours, name_) in out.chunks_exact(1001).zip(chunk_names) {
                let reference = std::fs::read(dir.join(format!("{name_}.{name}.u8"))).unwrap();
                same += ours.iter().zip(&reference).filter(|(a, b)| a == b).count();
                worst = worst.max(ours.iter().zip(&reference).map(|(a, b)| a.abs_diff(*b)).max().unwrap());
                total += 1001;
                top1 += (argmax_u8(ours) == argmax_u8(&reference)) as usize;
            }
        }
        let frac = same as f64 / total as f64;
        eprintln!("{name}: {:.4}% of output bytes identical, worst difference {worst}, top-1 {top1}/100", 100.0 * frac);
        assert!(frac >= 0.999 && worst <= 1 && top1 == 100, "{name}: {frac} identical, worst {worst}, top-1 {top1}");
    }
}

#[test]
fn int8_bytes_do_not_depend_on_threads_or_batch() {
    let (_, data) = inputs();
    let batch: Vec<&[u8]> = data.iter().take(5).map(Vec::as_slice).collect();
    for name in MODELS {
        let mut baseline: Option<Vec<u8>> = None;
        for threads in [1, 2, 3] {
            let options = Options { precision: Precision::Int8, threads, ..Options::default() };
            let mut c = Classifier::load(model(name), options).unwrap();
            let whole = c.run_int8(&batch).unwrap();
            let single: Vec<u8> = batch.iter().flat_map(|b| c.run_int8(&[b]).unwrap()).collect();
            assert_eq!(whole, single, "{name}: batch 5 differs from batch 1 with {threads} threads");
            match &baseline {
                None => baseline = Some(whole),
                Some(b) => assert_eq!(b, &whole, "{name}: {threads} threads differ from 1"),
            }
        }
    }
}

#[test]
fn scalar_and_avx2_kernels_agree_on_a_whole_model() {
    use mnv2::engine::Q8Engine;
    use mnv2::kernels::Isa;
    let (_, data) = inputs();
    let m = mnv2::import::load(model(MODELS[1])).unwrap();
    let mut outs = Vec::new();
    for isa in Isa::all_available() {
        let e = Q8Engine::with_isa(&m, 1, isa).unwrap();
        let mut out = vec![0u8; 1001];
        e.run(&mut e.session(1).unwrap(), &data[3], &mut out).unwrap();
        outs.push(out);
    }
    assert!(outs.windows(2).all(|w| w[0] == w[1]));
}

/// The iNaturalist bird model (uint8, FULLY_CONNECTED head, 965 classes) on two bird photos.
#[test]
fn inat_bird_model_classifies_birds() {
    let mut c = Classifier::load(model("mobilenet_v2_1.0_224_inat_bird_quant"), Options::default()).unwrap();
    assert_eq!(c.precision(), Precision::Int8);
    for (image, expect) in [("bird.bmp", None), ("parrot.jpg", Some("Ara macao (Scarlet Macaw)"))] {
        let img = mnv2::image::load_rgb(shared_file("images").join(image)).unwrap();
        let top = c.classify(&[img], 5).unwrap().remove(0);
        for p in &top {
            eprintln!("{image}: {:6.2}% {} ({})", 100.0 * p.score, p.label, p.index);
        }
        assert_ne!(top[0].label, "background", "{image}");
        if let Some(label) = expect {
            assert_eq!(top[0].label, label, "{image}");
        }
    }
}

/// Instances share the compiled network and run side by side, each giving TFLite's bytes.
#[test]
fn instances_run_side_by_side_with_tflites_bytes() {
    let (names, data) = inputs();
    let dir = shared_file("reference/imagenet100/inputs");
    let name = MODELS[0];
    let options = Options { precision: Precision::Int8, threads: 1, ..Options::default() };
    let first = Classifier::load(model(name), options).unwrap();
    let mut instances = [first.instance().unwrap(), first.instance().unwrap(), first];
    std::thread::scope(|s| {
        for (i, c) in instances.iter_mut().enumerate() {
            let (names, data, dir) = (&names, &data, &dir);
            s.spawn(move || {
                // Each instance takes every third image, two at a time.
                let mine: Vec<usize> = (i..20).step_by(3).collect();
                for pair in mine.chunks(2) {
                    let refs: Vec<&[u8]> = pair.iter().map(|&j| data[j].as_slice()).collect();
                    let out = c.run_int8(&refs).unwrap();
                    for (ours, &j) in out.chunks_exact(1001).zip(pair) {
                        let reference = std::fs::read(dir.join(format!("{}.{name}.u8", names[j]))).unwrap();
                        let worst = ours.iter().zip(&reference).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
                        assert!(worst <= 1, "instance {i}, {}: worst difference {worst}", names[j]);
                    }
                }
            });
        }
    });
}
