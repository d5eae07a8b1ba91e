import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, waitForHydration, BASE_URL, TEST_OPTIONS } from './browser.mjs';

async function setText(page, testid, value) {
  const el = page.locator(`[data-testid=${testid}]`);
  await el.fill(value);
  await el.dispatchEvent('change');
}

const FIELDS = [
  { type: 'short_text', label: '姓名', required: true },
  { type: 'long_text', label: '自我介绍' },
  { type: 'number', label: '年龄', min: '1', max: '120' },
  { type: 'phone', label: '手机号' },
  { type: 'email', label: '邮箱' },
  { type: 'single_choice', label: '尺码', options: 'S\nM\nL' },
  { type: 'multi_choice', label: '可参加日期', options: '周六\n周日' },
  { type: 'date', label: '到达日期' },
  { type: 'payment', label: '门票', mode: 'priced_options', options: '成人 = 50\n儿童 = 20.50', quantity: '3' },
];

test('an administrator builds a form with every field type, publishes it, and a payer fills it on a phone', TEST_OPTIONS, async () => {
  const b = await launch();
  try {
    const page = b.page;
    await page.goto(BASE_URL + '/admin/login');
    await waitForHydration(page);
    await page.fill('input[name=email]', process.env.ADMIN_EMAIL);
    await page.fill('input[name=password]', process.env.ADMIN_PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-testid=signed-in-as]');
    await page.click('[data-testid=nav-forms]');
    await page.waitForSelector('[data-testid=new-form]');
    await page.click('[data-testid=new-form]');
    await page.waitForSelector('[data-testid=form-title-input]');

    await page.fill('[data-testid=form-title-input]', '夏令营报名');
    const slug = 'camp-' + Date.now();
    await page.fill('[data-testid=form-slug-input]', slug);
    for (const [i, f] of FIELDS.entries()) {
      await page.click('[data-testid=add-field]');
      await page.selectOption(`[data-testid=field-type-${i}]`, f.type);
      await setText(page, `field-label-${i}`, f.label);
      if (f.required) await page.check(`[data-testid=field-required-${i}]`);
      if (f.mode) await page.selectOption(`[data-testid=field-mode-${i}]`, f.mode);
      if (f.min) await setText(page, `field-min-${i}`, f.min);
      if (f.max) await setText(page, `field-max-${i}`, f.max);
      if (f.options) await setText(page, `field-options-${i}`, f.options);
      if (f.quantity) await setText(page, `field-quantity-${i}`, f.quantity);
    }
    // The live preview shows every field.
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=form-preview] .field').length === 9);
    await page.click('[data-testid=save-form]');
    await page.waitForURL(/\/admin\/forms\/[0-9a-f]{32}$/);
    await page.waitForSelector('[data-testid=publish-form]:not([disabled])');
    await page.click('[data-testid=publish-form]');
    await page.waitForSelector('[data-testid=share-qr] svg');
    const link = await page.textContent('[data-testid=share-link]');
    assert.ok(link.endsWith('/f/' + slug), link);

    // The payer, on a phone.
    const phone = await b.context.newPage();
    await phone.setViewportSize({ width: 375, height: 740 });
    await phone.goto(BASE_URL + '/f/' + slug);
    await waitForHydration(phone);
    await phone.fill('[data-testid=input-f1]', '小明');
    await phone.fill('[data-testid=input-f3]', '12');
    await phone.fill('[data-testid=input-f4]', '13800138000');
    await phone.check('[data-testid=choice-f6-o2]');
    await phone.check('[data-testid=choice-f7-o1]');
    await phone.check('[data-testid=choice-f9-o2]');
    await phone.fill('input[name=f9__quantity]', '2');
    await phone.waitForFunction(() => document.querySelector('[data-testid=total]')?.textContent.includes('¥41.00'));
    const width = await phone.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 375, `no horizontal scrolling on a phone (page is ${width}px wide)`);
    await phone.click('[data-testid=submit]');
    await phone.waitForURL(/\/pay\/[0-9a-f]{32}$/);
    await phone.waitForSelector('[data-testid=pay-amount]');
    assert.equal(await phone.textContent('[data-testid=pay-amount]'), '¥41.00');
    assert.deepEqual(b.errors, []);
  } finally {
    await b.close();
  }
});
