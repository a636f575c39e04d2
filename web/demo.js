// The demo page: mnv2's WebAssembly build (loaded by mnv2.js from pkg/ or pkg-relaxed/, made by
// tools/web.sh) classifies, segments and detects an image in this page. Models are fetched from models/ (../shared/models when served by
// tools/web.sh) or read from a file the user picks.
import { Classifier, Segmenter, Detector, kernelLevel } from './mnv2.js';

const $ = (id) => document.getElementById(id);
const MODELS = {
  classify: ['mobilenet_v2_1.0_224_quant.tflite', 'tf2_mobilenet_v2_1.0_224_ptq.tflite', 'mobilenet_v2_1.0_224_inat_bird_quant.tflite'],
  segment: ['deeplabv3_mnv2_pascal_quant.tflite', 'deeplabv3_mnv2_dm05_pascal_quant.tflite'],
  detect: ['ssdlite_mobilenet_v2_pedestrian_frozen.pb'],
};
const ENGINES = { classify: Classifier, segment: Segmenter, detect: Detector };
const loaded = new Map(); // "task name" -> engine
let image = null; // the ImageData run
let imageName = ''; // its file's name (or what it came from)
let ownModel = null; // { name, bytes } picked by the user

const status = (text) => { $('status').textContent = text; };
const fail = (e) => { $('error').textContent = String(e.message || e); status(''); };
// Lets the browser paint "working…" before a long synchronous run.
const paint = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));

function listModels() {
  const task = $('task').value;
  const names = [...MODELS[task], ...(ownModel ? [ownModel.name] : [])];
  $('model').innerHTML = names.map((n) => `<option>${n}</option>`).join('');
  if (ownModel) $('model').value = ownModel.name;
}

async function engine(task, name) {
  const key = `${task} ${name}`;
  if (!loaded.has(key)) {
    status(`loading ${name}…`);
    await paint();
    const bytes = ownModel && ownModel.name === name
      ? ownModel.bytes
      : new Uint8Array(await (await fetchOk(`models/${name}`)).arrayBuffer());
    const Engine = ENGINES[task];
    loaded.set(key, task === 'detect' ? new Engine(bytes, name) : new Engine(bytes, name, 'auto'));
  }
  return loaded.get(key);
}

async function fetchOk(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r;
}

