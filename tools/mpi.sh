#!/usr/bin/env bash
# Data-parallel training on MPI: builds mnv2 with the `mpi` feature (Debian's OpenMPI, and
# libclang for the bindings) and runs crates/cli/tests/mpi.rs, which trains with
# `mpirun -np 2 mnv2 train --mpi --threads 1` and with one process of 2 threads and checks the
# two write the same model and training state, byte for byte (and after a resume).
#   tools/mpi.sh [CARGO TEST ARGS...]
# Installs what it needs (apt packages) when missing; run by .ci/run (about a minute).
set -euo pipefail
cd "$(dirname "$0")/.."
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
if ! command -v mpirun >/dev/null || [ ! -e /usr/lib/x86_64-linux-gnu/openmpi/include/mpi.h ] ||
    ! ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1; then
    packages=(libopenmpi-dev openmpi-bin libclang-dev)
    as_root apt-get install -y -qq "${packages[@]}" >/dev/null ||
        { as_root apt-get update -qq && as_root apt-get install -y -qq "${packages[@]}" >/dev/null; }
fi
cargo test --release -p mnv2-cli --features mpi --test mpi "$@"
