#!/usr/bin/env bash
# The Python package's tests: builds the package (pip install, through maturin) into a fresh venv
# with its test and Ray extras (and tflite-runtime 2.14 in a second venv), builds the CLI the
# tests compare with, and runs pytest.
#   crates/python/test.sh [PYTEST ARGS...]
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${CARGO_TARGET_DIR:-target}
venv=${MNV2_PY_TEST_VENV:-$target/py-test-venv}
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet "./crates/python[test,ray]"
# tflite-runtime 2.14 (the runtime ../shared/reference was made with) needs numpy 1: its own venv.
tflite_venv=$target/py-tflite-venv
if ! "$tflite_venv/bin/python" -c "import tflite_runtime" 2>/dev/null; then
    rm -rf "$tflite_venv"
    python3 -m venv "$tflite_venv"
    "$tflite_venv/bin/pip" install --quiet "numpy<2" "tflite-runtime==2.14.0"
fi
cargo build --release --quiet -p mnv2-cli
MNV2_CLI="$target/release/mnv2" MNV2_TFLITE_PYTHON="$tflite_venv/bin/python" \
    "$venv/bin/python" -m pytest -q crates/python/tests "$@"
