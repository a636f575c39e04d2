#!/usr/bin/env bash
# Times mnv2 against LiteRT (+XNNPACK), ONNX Runtime and TensorFlow on the same models, side by side:
#   bench/peers/run.sh [--rounds N] [--task classify|segment|detect] [--only NAME]
# Installs the peers from PyPI into a virtual environment (not part of CI: benchmarks are not tests).
set -euo pipefail
source "$(dirname "$0")/../venv.sh"
need_python "ai_edge_litert, onnxruntime, numpy, PIL" ai-edge-litert onnxruntime numpy pillow
# The detector's peer is TensorFlow running the frozen graph (a large package: only when asked).
if [[ " $* " == *" detect "* ]] && ! "$venv/bin/python" -c "import tensorflow" 2>/dev/null; then
  "$venv/bin/pip" install --quiet tensorflow-cpu
fi
cargo build --release -p mnv2-cli
"$venv/bin/python" bench/peers/peers.py --mnv2 "$target/release/mnv2" --models "${MNV2_MODELS:-../shared/models}" "$@"
