#!/usr/bin/env bash
# The tests on WebAssembly: built for wasm32-wasip1 and run by Wasmtime (tools/wasi-run.py, the
# wasmtime package from PyPI in target/wasm-venv).
# Runs the kernel tests (every kernel against its reference, the SIMD128 ones included, and again
# in a relaxed-SIMD build) and the
# image crate's tests (JPEG decoding through the SIMD128 kernels equal to PIL), the
# model tests that need neither threads nor subprocesses (WASI has none): fp32 logits within
# 1e-4 of TFLite's and every int8 layer of both ImageNet models equal to TFLite's bytes.
#   tools/wasm.sh [TEST BINARY ARGS...]
# Adds the rustup target and the venv when missing; run by .ci/run. (Timing under V8 instead:
# examples/latency.rs with tools/wasi-run.mjs.)
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target list --installed | grep -q wasm32-wasip1 || rustup target add wasm32-wasip1
venv=${CARGO_TARGET_DIR:-$PWD/target}/wasm-venv
if ! "$venv/bin/python" -c "import wasmtime" 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet wasmtime
fi
# WASI does not follow symbolic links to absolute paths: hand the tests ../shared's real path.
MNV2_SHARED=$(realpath "${MNV2_SHARED:-$PWD/../shared}")
export MNV2_SHARED
export CARGO_TARGET_WASM32_WASIP1_RUNNER="$venv/bin/python $PWD/tools/wasi-run.py"
target=(--release --target wasm32-wasip1)
cargo test "${target[@]}" -p mnv2-kernels -- "$@"
# The relaxed-SIMD build's kernels (a level of their own: fused multiply-add in the fp32 GEMM).
RUSTFLAGS="-C target-feature=+relaxed-simd" CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}/wasm-relaxed \
    cargo test "${target[@]}" -p mnv2-kernels -- "$@"
# Image decoding through the SIMD128 JPEG kernels: the 100 ImageNet inputs byte for byte.
cargo test "${target[@]}" -p mnv2-image -- "$@"
cargo test "${target[@]}" -p mnv2-import --test models -- "$@"
cargo test "${target[@]}" -p mnv2 --test int8_layers -- "$@"
