#!/usr/bin/env bash
# mnv2 in the browser: builds the WebAssembly package (crates/wasm with wasm-bindgen) into web/pkg,
# then serves the pages or tests them.
#   tools/web.sh build          web/pkg only (prints the wasm's size, raw and gzipped)
#   tools/web.sh serve [PORT]   the demo page at http://127.0.0.1:PORT/ (default 8000), models
#                               from ../shared/models; bench.html needs tools/web.sh bench's packages
#   tools/web.sh test           the demo page in headless Chromium against the native CLI
#                               (tests/browser/wasm.test.mjs; needs /usr/bin/chromium and npm)
#   tools/web.sh bench [ROUNDS [RUNS]]  the benchmark page against onnxruntime-web and TF.js (bench/web)
# Adds the rustup target and wasm-bindgen-cli (the version Cargo.lock names) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
shared=$(realpath "${MNV2_SHARED:-$PWD/../shared}")

build() {
    rustup target list --installed | grep -q wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
    local version
    version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
    local bindgen=$target_dir/wasm-bindgen/bin/wasm-bindgen
    if ! [ -x "$bindgen" ] || [ "$("$bindgen" --version)" != "wasm-bindgen $version" ]; then
        cargo install --quiet wasm-bindgen-cli --version "$version" --root "$target_dir/wasm-bindgen"
    fi
    # Two builds (web/mnv2.js loads the one the browser can run): SIMD128 for every current
    # engine, and relaxed SIMD (fused multiply-add) for those that have it (not Safari). No
    # debug information: the page's download is the code alone.
    CARGO_PROFILE_RELEASE_DEBUG=false cargo build --release --target wasm32-unknown-unknown -p mnv2-wasm
    "$bindgen" --target web --out-dir web/pkg "$target_dir/wasm32-unknown-unknown/release/mnv2_wasm.wasm"
    CARGO_PROFILE_RELEASE_DEBUG=false RUSTFLAGS="-C target-feature=+relaxed-simd" CARGO_TARGET_DIR=$target_dir/wasm-relaxed \
        cargo build --release --target wasm32-unknown-unknown -p mnv2-wasm
    "$bindgen" --target web --out-dir web/pkg-relaxed "$target_dir/wasm-relaxed/wasm32-unknown-unknown/release/mnv2_wasm.wasm"
    for pkg in pkg pkg-relaxed; do
        echo "web/$pkg/mnv2_wasm_bg.wasm: $(stat -c %s web/$pkg/mnv2_wasm_bg.wasm) bytes, $(gzip -9 -c web/$pkg/mnv2_wasm_bg.wasm | wc -c) gzipped"
    done
}

case "${1:-build}" in
build) build ;;
serve)
    build
    exec node tools/static-server.mjs "${2:-8000}" /=web "/models/=$shared/models" "/images/=$shared/images" \
        "/node_modules/=bench/web/node_modules" "/bench-models/=$target_dir/web-bench"
    ;;
test)
    build
    expected=$target_dir/wasm-expected.jsonl
    cargo build --release -p mnv2-cli
    mnv2=$target_dir/release/mnv2
    {
        "$mnv2" classify --json --model "$shared/models/mobilenet_v2_1.0_224_quant.tflite" "$shared/images/cat.bmp"
        "$mnv2" segment --json --out "$target_dir" --model "$shared/models/deeplabv3_mnv2_pascal_quant.tflite" "$shared/images/dog_segmentation.bmp"
        "$mnv2" detect --json --out "$target_dir" "$shared/images/grace_hopper.bmp"
    } >"$expected"
    (cd tests/browser && [ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund --loglevel=error)
    MNV2_EXPECTED=$expected MNV2_SHARED_DIR=$shared node tests/browser/wasm.test.mjs
    ;;
bench)
    build
    (cd bench/web && [ -d node_modules/onnxruntime-web ] || npm ci --no-audit --no-fund --loglevel=error)
    (cd tests/browser && [ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund --loglevel=error)
    # ORT's int8 model: its own static quantization of the torchvision file (needs onnxruntime).
    int8=$target_dir/web-bench/torchvision_mobilenet_v2_random_int8.onnx
    if ! [ -f "$int8" ]; then
        venv=$target_dir/web-bench/venv
        [ -x "$venv/bin/python" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install --quiet onnxruntime onnx pillow numpy; }
        "$venv/bin/python" bench/web/quantize_onnx.py "$shared" "$int8"
    fi
    CARGO_TARGET_DIR=$target_dir MNV2_SHARED_DIR=$shared node bench/web/run.mjs "${@:2}"
    ;;
*) echo "usage: tools/web.sh build | serve [PORT] | test | bench [ROUNDS]" >&2; exit 2 ;;
esac
