// Payers on phones (issue 12): inside WeChat (OAuth hop, JSAPI sheet), inside
// the Alipay app (WAP cashier), Safari on an iPhone (WeChat H5 and Alipay
// WAP, cancelling and switching), and the Alipay-in-WeChat guide. Phone
// emulation: a 375 px viewport, touch, and the apps' real user agents.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, waitForHydration, BASE_URL, TEST_OPTIONS } from './browser.mjs';

const UA = {
  wechat: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.44(0x18002c2f) NetType/WIFI Language/zh_CN',
  alipay: 'Mozilla/5.0 (Linux; Android 13; V2203A) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/69.0.3497.100 Mobile Safari/537.36 AlipayChannelId/5136 NebulaSDK/1.8.100112 Nebula AlipayDefined(nt:WIFI,ws:393|0|2.75) AliApp(AP/10.5.36.8100) AlipayClient/10.5.36.8100 Language/zh-Hans',
  safari: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1',
};

function phone(userAgent) {
  return { userAgent, viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
}

/// Fills the demo form and lands on its pay page.
async function submitDemo(page, amount) {
  await page.goto(BASE_URL + '/f/demo');
  await waitForHydration(page);
  await page.fill('[data-testid=input-name]', '赵六');
  await page.fill('[data-testid=input-amount]', amount);
  await page.waitForFunction(
    (want) => document.querySelector('[data-testid=total]')?.textContent.includes(want),
    '¥' + amount,
  );
  await page.click('[data-testid=submit]');
  await page.waitForURL(/\/pay\/[0-9a-f]{32}$/);
  await waitForHydration(page);
}

async function methods(page) {
  // The methods come with the order, after hydration: wait for the first.
  await page.waitForSelector('[data-testid=methods] [data-testid^=pay-]');
  return page.$$eval('[data-testid=methods] [data-testid^=pay-]', (els) => els.map((e) => e.dataset.testid));
}

async function noHorizontalScroll(page) {
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 375, `no horizontal scrolling on a phone (page is ${width}px wide)`);
}

async function paid(page) {
  await page.waitForSelector('[data-testid=pay-status][data-status=paid]', { timeout: 15_000 });
}

/// At the cashier (the simulator's page): pays, comes back to our pay page,
/// which shows "paid".
async function payAtCashierAndReturn(page) {
  await page.click('[data-testid=sim-pay]');
  await page.waitForURL(/\/pay\/[0-9a-f]{32}/);
  await waitForHydration(page);
  await paid(page);
}

