import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, waitForHydration, paidOrder, BASE_URL, TEST_OPTIONS } from './browser.mjs';

const fen = (text) => Math.round(Number(text.replace(/[¥,\s]/g, '')) * 100);

async function refundedToday(page) {
  await page.goto(BASE_URL + '/admin/stats?days=1');
  await page.waitForSelector('[data-testid=daily-chart]');
  return fen(await page.textContent('[data-testid=stats-refunded]'));
}

test('an administrator refunds part of an order and the statistics change', TEST_OPTIONS, async () => {
  const order = await paidOrder('5.00');
  const b = await launch();
  try {
    const page = b.page;
    await page.goto(BASE_URL + '/admin/login');
    await waitForHydration(page);
    await page.fill('input[name=email]', process.env.ADMIN_EMAIL);
    await page.fill('input[name=password]', process.env.ADMIN_PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-testid=signed-in-as]');

    const before = await refundedToday(page);

    // Find the order by its number, open it.
    await page.click('[data-testid=nav-orders]');
    await page.waitForSelector('[data-testid=order-search]');
    await page.fill('[data-testid=order-search]', order.out_trade_no);
    await page.press('[data-testid=order-search]', 'Enter');
    await page.waitForFunction(() => document.querySelector('[data-testid=orders-total]')?.textContent.startsWith('1 '));
    await page.click('[data-testid=order-link]');
    await page.waitForSelector('[data-testid=refund-form]');
    await waitForHydration(page);
    assert.equal(await page.textContent('[data-testid=order-amount]'), '¥5.00');

    // Refund 1.20 of it.
    await page.fill('[data-testid=refund-amount]', '1.20');
    await page.fill('[data-testid=refund-reason]', '少发一件 T 恤');
    await page.click('[data-testid=refund-submit]');
    await page.waitForFunction(() => document.querySelector('[data-testid=order-refunded]')?.textContent === '¥1.20');
    assert.match(await page.textContent('[data-testid=action-message]'), /部分退款/);
    assert.match(await page.textContent('[data-testid=refunds]'), /退款成功/);
    assert.match(await page.textContent('[data-testid=events]'), /refund_succeeded/);

    // The statistics count it.
    const after = await refundedToday(page);
    assert.equal(after - before, 120, `refunds today went from ${before} to ${after} fen`);

    // The audit log names who did it.
    await page.click('[data-testid=nav-audit]');
    await page.waitForSelector('[data-testid=audit]');
    assert.match(await page.textContent('[data-testid=audit] tbody tr'), new RegExp(process.env.ADMIN_EMAIL.replace('.', '\\.')));

    // A phone can read the chart without scrolling sideways.
    await page.setViewportSize({ width: 375, height: 740 });
    await page.goto(BASE_URL + '/admin/stats');
    await page.waitForSelector('[data-testid=daily-chart]');
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 375, `the statistics fit a phone (page is ${width}px wide)`);
    assert.deepEqual(b.errors, []);
  } finally {
    await b.close();
  }
});
