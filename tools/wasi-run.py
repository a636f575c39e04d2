"""Runs a WASI program (a cargo test binary built for wasm32-wasip1) in Wasmtime, with the whole
file system visible under / (the tests read ../shared by absolute path), and exits with its
status: `python tools/wasi-run.py PROGRAM.wasm [ARGS...]` (needs `pip install wasmtime`).

The tests run here rather than in Node.js: Node 20's WASI crashed now and then (SIGSEGV) after
a test program had finished and passed. tools/wasi-run.mjs runs a program in Node (V8, the
browsers' engine) for timing."""

import os
import sys

import wasmtime

program, *args = sys.argv[1:]
engine = wasmtime.Engine()
store = wasmtime.Store(engine)
wasi = wasmtime.WasiConfig()
wasi.argv = [program, *args]
wasi.env = list(os.environ.items())
wasi.preopen_dir("/", "/")
wasi.inherit_stdin()
wasi.inherit_stdout()
wasi.inherit_stderr()
store.set_wasi(wasi)
linker = wasmtime.Linker(engine)
linker.define_wasi()
instance = linker.instantiate(store, wasmtime.Module.from_file(engine, program))
try:
    instance.exports(store)["_start"](store)
    code = 0
except wasmtime.ExitTrap as e:
    code = e.code
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
