#!/usr/bin/env bash
# Python layer benchmarks (not tests): the per-call overhead of the bindings at batch 1, and Ray
# Data throughput with 1 and 2 workers on a local two-node cluster.
#   bench/python/run.sh [ROUNDS]
set -euo pipefail
source "$(dirname "$0")/../venv.sh"
rounds=${1:-5}
cargo build --release -q -p mnv2-cli
"$venv/bin/pip" install --quiet "./crates/python[ray]"
lscpu | grep -E "Model name" || true
model=../shared/models/mobilenet_v2_1.0_224_quant.tflite
"$venv/bin/python" bench/python/overhead.py "$target/release/mnv2" "$model" ../shared/images/cat.bmp "$rounds"
"$venv/bin/python" bench/python/ray_scaling.py "$target/release/mnv2" "$model" 5
