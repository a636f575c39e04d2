#!/usr/bin/env bash
# Load benchmark: mnv2 serve against FastAPI + uvicorn around ONNX Runtime / LiteRT, on loopback.
#   bench/serve/run.sh [--seconds 60] [--clients 1,8,32] [--only int8]
# Installs oha (crates.io) and the Python peers into target/ (not part of CI: benchmarks are not tests).
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${CARGO_TARGET_DIR:-target}
venv=${MNV2_PEERS_VENV:-$target/peers-venv}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -c "import fastapi, uvicorn, onnxruntime, ai_edge_litert, PIL" 2>/dev/null \
  || "$venv/bin/pip" install --quiet fastapi uvicorn onnxruntime ai-edge-litert numpy pillow
oha=${OHA:-$(command -v oha || echo "$target/oha/bin/oha")}
if [ ! -x "$oha" ]; then
  cargo install oha --locked --root "$target/oha"
  oha="$target/oha/bin/oha"
fi
cargo build --release -p mnv2-cli
"$venv/bin/python" bench/serve/load.py --mnv2 "$target/release/mnv2" --oha "$oha" "$@"
