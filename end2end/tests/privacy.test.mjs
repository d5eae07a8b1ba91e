import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, waitForHydration, BASE_URL, TEST_OPTIONS } from './browser.mjs';

/// A payer asks for their data to be erased (PIPL): the administrator finds
/// the submission, erases it after a confirmation, and the answers are gone
/// (a search by the payer's name no longer finds it) while the order stays.
test('an administrator erases one submission’s personal data on request', TEST_OPTIONS, async () => {
  const name = `删除测试${Date.now()}`;
  const submitted = await fetch(BASE_URL + '/api/v1/forms/demo/submissions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ answers: { name, phone: '13900139000', amount: '3.30' } }),
  });
  assert.equal(submitted.status, 201);
  const { order } = await submitted.json();
  // Paid: money in motion (an unpaid order) would be refused.
  const started = await fetch(`${BASE_URL}/api/v1/orders/${order.id}/pay`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ channel: 'alipay_qr' }),
  });
  const { qr_code } = await started.json();
  await fetch(qr_code + '/pay', { method: 'POST', redirect: 'manual' });
  for (let i = 0; i < 100; i++) {
    const o = await (await fetch(`${BASE_URL}/api/v1/orders/${order.id}`)).json();
    if (o.status === 'paid') break;
    await new Promise((r) => setTimeout(r, 100));
  }

  const b = await launch();
  try {
    const page = b.page;
    await page.goto(BASE_URL + '/admin/login');
    await waitForHydration(page);
    await page.fill('input[name=email]', process.env.ADMIN_EMAIL);
    await page.fill('input[name=password]', process.env.ADMIN_PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-testid=signed-in-as]');

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
