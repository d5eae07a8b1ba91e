import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, waitForHydration, adminLogin, paidOrder, BASE_URL, TEST_OPTIONS } from './browser.mjs';

test('an owner gives a receiver 10 % of a form and sees a payment split', TEST_OPTIONS, async () => {
  const b = await launch();
  const page = b.page;
  try {
    await adminLogin(page);
    await page.click('[data-testid=nav-shares]');
    await page.waitForSelector('[data-testid=receiver-form]');
    await waitForHydration(page);

    // A merchant receiver, registered.
    await page.selectOption('[data-testid=receiver-kind]', 'MERCHANT_ID');
    await page.fill('[data-testid=receiver-account]', '1900000109');
    await page.fill('[data-testid=receiver-name]', '示例场地有限公司');
    await page.click('[data-testid=receiver-form] button[type=submit]');
    await page.waitForSelector('[data-testid=receivers] tbody tr:has-text("1900000109")');

    // 31 % is refused with the reason; 10 % of the demo form is kept.
    const demo = await page.$eval('[data-testid=share-form-id]', (s) =>
      [...s.options].find((o) => o.textContent.trim() === '示例表单：活动报名').value);
    await page.selectOption('[data-testid=share-form-id]', demo);
    await page.selectOption('[data-testid=share-receiver]', { label: '示例场地有限公司 1900000109' });
    await page.fill('[data-testid=share-percent]', '31');
    await page.click('[data-testid=share-form] button[type=submit]');
    await page.waitForSelector('[data-testid=shares-refused]');
    assert.match(await page.textContent('[data-testid=shares-refused]'), /30 %/);
    await page.fill('[data-testid=share-percent]', '10');
    await page.click('[data-testid=share-form] button[type=submit]');
    await page.waitForSelector('[data-testid=share-rules] tbody tr:has-text("10.00 %")');

    // A WeChat payment to the form is split by itself.
    const order = await paidOrder('20.00', '分账测试', '13800138000', 'wechat_native');
    let row = null;
    for (let i = 0; i < 50 && !row; i++) {
      await page.goto(BASE_URL + '/admin/shares');
      await page.waitForSelector('[data-testid=splits]');
      row = await page.$(`[data-testid=splits] tr[data-state=finished]:has-text("${order.out_trade_no}")`);
      if (!row) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(row, 'the split finished');
    assert.match(await row.textContent(), /¥2\.00/);

    // Its order, one click away; then the rule is removed again.
    await waitForHydration(page);
    await page.click(`[data-testid=splits] tr:has-text("${order.out_trade_no}") a`);
    await page.waitForSelector('[data-testid=order-status]');
    assert.match(await page.textContent('h1'), new RegExp(order.out_trade_no));
    await page.goto(BASE_URL + '/admin/shares');
    await page.waitForSelector('[data-testid=share-rules]');
    await waitForHydration(page);
    await page.click('[data-testid=share-rules] tbody tr:has-text("10.00 %") button[type=submit]');
    await page.waitForFunction(() => !document.querySelector('[data-testid=share-rules] tbody tr'));
    assert.deepEqual(b.errors, []);
  } finally {
    await b.close();
  }
});
