#!/usr/bin/env bash
# Fuzzes mnv2 serve's API from its own OpenAPI description with schemathesis (from PyPI): every
# operation with generated parameters and bodies; fails on any 5xx, a crash, or an answer that
# does not match the description. Not checked: that schema-valid requests are accepted (bytes
# that fit "a binary string" are rarely a decodable image, and a 400 is the right answer).
#   bench/serve/fuzz.sh [--max-examples N]
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${CARGO_TARGET_DIR:-target}
venv=${MNV2_PEERS_VENV:-$target/peers-venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import schemathesis" 2>/dev/null || "$venv/bin/pip" install --quiet schemathesis
cargo build --release -p mnv2-cli
"$target/release/mnv2" serve --addr 127.0.0.1:18900 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
for _ in $(seq 300); do curl -sf http://127.0.0.1:18900/healthz >/dev/null && break; sleep 0.2; done
"$venv/bin/schemathesis" run http://127.0.0.1:18900/openapi.json --checks all --exclude-checks positive_data_acceptance "$@"
kill -0 $pid || { echo "the server died" >&2; exit 1; }
