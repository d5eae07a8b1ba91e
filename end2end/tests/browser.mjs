// Shared set-up for the browser tests: Debian's chromium driven by
// playwright-core (never a downloaded browser), every console error collected.
import { chromium } from 'playwright-core';
import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const BASE_URL = process.env.BASE_URL ?? 'http://127.0.0.1:3000';

/// A browser; `options` are playwright's context options (a phone's
/// `userAgent`, `viewport`, `isMobile`, `hasTouch`).
export async function launch(options = {}) {
  const userDataDir = mkdtempSync(join(tmpdir(), 'formpay-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    // Fail, never hang: a stuck browser ends the test instead of the CI run.
    timeout: 60_000,
    ...options,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  context.setDefaultTimeout(20_000);
  context.setDefaultNavigationTimeout(30_000);
  const errors = [];
  context.on('page', (page) => watch(page, errors));
  const page = context.pages()[0] ?? (await context.newPage());
  watch(page, errors);
  return {
    page,
    context,
    errors,
    async close() {
      await Promise.race([context.close(), new Promise((resolve) => setTimeout(resolve, 15_000))]);
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

function watch(page, errors) {
  page.__formpayErrors = errors;
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => errors.push(`page error: ${err.message}`));
  page.on('response', (res) => {
    if (res.status() >= 400) errors.push(`HTTP ${res.status()} for ${res.url()}`);
  });
}

/// Resolves once the WASM bundle has hydrated the page.
export async function waitForHydration(page) {
  try {
    await page.waitForFunction(() => window.__formpay_hydrated === true, null, { timeout: 30_000 });
  } catch (e) {
    // Say which page, and what went wrong in it, rather than only "timeout".
    const seen = (page.__formpayErrors ?? []).slice(-10).join('\n  ');
    throw new Error(`${page.url()} was not hydrated in 30 s: ${e.message}\n  ${seen}`);
  }
}

/// Signs in as the test administrator (ADMIN_EMAIL / ADMIN_PASSWORD).
export async function adminLogin(page) {
  await page.goto(BASE_URL + '/admin/login');
  await waitForHydration(page);
  await page.fill('input[name=email]', process.env.ADMIN_EMAIL);
  await page.fill('input[name=password]', process.env.ADMIN_PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-testid=signed-in-as]');
  // The overview is live before a test goes on: leaving it mid-hydration
  // cuts its server call short, and the half-hydrated page logs a mismatch.
  await waitForHydration(page);
}

/// A demo order paid at the simulator (Alipay QR unless `channel` says), over plain HTTP.
export async function paidOrder(amount, name = '退款测试', phone = '13800138000', channel = 'alipay_qr') {
  const submitted = await fetch(BASE_URL + '/api/v1/forms/demo/submissions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ answers: { name, phone, amount } }),
  });
  if (submitted.status !== 201) throw new Error(`submit: ${submitted.status}`);
  const { order } = await submitted.json();
  const started = await fetch(`${BASE_URL}/api/v1/orders/${order.id}/pay`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ channel }),
  });
  const { qr_code } = await started.json();
  const paid = await fetch(qr_code + '/pay', { method: 'POST', redirect: 'manual' });
  if (!(paid.status >= 300 && paid.status < 400)) throw new Error(`pay: ${paid.status}`);
  for (let i = 0; i < 100; i++) {
    const o = await (await fetch(`${BASE_URL}/api/v1/orders/${order.id}`)).json();
    if (o.status === 'paid') return order;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the order was never paid');
}

/// Every browser test gets a deadline, so that nothing can hang CI.
export const TEST_OPTIONS = { timeout: 120_000 };

// A browser that does not close must not keep this file's process alive:
// once its tests are done, exit even if a connection lingers.
after(() => {
  setTimeout(() => process.exit(), 5_000).unref();
});
