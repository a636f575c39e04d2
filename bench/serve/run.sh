#!/usr/bin/env bash
# Load benchmark: mnv2 serve against FastAPI + uvicorn around ONNX Runtime / LiteRT, on loopback.
#   bench/serve/run.sh [--seconds 60] [--clients 1,8,32] [--only int8]
# Installs oha (crates.io) and the Python peers into target/ (not part of CI: benchmarks are not tests).
set -euo pipefail
source "$(dirname "$0")/../venv.sh"
need_python "fastapi, uvicorn, onnxruntime, ai_edge_litert, PIL" fastapi uvicorn onnxruntime ai-edge-litert numpy pillow
oha=${OHA:-$(command -v oha || echo "$target/oha/bin/oha")}
if [ ! -x "$oha" ]; then
  cargo install oha --locked --root "$target/oha"
  oha="$target/oha/bin/oha"
fi
cargo build --release -p mnv2-cli
"$venv/bin/python" bench/serve/load.py --mnv2 "$target/release/mnv2" --oha "$oha" "$@"
