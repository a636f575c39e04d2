// Runs a WASI program (a cargo test binary built for wasm32-wasip1) in Node.js, with the whole
// file system visible under / (the tests read ../shared by absolute path), and exits with its
// status: `node tools/wasi-run.mjs PROGRAM.wasm [ARGS...]`.
import { readFile } from 'node:fs/promises';
import process, { argv, env } from 'node:process';
import { WASI } from 'node:wasi';

const [, , program, ...args] = argv;
const wasi = new WASI({ version: 'preview1', args: [program, ...args], env, preopens: { '/': '/' }, returnOnExit: true });
const module = await WebAssembly.compile(await readFile(program));
process.exitCode = wasi.start(await WebAssembly.instantiate(module, wasi.getImportObject()));
