// Loads mnv2's WebAssembly package (built by tools/web.sh): the relaxed-SIMD build (fused
// multiply-add in the fp32 matrix products) where this browser validates relaxed SIMD, else the
// SIMD128 build, which every current browser runs. `?build=simd128` in the page's address forces
// the latter. Re-exports the package's classes, initialised.

// A function using i8x16.relaxed_swizzle: valid only where relaxed SIMD is (the probe of the
// wasm-feature-detect project).
const RELAXED_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 15, 1, 13, 0,
  65, 1, 253, 15, 65, 2, 253, 15, 253, 128, 2, 11]);

export const relaxedSimd = WebAssembly.validate(RELAXED_PROBE);
const forced = new URLSearchParams(globalThis.location?.search ?? '').get('build');
export const build = forced === 'simd128' || !relaxedSimd ? 'pkg' : 'pkg-relaxed';
const pkg = await import(`./${build}/mnv2_wasm.js`);
await pkg.default();
export const { Classifier, Segmenter, Detector, kernelLevel, version } = pkg;
