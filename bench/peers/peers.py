"""Time LiteRT (with XNNPACK) and ONNX Runtime beside `mnv2 bench` on the same models and print
one table with ratios. Run through bench/peers/run.sh, which makes the virtual environment."""

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


def mnv2(binary, model, precision, threads, batch, iters, warmup):
    out = subprocess.run(
        [binary, "bench", "--model", model, "--precision", precision, "--threads", str(threads),
         "--batch", str(batch), "--iters", str(iters), "--warmup", str(warmup), "--json"],
        check=True, capture_output=True, text=True).stdout
    v = json.loads(out)
    return v["latency_ms"]["min"] / 1e3, v["latency_ms"]["median"] / 1e3, v["arena_bytes"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mnv2", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "mnv2"))
    ap.add_argument("--models", default="../shared/models")
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=1,
                    help="time every engine this many times in turn; keep the best min and median")
    ap.add_argument("--only", default="", help="run the configurations whose name contains this")
    a = ap.parse_args()
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
