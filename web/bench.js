// The benchmark page: MobileNetV2 1.0-224, batch 1, one thread, in mnv2 (web/pkg), ONNX Runtime
// Web and TF.js's WASM backend, alternating. The same network everywhere: torchvision's
// MobileNetV2 ONNX file for mnv2 and ORT; for TF.js (which reads no ONNX) the same layers (Table 2,
// batch norm folded, ReLU6 fused) as TF.js's fused ops, what its converter makes of a Keras
// MobileNetV2, with He-initialised weights. int8: TFLite's uint8 ImageNet model in mnv2, ONNX
// Runtime's own static quantization of the torchvision file in ORT (bench/web/quantize_onnx.py);
// TF.js has no int8 path.
import initSimd128, * as simd128 from './pkg/mnv2_wasm.js';
import initRelaxed, * as relaxed from './pkg-relaxed/mnv2_wasm.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const ROUNDS = Number(params.get('rounds') || 5);
const RUNS = Number(params.get('runs') || 10);
const FLOAT_ONNX = 'models/torchvision_mobilenet_v2_random.onnx';
const INT8_TFLITE = 'models/mobilenet_v2_1.0_224_quant.tflite';
const INT8_ONNX = 'bench-models/torchvision_mobilenet_v2_random_int8.onnx';

const bytesOf = async (url) => {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
};

// A fixed pseudo-random input: RGB bytes, and the same as floats (NCHW for ORT, NHWC for TF.js).
function inputs() {
  const rgb = new Uint8Array(224 * 224 * 3);
  let s = 12345;
  for (let i = 0; i < rgb.length; i++) { s = (s * 1103515245 + 12345) >>> 0; rgb[i] = s >>> 24; }
  const nhwc = Float32Array.from(rgb, (v) => v / 127.5 - 1);
  const nchw = new Float32Array(nhwc.length);
  for (let c = 0; c < 3; c++) for (let p = 0; p < 224 * 224; p++) nchw[c * 224 * 224 + p] = nhwc[p * 3 + c];
  return { rgb, nhwc, nchw };
}

// One of mnv2's two builds (the SIMD128 one, or relaxed SIMD's fused multiply-add).
async function mnv2(pkg, url, name, precision, x) {
  const net = new pkg.Classifier(await bytesOf(url), name, precision);
  return { run: () => net.probabilities(x.rgb), label: `mnv2 ${net.precision} (${pkg.kernelLevel()})` };
}

async function onnxRuntime(url, x, label) {
  const session = await ort.InferenceSession.create(await bytesOf(url), {
    executionProviders: ['wasm'], graphOptimizationLevel: 'all', freeDimensionOverrides: { batch: 1 },
  });
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x.nchw, [1, 3, 224, 224]) };
  return { run: async () => (await session.run(feeds))[session.outputNames[0]].data, label };
}

// MobileNetV2 1.0-224 (Table 2) as TF.js fused ops: every convolution with its folded batch norm
// as a bias and ReLU6 fused, as TF.js's converter writes a Keras MobileNetV2.
function tfjsMobileNetV2(classes = 1000) {
  let seed = 1;
  const he = (shape, fanIn, gain) => tf.randomNormal(shape, 0, Math.sqrt(gain / fanIn), 'float32', seed++);
  const conv = (cin, cout, k, stride, relu6) =>
    ({ w: he([k, k, cin, cout], k * k * cin, relu6 ? 2 : 1), b: tf.zeros([cout]), stride, relu6 });
  const stem = conv(3, 32, 3, 2, true);
  const blocks = [];
  let cin = 32;
  for (const [t, c, n, s] of [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]) {
    for (let i = 0; i < n; i++) {
      const stride = i === 0 ? s : 1, hidden = cin * t;
      blocks.push({
        expand: t === 1 ? null : conv(cin, hidden, 1, 1, true),
        dw: { w: he([3, 3, hidden, 1], 9, 2), b: tf.zeros([hidden]), stride },
        project: conv(hidden, c, 1, 1, false),
        residual: stride === 1 && cin === c,
      });
      cin = c;
    }
  }
  const head = conv(320, 1280, 1, 1, true);
  const fc = { w: he([1280, classes], 1280, 1), b: tf.zeros([classes]) };
  const params = [stem, ...blocks.flatMap((b) => [b.expand, b.dw, b.project].filter(Boolean)), head, fc]
    .reduce((sum, l) => sum + l.w.size + l.b.size, 0);
  const apply = (x, l) => tf.fused.conv2d({ x, filter: l.w, strides: l.stride, pad: 'same', bias: l.b, activation: l.relu6 ? 'relu6' : 'linear' });
  const forward = (x) => tf.tidy(() => {
    let y = apply(x, stem);
    for (const b of blocks) {
      let z = b.expand ? apply(y, b.expand) : y;
      z = tf.fused.depthwiseConv2d({ x: z, filter: b.dw.w, strides: b.dw.stride, pad: 'same', bias: b.dw.b, activation: 'relu6' });
      z = apply(z, b.project);
      y = b.residual ? tf.add(y, z) : z;
    }
    y = tf.mean(apply(y, head), [1, 2]);
    return tf.fused.matMul({ a: y, b: fc.w, bias: fc.b });
  });
  return { forward, params };
}