test('inside WeChat: one tap opens WeChat\'s pay sheet (after a silent OAuth hop) and the page turns to paid', TEST_OPTIONS, async () => {
  const b = await launch(phone(UA.wechat));
  try {
    await submitDemo(b.page, '12.34');
    assert.deepEqual(await methods(b.page), ['pay-wechat_jsapi', 'pay-alipay_wap']);
    await noHorizontalScroll(b.page);
    // The tap: the OAuth hop is silent, then WeChat's sheet opens by itself.
    await b.page.click('[data-testid=pay-wechat_jsapi]');
    await b.page.waitForSelector('[data-testid=sim-jsapi-sheet]');
    // (A browser keeps the authorize link's `#wechat_redirect` across the
    // redirects back: harmless, the page ignores fragments.)
    assert.match(b.page.url(), /\/pay\/[0-9a-f]{32}\?method=wechat_jsapi(#wechat_redirect)?$/);
    assert.equal(await b.page.textContent('[data-testid=sim-jsapi-amount]'), '¥12.34');
    const cookies = await b.context.cookies();
    assert.ok(cookies.some((c) => c.name === 'fp_wx_openid' && c.httpOnly), 'the openid is remembered, signed, out of scripts');
    await b.page.evaluate(() => { window.__no_reload = true; });
    await b.page.click('[data-testid=sim-jsapi-pay]');
    await paid(b.page);
    assert.equal(await b.page.evaluate(() => window.__no_reload), true, 'turned to paid without a reload');
    await b.page.click('[data-testid=receipt-link]');
    await b.page.waitForSelector('[data-testid=receipt]');
    assert.equal(await b.page.textContent('[data-testid=receipt-status]'), '已支付');

    // The next order: the openid is remembered, no second hop.
    await submitDemo(b.page, '0.50');
    const hops = [];
    b.page.on('request', (r) => { if (r.url().includes('oauth2')) hops.push(r.url()); });
    await b.page.click('[data-testid=pay-wechat_jsapi]');
    await b.page.waitForSelector('[data-testid=sim-jsapi-sheet]');
    assert.deepEqual(hops, []);
    // Cancelling the sheet changes nothing and says so.
    await b.page.click('[data-testid=sim-jsapi-cancel]');
    await b.page.waitForSelector('[data-testid=jsapi-cancelled]');
    assert.notEqual(await b.page.getAttribute('[data-testid=pay-status]', 'data-status'), 'paid');
    assert.deepEqual(b.errors, []);
  } finally {
    await b.close();
  }
});

test('inside WeChat, Alipay shows the "open in the browser" guide instead of a blocked page', TEST_OPTIONS, async () => {
  const b = await launch(phone(UA.wechat));
  try {
    await submitDemo(b.page, '3.00');
    const before = b.page.url();
    await b.page.click('[data-testid=pay-alipay_wap]');
    await b.page.waitForSelector('[data-testid=open-in-browser]');
    assert.match(await b.page.textContent('[data-testid=open-in-browser]'), /点击右上角.*浏览器打开/);
    assert.equal(b.page.url(), before, 'no navigation to a page WeChat would block');
    await noHorizontalScroll(b.page);
    assert.deepEqual(b.errors, []);
  } finally {
    await b.close();
  }
});

test('inside the Alipay app: Alipay\'s own cashier (WAP), back to a paid page', TEST_OPTIONS, async () => {
  const b = await launch(phone(UA.alipay));
  try {
    await submitDemo(b.page, '8.80');
    assert.deepEqual((await methods(b.page)).slice(0, 1), ['pay-alipay_wap']);
    await noHorizontalScroll(b.page);
    await b.page.click('[data-testid=pay-alipay_wap]');
    await b.page.waitForSelector('[data-testid=sim-pay]');
    assert.equal(await b.page.textContent('[data-testid=sim-amount]'), '¥8.80');
    await payAtCashierAndReturn(b.page);
    assert.deepEqual(b.errors, []);
  } finally {
    await b.close();
  }
});

test('Safari on an iPhone: WeChat H5 returns to a paid page; Alipay WAP cancelled comes back and the payer switches', TEST_OPTIONS, async () => {
  const b = await launch(phone(UA.safari));
  try {
    await submitDemo(b.page, '5.20');
    assert.deepEqual(await methods(b.page), ['pay-wechat_h5', 'pay-alipay_wap']);
    await noHorizontalScroll(b.page);
    await b.page.click('[data-testid=pay-wechat_h5]');
    await b.page.waitForSelector('[data-testid=sim-pay]');
    assert.equal(await b.page.textContent('[data-testid=sim-amount]'), '¥5.20');
    await payAtCashierAndReturn(b.page);

    // Alipay WAP, cancelled at the cashier: back on the pay page, still payable.
    await submitDemo(b.page, '6.60');
    const payPage = b.page.url();
    await b.page.click('[data-testid=pay-alipay_wap]');
    await b.page.waitForSelector('[data-testid=sim-cancel]');
    await b.page.click('[data-testid=sim-cancel]');
    await b.page.waitForURL((u) => u.toString().startsWith(payPage));
    await waitForHydration(b.page);
    assert.notEqual(await b.page.getAttribute('[data-testid=pay-status]', 'data-status'), 'paid');
    // The payer switches: the desktop ways are one tap away too (hidden until asked for).
    assert.equal(await b.page.isVisible('[data-testid=pay-wechat_native]'), false);
    await b.page.click('[data-testid=other-methods]');
    await b.page.waitForSelector('[data-testid=pay-wechat_native]');
    await b.page.click('[data-testid=pay-wechat_h5]');
    await b.page.waitForSelector('[data-testid=sim-pay]');
    await payAtCashierAndReturn(b.page);
    assert.deepEqual(b.errors, []);
  } finally {
    await b.close();
  }
});