// Draws a picture (file, blob or video frame) at its own size and keeps its pixels.
async function show(source) {
  const bitmap = await createImageBitmap(source, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const canvas = $('picture');
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(bitmap, 0, 0);
  image = ctx.getImageData(0, 0, canvas.width, canvas.height);
  imageName = source.name || 'picture';
  await run();
}

let latest = 0; // the number of the last run started

// Runs the chosen task and model on the picture. A run that a newer one started while it waited
// (for a model to load, or to paint) stops there: only the newest run shows its result.
async function run() {
  if (!image) return;
  const ticket = ++latest;
  const [task, model, name] = [$('task').value, $('model').value, imageName];
  $('error').textContent = '';
  $('result').innerHTML = '';
  try {
    const net = await engine(task, model);
    if (ticket !== latest) return;
    status('working…');
    await paint();
    if (ticket !== latest) return;
    const t0 = performance.now();
    const result = task === 'classify' ? classify(net)
      : task === 'segment' ? segment(net) : detect(net);
    const ms = performance.now() - t0;
    status(`${task}: ${ms.toFixed(0)} ms (image to result, one thread, kernels: ${kernelLevel()})`);
    // For tests: what was run on which picture.
    window.mnv2Last = { task, model, image: name, ms, result };
  } catch (e) {
    if (ticket === latest) fail(e);
  }
}

function classify(net) {
  const top = net.classify(image, 5).map((p) => {
    const plain = { index: p.index, label: p.label, score: p.score };
    p.free();
    return plain;
  });
  $('result').innerHTML = `<p>${net.name}, ${net.precision}</p><table id="top">` + top.map((p) =>
    `<tr><td>${escape(p.label)}</td><td style="width:16em"><div class="bar" style="width:${(100 * p.score).toFixed(1)}%"></div></td>` +
    `<td class="num">${(100 * p.score).toFixed(1)}%</td></tr>`).join('') + '</table>';
  return top;
}

function segment(net) {
  const seg = net.segment(image);
  $('picture').getContext('2d').putImageData(seg.overlay, 0, 0);
  const present = seg.present.map((c) => ({ class: c.class, label: c.label, fraction: c.fraction }));
  seg.free();
  $('result').innerHTML = '<table id="classes"><tr><th>class</th><th>pixels</th></tr>' + present.map((c) =>
    `<tr><td>${escape(c.label)}</td><td class="num">${(100 * c.fraction).toFixed(1)}%</td></tr>`).join('') + '</table>';
  return present;
}

function detect(net) {
  const boxes = net.detect(image, Number($('threshold').value)).map((b) => {
    const plain = { box: [b.x0, b.y0, b.x1, b.y1], class: b.class, label: b.label, score: b.score };
    b.free();
    return plain;
  });
  const ctx = $('picture').getContext('2d');
  ctx.putImageData(image, 0, 0);
  const line = Math.max(2, Math.round(Math.min(image.width, image.height) / 200));
  ctx.font = `${6 * line + 4}px system-ui, sans-serif`;
  ctx.lineWidth = line;
  for (const b of [...boxes].reverse()) {
    const [x0, y0, x1, y1] = b.box;
    const text = `${b.label} ${b.score.toFixed(2)}`;
    ctx.strokeStyle = ctx.fillStyle = '#e33';
    ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    const h = 6 * line + 8, w = ctx.measureText(text).width + 8;
    const ty = y0 >= h ? y0 - h : y0;
    ctx.fillRect(Math.min(x0, image.width - w), ty, w, h);
    ctx.fillStyle = '#fff';
    ctx.fillText(text, Math.min(x0, image.width - w) + 4, ty + h - 2 - line);
  }
  $('result').innerHTML = `<p id="count">${boxes.length} objects</p><table id="boxes"><tr><th>object</th><th>score</th><th>box</th></tr>` +
    boxes.map((b) => `<tr><td>${escape(b.label)}</td><td class="num">${(100 * b.score).toFixed(1)}%</td>` +
      `<td>(${b.box.map(Math.round).join(', ')})</td></tr>`).join('') + '</table>';
  return boxes;
}

const escape = (s) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

// Webcam: show the live video, take one frame on demand.
async function camera() {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: true });
    $('video').srcObject = stream;
    $('video').hidden = false;
    $('snap').hidden = false;
  } catch (e) {
    fail(new Error(`webcam: ${e.message || e}`));
  }
}

listModels();
$('task').onchange = () => { listModels(); run(); };
$('model').onchange = run;
$('threshold').onchange = run;
$('modelfile').onchange = async (e) => {
  const file = e.target.files[0];
  if (!file) return;
  ownModel = { name: file.name, bytes: new Uint8Array(await file.arrayBuffer()) };
  for (const key of [...loaded.keys()]) if (key.endsWith(` ${file.name}`)) loaded.delete(key);
  listModels();
  run();
};
$('drop').onclick = () => $('file').click();
$('file').onchange = (e) => e.target.files[0] && show(e.target.files[0]).catch(fail);
$('drop').ondragover = (e) => { e.preventDefault(); $('drop').classList.add('over'); };
$('drop').ondragleave = () => $('drop').classList.remove('over');
$('drop').ondrop = (e) => {
  e.preventDefault();
  $('drop').classList.remove('over');
  const file = e.dataTransfer.files[0];
  if (file) show(file).catch(fail);
};
document.onpaste = (e) => {
  const item = [...e.clipboardData.items].find((i) => i.type.startsWith('image/'));
  if (item) show(item.getAsFile()).catch(fail);
};
$('camera').onclick = camera;
$('snap').onclick = () => show($('video')).catch(fail);
status(`ready (kernels: ${kernelLevel()})`);
document.body.dataset.ready = '1';
