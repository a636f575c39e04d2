"""Time LiteRT (with XNNPACK), ONNX Runtime and TensorFlow beside `mnv2 bench` on the same models
and print one table with ratios: classifiers (`--task classify`, the default), Mobile DeepLabv3
segmenters against LiteRT (`--task segment`) and the SSDLite detector against TensorFlow running
its frozen graph (`--task detect`), each on the network alone and end to end from a JPEG. Run
through bench/peers/run.sh, which makes the virtual environment."""

import argparse
import json
import os
import statistics
import subprocess
import time

import numpy as np


def timeit(fn, iters, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times)


def litert(model, threads, batch, iters, warmup):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=model, num_threads=threads)
    inp = it.get_input_details()[0]
    if batch != 1:
        it.resize_tensor_input(inp["index"], [batch] + list(inp["shape"][1:]))
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    data = np.random.default_rng(0).integers(0, 255, size=inp["shape"]).astype(inp["dtype"])
    if inp["dtype"] == np.float32:
        data = (data / 127.5 - 1).astype(np.float32)

    def run():
        it.set_tensor(inp["index"], data)
        it.invoke()

    return timeit(run, iters, warmup)


def onnxruntime(model, threads, batch, iters, warmup):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    s = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    i = s.get_inputs()[0]
    shape = [batch if not isinstance(d, int) or k == 0 else d for k, d in enumerate(i.shape)]
    data = np.random.default_rng(0).uniform(-1, 1, size=shape).astype(np.float32)
    return timeit(lambda: s.run(None, {i.name: data}), iters, warmup)


def mnv2(binary, model, precision, threads, batch, iters, warmup, image=None, end_to_end=False):
    cmd = [binary, "bench", "--model", model, "--precision", precision, "--threads", str(threads),
           "--batch", str(batch), "--iters", str(iters), "--warmup", str(warmup), "--json"]
    if image:
        cmd += ["--image", image] + (["--end-to-end"] if end_to_end else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    v = json.loads(out)
    return v["latency_ms"]["min"] / 1e3, v["latency_ms"]["median"] / 1e3, v["arena_bytes"]


def letterbox(img, size):
    """The segmenters' input: the longer side resized to `size` (bilinear), padded with 128."""
    from PIL import Image

    scale = size / max(img.size)
    w, h = max(1, round(img.size[0] * scale)), max(1, round(img.size[1] * scale))
    canvas = np.full((size, size, 3), 128, np.uint8)
    canvas[:h, :w] = np.asarray(img.convert("RGB").resize((w, h), Image.BILINEAR))
    return canvas, (w, h)


def litert_segment(model, threads, iters, warmup, image, end_to_end):
    """LiteRT running a DeepLab graph (resize and argmax in the graph): on the prepared input, or
    from the JPEG's bytes to the class map at the image's size (PIL decode, letterbox, crop and
    nearest resize back, as mnv2 segment does)."""
    import io

    from ai_edge_litert.interpreter import Interpreter
    from PIL import Image

    it = Interpreter(model_path=model, num_threads=threads)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    size = inp["shape"][1]
    data = open(image, "rb").read()
    prepared, _ = letterbox(Image.open(io.BytesIO(data)), size)

    def network():
        it.set_tensor(inp["index"], prepared[None])
        it.invoke()
        it.get_tensor(out["index"])

    def whole():
        img = Image.open(io.BytesIO(data))
        x, (w, h) = letterbox(img, size)
        it.set_tensor(inp["index"], x[None])
        it.invoke()
        classes = it.get_tensor(out["index"])[0][:h, :w].astype(np.uint8)
        Image.fromarray(classes).resize(img.size, Image.NEAREST)

    return timeit(whole if end_to_end else network, iters, warmup)


def tensorflow_detect(model, threads, iters, warmup, image, end_to_end):
    """TensorFlow running the frozen SSDLite graph: its raw box codes and logits for a 300x300
    input (the in-graph resize is then the identity), or from the JPEG's bytes to its own
    post-processed detections."""
    import io

    import tensorflow as tf
    from PIL import Image

    graph = tf.Graph()
    with graph.as_default():
        gd = tf.compat.v1.GraphDef()
        gd.ParseFromString(open(model, "rb").read())
        tf.import_graph_def(gd, name="")
    config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads, inter_op_parallelism_threads=1)
    sess = tf.compat.v1.Session(graph=graph, config=config)
    data = open(image, "rb").read()
    small = np.asarray(Image.open(io.BytesIO(data)).convert("RGB").resize((300, 300), Image.BILINEAR))[None]
    if end_to_end:
        fetch = ["detection_boxes:0", "detection_scores:0", "num_detections:0"]
        run = lambda: sess.run(fetch, {"image_tensor:0": np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))[None]})
    else:
        run = lambda: sess.run(["concat:0", "concat_1:0"], {"image_tensor:0": small})
    return timeit(run, iters, warmup)


def task_rows(a):
    """Segmentation and detection: (name, model, mnv2 precisions, peer, threads, end_to_end)."""
    rows = []
    if a.task == "segment":
        for depth, m in [("1.0", "deeplabv3_mnv2_pascal_quant"), ("0.5", "deeplabv3_mnv2_dm05_pascal_quant")]:
            for threads in [1, 2]:
                rows.append((f"DeepLabv3 {depth} {threads}t", m + ".tflite", ["int8", "f32"], "litert", threads, False))
            rows.append((f"DeepLabv3 {depth} 1t JPEG", m + ".tflite", ["int8", "f32"], "litert", 1, True))
    else:
        for threads in [1, 2]:
            rows.append((f"SSDLite {threads}t", "ssdlite_mobilenet_v2_pedestrian_frozen.pb", ["f32"], "tensorflow",
                         threads, False))
        rows.append(("SSDLite 1t JPEG", "ssdlite_mobilenet_v2_pedestrian_frozen.pb", ["f32"], "tensorflow", 1, True))
    return rows


