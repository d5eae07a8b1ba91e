import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, waitForHydration, BASE_URL, TEST_OPTIONS } from './browser.mjs';

test('the page hydrates: the language switch reloads a payer page in the other language and switches an admin page in place', TEST_OPTIONS, async () => {
  const b = await launch();
  try {
    // The bundle comes compressed (the build wrote it beside the file).
    const bundles = [];
    b.page.on('response', (r) => {
      if (/\/pkg\/formpay(_bg\.wasm|\.js)$/.test(new URL(r.url()).pathname)) bundles.push(r);
    });
    await b.page.goto(BASE_URL + '/');
    assert.equal(await b.page.textContent('[data-testid=home-title]'), '收集信息，顺便收款');
    await waitForHydration(b.page);
    assert.equal(bundles.length, 2, bundles.map((r) => r.url()).join(', '));
    for (const r of bundles) {
      const h = await r.allHeaders();
      assert.match(h['content-encoding'] ?? '', /^(gzip|br)$/, `${r.url()} is sent compressed`);
      assert.match(h['vary'] ?? '', /accept-encoding/i, r.url());
    }
    // A payer's page hydrates only its islands (the switch is one): its text
    // was written by the server, so the switch loads it again in English.
    assert.ok(await b.page.$('leptos-island [data-testid=lang-switch]'), 'the switch is an island');
    await Promise.all([b.page.waitForNavigation(), b.page.click('[data-testid=lang-switch]')]);
    await waitForHydration(b.page);
    assert.equal(await b.page.textContent('[data-testid=home-title]'), 'Collect information, and the money with it');
    assert.equal(await b.page.getAttribute('html', 'lang'), 'en');
    // The choice is remembered by the server-rendered next page; an admin
    // page, hydrated in full, switches back in place, without a reload.
    await b.page.goto(BASE_URL + '/admin/login');
    assert.match(await b.page.textContent('h1'), /Administrator login/);
    await waitForHydration(b.page);
    await b.page.evaluate(() => { window.__no_reload = true; });
    await b.page.click('[data-testid=lang-switch]');
    await b.page.waitForFunction(() => document.querySelector('h1')?.textContent === '管理员登录');
    assert.equal(await b.page.evaluate(() => window.__no_reload), true, 'switched without a reload');
    assert.equal(await b.page.getAttribute('html', 'lang'), 'zh-CN');
    assert.deepEqual(b.errors, []);
  } finally {
    await b.close();
  }
});

test('an administrator logs in on a phone-sized screen and out again', TEST_OPTIONS, async () => {
  const b = await launch();
  try {
    await b.page.setViewportSize({ width: 375, height: 740 });
    await b.page.goto(BASE_URL + '/admin/login');
    await waitForHydration(b.page);
    await b.page.fill('input[name=email]', process.env.ADMIN_EMAIL);
    await b.page.fill('input[name=password]', 'wrong password');
    await b.page.click('button[type=submit]');
    await b.page.waitForSelector('[data-testid=login-error]');
    assert.equal(await b.page.textContent('[data-testid=login-error]'), '邮箱或密码不正确');

    await b.page.fill('input[name=password]', process.env.ADMIN_PASSWORD);
    await b.page.click('button[type=submit]');
    await b.page.waitForSelector('[data-testid=signed-in-as]');
    assert.match(await b.page.textContent('[data-testid=signed-in-as]'), new RegExp(process.env.ADMIN_EMAIL));
    const width = await b.page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 375, `no horizontal scrolling on a phone (page is ${width}px wide)`);

    await b.page.click('text=退出登录');
    await b.page.waitForURL(/\/admin\/login$/);
    // Login failures above log a 4xx-free error path; nothing else may have failed.
    assert.deepEqual(b.errors, []);
  } finally {
    await b.close();
  }
});
