#!/usr/bin/env bash
# The Python package's tests: builds the package (pip install, through maturin) into a fresh venv
# with its test and Ray extras, builds the CLI the tests compare with, and runs pytest.
#   crates/python/test.sh [PYTEST ARGS...]
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${CARGO_TARGET_DIR:-target}
venv=${MNV2_PY_TEST_VENV:-$target/py-test-venv}
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet "./crates/python[test,ray]"
cargo build --release --quiet -p mnv2-cli
MNV2_CLI="$target/release/mnv2" "$venv/bin/python" -m pytest -q crates/python/tests "$@"
