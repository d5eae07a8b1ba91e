// Shared set-up for the browser tests: Debian's chromium driven by
// playwright-core (never a downloaded browser), every console error collected.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const BASE_URL = process.env.BASE_URL ?? 'http://127.0.0.1:3000';

export async function launch() {
  const userDataDir = mkdtempSync(join(tmpdir(), 'formpay-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  const errors = [];
  context.on('page', (page) => watch(page, errors));
  const page = context.pages()[0] ?? (await context.newPage());
  watch(page, errors);
  return {
    page,
    context,
    errors,
    async close() {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

function watch(page, errors) {
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
  await page.waitForFunction(() => window.__formpay_hydrated === true, null, { timeout: 30_000 });
}
