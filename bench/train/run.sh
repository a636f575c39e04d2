#!/usr/bin/env bash
# Training speed side by side: mnv2 (crates/train/examples/step_time.rs) and PyTorch
# (torch_step.py, channels_last and NCHW), MobileNetV2 1.0-224, 5 classes, forward, backward
# and an AdamW update (no data loading), at batch 16 and 32 on 1 and 2 threads; the engines alternate
# within each round. Reports images/s from the fastest steady step of each run (min and median
# over rounds) and each process's peak RSS.
#   bench/train/run.sh [ROUNDS]          (default 3; installs torch from PyPI into the peers' venv)
# Not part of CI: benchmarks are not tests.
set -euo pipefail
source "$(dirname "$0")/../venv.sh"
need_python torch torch
rounds=${1:-3}
cargo build --release -p mnv2-train --example step_time
steps=3
# Fastest step after the first (which allocates) of a run's `... SECONDS` lines; then peak RSS.
fastest() { awk '/s per step/ {n++; if (n > 1 && (best == "" || $3 < best)) best = $3} /^step / {n++; if (n > 1 && (best == "" || $2 < best)) best = $2} END {print best}'; }
run() { # THREADS COMMAND...: prints "SECONDS RSS_KB"
  local out rss
  out=$(RAYON_NUM_THREADS=$1 /usr/bin/time -f "rss %M" "${@:2}" 2>&1)
  rss=$(echo "$out" | awk '/^rss / {print $2}')
  echo "$(echo "$out" | fastest) $rss"
}
printf '%s\n' "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs; torch $("$venv/bin/python" -c 'import torch; print(torch.__version__)')"
for cfg in "16 2" "32 2" "16 1" "32 1"; do
  read -r batch threads <<<"$cfg"
  for r in $(seq "$rounds"); do
    m=$(run "$threads" "$target/release/examples/step_time" "$batch" "$steps")
    c=$(run "$threads" "$venv/bin/python" bench/train/torch_step.py "$batch" "$threads" "$steps" channels_last)
    n=$(run "$threads" "$venv/bin/python" bench/train/torch_step.py "$batch" "$threads" "$steps" nchw)
    echo "batch $batch threads $threads round $r | mnv2 $m | torch channels_last $c | torch nchw $n"
  done
done | tee /dev/stderr | python3 -c '
import re, statistics, sys
runs = {}
for line in sys.stdin:
    head, *parts = line.split("|")
    config = re.sub(r" round \d+", "", head).strip()
    batch = int(config.split()[1])
    for part in parts:
        *name, seconds, rss = part.split()
        entry = runs.setdefault((config, " ".join(name)), ([], []))
        entry[0].append(batch / float(seconds))
        entry[1].append(int(rss))
print("\n| config | engine | images/s, best round | images/s, median round | peak RSS (MB) |\n|---|---|---|---|---|")
for (config, name), (ips, rss) in runs.items():
    print(f"| {config} | {name} | {max(ips):.1f} | {statistics.median(ips):.1f} | {max(rss) / 1024:.0f} |")
'
