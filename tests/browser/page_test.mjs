// The calculator page of `whisper-vram serve` in headless Chromium (Debian's /usr/bin/chromium, driven
// by playwright-core from tests/browser/node_modules; no browser is downloaded).
//
//   node tests/browser/page_test.mjs PATH/TO/whisper-vram [ARTIFACT_DIR]
//
// Starts `whisper-vram serve --listen 127.0.0.1:0 --simulate …` with a fresh WHISPER_VRAM_STATE_DIR,
// loads a shared URL (a configuration in the query string), checks the verdicts and that the bar's
// segments add up to the total (against the API's numbers and hand-computed values of the guide's
// formula), changes a field, adds a GPU, copies the link and reloads it in a new page, checks the view
// is the same, checks nothing overflows at 360 px, that strings from the API are inserted as text,
// and that no console error or page error happened. Screenshots go to ARTIFACT_DIR (default
// tests/browser/artifacts/).
//
// Exit 0 pass, 1 fail, 77 skip (chromium or playwright-core missing; a failure instead when
// WHISPER_VRAM_REQUIRE_TEST_TOOLS=1). Bounded: the whole run is killed after 100 s.

import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SKIP = 77;
const CHROMIUM = process.env.WHISPER_VRAM_CHROMIUM || '/usr/bin/chromium';
const here = path.dirname(fileURLToPath(import.meta.url));
const GIB = 1024 ** 3;

function skipOrFail(why) {
  if (process.env.WHISPER_VRAM_REQUIRE_TEST_TOOLS === '1') {
    console.error(`FAIL: ${why} (WHISPER_VRAM_REQUIRE_TEST_TOOLS=1: the test tools are required)`);
    process.exit(1);
  }
  console.log(`SKIP: ${why} (install with scripts/setup.sh --tests)`);
  process.exit(SKIP);
}

const binary = process.argv[2];
const artifacts = path.resolve(process.argv[3] || path.join(here, 'artifacts'));
if (!binary || !existsSync(binary)) {
  console.error(`usage: node page_test.mjs PATH/TO/whisper-vram [ARTIFACT_DIR] (got '${binary ?? ''}')`);
  process.exit(1);
}
function executable(file) {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch (e) {
    return false;
  }
}
if (!executable(CHROMIUM)) skipOrFail(`${CHROMIUM} is missing (or not an executable file)`);
let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (e) {
  skipOrFail(`playwright-core is not installed in ${here}/node_modules (cd tests/browser && npm ci)`);
}

// ---- harness ------------------------------------------------------------------------------------
let failures = 0;
function check(ok, what) {
  if (ok) {
    console.log(`ok   ${what}`);
  } else {
    failures += 1;
    console.log(`FAIL ${what}`);
  }
}
function equal(actual, expected, what) {
  const ok = actual === expected;
  check(ok, ok ? `${what} = ${JSON.stringify(expected)}` : `${what}: got ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
}

const stateDir = mkdtempSync(path.join(tmpdir(), 'wv-page-'));
let browser = null;
async function cleanup() {
  if (browser) await browser.close().catch(() => {});
  browser = null;
  for (const child of servers) if (child.exitCode === null) child.kill('SIGTERM');
  rmSync(stateDir, { recursive: true, force: true });
}
const watchdog = setTimeout(async () => {
  console.error('FAIL: the browser test ran past 100 s');
  for (const child of servers) child.kill('SIGKILL');
  process.exit(1);
}, 100_000);

// Three simulated GPUs: a catalog RTX 3090 (24 GiB), 32 GiB, and 40 GiB with 1 GiB used (39 admittable).
const SIMULATE = 'RTX 3090,32GiB,40GiB:used=1GiB';

const servers = [];
function startServer(args = ['--simulate', SIMULATE], extraEnv = {}) {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, WHISPER_VRAM_STATE_DIR: stateDir, WHISPER_VRAM_ENGINE: '', ...extraEnv };
    delete env.WHISPER_VRAM_SIMULATE;
    const child = spawn(binary, ['serve', '--listen', '127.0.0.1:0', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    servers.push(child);
    let out = '';
    const timer = setTimeout(() => reject(new Error(`serve printed no 'listening on' line in 15 s: ${out}`)), 15_000);
    const onData = (chunk) => {
      out += chunk.toString();
      const m = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code} before listening: ${out}`));
    });
  });
}

