#!/usr/bin/env bash
# JPEG decoding against the image crate (zune-jpeg) and PIL (libjpeg-turbo), engines taking
# turns, on the JPEGs of ../shared/images and ten ImageNet originals (not part of CI).
#   bench/jpeg/run.sh [ROUNDS] [ITERS]
set -euo pipefail
source "$(dirname "$0")/../venv.sh"
need_python PIL pillow
cargo build --release -q -p mnv2-image --example decode_rate
lscpu | grep -E "Model name" || true
files=(../shared/images/*.jpg)
mapfile -t -O "${#files[@]}" files < <(ls ../shared/reference/imagenet100/originals/*.JPEG | head -10)
"$venv/bin/python" bench/jpeg/decode.py "$target/release/examples/decode_rate" "${1:-5}" "${2:-30}" "${files[@]}"
