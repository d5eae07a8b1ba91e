import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, waitForHydration, adminLogin, paidOrder, BASE_URL, TEST_OPTIONS } from './browser.mjs';

/// What the simulator's next WeChat bills carry (`/_simulator/control/bill`).
async function billFaults(faults) {
  const r = await fetch(BASE_URL + '/_simulator/control/bill', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(faults),
  });
  if (!r.ok) throw new Error(`bill faults: ${r.status}`);
}

const todayInBeijing = () => new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10);

test('an administrator reconciles a day, opens a discrepancy\'s order and resolves another', TEST_OPTIONS, async () => {
  const differs = await paidOrder('7.00', '对账测试', '13800138000', 'wechat_native');
  await paidOrder('8.00', '对账测试', '13800138000', 'wechat_native');
  const stranger = `E2ENOTOURS${Date.now()}`;
  await billFaults({
    amounts: { [differs.out_trade_no]: 650 },
    extra: [{ out_trade_no: stranger, amount_fen: 888 }],
  });
  const b = await launch();
  try {
    const page = b.page;
    await adminLogin(page);
    await page.click('[data-testid=nav-bills]');
    await page.waitForSelector('[data-testid=reconcile-form]');
    await waitForHydration(page);

    // Today's bill, for the environment's account.
    await page.fill('[data-testid=reconcile-date]', todayInBeijing());
    await page.click('[data-testid=reconcile-run]');
    const mismatch = '[data-testid=discrepancies] tr[data-kind=amount_mismatch]';
    await page.waitForSelector(mismatch);
    assert.match(await page.textContent('[data-testid=bill-run-status]'), /有差异 Discrepancies/);
    assert.match(page.url(), new RegExp(`date=${todayInBeijing()}`));
    const row = await page.textContent(mismatch);
    assert.ok(row.includes(differs.out_trade_no), row);
    assert.ok(row.includes('¥7.00') && row.includes('¥6.50'), row);
    const unknown = `[data-testid=discrepancies] tr[data-kind=unknown_payment]:has-text("${stranger}")`;
    await page.waitForSelector(unknown);
    for (const id of ['ours-paid', 'bill-paid', 'bill-fees', 'bill-net']) {
      assert.match(await page.textContent(`[data-testid=${id}]`), /^-?¥\d+\.\d\d$/, id);
    }
    const csv = await page.getAttribute('[data-testid=bills-csv]', 'href');
    assert.ok(csv.startsWith('/admin/bills.csv?date='), csv);
    const exported = await page.evaluate(async (href) => (await fetch(href)).text(), csv);
    assert.ok(exported.includes(stranger) && exported.includes(differs.out_trade_no), exported);

    // A payment nobody here knows of: resolved with a note.
    await page.fill(`${unknown} input[name=note]`, '银行测试款 a bank test');
    await page.click(`${unknown} button[type=submit]`);
    await page.waitForSelector(`${unknown} [data-testid=discrepancy-resolved]`);
    assert.match(await page.textContent(`${unknown} [data-testid=discrepancy-resolved]`), /银行测试款/);

    // The amount that differs: its order, one click away.
    await page.click(`${mismatch} [data-testid=discrepancy-order]`);
    await page.waitForSelector('[data-testid=order-status]');
    assert.match(await page.textContent('h1'), new RegExp(differs.out_trade_no));
    assert.equal(await page.textContent('[data-testid=order-amount]'), '¥7.00');

    // The overview counts what is still open.
    await page.goto(BASE_URL + '/admin');
    await page.waitForSelector('[data-testid=open-discrepancies]');
    assert.match(await page.textContent('[data-testid=open-discrepancies]'), /未处理差异/);

    // A phone can read the page.
    await page.setViewportSize({ width: 375, height: 740 });
    await page.goto(`${BASE_URL}/admin/bills?date=${todayInBeijing()}&account=&provider=wechat`);
    await page.waitForSelector(mismatch);
    assert.deepEqual(b.errors, []);
  } finally {
    await billFaults({});
    await b.close();
  }
});
