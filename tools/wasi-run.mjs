// Runs a WASI program built for wasm32-wasip1 in Node.js (V8, the engine of Chromium), with the
// whole file system visible under /: `node tools/wasi-run.mjs PROGRAM.wasm [ARGS...]`. For
// timing (examples/latency.rs); the tests run in Wasmtime (tools/wasi-run.py), because Node 20's
// WASI crashed now and then after a program had finished.
import { readFile } from 'node:fs/promises';
import { argv, env } from 'node:process';
import { WASI } from 'node:wasi';

const [, , program, ...args] = argv;
const wasi = new WASI({ version: 'preview1', args: [program, ...args], env: { ...env }, preopens: { '/': '/' }, returnOnExit: false });
const module = await WebAssembly.compile(await readFile(program));
wasi.start(await WebAssembly.instantiate(module, wasi.getImportObject()));
