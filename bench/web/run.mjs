// Runs web/bench.html in headless Chromium (Debian's /usr/bin/chromium, via playwright-core) and
// prints its table: mnv2-wasm against ONNX Runtime Web and TF.js's WASM backend.
//   node bench/web/run.mjs [ROUNDS [RUNS]]     (tools/web.sh bench builds and installs first)
import { chromium } from '../../tests/browser/node_modules/playwright-core/index.mjs';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { serve } from '../../tools/static-server.mjs';

const [rounds = '5', runs = '10'] = process.argv.slice(2);
const shared = process.env.MNV2_SHARED_DIR || '../shared';
const target = process.env.CARGO_TARGET_DIR || 'target';
const server = await serve({
  '/': 'web', '/models/': join(shared, 'models'), '/bench-models/': join(target, 'web-bench'),
  '/node_modules/': 'bench/web/node_modules',
});
const browser = await chromium.launch({ executablePath: process.env.MNV2_CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.goto(`${server.url}bench.html?rounds=${rounds}&runs=${runs}`);
  await page.waitForFunction(() => window.benchResult, null, { timeout: 0 });
  const result = await page.evaluate(() => window.benchResult);
  if (result.error) throw new Error(result.error);
  mkdirSync(join(target, 'browser-shots'), { recursive: true });
  await page.screenshot({ path: join(target, 'browser-shots', 'wasm-bench.png'), fullPage: true });
  const v = result.versions;
  console.log(`${v.browser}; ${v.mnv2}; ${v.ort}; ${v.tfjs}; ${rounds} rounds x ${runs} runs, alternating\n`);
  console.log("| precision | engine | min ms | median ms | min / fastest peer min | median / fastest peer median |\n|---|---|---|---|---|---|");
  for (const r of result.rows) {
    console.log(`| ${r.group} | ${r.engine} | ${r.min.toFixed(1)} | ${r.median.toFixed(1)} | ${r.minVsFastestPeer.toFixed(2)} | ${r.vsFastestPeer.toFixed(2)} |`);
  }
} finally {
  await browser.close();
  await server.close();
}
