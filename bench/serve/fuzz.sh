#!/usr/bin/env bash
# Fuzzes mnv2 serve's API from its own OpenAPI description with schemathesis (from PyPI): every
# operation with generated parameters and bodies; fails on any 5xx, a crash, or an answer that
# does not match the description. Not checked: that schema-valid requests are accepted (bytes
# that fit "a binary string" are rarely a decodable image, and a 400 is the right answer).
#   bench/serve/fuzz.sh [--max-examples N]
set -euo pipefail
source "$(dirname "$0")/../venv.sh"
need_python schemathesis schemathesis
cargo build --release -p mnv2-cli
"$target/release/mnv2" serve --addr 127.0.0.1:18900 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
for _ in $(seq 300); do curl -sf http://127.0.0.1:18900/healthz >/dev/null && break; sleep 0.2; done
"$venv/bin/schemathesis" run http://127.0.0.1:18900/openapi.json --checks all --exclude-checks positive_data_acceptance "$@"
kill -0 $pid || { echo "the server died" >&2; exit 1; }