def run_tasks(a):
    print(f"{'configuration':<24} {'engine':<12} {'min ms':>9} {'median ms':>10} {'mnv2/peer min':>14} {'median':>7}")
    for name, model, precisions, peer, threads, end_to_end in task_rows(a):
        if a.only not in name:
            continue
        path = os.path.join(a.models, model)
        engines = [f"mnv2 {p}" for p in precisions] + [peer]
        best = {}
        for _ in range(a.rounds):
            for engine in engines:
                try:
                    if engine.startswith("mnv2"):
                        t = mnv2(a.mnv2, path, engine.split()[1], threads, 1, a.iters, a.warmup, a.image, end_to_end)[:2]
                    elif engine == "litert":
                        t = litert_segment(path, threads, a.iters, a.warmup, a.image, end_to_end)
                    else:
                        t = tensorflow_detect(path, threads, a.iters, a.warmup, a.image, end_to_end)
                except Exception as e:  # a peer that cannot run this configuration
                    best[engine] = str(e).splitlines()[0][:60]
                    continue
                old = best.get(engine)
                best[engine] = t if not isinstance(old, tuple) else (min(old[0], t[0]), min(old[1], t[1]))
        theirs = best.get(peer)
        for engine in engines:
            t = best.get(engine)
            if not isinstance(t, tuple):
                print(f"{name:<24} {engine:<12} unavailable: {t}")
                continue
            ratio = ""
            if engine != peer and isinstance(theirs, tuple):
                ratio = f" {t[0]/theirs[0]:13.2f}x {t[1]/theirs[1]:6.2f}x"
            print(f"{name:<24} {engine:<12} {t[0]*1e3:9.2f} {t[1]*1e3:10.2f}{ratio}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mnv2", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "mnv2"))
    ap.add_argument("--models", default="../shared/models")
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=1,
                    help="time every engine this many times in turn; keep the best min and median")
    ap.add_argument("--only", default="", help="run the configurations whose name contains this")
    ap.add_argument("--task", default="classify", choices=["classify", "segment", "detect"])
    ap.add_argument("--image", default=None,
                    help="the picture segmenters and detectors run on (default: kite_and_cold.jpg)")
    a = ap.parse_args()
    if a.task != "classify":
        a.image = a.image or os.path.join(os.path.dirname(a.models.rstrip("/")), "images", "kite_and_cold.jpg")
        return run_tasks(a)
    f32 = os.path.join(a.models, "keras_mobilenet_v2_1.0_224_random_f32")
    ptq = os.path.join(a.models, "tf2_mobilenet_v2_1.0_224_ptq.tflite")
    qat = os.path.join(a.models, "mobilenet_v2_1.0_224_quant.tflite")
    rows = [
        ("fp32 1 thread", "f32", f32, 1, 1, ["onnxruntime", "litert"]),
        ("fp32 2 threads", "f32", f32, 2, 1, ["onnxruntime", "litert"]),
        ("fp32 batch 32, 2 threads", "f32", f32, 2, 32, ["onnxruntime", "litert"]),
        ("int8 ptq 1 thread", "int8", ptq, 1, 1, ["litert"]),
        ("int8 ptq 2 threads", "int8", ptq, 2, 1, ["litert"]),
        ("uint8 qat 1 thread", "int8", qat, 1, 1, ["litert"]),
    ]
    print(f"{'configuration':<26} {'engine':<12} {'min ms':>9} {'median ms':>10} {'img/s':>8}"
          f" {'mnv2/peer min':>14} {'median':>7}")
    for name, precision, model, threads, batch, peers in rows:
        if a.only not in name:
            continue
        tflite = model if model.endswith(".tflite") else model + ".tflite"
        iters = max(3, a.iters // batch)
        # Engines take turns, round after round: a host that drifts slows them alike.
        best = {}
        for _ in range(a.rounds):
            for engine in ["mnv2"] + peers:
                try:
                    if engine == "mnv2":
                        t = mnv2(a.mnv2, tflite, precision, threads, batch, iters, a.warmup)
                    elif engine == "litert":
                        t = litert(tflite, threads, batch, iters, a.warmup)
                    else:
                        t = onnxruntime(model + ".onnx", threads, batch, iters, a.warmup)
                except Exception as e:  # a peer that cannot run this configuration
                    best[engine] = str(e).splitlines()[0][:60]
                    continue
                old = best.get(engine)
                best[engine] = t if not isinstance(old, tuple) else (min(old[0], t[0]), min(old[1], t[1])) + t[2:]
        ours = best["mnv2"]
        arena = ours[2]
        print(f"{name:<26} {'mnv2':<12} {ours[0]*1e3:9.2f} {ours[1]*1e3:10.2f} {batch/ours[1]:8.1f}"
              f" {'':>14} {'':>7}   (arena {arena} bytes)")
        for peer in peers:
            t = best.get(peer)
            if not isinstance(t, tuple):
                print(f"{'':<26} {peer:<12} unavailable: {t}")
                continue
            print(f"{'':<26} {peer:<12} {t[0]*1e3:9.2f} {t[1]*1e3:10.2f} {batch/t[1]:8.1f}"
                  f" {ours[0]/t[0]:13.2f}x {ours[1]/t[1]:6.2f}x")


if __name__ == "__main__":
    main()
