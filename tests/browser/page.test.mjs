// mnv2 serve's web page in headless Chromium: pick cat.bmp and see "Egyptian cat"; segment a dog
// and see the overlay and its classes; detect pedestrians and see the boxes. Screenshots go to
// $MNV2_SHOTS (default target/browser-shots). Run by crates/serve/tests/browser.rs with the
// server's address in $MNV2_URL and the shared folder in $MNV2_SHARED_DIR.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const url = process.env.MNV2_URL;
const shared = process.env.MNV2_SHARED_DIR;
const shots = process.env.MNV2_SHOTS || 'target/browser-shots';
const executablePath = process.env.MNV2_CHROMIUM || '/usr/bin/chromium';
if (!url || !shared) throw new Error('MNV2_URL and MNV2_SHARED_DIR must be set');
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  page.setDefaultTimeout(30000);
  await page.goto(url);
  await page.waitForFunction(() => document.querySelectorAll('#model option').length === 3);

  // Classification: the top-5 bars name the cat.
  await page.selectOption('#model', { label: 'cls (classify, int8)' });
  await page.setInputFiles('#file', join(shared, 'images', 'cat.bmp'));
  await page.getByText('Egyptian cat').waitFor();
  const bars = await page.locator('#result .bar').count();
  if (bars !== 5) throw new Error(`expected 5 bars, saw ${bars}`);
  await page.screenshot({ path: join(shots, 'classify.png') });

  // Segmentation: the overlay picture appears, and the dog is listed.
  // Choosing the model re-runs the cat; its first answer is held back until after the dog's, and
  // must not replace it.
  let held = false;
  await page.route('**/segment*', async (route) => {
    if (!held) {
      held = true;
      await new Promise((resume) => setTimeout(resume, 1500));
    }
    await route.continue();
  });
  await page.selectOption('#model', { label: 'seg (segment, int8)' });
  await page.setInputFiles('#file', join(shared, 'images', 'dog_segmentation.bmp'));
  await page.locator('#result td', { hasText: 'dog' }).waitFor();
  await page.waitForFunction(() => document.querySelector('#picture').naturalWidth > 0);
  await page.waitForTimeout(2000);
  if (!(await page.locator('#result td', { hasText: 'dog' }).count())) throw new Error('the dog was replaced');
  await page.screenshot({ path: join(shots, 'segment.png') });

  // Detection: the boxes picture appears, with pedestrians listed.
  await page.selectOption('#model', { label: 'det (detect, f32)' });
  await page.setInputFiles('#file', join(shared, 'images', 'kite_and_cold.jpg'));
  await page.locator('#result td', { hasText: 'pedestrian' }).first().waitFor();
  await page.waitForFunction(() => document.querySelector('#picture').naturalWidth > 0);
  await page.screenshot({ path: join(shots, 'detect.png') });
  console.log(`browser test passed; screenshots in ${shots}`);
} finally {
  await browser.close();
}
