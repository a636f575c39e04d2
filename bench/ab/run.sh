#!/usr/bin/env bash
# Two mnv2 builds side by side: `mnv2 bench` of each, alternating, over several rounds, for the
# int8 and fp32 classifier at 1 and 2 threads; prints min and median per build and their ratio
# (B / A: below 1 means B is faster). For checking that a change does not slow the engine down.
#
#   bench/ab/run.sh OLD_BINARY NEW_BINARY [ROUNDS] [ITERS]
#   MNV2_AB_ARGS="--model M --image I" bench/ab/run.sh ...   (another model; extra bench options)
#
# Build the old one from another checkout, e.g.
#   git worktree add /tmp/old <rev> && (cd /tmp/old && CARGO_TARGET_DIR=/tmp/old-target cargo build --release -p mnv2-cli)
#   bench/ab/run.sh /tmp/old-target/release/mnv2 target/release/mnv2
set -euo pipefail
a=${1:?old binary}; b=${2:?new binary}; rounds=${3:-5}; iters=${4:-50}
cd "$(dirname "$0")/../.."
configs=("--precision int8 --threads 1" "--precision int8 --threads 2" "--precision f32 --threads 1" "--precision f32 --threads 2")
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $rounds rounds of $iters iterations, builds alternating"
printf '| %-30s | %-17s | %-17s | %-11s |\n' "configuration" "A min / median" "B min / median" "B/A min, med"
printf '|%s|%s|%s|%s|\n' "--------------------------------" "-------------------" "-------------------" "-------------"
for cfg in "${configs[@]}"; do
  amins=(); ameds=(); bmins=(); bmeds=()
  for ((r = 0; r < rounds; r++)); do
    for which in a b; do
      bin=${!which}
      # shellcheck disable=SC2086
      json=$("$bin" bench $cfg ${MNV2_AB_ARGS:-} --iters "$iters" --json)
      min=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["latency_ms"]["min"])' "$json")
      med=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["latency_ms"]["median"])' "$json")
      if [ $which = a ]; then amins+=("$min"); ameds+=("$med"); else bmins+=("$min"); bmeds+=("$med"); fi
    done
  done
  python3 - "$cfg" "${amins[*]}" "${ameds[*]}" "${bmins[*]}" "${bmeds[*]}" <<'PY'
import statistics as st, sys
cfg = sys.argv[1].replace("--precision ", "").replace(" --threads ", ", ") + " threads"
am, ad, bm, bd = ([float(x) for x in s.split()] for s in sys.argv[2:6])
a_min, a_med, b_min, b_med = min(am), st.median(ad), min(bm), st.median(bd)
print(f"| {cfg:<30} | {a_min:6.2f} / {a_med:6.2f} ms | {b_min:6.2f} / {b_med:6.2f} ms | {b_min/a_min:.2f}, {b_med/a_med:.2f} |")
PY
done
