#!/usr/bin/env bash
# Fuzzes every parser that takes outside bytes with libFuzzer (cargo fuzz), one target at a time:
#   tools/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
# Targets: tflite graphdef safetensors checkpoint npy coco image onnx pickle (default: all; 600 s each). Each stops
# after SECONDS or 1,000,000 executions, whichever comes first, with a 2 GB RSS limit and a 10 s
# timeout per input. Seeds come from ../shared (or $MNV2_SHARED) and from the fuzz_seeds example;
# corpora grow in fuzz/corpus/TARGET, crashes land in fuzz/artifacts/TARGET, logs in fuzz/logs.
# Needs cargo-fuzz (`cargo install cargo-fuzz`); the stable toolchain is used with
# RUSTC_BOOTSTRAP=1 for the sanitizer flags cargo fuzz passes.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
secs=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(tflite graphdef safetensors checkpoint npy coco image onnx pickle)
shared=${MNV2_SHARED:-$root/../shared}
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz

seeds=$root/fuzz/seeds
rm -rf "$seeds"
mkdir -p "$seeds"/{tflite,graphdef,coco,image,onnx,pickle} "$root/fuzz/logs"
cargo run --release -q -p mnv2 --example fuzz_seeds -- "$seeds" "$shared"
for m in mobilenet_v2_1.0_224_quant tf2_mobilenet_v2_1.0_224_ptq deeplabv3_mnv2_dm05_pascal_quant \
    deeplabv3_mnv2_pascal_quant; do
    cp "$shared/models/$m.tflite" "$seeds/tflite/"
done
# An mnv2 export: metadata entries, and the operators as mnv2 writes them.
cargo run --release -q -p mnv2-cli -- export --model "$shared/models/mobilenet_v2_1.0_224_quant.tflite" \
    -o "$seeds/tflite/mnv2_export.tflite" 2>/dev/null
cp "$root"/crates/heads/tests/fixtures/*.json "$seeds/coco/"
ls "$shared"/datasets/PennFudanPed/Annotation/*.txt | head -5 | xargs -I{} cp {} "$seeds/coco/"
cp "$shared"/models/torchvision_mobilenet_v2_0.5_random_dynamo.onnx "$seeds/onnx/"
python3 -c "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); n = [m for m in z.namelist() if m.endswith('data.pkl')][0]; open(sys.argv[2], 'wb').write(z.read(n))" \
    "$shared/models/torchvision_mobilenet_v2_random.pth" "$seeds/pickle/data.pkl"
cp "$shared"/images/face.jpg "$shared"/images/owl.jpg "$shared"/images/dog_segmentation.bmp "$seeds/image/"

# Inputs are capped near the seeds' sizes: the fuzzer keeps its whole corpus in memory.
declare -A max_len=([tflite]=4194304 [onnx]=8388608 [graphdef]=1048576 [safetensors]=2097152 [image]=262144)
cd fuzz
cargo fuzz build -O
printf '%-12s %12s %8s %s\n' target executions seconds result
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    log=$root/fuzz/logs/$t.log
    status=ok
    cargo fuzz run -O "$t" "corpus/$t" "$seeds/$t" -- \
        -max_total_time="$secs" -runs=1000000 -rss_limit_mb=2048 -timeout=10 \
        -max_len="${max_len[$t]:-65536}" -print_final_stats=1 >"$log" 2>&1 || status="FAILED (see $log)"
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    time=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | grep -o 'in [0-9]*' | grep -o '[0-9]*' || echo "$secs+")
    printf '%-12s %12s %8s %s\n' "$t" "$runs" "$time" "$status"
done
