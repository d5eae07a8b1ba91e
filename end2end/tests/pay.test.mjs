import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, waitForHydration, BASE_URL, TEST_OPTIONS } from './browser.mjs';

async function fillDemo(page, amount) {
  await page.goto(BASE_URL + '/f/demo');
  await waitForHydration(page);
  await page.fill('[data-testid=input-name]', '王五');
  await page.fill('[data-testid=input-amount]', amount);
  await page.waitForFunction(
    (want) => document.querySelector('[data-testid=total]')?.textContent.includes(want),
    '¥' + amount,
  );
  await page.click('[data-testid=submit]');
  await page.waitForURL(/\/pay\/[0-9a-f]{32}$/);
  // The pay page is a page load of its own (the payers' pages hydrate as
  // islands, without a router); from here on it must turn by itself.
  await waitForHydration(page);
  await page.evaluate(() => { window.__no_reload = true; });
}

test('inline validation speaks Chinese and nothing is submitted', TEST_OPTIONS, async () => {
  const b = await launch();
  try {
    await b.page.setViewportSize({ width: 375, height: 740 });
    await b.page.goto(BASE_URL + '/f/demo');
    await waitForHydration(b.page);
    await b.page.fill('[data-testid=input-amount]', '1.234');
    await b.page.click('[data-testid=submit]');
    await b.page.waitForSelector('[data-testid=field-error]');
    const errors = await b.page.$$eval('[data-testid=field-error]', (els) => els.map((e) => e.textContent));
    assert.deepEqual(errors.sort(), ['必填', '请输入金额，如 12.34（最多两位小数）'].sort());
    assert.match(b.page.url(), /\/f\/demo$/);
    assert.deepEqual(b.errors, []);
  } finally {
    await b.close();
  }
});

test('a payer pays with WeChat Pay and the page turns to paid by itself', TEST_OPTIONS, async () => {
  const b = await launch();
  try {
    await b.page.setViewportSize({ width: 375, height: 740 });
    await fillDemo(b.page, '12.34');
    assert.equal(await b.page.textContent('[data-testid=pay-amount]'), '¥12.34');
    await b.page.click('[data-testid=pay-wechat_native]');
    await b.page.waitForSelector('[data-testid=qr-code] svg');
    const width = await b.page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 375, `no horizontal scrolling on a phone (page is ${width}px wide)`);
    const payerUrl = await b.page.getAttribute('[data-testid=simulator-link]', 'href');

    // The payer's phone: the simulator's page, in another tab.
    const phone = await b.context.newPage();
    await phone.goto(payerUrl);
    assert.equal(await phone.textContent('[data-testid=sim-amount]'), '¥12.34');
    await phone.click('[data-testid=sim-pay]');
    // The simulator answers the payment with its page in the paid state; the
    // tab is closed only then (closing mid-navigation can stall the browser).
    await phone.waitForFunction(
      () => document.querySelector('[data-testid=sim-state]')?.textContent.includes('paid'),
    );
    await Promise.race([phone.close(), new Promise((resolve) => setTimeout(resolve, 5_000))]);

    await b.page.waitForSelector('[data-testid=pay-status][data-status=paid]', { timeout: 15_000 });
    assert.equal(await b.page.evaluate(() => window.__no_reload), true, 'turned to paid without a reload');
    await b.page.click('[data-testid=receipt-link]');
    await b.page.waitForSelector('[data-testid=receipt]');
    assert.equal(await b.page.textContent('[data-testid=receipt-status]'), '已支付');
    assert.match(await b.page.textContent('[data-testid=receipt-transaction]'), /^4200/);
    assert.deepEqual(b.errors, []);
  } finally {
    await b.close();
  }
});

test('a payer pays with Alipay through the cashier and comes back to a paid page', TEST_OPTIONS, async () => {
  const b = await launch();
  try {
    await fillDemo(b.page, '0.01');
    await b.page.click('[data-testid=pay-alipay_page]');
    // The cashier (the simulator's gateway) leads to the payer's page.
    await b.page.waitForSelector('[data-testid=sim-pay]');
    assert.equal(await b.page.textContent('[data-testid=sim-amount]'), '¥0.01');
    await b.page.click('[data-testid=sim-pay]');
    // Back on the return URL: it shows the status; the notify settled it.
    await b.page.waitForURL(/\/pay\/[0-9a-f]{32}\?/);
    await waitForHydration(b.page);
    await b.page.waitForSelector('[data-testid=pay-status][data-status=paid]', { timeout: 15_000 });
    assert.deepEqual(b.errors, []);
  } finally {
    await b.close();
  }
});
