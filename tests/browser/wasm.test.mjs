// mnv2's WebAssembly build in headless Chromium: the demo page (web/index.html) classifies
// cat.bmp with the int8 ImageNet model (top-5 labels and probabilities equal to the native CLI's),
// segments a dog (classes and pixel fractions equal to the CLI's) and detects a pedestrian (boxes
// within a pixel of the CLI's). Run by tools/web.sh test, which builds web/pkg and writes the
// CLI's JSON lines into $MNV2_EXPECTED. Screenshots go to $MNV2_SHOTS (default target/browser-shots).
import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { serve } from '../../tools/static-server.mjs';

const shared = process.env.MNV2_SHARED_DIR || '../shared';
const shots = process.env.MNV2_SHOTS || 'target/browser-shots';
const expected = readFileSync(process.env.MNV2_EXPECTED, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const executablePath = process.env.MNV2_CHROMIUM || '/usr/bin/chromium';
mkdirSync(shots, { recursive: true });

const check = (ok, what) => { if (!ok) throw new Error(what); };
const server = await serve({ '/': 'web', '/models/': join(shared, 'models') });
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  page.on('pageerror', (e) => console.error('page error:', e));
  page.setDefaultTimeout(120000);
  await page.goto(server.url);
  await page.waitForFunction(() => document.body.dataset.ready === '1');
  const run = async (task, model, image) => {
    await page.evaluate(() => { window.mnv2Last = null; });
    await page.selectOption('#task', task);
    await page.selectOption('#model', model);
    await page.setInputFiles('#file', join(shared, 'images', image));
    // Changing the task or model reruns the previous picture: wait for this picture's result.
    const done = await page.waitForFunction(([task, image]) => {
      const error = document.querySelector('#error').textContent;
      const last = window.mnv2Last;
      return error ? { error } : last && last.task === task && last.image === image ? last : null;
    }, [task, image]);
    const last = await done.jsonValue();
    check(!last.error, `${task} ${image}: the page says ${last.error}`);
    console.log(`${task} ${image} with ${model}: ${last.ms.toFixed(0)} ms in the page`);
    return last.result;
  };

  // Classification, int8: the same five classes and the very same probabilities as the CLI.
  const top = await run('classify', 'mobilenet_v2_1.0_224_quant.tflite', 'cat.bmp');
  const cli = expected[0].top;
  check(top[0].label === 'Egyptian cat', `top-1 is ${top[0].label}`);
  check(JSON.stringify(top) === JSON.stringify(cli), `top-5 ${JSON.stringify(top)}\n  CLI ${JSON.stringify(cli)}`);
  check(await page.getByText('Egyptian cat').isVisible(), 'no "Egyptian cat" on the page');
  await page.screenshot({ path: join(shots, 'wasm-classify.png') });

  // Segmentation, int8: the classes present and their pixel fractions equal the CLI's.
  const classes = await run('segment', 'deeplabv3_mnv2_pascal_quant.tflite', 'dog_segmentation.bmp');
  const want = expected[1].classes.map((c) => ({ class: c.class, label: c.label, fraction: c.fraction }));
  check(JSON.stringify(classes) === JSON.stringify(want), `classes ${JSON.stringify(classes)}\n  CLI ${JSON.stringify(want)}`);
  check(await page.locator('#classes td', { hasText: 'dog' }).isVisible(), 'no dog in the legend');
  await page.screenshot({ path: join(shots, 'wasm-segment.png') });

  // Detection, fp32 (the SIMD128 kernels sum in another order than x86's): the CLI's boxes, each
  // corner within a pixel (the CLI prints one decimal) and the score within 1e-3.
  const boxes = await run('detect', 'ssdlite_mobilenet_v2_pedestrian_frozen.pb', 'grace_hopper.bmp');
  const cliBoxes = expected[2].detections;
  check(boxes.length === cliBoxes.length && boxes.length > 0, `${boxes.length} boxes, the CLI ${cliBoxes.length}`);
  boxes.forEach((b, i) => {
    const c = cliBoxes[i];
    check(b.label === c.label && Math.abs(b.score - c.score) < 1e-3 && b.box.every((v, j) => Math.abs(v - c.box[j]) < 1),
      `box ${i}: ${JSON.stringify(b)}\n  CLI ${JSON.stringify(c)}`);
  });
  await page.locator('#boxes td', { hasText: 'pedestrian' }).first().waitFor();
  await page.screenshot({ path: join(shots, 'wasm-detect.png') });
  const level = await page.evaluate(async () => (await import('./mnv2.js')).kernelLevel());

  // The SIMD128 build as well (the page loaded the relaxed-SIMD one where Chromium has it).
  await page.goto(`${server.url}?build=simd128`);
  await page.waitForFunction(() => document.body.dataset.ready === '1');
  const other = await page.evaluate(async () => (await import('./mnv2.js')).kernelLevel());
  check(other === 'simd128', `?build=simd128 loaded ${other}`);
  const again = await run('classify', 'mobilenet_v2_1.0_224_quant.tflite', 'cat.bmp');
  check(JSON.stringify(again) === JSON.stringify(cli), `simd128 build: top-5 ${JSON.stringify(again)}`);
  console.log(`builds tested: ${level} (the default here) and ${other}`);
  console.log(`wasm browser test passed; screenshots in ${shots}`);
} finally {
  await browser.close();
  await server.close();
}
