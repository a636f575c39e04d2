"""Per-call cost of the Python layer at batch 1: `Classifier.output_bytes` (prepared input) and
`Classifier.classify(path)` (decode, crop, resize, run, top-5) timed in Python, against the CLI's
timing of the same library calls (`mnv2 bench`, and `mnv2 bench --end-to-end`), rounds
alternating. Prints min and median per call and the Python layer's share.

    python overhead.py MNV2_CLI MODEL IMAGE [ROUNDS] [ITERS]
"""

import json
import statistics
import subprocess
import sys
import time

import mnv2


def python_times(fn, iters):
    for _ in range(5):
        fn()
    out = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1e3)
    return out


def cli_times(cli, model, image, iters, end_to_end):
    args = [cli, "bench", "--json", "--model", model, "--threads", "1", "--iters", str(iters)]
    if end_to_end:
        args += ["--end-to-end", "--image", image]
    r = json.loads(subprocess.run(args, capture_output=True, text=True, check=True).stdout)
    return r["latency_ms"]["min"], r["latency_ms"]["median"]


def main():
    cli, model, image = sys.argv[1:4]
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    iters = int(sys.argv[5]) if len(sys.argv) > 5 else 200
    c = mnv2.Classifier(model, threads=1)
    batch = c.preprocess(image)
    cases = {
        "run (prepared input)": (lambda: c.output_bytes(batch), False),
        "classify(path) end to end": (lambda: c.classify(image, top=5), True),
    }
    print(f"mnv2 {mnv2.__version__}, {model}, 1 thread, batch 1, {rounds} rounds x {iters} calls, alternating")
    print("| call | Python min / median ms | CLI (Rust) min / median ms | Python layer, min / median |")
    print("|---|---|---|---|")
    for name, (fn, e2e) in cases.items():
        py_min, py_med, rs_min, rs_med = [], [], [], []
        for _ in range(rounds):
            t = python_times(fn, iters)
            py_min.append(min(t))
            py_med.append(statistics.median(t))
            lo, med = cli_times(cli, model, image, iters, e2e)
            rs_min.append(lo)
            rs_med.append(med)
        a, b = min(py_min), statistics.median(py_med)
        x, y = min(rs_min), statistics.median(rs_med)
        print(f"| {name} | {a:.3f} / {b:.3f} | {x:.3f} / {y:.3f} | {100 * (a / x - 1):+.1f}% / {100 * (b / y - 1):+.1f}% |")


if __name__ == "__main__":
    main()
