import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { launch, waitForHydration, adminLogin, BASE_URL, TEST_OPTIONS } from './browser.mjs';

/// RFC 6238 (SHA-1, 6 digits, 30 s): what an authenticator app shows.
function totp(secretBase32, offset = 0) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const key = [];
  for (const c of secretBase32.replace(/=+$/, '')) {
    value = ((value << 5) | alphabet.indexOf(c)) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      key.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30_000) + offset));
  const h = createHmac('sha1', Buffer.from(key)).update(counter).digest();
  const o = h[19] & 15;
  const n = (((h[o] & 0x7f) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3]) % 1_000_000;
  return String(n).padStart(6, '0');
}

/// An owner invites an editor; the editor joins from the one-time link, sees
/// only an editor's pages, turns on two-factor login by scanning (here:
/// reading) the secret, and from then on signs in with a code.
test('an invited editor joins and signs in with two-factor login', TEST_OPTIONS, async () => {
  const email = `editor${Date.now()}@e2e.example`;
  const password = 'editor-password-123';
  const owner = await launch();
  const editor = await launch();
  const later = await launch();
  try {
    await adminLogin(owner.page);
    await owner.page.goto(BASE_URL + '/admin/people');
    await waitForHydration(owner.page);
    await owner.page.fill('[data-testid=invite-form] input[name=email]', email);
    await owner.page.selectOption('[data-testid=invite-form] select[name=role]', 'editor');
    await owner.page.click('[data-testid=invite-form] button[type=submit]');
    const link = (await (await owner.page.waitForSelector('[data-testid=invite-link]:not(:empty)')).textContent()).trim();
    assert.match(link, /\/admin\/invite\/[0-9a-f]+$/);

    const page = editor.page;
    await page.goto(link);
    await waitForHydration(page);
    assert.match(await page.textContent('[data-testid=join-as]'), new RegExp(email));
    await page.fill('input[name=password]', password);
    await page.click('[data-testid=join]');
    await page.waitForSelector('[data-testid=joined]');

    await page.goto(BASE_URL + '/admin/login');
    await waitForHydration(page);
    await page.fill('input[name=email]', email);
    await page.fill('input[name=password]', password);
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-testid=signed-in-as]');
    assert.match(await page.textContent('[data-testid=signed-in-role]'), /编辑/);
    await page.waitForSelector('[data-testid=nav-forms]');
    assert.equal(await page.$('[data-testid=nav-accounts]:not([hidden])'), null, 'no receiving accounts for an editor');
    assert.equal(await page.$('[data-testid=nav-people]:not([hidden])'), null);

    await page.goto(BASE_URL + '/admin/me');
    await waitForHydration(page);
    await page.click('[data-testid=two-factor-start]');
    const secret = (await (await page.waitForSelector('[data-testid=two-factor-secret]:not(:empty)')).textContent()).trim();
    await page.waitForSelector('[data-testid=two-factor-qr] svg');
    await page.fill('[data-testid=two-factor-code]', totp(secret));
    await page.click('[data-testid=two-factor-confirm]');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=recovery-codes] li').length === 10);
    await page.waitForSelector('[data-testid=two-factor-on]');

    // From now on a password alone is not enough.
    const p2 = later.page;
    await p2.goto(BASE_URL + '/admin/login');
    await waitForHydration(p2);
    await p2.fill('input[name=email]', email);
    await p2.fill('input[name=password]', password);
    await p2.click('button[type=submit]');
    await p2.waitForSelector('[data-testid=login-code]');
    await p2.fill('[data-testid=login-code]', totp(secret, 1));
    await p2.click('button[type=submit]');
    await p2.waitForSelector('[data-testid=signed-in-as]');

    // Both sessions are listed on the editor's page.
    await page.goto(BASE_URL + '/admin/me');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=session]').length === 2);
  } finally {
    await owner.close();
    await editor.close();
    await later.close();
  }
});
