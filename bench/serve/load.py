"""Load benchmark of `mnv2 serve` against FastAPI + uvicorn around ONNX Runtime / LiteRT (peer.py)
on loopback: oha sends one JPEG over and over from N concurrent clients; throughput, p50/p99
latency, errors and the server's memory (RSS now and peak) per engine and client count, engines
taking turns. Run through bench/serve/run.sh."""

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request

ap = argparse.ArgumentParser()
ap.add_argument("--mnv2", default="target/release/mnv2")
ap.add_argument("--oha", default="oha")
ap.add_argument("--models", default="../shared/models")
ap.add_argument("--image", default="../shared/images/pets.jpg")
ap.add_argument("--seconds", type=int, default=60)
ap.add_argument("--clients", default="1,8,32")
ap.add_argument("--only", default="", help="run the configurations whose name contains this")
ap.add_argument("--mnv2-args", default="", help="more arguments for mnv2 serve, e.g. '--threads 1 --max-batch 16'")
a = ap.parse_args()
extra = a.mnv2_args.split()
m = a.models
CONFIGS = [
    ("int8", "mnv2", [a.mnv2, "serve", "--model", f"cls={m}/mobilenet_v2_1.0_224_quant.tflite", "--addr", "127.0.0.1:{port}", *extra]),
    ("int8", "FastAPI + LiteRT", [sys.executable, "bench/serve/peer.py", "--model", f"{m}/mobilenet_v2_1.0_224_quant.tflite", "--port", "{port}"]),
    ("fp32", "mnv2", [a.mnv2, "serve", "--model", f"cls={m}/keras_mobilenet_v2_1.0_224_random_f32.tflite", "--addr", "127.0.0.1:{port}", *extra]),
    ("fp32", "FastAPI + ONNX Runtime", [sys.executable, "bench/serve/peer.py", "--model", f"{m}/keras_mobilenet_v2_1.0_224_random_f32.onnx", "--port", "{port}"]),
]


def rss_kb(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def cpu_seconds(pid):
    """User + system CPU time the process (all its threads) has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(cmd, port):
    p = subprocess.Popen([c.replace("{port}", str(port)) for c in cmd], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1/models/cls/classify"
    body = open(a.image, "rb").read()
    for _ in range(600):
        try:
            req = urllib.request.Request(url, data=body, headers={"Content-Type": "image/jpeg"})
            urllib.request.urlopen(req, timeout=5).read()
            return p, url
        except Exception:
            time.sleep(0.1)
    p.kill()
    raise SystemExit(f"{cmd[0]} did not come up")


def load(url, clients, seconds):
    out = subprocess.run(
        [a.oha, "-z", f"{seconds}s", "-c", str(clients), "-m", "POST", "-D", a.image, "-T", "image/jpeg",
         "--no-tui", "--output-format", "json", url],
        capture_output=True, text=True, check=True,
    )
    r = json.loads(out.stdout)
    codes = r.get("statusCodeDistribution", {})
    ok = codes.get("200", 0)
    # Requests still in flight when the time is up are cut by oha, not failed by the server.
    cut = {"aborted due to deadline"}
    errors = sum(v for k, v in codes.items() if k != "200")
    errors += sum(v for k, v in r.get("errorDistribution", {}).items() if k not in cut)
    p = r["latencyPercentiles"]
    return ok / r["summary"]["total"], p["p50"] * 1e3, p["p99"] * 1e3, errors, ok


def main():
    clients = [int(c) for c in a.clients.split(",")]
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model_name = next((l.split(":", 1)[1].strip() for l in cpu.splitlines() if l.startswith("Model name")), "?")
    print(f"CPU: {model_name}, {os.cpu_count()} cores; {a.seconds} s per run; image {a.image}")
    # CPU ms per request: the server's CPU time over the run per answered request, a measure of
    # its cost that the host's other load moves less than it moves throughput.
    print("| model | clients | server | requests/s | p50 ms | p99 ms | errors | CPU ms / request | RSS now / peak MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for precision in ["int8", "fp32"]:
        for c in clients:
            for i, (prec, name, cmd) in enumerate(CONFIGS):
                if prec != precision or (a.only and a.only not in f"{prec} {name}"):
                    continue
                port = 18500 + i
                p, url = start(cmd, port)
                try:
                    load(url, c, 3)  # warm up
                    cpu0 = cpu_seconds(p.pid)
                    rps, p50, p99, errors, ok = load(url, c, a.seconds)
                    cpu_ms = (cpu_seconds(p.pid) - cpu0) * 1e3 / max(ok, 1)
                    now, peak = rss_kb(p.pid)
                finally:
                    p.terminate()
                    p.wait(timeout=30)
                print(f"| {prec} | {c} | {name} | {rps:.1f} | {p50:.1f} | {p99:.1f} | {errors} | {cpu_ms:.1f} | {now / 1024:.0f} / {peak / 1024:.0f} |", flush=True)


main()