// Console errors, page errors, failed requests and HTTP errors of a page (expected ones filtered).
function watch(page, label, allowStatus = []) {
  const problems = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`${label}: console error: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`${label}: page error: ${err.message}`));
  page.on('requestfailed', (req) => problems.push(`${label}: request failed: ${req.url()} ${req.failure()?.errorText}`));
  page.on('response', (res) => {
    if (res.status() >= 400 && !allowStatus.includes(res.status())) problems.push(`${label}: HTTP ${res.status()} for ${res.url()}`);
  });
  return problems;
}
function withoutAllowed(problems, allowStatus) {
  // Chromium logs every 4xx response as a console error; the ones a page expects are not failures.
  return problems.filter((p) => !allowStatus.some((s) => p.includes('console error') && p.includes(`status of ${s}`)));
}

async function settled(page) {
  await page.waitForFunction(() => {
    const s = document.getElementById('status');
    return s && (s.dataset.state === 'ready' || s.dataset.state === 'error');
  }, null, { timeout: 15_000 });
  return page.$eval('#status', (s) => s.dataset.state);
}

// The page's view: what a reload of its link must reproduce.
async function view(page) {
  return page.evaluate(() => {
    const segs = [...document.querySelectorAll('#bar .seg')];
    const bar = document.getElementById('bar').getBoundingClientRect();
    return {
      model: document.getElementById('model').value,
      engine: document.getElementById('engine').value,
      precision: document.getElementById('precision').value,
      batch: document.getElementById('batch').value,
      segment: document.getElementById('segment').value,
      custom: document.getElementById('custom').value,
      total: Number(document.getElementById('summary').dataset.totalBytes),
      recommended: Number(document.getElementById('summary').dataset.recommendedBytes),
      totalText: document.getElementById('total-gib').textContent,
      segments: segs.map((s) => ({ name: s.dataset.component, bytes: Number(s.dataset.bytes), width: s.getBoundingClientRect().width })),
      barWidth: bar.width - 2, // its 1 px border on each side
      rows: [...document.querySelectorAll('#fit-rows tr[data-gpu]')].map((r) => ({
        gpu: r.dataset.gpu, verdict: r.dataset.verdict, available: r.dataset.availableBytes ?? null, required: r.dataset.requiredBytes ?? null,
      })),
      link: document.getElementById('link').value,
      cli: document.getElementById('cli').value,
      cluster: document.getElementById('cluster').value,
    };
  });
}

function checkBar(v, api, what) {
  const sum = v.segments.reduce((a, s) => a + s.bytes, 0);
  // Each component is rounded to whole bytes on its own: their sum is the total within one byte each.
  check(Math.abs(sum - api.total_required_bytes) <= v.segments.length,
    `${what}: the bar's segments add up to the API's total (${sum} vs ${api.total_required_bytes} bytes, ${v.segments.length} segments)`);
  const widths = v.segments.reduce((a, s) => a + s.width, 0);
  check(Math.abs(widths - v.barWidth) <= 1.5, `${what}: the segments fill the bar (${widths.toFixed(1)} of ${v.barWidth.toFixed(1)} px)`);
  const apiNames = Object.keys(api.breakdown_bytes).filter((k) => api.breakdown_bytes[k] > 0);
  equal(v.segments.map((s) => s.name).join(','), apiNames.join(','), `${what}: segments are the API's non-zero components, in order`);
  for (const s of v.segments) {
    const want = api.breakdown_bytes[s.name];
    if (s.bytes !== want) check(false, `${what}: segment ${s.name} is ${s.bytes} bytes, the API says ${want}`);
    const share = s.width / v.barWidth;
    if (Math.abs(share - want / api.total_required_bytes) > 0.005) {
      check(false, `${what}: segment ${s.name} is ${(100 * share).toFixed(2)}% of the bar, ${(100 * want / api.total_required_bytes).toFixed(2)}% of the total`);
    }
  }
}