async function tfjs(x) {
  tf.wasm.setWasmPaths(new URL('node_modules/@tensorflow/tfjs-backend-wasm/dist/', location.href).href);
  await tf.setBackend('wasm');
  await tf.ready();
  const net = tfjsMobileNetV2();
  const input = tf.tensor4d(x.nhwc, [1, 224, 224, 3]);
  return {
    run: () => { const y = net.forward(input); const data = y.dataSync(); y.dispose(); return data; },
    label: 'TF.js wasm f32', params: net.params,
  };
}

const percentile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

async function main() {
  await initSimd128();
  // Relaxed SIMD where this browser has it (the probe of web/mnv2.js).
  const { relaxedSimd } = await import('./mnv2.js');
  if (relaxedSimd) await initRelaxed();
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = new URL('node_modules/onnxruntime-web/dist/', location.href).href;
  const x = inputs();
  const status = (t) => { $('status').textContent = t; };
  status('loading models…');
  const builds = relaxedSimd ? [simd128, relaxed] : [simd128];
  const engines = [
    ...await Promise.all(builds.map(async (pkg) => ({ group: 'f32', ...await mnv2(pkg, FLOAT_ONNX, 'torchvision_mobilenet_v2_random.onnx', 'f32', x) }))),
    { group: 'f32', ...await onnxRuntime(FLOAT_ONNX, x, 'ONNX Runtime Web f32') },
    { group: 'f32', ...await tfjs(x) },
    ...await Promise.all(builds.map(async (pkg) => ({ group: 'int8', ...await mnv2(pkg, INT8_TFLITE, 'mobilenet_v2_1.0_224_quant.tflite', 'int8', x) }))),
    { group: 'int8', ...await onnxRuntime(INT8_ONNX, x, 'ONNX Runtime Web int8 (QDQ)') },
  ];
  // Warm-up: compilation, operator caches, first-touch memory; and a check that all ran.
  for (const e of engines) {
    for (let i = 0; i < 3; i++) {
      const out = await e.run();
      if (!out || !Array.from(out.slice(0, 10)).every(Number.isFinite)) throw new Error(`${e.label}: bad output`);
    }
    e.times = [];
  }
  for (let round = 0; round < ROUNDS; round++) {
    status(`round ${round + 1} of ${ROUNDS}…`);
    await new Promise((r) => setTimeout(r, 0));
    for (const e of engines) {
      for (let i = 0; i < RUNS; i++) {
        const t0 = performance.now();
        await e.run();
        e.times.push(performance.now() - t0);
      }
    }
  }
  const rows = engines.map((e) => {
    const t = [...e.times].sort((a, b) => a - b);
    return { group: e.group, engine: e.label, runs: t.length, min: t[0], median: percentile(t, 0.5) };
  });
  for (const r of rows) {
    const peers = rows.filter((p) => p.group === r.group && !p.engine.startsWith('mnv2'));
    r.vsFastestPeer = r.median / Math.min(...peers.map((p) => p.median));
    r.minVsFastestPeer = r.min / Math.min(...peers.map((p) => p.min));
  }
  const versions = {
    browser: navigator.userAgent.match(/(Headless)?Chrome\/[\d.]+/)?.[0] || navigator.userAgent,
    mnv2: `mnv2-wasm ${simd128.version()}`,
    ort: `onnxruntime-web ${ort.env.versions.web}`,
    tfjs: `@tensorflow/tfjs-core + tfjs-backend-wasm ${tf.version_core}`,
    tfjsParams: engines.find((e) => e.params).params,
  };
  $('results').innerHTML = '<tr><th>precision</th><th>engine</th><th>runs</th><th>min ms</th><th>median ms</th><th>min / fastest peer min</th><th>median / fastest peer median</th></tr>' +
    rows.map((r) => `<tr><td>${r.group}</td><td>${r.engine}</td><td class="num">${r.runs}</td><td class="num">${r.min.toFixed(1)}</td>` +
      `<td class="num">${r.median.toFixed(1)}</td><td class="num">${r.minVsFastestPeer.toFixed(2)}</td><td class="num">${r.vsFastestPeer.toFixed(2)}</td></tr>`).join('');
  $('versions').textContent = `${versions.browser}; ${versions.mnv2}; ${versions.ort}; ${versions.tfjs} (${versions.tfjsParams} parameters)`;
  status(`done: ${ROUNDS} rounds of ${RUNS} runs per engine`);
  window.benchResult = { rows, versions };
}

main().catch((e) => {
  $('error').textContent = String(e.stack || e);
  window.benchResult = { error: String(e.message || e) };
});
