#!/usr/bin/env bash
# The tests on WebAssembly: built for wasm32-wasip1 and run by Node.js's WASI (tools/wasi-run.mjs).
# Runs the kernel tests (every kernel against its reference, the SIMD128 ones included) and the
# model tests that need neither threads nor subprocesses (WASI has none): fp32 logits within
# 1e-4 of TFLite's and every int8 layer of both ImageNet models equal to TFLite's bytes.
#   tools/wasm.sh [TEST BINARY ARGS...]
# Needs Node.js (18+) and the rustup target, which it adds when missing; run by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target list --installed | grep -q wasm32-wasip1 || rustup target add wasm32-wasip1
export CARGO_TARGET_WASM32_WASIP1_RUNNER="node --no-warnings $PWD/tools/wasi-run.mjs"
target=(--release --target wasm32-wasip1)
cargo test "${target[@]}" -p mnv2-kernels -- "$@"
cargo test "${target[@]}" -p mnv2-import --test models -- "$@"
cargo test "${target[@]}" -p mnv2 --test int8_layers -- "$@"
