#!/usr/bin/env bash
# Times mnv2 against LiteRT (+XNNPACK) and ONNX Runtime on the same models, side by side.
# Installs the peers from PyPI into a virtual environment (not part of CI: benchmarks are not tests).
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${CARGO_TARGET_DIR:-target}
venv=${MNV2_PEERS_VENV:-$target/peers-venv}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet ai-edge-litert onnxruntime numpy
fi
cargo build --release -p mnv2-cli
"$venv/bin/python" bench/peers/peers.py --mnv2 "$target/release/mnv2" --models "${MNV2_MODELS:-../shared/models}" "$@"
