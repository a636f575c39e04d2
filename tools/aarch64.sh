#!/usr/bin/env bash
# The tests on aarch64 (ARM64 Linux) under user-mode qemu: cross-compiled with Debian's
# gcc-aarch64-linux-gnu as the linker and run by qemu-aarch64 with the cross sysroot. Runs the
# kernel tests (every kernel against its reference) and the model tests on reference inputs:
# int8 bytes equal TFLite's layer by layer, fp32 logits within 1e-4 of TFLite's, ONNX and
# PyTorch imports within 1e-4 of PyTorch's, TFLite export round trips.
#   tools/aarch64.sh [CARGO TEST ARGS...]
# Also the image crate's tests (JPEG decoding through the NEON kernels equal to PIL).
# Installs what it needs (apt packages, the rustup target) when missing; run by .ci/run (about
# 2 minutes of emulation after the cross build).
set -euo pipefail
cd "$(dirname "$0")/.."
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
    packages=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)
    as_root apt-get install -y -qq "${packages[@]}" >/dev/null ||
        { as_root apt-get update -qq && as_root apt-get install -y -qq "${packages[@]}" >/dev/null; }
fi
rustup target list --installed | grep -q aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
target=(--release --target aarch64-unknown-linux-gnu)
cargo test "${target[@]}" -p mnv2-kernels "$@"
# Image decoding through the NEON JPEG kernels: the 100 ImageNet inputs byte for byte.
cargo test "${target[@]}" -p mnv2-image "$@"
cargo test "${target[@]}" -p mnv2-import --test models "$@"
cargo test "${target[@]}" -p mnv2 --test int8_layers --test torch_import --test tflite_export "$@"
