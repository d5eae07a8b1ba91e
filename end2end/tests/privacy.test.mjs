import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, waitForHydration, adminLogin, paidOrder, BASE_URL, TEST_OPTIONS } from './browser.mjs';

/// A payer asks for their data to be erased (PIPL): the administrator finds
/// the submission, erases it after a confirmation, and the answers are gone
/// (a search by the payer's name no longer finds it) while the order stays.
test('an administrator erases one submission’s personal data on request', TEST_OPTIONS, async () => {
  const name = `删除测试${Date.now()}`;
  // Paid: money in motion (an unpaid order) would be refused.
  const order = await paidOrder('3.30', name, '13900139000');

  const b = await launch();
  try {
    const page = b.page;
    await adminLogin(page);

    await page.goto(BASE_URL + '/admin/forms');
    const list = await page.waitForSelector('tr:has(a[href="/f/demo"]) a[href$="/submissions"]');
    const submissions = BASE_URL + (await list.getAttribute('href'));
    const found = `${submissions}?q=${encodeURIComponent(name)}`;
    await page.goto(found);
    await page.waitForFunction(() => document.querySelector('[data-testid=total-count]')?.textContent.startsWith('1 '));
    await waitForHydration(page);
    assert.match(await page.textContent('[data-testid=submissions] tbody'), new RegExp(name));

    await page.click('[data-testid=submissions] tbody summary');
    page.once('dialog', (d) => d.accept());
    await page.click('[data-testid=erase-submission]');
    await page.waitForFunction(() => /已删除/.test(document.querySelector('[data-testid=submissions] [role=status]')?.textContent ?? ''));

    // The answers are gone: the name no longer finds it.
    await page.goto(found);
    await page.waitForFunction(() => document.querySelector('[data-testid=total-count]')?.textContent.startsWith('0 '));
    // The order is kept.
    const o = await (await fetch(`${BASE_URL}/api/v1/orders/${order.id}`)).json();
    assert.equal(o.status, 'paid');
    assert.equal(o.amount_fen, 330);
  } finally {
    await b.close();
  }
});