async function apiEstimate(base, fields) {
  const res = await fetch(`${base}/api/v1/estimate?${new URLSearchParams(fields)}`);
  if (!res.ok) throw new Error(`GET /api/v1/estimate ${JSON.stringify(fields)}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

// ---- the test -----------------------------------------------------------------------------------
try {
  const base = await startServer();
  console.log(`serve: ${base} (state ${stateDir})`);
  const catalog = await (await fetch(`${base}/api/v1/gpu-catalog`)).json();
  const catalogBytes = (name) => catalog.gpus.find((g) => g.name === name)?.memory_bytes;
  const gpus = await (await fetch(`${base}/api/v1/gpus`)).json();
  equal(gpus.gpus.map((g) => g.admittable_bytes).join(','), [24 * GIB, 32 * GIB, 39 * GIB].join(','), 'simulated GPUs admit 24, 32, 39 GiB');

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true });
  const context = await browser.newContext({ viewport: { width: 1000, height: 900 } });

  // 1. A shared link: the guide's example 2 (large, int8, 600 s, batch 2) on a catalog RTX 3090 and
  //    A100 80GB, a custom 32 GiB, and the three simulated GPUs of this machine.
  const job = { model: 'large', engine: 'guide', precision: 'int8', batch: '2', segment: '600' };
  const shared = `${base}/?${new URLSearchParams({ ...job })}&gpu=${encodeURIComponent('RTX 3090')}&gpu=${encodeURIComponent('A100 80GB')}&local=0,1,2&custom=32`;
  const page = await context.newPage();
  const problems = watch(page, 'shared link');
  await page.goto(shared);
  equal(await settled(page), 'ready', 'the shared link settles');
  let v = await view(page);
  const api = await apiEstimate(base, job);
  // Hand-computed from the guide's formula (spec guide.zh.md; README "The guide's formula"):
  // base 2.5 GiB, audio 2.5 x 0.15 x 600/30 = 7.5, batch 0.2 + 7.5 x 2 = 15.2,
  // pytorch (2.5 + 15.2) x 0.25 = 4.425; total 29.625 GiB; recommended x 1.2 = 35.55 GiB.
  equal(api.total_required_bytes, 29.625 * GIB, 'API total_required_bytes (29.625 GiB)');
  equal(api.recommended_bytes, Math.ceil(35.55 * GIB), 'API recommended_bytes (35.55 GiB, rounded up)');
  equal(v.total, api.total_required_bytes, 'page total = API total');
  equal(v.recommended, api.recommended_bytes, 'page recommended = API recommended');
  equal(v.totalText, '29.62', 'page prints the total as the CLI does (29.62)');
  equal(v.segments.map((s) => `${s.name}=${s.bytes}`).join(' '),
    `base_model=${2.5 * GIB} audio_processing=${7.5 * GIB} batch_overhead=${Math.ceil(15.2 * GIB)} pytorch_overhead=${Math.ceil(4.425 * GIB)}`,
    'segments: the four guide components, hand-computed bytes (fractions rounded up)');
  checkBar(v, api, 'shared link');
  const verdicts = Object.fromEntries(v.rows.map((r) => [r.gpu, r.verdict]));
  const a100 = catalogBytes('A100 80GB');
  equal(verdicts['c:RTX 3090'], 'no', `catalog RTX 3090 (${(catalogBytes('RTX 3090') / GIB).toFixed(2)} GiB < 29.625): does not fit`);
  equal(verdicts['c:A100 80GB'], a100 >= api.recommended_bytes ? 'fits' : 'x', `catalog A100 80GB (${(a100 / GIB).toFixed(2)} GiB >= 35.55): fits`);
  equal(verdicts.custom, 'tight', 'custom 32 GiB (29.625 <= 32 < 35.55): tight');
  equal(verdicts['l:0'], 'no', 'simulated RTX 3090, 24 GiB admittable: does not fit');
  equal(verdicts['l:1'], 'tight', 'simulated 32 GiB: tight');
  equal(verdicts['l:2'], 'fits', 'simulated 40 GiB with 1 GiB used (39 admittable >= 35.55): fits');
  const customRow = v.rows.find((r) => r.gpu === 'custom');
  equal(customRow?.available, String(32 * GIB), 'custom row compares 32 GiB in bytes');
  check(v.cli.startsWith('whisper-vram calc large --engine guide --precision int8 --batch 2 --segment 600'), `copy as CLI: ${v.cli.split('\n')[0]}`);
  check(v.cli.includes('whisper-vram check large --engine guide --precision int8 --batch 2 --segment 600 --gpus 0,1,2'), 'copy as CLI has the check line for this machine\'s GPUs');
  check(v.cluster.includes('whisper-vram slurm request large --engine guide --precision int8 --batch 2 --segment 600') &&
    v.cluster.includes('whisper-vram k8s resources large --engine guide --precision int8 --batch 2 --segment 600 --flavor hami'), 'copy as cluster request: slurm and k8s lines');
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: path.join(artifacts, 'page-shared-link.png'), fullPage: true });

  // 2. Change a field (batch 2 -> 4) and add a GPU from the picker (L4).
  await page.fill('#batch', '4');
  await page.dispatchEvent('#batch', 'change');
  equal(await settled(page), 'ready', 'batch 4 settles');
  await page.selectOption('#catalog', 'L4');
  await page.click('#add-gpu');
  equal(await settled(page), 'ready', 'adding L4 settles');
  v = await view(page);
  const api4 = await apiEstimate(base, { ...job, batch: '4' });
  // batch 0.2 + 7.5 x 4 = 30.2; pytorch (2.5 + 30.2) x 0.25 = 8.175; total 48.375 GiB; recommended 58.05.
  equal(api4.total_required_bytes, 48.375 * GIB, 'batch 4: API total 48.375 GiB');
  equal(v.total, api4.total_required_bytes, 'batch 4: page total = API total');
  checkBar(v, api4, 'batch 4');
  const verdicts4 = Object.fromEntries(v.rows.map((r) => [r.gpu, r.verdict]));
  equal(verdicts4.custom, 'no', 'batch 4: custom 32 GiB does not fit');
  equal(verdicts4['l:2'], 'no', 'batch 4: simulated 39 GiB admittable does not fit');
  equal(verdicts4['c:L4'], 'no', 'batch 4: the added L4 is in the table, does not fit');
  equal(verdicts4['c:A100 80GB'], a100 >= api4.recommended_bytes ? 'fits' : (a100 >= api4.total_required_bytes ? 'tight' : 'no'), 'batch 4: A100 80GB');
  const link = await page.$eval('#link', (e) => e.value);
  check(link.includes('batch=4') && link.includes('gpu=L4'), `the copied link holds the change: ${link}`);
  await page.click('#copy-link');
  await page.waitForFunction(() => document.getElementById('copy-status').textContent !== '', null, { timeout: 5000 });

  // 3. The copied link in a new page reproduces the view.
  const page2 = await context.newPage();
  const problems2 = watch(page2, 'copied link');
  await page2.goto(link);
  equal(await settled(page2), 'ready', 'the copied link settles');
  const v2 = await view(page2);
  for (const key of ['model', 'engine', 'precision', 'batch', 'segment', 'custom', 'total', 'recommended', 'cli', 'cluster', 'link']) {
    equal(v2[key], v[key], `reloaded view: ${key}`);
  }
  equal(JSON.stringify(v2.rows), JSON.stringify(v.rows), 'reloaded view: the same GPUs, verdicts and margins');
  equal(JSON.stringify(v2.segments.map((s) => [s.name, s.bytes])), JSON.stringify(v.segments.map((s) => [s.name, s.bytes])), 'reloaded view: the same bar');

  // 4. An engine-aware job: beam enabled, per-GPU estimates; numbers still the API's.
  await page2.selectOption('#engine', 'faster-whisper');
  equal(await settled(page2), 'ready', 'faster-whisper settles');
  const v3 = await view(page2);
  const apiFw = await apiEstimate(base, { model: 'large', engine: 'faster-whisper', batch: '4', segment: '600' });
  equal(v3.total, apiFw.total_required_bytes, 'faster-whisper: page total = API total');
  checkBar(v3, apiFw, 'faster-whisper');
  equal(await page2.$eval('#beam', (e) => e.disabled), false, 'faster-whisper: beam is an input');
  const l4 = await apiEstimate(base, { model: 'large', engine: 'faster-whisper', batch: '4', segment: '600', gpu: 'L4' });
  equal(v3.rows.find((r) => r.gpu === 'c:L4')?.required, String(l4.recommended_bytes), 'faster-whisper: the L4 row uses the API\'s estimate for gpu=L4');

  // 5. 360 px wide: nothing overflows horizontally.
  const narrow = await browser.newContext({ viewport: { width: 360, height: 780 }, deviceScaleFactor: 1 });
  const page3 = await narrow.newPage();
  const problems3 = watch(page3, '360 px');
  await page3.goto(link);
  equal(await settled(page3), 'ready', '360 px: settles');
  const overflow = await page3.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const wide = [...document.querySelectorAll('body *')]
      .filter((e) => e.getClientRects().length > 0 && e.getBoundingClientRect().right > width + 0.5 && !e.closest('select'))
      .map((e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''}.${e.className} right=${e.getBoundingClientRect().right.toFixed(1)}`);
    return { width, scroll: document.documentElement.scrollWidth, wide: wide.slice(0, 8) };
  });
  check(overflow.scroll <= overflow.width, `360 px: page scroll width ${overflow.scroll} <= ${overflow.width}`);
  check(overflow.wide.length === 0, `360 px: no element past the right edge${overflow.wide.length ? `: ${overflow.wide.join('; ')}` : ''}`);
  const narrowShot = path.join(artifacts, 'page-360px.png');
  await page3.screenshot({ path: narrowShot, fullPage: true });

  // 6. Strings from the API are text: a model name that is markup comes back in the API's error
  //    detail and must be shown as text, not parsed.
  const page4 = await context.newPage();
  const problems4 = watch(page4, 'markup in the query', [400]);
  await page4.goto(`${base}/?model=${encodeURIComponent('<img src=x onerror="window.__pwned=1">')}&engine=guide&local=`);
  equal(await settled(page4), 'error', 'an unknown model: the page shows the error state');
  const err = await page4.evaluate(() => ({
    text: document.getElementById('error').textContent, imgs: document.querySelectorAll('#error img, #model img').length, pwned: window.__pwned === 1,
  }));
  check(err.text.includes('<img src=x') && err.imgs === 0 && !err.pwned, `the API's detail is shown as text: ${err.text.slice(0, 120)}`);

  // 7. A server without GPU information (no NVML library): the page still works, says so, and logs
  //    no error (it asks /metrics first instead of taking a 503 from /api/v1/gpus).
  const bare = await startServer([], { WHISPER_VRAM_NVML_LIBRARY: path.join(stateDir, 'no-such-libnvidia-ml.so.1') });
  const page5 = await context.newPage();
  const problems5 = watch(page5, 'no GPU information');
  await page5.goto(`${bare}/?model=large&engine=guide&custom=12`);
  equal(await settled(page5), 'ready', 'no GPU information: settles');
  const bareView = await page5.evaluate(() => ({
    note: document.getElementById('local-note').textContent,
    boxes: document.querySelectorAll('#local-list input').length,
    verdict: document.querySelector('#fit-rows tr[data-gpu="custom"]')?.dataset.verdict,
  }));
  check(bareView.note.includes('no GPU information') && bareView.boxes === 0, `no GPU information: the page says so (${bareView.note})`);
  // large, float16, 30 s, batch 1: 8.1875 GiB total, 9.825 recommended; 12 GiB fits.
  equal(bareView.verdict, 'fits', 'no GPU information: custom 12 GiB still gets a verdict (fits 9.825 GiB)');

  // The README's screenshot (docs/page.png): the shared link at desktop width, its three verdicts.
  const shot = path.join(artifacts, 'page.png');
  await page.bringToFront();
  await page.setViewportSize({ width: 900, height: 1240 });
  await page.goto(shared);
  await settled(page);
  await page.screenshot({ path: shot, fullPage: false });
  console.log(`screenshots: ${shot} (${statSync(shot).size} bytes), ${narrowShot}, ${path.join(artifacts, 'page-shared-link.png')}`);

  const all = [...problems, ...problems2, ...problems3, ...withoutAllowed(problems4, [400]), ...problems5];
  check(all.length === 0, `no console error, page error or failed request${all.length ? `:\n  ${all.join('\n  ')}` : ''}`);
} catch (e) {
  failures += 1;
  console.log(`FAIL ${e && e.stack ? e.stack : e}`);
} finally {
  clearTimeout(watchdog);
  await cleanup();
}
console.log(failures === 0 ? 'PASS: page test' : `FAIL: ${failures} check(s) failed`);
process.exit(failures === 0 ? 0 : 1);
