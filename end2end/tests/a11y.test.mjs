// Accessibility (issue 18): every page, payer and administrator, in the
// states people meet, checked by axe-core (npm `axe-core`, injected into the
// page) against the WCAG 2.1 A/AA rules, on a 375 px phone screen; any
// violation fails. Also: field errors tied to their inputs and the first one
// focused, the payment status announced politely, keyboard focus visible, text
// zoomed to 200 % without horizontal scrolling, and dark mode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { launch, waitForHydration, adminLogin, BASE_URL, TEST_OPTIONS } from './browser.mjs';

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const WCAG21_AA = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
const UA_WECHAT = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.44(0x18002c2f) NetType/WIFI Language/zh_CN';
const UA_SAFARI = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1';

function phone(extra = {}) {
  // Our pages send a CSP with nonces; axe is injected by the test, so the
  // test's own script is let through (the page's policy is unchanged).
  return { viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true, bypassCSP: true, ...extra };
}

/// Runs axe-core on the page as it is now; fails with every violation named.
async function audit(page, state) {
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) {
    await page.addScriptTag({ content: AXE_SOURCE });
  }
  const result = await page.evaluate(
    (tags) => window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] }),
    WCAG21_AA,
  );
  const found = result.violations.map(
    (v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.slice(0, 4).map((n) => `${n.target.join(' ')} ${n.failureSummary?.split('\n')[1] ?? ''}`).join('\n    ')}`,
  );
  assert.deepEqual(found, [], `${state}: ${found.length} WCAG 2.1 AA violation(s)\n  ${found.join('\n  ')}`);
}

/// No horizontal scrolling, also with the text at 200 %.
async function fitsAtZoom(page, state) {
  const widths = await page.evaluate(async () => {
    const before = document.documentElement.scrollWidth;
    document.documentElement.style.fontSize = '200%';
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    const zoomed = document.documentElement.scrollWidth;
    document.documentElement.style.fontSize = '';
    return [before, zoomed];
  });
  assert.ok(widths[0] <= 375 && widths[1] <= 375, `${state}: no horizontal scrolling at 375 px (100 %: ${widths[0]} px, 200 %: ${widths[1]} px)`);
}

async function fillDemo(page, amount) {
  await page.goto(BASE_URL + '/f/demo');
  await waitForHydration(page);
  await page.fill('[data-testid=input-name]', '钱七');
  await page.fill('[data-testid=input-amount]', amount);
  await page.waitForFunction(
    (want) => document.querySelector('[data-testid=total]')?.textContent.includes(want),
    '¥' + amount,
  );
  await page.click('[data-testid=submit]');
  await page.waitForURL(/\/pay\/[0-9a-f]{32}$/);
  await waitForHydration(page);
}


test('payer pages pass WCAG 2.1 AA in every state, light and dark, and fit at 200 % text', TEST_OPTIONS, async () => {
  for (const colorScheme of ['light', 'dark']) {
    const b = await launch(phone({ colorScheme }));
    const p = b.page;
    const at = (s) => `${s} (${colorScheme})`;
    try {
      await p.goto(BASE_URL + '/');
      await waitForHydration(p);
      await audit(p, at('home'));
      await fitsAtZoom(p, at('home'));

      await p.goto(BASE_URL + '/f/demo');
      await waitForHydration(p);
      await audit(p, at('form, empty'));
      await fitsAtZoom(p, at('form'));

      // Validation errors: tied to their inputs, the first one focused, a summary announced.
      await p.fill('[data-testid=input-amount]', '1.234');
      await p.click('[data-testid=submit]');
      await p.waitForSelector('[data-testid=field-error]');
      const tied = await p.$$eval('[aria-invalid=true]', (els) => els.map((el) => ({
        key: el.getAttribute('name'),
        described: (el.getAttribute('aria-describedby') ?? '').split(' ').map((id) => document.getElementById(id)?.textContent ?? '').join(' '),
      })));
      assert.deepEqual(tied.map((t) => t.key).sort(), ['amount', 'name']);
      for (const t of tied) assert.ok(t.described.trim().length > 0, `the error of ${t.key} is its description`);
      assert.equal(await p.evaluate(() => document.activeElement?.getAttribute('name')), 'name', 'the first invalid field has the focus');
      assert.ok(await p.$('[role=alert][data-testid=error-summary]'), 'a summary is announced');
      await audit(p, at('form, with validation errors'));

      // Paying: the status is a polite live region, the countdown is not in it.
      await fillDemo(p, '9.99');
      await audit(p, at('pay page, choosing'));
      await fitsAtZoom(p, at('pay page'));
      const live = await p.$eval('[data-testid=pay-status]', (el) => el.closest('[aria-live]')?.getAttribute('aria-live'));
      assert.equal(live, 'polite');
      assert.equal(await p.$eval('[data-testid=countdown]', (el) => el.closest('[aria-live]')?.getAttribute('aria-live') ?? null), null);
      await p.click('[data-testid=pay-wechat_native]');
      await p.waitForSelector('[data-testid=qr-code] svg');
      const qrName = await p.$eval('[data-testid=qr-code]', (el) => el.getAttribute('role') === 'img' ? el.getAttribute('aria-label') : null);
      assert.match(qrName ?? '', /¥9\.99/, 'the QR code says the amount and what to do');
      await audit(p, at('pay page, QR code'));

      // Keyboard: the simulator link is reachable and focus is visible.
      const payerUrl = await p.getAttribute('[data-testid=simulator-link]', 'href');
      let reached = false;
      for (let i = 0; i < 40 && !reached; i++) {
        await p.keyboard.press('Tab');
        reached = await p.evaluate(() => document.activeElement?.dataset?.testid === 'simulator-link');
      }
      assert.ok(reached, 'the simulator link is reachable by keyboard');
      const outline = await p.$eval('[data-testid=simulator-link]', (el) => getComputedStyle(el).outlineStyle);
      assert.notEqual(outline, 'none', 'focus is visible');

      const sim = await b.context.newPage();
      await sim.goto(payerUrl);
      await sim.click('[data-testid=sim-pay]');
      await sim.waitForFunction(() => document.querySelector('[data-testid=sim-state]')?.textContent.includes('paid'));
      await Promise.race([sim.close(), new Promise((r) => setTimeout(r, 5_000))]);
      await p.waitForSelector('[data-testid=pay-status][data-status=paid]', { timeout: 15_000 });
      await audit(p, at('pay page, paid'));
      await p.click('[data-testid=receipt-link]');
      await p.waitForSelector('[data-testid=receipt]');
      await audit(p, at('receipt'));
      await fitsAtZoom(p, at('receipt'));

      await p.goto(BASE_URL + '/f/no-such-form');
      await audit(p, at('form not found'));
      await p.goto(BASE_URL + '/admin/login');
      await waitForHydration(p);
      await audit(p, at('login'));
      await p.fill('input[name=email]', 'nobody@example.com');
      await p.fill('input[name=password]', 'wrong password');
      await p.click('button[type=submit]');
      await p.waitForSelector('[data-testid=login-error]');
      await audit(p, at('login, refused'));
      assert.deepEqual(b.errors.filter((e) => !e.includes('HTTP 404')), []);
    } finally {
      await b.close();
    }
  }
});

test('the phone modes pass WCAG 2.1 AA: inside WeChat (guide, failed login), Safari (H5/WAP)', TEST_OPTIONS, async () => {
  const b = await launch(phone({ userAgent: UA_WECHAT }));
  try {
    await fillDemo(b.page, '2.00');
    await audit(b.page, 'pay page inside WeChat');
    await b.page.click('[data-testid=pay-alipay_wap]');
    await b.page.waitForSelector('[data-testid=open-in-browser]');
    await audit(b.page, 'pay page inside WeChat, the open-in-browser guide');
    await b.page.goto(b.page.url().split('?')[0] + '?wechat_login=failed');
    await waitForHydration(b.page);
    await b.page.waitForSelector('[data-testid=wechat-login-failed]');
    await audit(b.page, 'pay page inside WeChat, login failed');
  } finally {
    await b.close();
  }
  const s = await launch(phone({ userAgent: UA_SAFARI }));
  try {
    await fillDemo(s.page, '2.50');
    await audit(s.page, 'pay page in Safari');
    await s.page.click('[data-testid=other-methods]');
    await s.page.waitForSelector('[data-testid=pay-wechat_native]');
    await audit(s.page, 'pay page in Safari, other methods open');
  } finally {
    await s.close();
  }
});

test('administrator pages pass WCAG 2.1 AA, on a phone and on a desktop, light and dark', TEST_OPTIONS, async () => {
  // An order to look at, closed by the administrator (the "closed" state of the pay page).
  const payer = await launch(phone());
  await fillDemo(payer.page, '4.40');
  const payUrl = payer.page.url();
  const orderId = payUrl.split('/pay/')[1];
  // And a paid one, to refund.
  await fillDemo(payer.page, '6.60');
  const paidId = payer.page.url().split('/pay/')[1];
  await payer.page.click('[data-testid=pay-wechat_native]');
  const simUrl = await payer.page.getAttribute('[data-testid=simulator-link]', 'href');
  const sim = await payer.context.newPage();
  await sim.goto(simUrl);
  await sim.click('[data-testid=sim-pay]');
  await sim.waitForFunction(() => document.querySelector('[data-testid=sim-state]')?.textContent.includes('paid'));
  await payer.page.waitForSelector('[data-testid=pay-status][data-status=paid]', { timeout: 15_000 });
  await payer.close();

  for (const [viewport, colorScheme] of [
    [{ width: 375, height: 740 }, 'light'],
    [{ width: 1280, height: 800 }, 'light'],
    [{ width: 1280, height: 800 }, 'dark'],
  ]) {
    const b = await launch({ viewport, colorScheme, bypassCSP: true });
    const p = b.page;
    const at = (s) => `${s} (${viewport.width} px, ${colorScheme})`;
    try {
      await adminLogin(p);
      await audit(p, at('dashboard'));
      for (const [path, state] of [
        ['/admin/forms', 'forms'],
        ['/admin/forms/new', 'form builder, new form'],
        ['/admin/orders', 'orders'],
        ['/admin/stats', 'income'],
        ['/admin/accounts', 'receiving accounts'],
        ['/admin/audit', 'audit log'],
      ]) {
        await p.goto(BASE_URL + path);
        await waitForHydration(p);
        await p.waitForSelector('main, .page');
        await audit(p, at(state));
      }
      await p.goto(BASE_URL + '/admin/forms');
      await waitForHydration(p);
      const editLink = await p.getAttribute('a[href^="/admin/forms/"][href$="/submissions"]', 'href');
      await p.goto(BASE_URL + editLink);
      await waitForHydration(p);
      await audit(p, at('submissions'));
      await p.goto(BASE_URL + editLink.replace('/submissions', ''));
      await waitForHydration(p);
      await audit(p, at('form builder, existing form'));
      await p.goto(BASE_URL + '/admin/orders/' + orderId);
      await waitForHydration(p);
      await p.waitForSelector('[data-testid=order-status]');
      await audit(p, at('order'));
      // A paid order, and a refund refused (more than was paid).
      await p.goto(BASE_URL + '/admin/orders/' + paidId);
      await waitForHydration(p);
      await p.waitForSelector('[data-testid=refund-form]');
      await audit(p, at('order, paid'));
      await p.fill('[data-testid=refund-amount]', '99.00');
      await p.fill('[data-testid=refund-reason]', '测试');
      await p.click('[data-testid=refund-submit]');
      await p.waitForSelector('[data-testid=action-message]');
      await audit(p, at('order, refund refused'));
      // A receiving account refused (nothing filled in).
      await p.goto(BASE_URL + '/admin/accounts');
      await waitForHydration(p);
      await p.fill('[data-testid=account-name]', '缺少密钥的账户');
      await p.click('[data-testid=account-save]');
      await p.waitForSelector('[data-testid=account-message]');
      await audit(p, at('receiving accounts, refused'));
      if (viewport.width === 375) {
        await p.goto(BASE_URL + '/admin/orders/' + orderId);
        await waitForHydration(p);
        await p.click('[data-testid=close-order]');
        await p.waitForSelector('[data-testid=order-status][data-status=closed]');
        await audit(p, at('order, closed'));
        await p.goto(payUrl);
        await waitForHydration(p);
        await p.waitForSelector('[data-testid=pay-status][data-status=closed]');
        await audit(p, at('pay page, closed'));
      }
    } finally {
      await b.close();
    }
  }
});
