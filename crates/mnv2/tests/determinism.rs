//! Results are bit-identical whatever the thread count and the batch size.

mod common;

use mnv2::engine::F32Engine;
use mnv2::kernels::Isa;

#[test]
fn fp32_bits_do_not_depend_on_threads_or_batch() {
    let model = mnv2::import::load(common::model("tf2_mobilenet_v2_1.0_224_ptq")).unwrap();
    let names = ["n01440764_tench", "n02120505_grey_fox", "n03995372_power_drill"];
    let mut input = Vec::new();
    for n in names {
        let img = mnv2::image::load_rgb(common::shared_file(format!("reference/imagenet100/inputs/{n}.png"))).unwrap();
        model.input.extend_real(&mut input, &img.data);
    }
    let per_image = 224 * 224 * 3;
    for isa in Isa::all_available() {
        let mut baseline: Option<Vec<f32>> = None;
        for threads in [1, 2, 3] {
            let engine = F32Engine::with_isa(&model, threads, isa).unwrap();
            // The whole batch at once, then one image at a time.
            let mut whole = vec![0.0; 3 * 1001];
            engine.run(&mut engine.session(3).unwrap(), &input, &mut whole).unwrap();
            let mut single = Vec::new();
            let mut s1 = engine.session(1).unwrap();
            for img in input.chunks(per_image) {
                let mut out = vec![0.0; 1001];
                engine.run(&mut s1, img, &mut out).unwrap();
                single.extend(out);
            }
            assert!(whole == single, "{isa:?}, {threads} threads: batch 3 differs from batch 1");
            match &baseline {
                None => baseline = Some(whole),
                Some(b) => assert!(*b == whole, "{isa:?}: {threads} threads differ from 1 thread"),
            }
        }
    }
}

#[test]
fn fp32_instances_give_the_same_bits() {
    let model = mnv2::import::load(common::model("tf2_mobilenet_v2_1.0_224_ptq")).unwrap();
    let img = mnv2::image::load_rgb(common::shared_file("reference/imagenet100/inputs/n01440764_tench.png")).unwrap();
    let mut input = Vec::new();
    model.input.extend_real(&mut input, &img.data);
    for threads in [1, 2] {
        let engine = F32Engine::new(&model, threads).unwrap();
        let other = engine.instance().unwrap();
        assert_eq!(other.threads(), threads);
        let run = |e: &F32Engine| {
            let mut out = vec![0.0; 1001];
            e.run(&mut e.session(1).unwrap(), &input, &mut out).unwrap();
            out
        };
        assert!(run(&engine) == run(&other), "{threads} threads: an instance differs");
    }
}

#[test]
fn wrong_input_size_is_an_error() {
    let model = mnv2::import::load(common::model("mobilenet_v2_1.0_224_quant")).unwrap();
    let engine = F32Engine::new(&model, 1).unwrap();
    let mut out = vec![0.0; 1001];
    assert!(engine.run(&mut engine.session(1).unwrap(), &[0.0; 10], &mut out).is_err());
    assert!(engine.session(0).is_err());
}
