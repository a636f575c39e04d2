"""Ray Data throughput of crates/python/examples/ray_classify.py with 1 and 2 workers on a local
two-node cluster (one CPU each), over the PennFudan images repeated COPIES times, rounds
alternating; beside the CLI's `mnv2 classify --threads 1` on the same files.

    python ray_scaling.py MNV2_CLI MODEL [COPIES] [ROUNDS]
"""

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "crates" / "python" / "examples" / "ray_classify.py"
IMAGES = REPO.parent / "shared" / "datasets" / "PennFudanPed" / "Images"


def main():
    cli, model = sys.argv[1:3]
    copies = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    ray_cli = shutil.which("ray", path=os.path.dirname(sys.executable))
    token = secrets.token_hex(32)  # Ray 2.60 no longer makes one by itself
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token, "RAY_ADDRESS": "127.0.0.1:6391"}
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--object-store-memory=200000000", "--disable-usage-stats"]
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "images"
        corpus.mkdir()
        for k in range(copies):
            for f in IMAGES.iterdir():
                (corpus / f"{k}_{f.name}").symlink_to(f)
        n = copies * len(list(IMAGES.iterdir()))
        subprocess.run([ray_cli, "stop", "--force"], env=env, capture_output=True)
        try:
            subprocess.run([ray_cli, "start", "--head", "--port=6391", "--include-dashboard=false", *common], env=env, check=True, capture_output=True)
            subprocess.run([ray_cli, "start", "--address=127.0.0.1:6391", *common], env=env, check=True, capture_output=True)
            rates = {1: [], 2: [], "cli": []}
            for r in range(rounds):
                for workers in (1, 2):
                    out = Path(tmp) / f"out{r}_{workers}"
                    t = time.perf_counter()
                    subprocess.run([sys.executable, str(EXAMPLE), str(corpus), str(out), "--model", model, "--workers", str(workers)],
                                   env=env, check=True, capture_output=True)
                    rates[workers].append(n / (time.perf_counter() - t))
                t = time.perf_counter()
                subprocess.run([cli, "classify", "--json", "--threads", "1", "--model", model, str(corpus)], check=True, capture_output=True)
                rates["cli"].append(n / (time.perf_counter() - t))
        finally:
            subprocess.run([ray_cli, "stop", "--force"], env=env, capture_output=True)
    print(f"\nRay Data pipeline, {n} images (PennFudanPed x {copies}), whole script including Ray start-up; best / worst of {rounds} rounds")
    print("| run | images/s |")
    print("|---|---|")
    for key, label in ((1, "Ray, 1 worker (1 CPU)"), (2, "Ray, 2 workers on 2 nodes (1 CPU each)"), ("cli", "`mnv2 classify --threads 1` (no Ray)")):
        print(f"| {label} | {max(rates[key]):.1f} / {min(rates[key]):.1f} |")


if __name__ == "__main__":
    main()
