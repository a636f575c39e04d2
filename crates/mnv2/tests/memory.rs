//! Memory-efficient inference (paper section 5.1): the activation arena of a 1.0-224 batch-1
//! inference is about the largest input + output pair (2.4 MB in fp32), not the expanded tensors.

mod common;

use mnv2::engine::{F32Engine, Q8Engine};

#[test]
fn peak_activation_memory_is_set_by_the_bottleneck_tensors() {
    let model = mnv2::import::load(common::model("tf2_mobilenet_v2_1.0_224_ptq")).unwrap();
    // Largest pair: the stem's 112x112x32 output and the first block's 112x112x16 output.
    let pair = 112 * 112 * (32 + 16);
    let f = F32Engine::new(&model, 1).unwrap();
    let fp32 = f.session(1).unwrap().arena_bytes();
    let q = Q8Engine::new(&model, 1).unwrap();
    let int8 = q.session(1).unwrap().arena_bytes();
    eprintln!("arena: fp32 {fp32} bytes, int8 {int8} bytes (largest pair {} / {pair} bytes)", 4 * pair);
    assert!(fp32 >= 4 * pair && fp32 <= 2_600_000, "fp32 arena {fp32}");
    assert!(int8 >= pair && int8 <= 700_000, "int8 arena {int8}");
}

#[test]
fn batches_reuse_one_arena_per_worker() {
    let model = mnv2::import::load(common::model("tf2_mobilenet_v2_1.0_224_ptq")).unwrap();
    let pair = 4 * 112 * 112 * (32 + 16);
    for threads in [1, 2] {
        let f = F32Engine::new(&model, threads).unwrap();
        let bytes = f.session(16).unwrap().arena_bytes();
        // Per worker, the activations of one image (plus 16 pooled vectors and scratch): not
        // 16 images' worth.
        assert!(bytes >= threads * pair && bytes <= threads * 2_600_000 + 16 * 4 * 1280, "{threads} threads: {bytes}");
        // The same in int8: one image's bytes per worker (0.6 MB), plus 16 pooled vectors and
        // logits.
        let q = Q8Engine::new(&model, threads).unwrap();
        let bytes = q.session(16).unwrap().arena_bytes();
        let pair = 112 * 112 * (32 + 16);
        assert!(bytes >= threads * pair && bytes <= threads * 700_000 + 16 * (1280 + 2 * 1001), "{threads}: {bytes}");
    }
}
