// The payer's pages on a slow phone (issue 14, part 6): Debian's chromium
// through the DevTools protocol with the network of DevTools' "Slow 4G"
// preset (562.5 ms latency, 1.44 Mbit/s down, 675 kbit/s up) and the CPU
// slowed 4×, a fresh profile (empty cache) for every load. For the demo form
// and for a pay page it reports, median of 5: first contentful paint, the
// moment the WASM bundle has hydrated the page (its handlers attached: it is
// interactive), and how long after that the page answers an input.
//
// `cargo xtask bench-phone` builds the release site and server and runs it;
// alone: `BASE_URL=http://127.0.0.1:3000 node end2end/bench/phone.mjs`.
// It prints figures and asserts nothing.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BASE_URL = process.env.BASE_URL ?? 'http://127.0.0.1:3000';
const RUNS = Number(process.env.RUNS ?? 5);
// DevTools' "Slow 4G": 150 ms RTT × 3.75, 1.6 Mbit/s × 0.9 down, 750 kbit/s × 0.9 up.
const SLOW_4G = {
  offline: false,
  latency: 150 * 3.75,
  downloadThroughput: (1.6 * 1000 * 1000) / 8 * 0.9,
  uploadThroughput: (750 * 1000) / 8 * 0.9,
};
const CPU_SLOWDOWN = 4;

// Records when the bundle declares the page hydrated (it sets this flag).
const RECORD_HYDRATION = `
  Object.defineProperty(window, '__formpay_hydrated', {
    configurable: true,
    get() { return this.__formpay_hydrated_value === true; },
    set(v) {
      if (v === true && this.__formpay_hydrated_at === undefined) {
        this.__formpay_hydrated_at = performance.now();
      }
      this.__formpay_hydrated_value = v;
    },
  });
`;

async function loadOnce(path, input) {
  const dir = mkdtempSync(join(tmpdir(), 'formpay-phone-bench-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    viewport: { width: 375, height: 667 },
    isMobile: true,
    hasTouch: true,
    userAgent:
      'Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run'],
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    await page.addInitScript(RECORD_HYDRATION);
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
    await cdp.send('Network.emulateNetworkConditions', SLOW_4G);
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: CPU_SLOWDOWN });
    await page.goto(BASE_URL + path, { waitUntil: 'commit', timeout: 120_000 });
    await page.waitForFunction(() => window.__formpay_hydrated_at !== undefined, null, {
      timeout: 120_000,
      polling: 50,
    });
    const timing = await page.evaluate(() => ({
      fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN,
      hydrated: window.__formpay_hydrated_at,
      bytes: performance
        .getEntriesByType('resource')
        .concat(performance.getEntriesByType('navigation'))
        .reduce((sum, e) => sum + (e.transferSize ?? 0), 0),
    }));
    // Interactive: an input answered by the hydrated page, timed inside it.
    timing.inputDelay = await input(page);
    return timing;
  } finally {
    await context.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

async function measure(label, path, input) {
  const runs = [];
  for (let i = 0; i < RUNS; i++) runs.push(await loadOnce(path, input));
  const fcp = median(runs.map((r) => r.fcp));
  const hydrated = median(runs.map((r) => r.hydrated));
  const inputDelay = median(runs.map((r) => r.inputDelay));
  const kb = median(runs.map((r) => r.bytes)) / 1024;
  console.log(
    `${label}: first contentful paint ${fcp.toFixed(0)} ms (target < 1200), ` +
      `hydrated and interactive ${hydrated.toFixed(0)} ms (target < 2500), ` +
      `input answered in ${inputDelay.toFixed(0)} ms after, ${kb.toFixed(0)} KiB transferred ` +
      `(median of ${RUNS}; Slow 4G, CPU ×${CPU_SLOWDOWN})`,
  );
}

// On the form: typing an amount updates the total (a reactive signal).
async function typeAmount(page) {
  return page.evaluate(
    () =>
      new Promise((resolve) => {
        const input = document.querySelector('[data-testid=input-amount]');
        const total = document.querySelector('[data-testid=total]');
        const started = performance.now();
        new MutationObserver((_, observer) => {
          observer.disconnect();
          resolve(performance.now() - started);
        }).observe(total, { subtree: true, childList: true, characterData: true });
        input.value = '9.99';
        input.dispatchEvent(new Event('input', { bubbles: true }));
      }),
  );
}

// On the pay page: "other methods" opens the list (a reactive signal in the
// payment island). (The language switch of a payer's page loads it again.)
async function openOtherMethods(page) {
  return page.evaluate(
    () =>
      new Promise((resolve) => {
        const button = document.querySelector('[data-testid=other-methods]');
        if (!button) return resolve(NaN);
        const started = performance.now();
        new MutationObserver((_, observer) => {
          observer.disconnect();
          resolve(performance.now() - started);
        }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
        button.click();
      }),
  );
}

const submitted = await fetch(BASE_URL + '/api/v1/forms/demo/submissions', {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ answers: { name: '手机', amount: '8.80' } }),
});
if (!submitted.ok) throw new Error(`cannot make an order: HTTP ${submitted.status}`);
const { order } = await submitted.json();

console.log(`phone bench against ${BASE_URL} (Debian chromium, fresh profile per load)`);
await measure('demo form /f/demo', '/f/demo', typeAmount);
await measure(`pay page /pay/${order.id.slice(0, 8)}…`, `/pay/${order.id}`, openOtherMethods);
process.exit(0);
