"""JPEG decoding to RGB side by side: mnv2's decoder, the image crate's (zune-jpeg) and PIL's
(libjpeg-turbo), engines taking turns for ROUNDS rounds. Prints per file the minimum and median
ms of each (the minimum over rounds of each round's minimum; the median of the rounds' medians)
and mnv2's time as a fraction of each peer's.

    python decode.py DECODE_RATE_BINARY ROUNDS ITERS FILE...
"""

import io
import json
import statistics
import subprocess
import sys
import time

import PIL
from PIL import Image


def pil_times(data, iters):
    def decode():
        Image.open(io.BytesIO(data)).convert("RGB")

    for _ in range(3):
        decode()
    out = []
    for _ in range(iters):
        t = time.perf_counter()
        decode()
        out.append((time.perf_counter() - t) * 1e3)
    out.sort()
    return out[0], out[len(out) // 2]


def rust_times(binary, engine, iters, files):
    lines = subprocess.run([binary, engine, str(iters), *files], capture_output=True, text=True, check=True).stdout
    return {r["file"]: (r["min_ms"], r["median_ms"]) for r in map(json.loads, lines.splitlines())}


def main():
    binary, rounds, iters, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
    engines = ["mnv2", "image-crate", "PIL"]
    runs = {(e, f): [] for e in engines for f in files}
    for _ in range(rounds):
        for engine in engines:
            if engine == "PIL":
                got = {f: pil_times(open(f, "rb").read(), iters) for f in files}
            else:
                got = rust_times(binary, engine, iters, files)
            for f in files:
                runs[(engine, f)].append(got[f])
    print(f"{rounds} rounds x {iters} decodes, engines alternating; Pillow {PIL.__version__}")
    print("| file | size | mnv2 min / median ms | image crate (zune-jpeg) | PIL (libjpeg-turbo) | mnv2 / image crate (min, median) | mnv2 / PIL (min, median) |")
    print("|---|---|---|---|---|---|---|")
    for f in files:
        with Image.open(f) as im:
            size = f"{im.width}x{im.height}"
        t = {e: (min(r[0] for r in runs[(e, f)]), statistics.median(r[1] for r in runs[(e, f)])) for e in engines}
        cell = lambda e: f"{t[e][0]:.2f} / {t[e][1]:.2f}"
        ratio = lambda e: f"{t['mnv2'][0] / t[e][0]:.2f}, {t['mnv2'][1] / t[e][1]:.2f}"
        name = f.rsplit("/", 1)[-1]
        print(f"| {name} | {size} | {cell('mnv2')} | {cell('image-crate')} | {cell('PIL')} | {ratio('image-crate')} | {ratio('PIL')} |")


if __name__ == "__main__":
    main()
