// Richer forms (issue 16): an administrator builds a form with a rule
// ("size only if you want a T-shirt"), a region and a hidden field from the
// link; a payer on a phone sees the size appear and disappear as they answer,
// picks a province, city and district, and submits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launch, waitForHydration, adminLogin, BASE_URL, TEST_OPTIONS } from './browser.mjs';

async function setText(page, testid, value) {
  const el = page.locator(`[data-testid=${testid}]`);
  await el.fill(value);
  await el.dispatchEvent('change');
}

/// Signs the administrator in and opens a new form with this title and a
/// fresh link name (`prefix-<time>`), which it answers.
async function newForm(page, title, prefix) {
  await adminLogin(page);
  await page.click('[data-testid=nav-forms]');
  await page.click('[data-testid=new-form]');
  await page.waitForSelector('[data-testid=form-title-input]');
  await page.fill('[data-testid=form-title-input]', title);
  const slug = prefix + '-' + Date.now();
  await page.fill('[data-testid=form-slug-input]', slug);
  return slug;
}

/// Saves the form and publishes it; answers the editor's address.
async function saveAndPublish(page) {
  await page.click('[data-testid=save-form]');
  await page.waitForURL(/\/admin\/forms\/[0-9a-f]{32}$/);
  const url = page.url();
  await page.waitForSelector('[data-testid=publish-form]:not([disabled])');
  await page.click('[data-testid=publish-form]');
  await page.waitForSelector('[data-testid=share-link]');
  return url;
}

test('a form with logic hides and shows fields; a region is picked on a phone', TEST_OPTIONS, async () => {
  const b = await launch();
  try {
    const page = b.page;
    const slug = await newForm(page, '运动会报名', 'sports');
    const fields = [
      { type: 'single_choice', label: '需要T恤吗', required: true, options: '需要\n不需要' },
      { type: 'dropdown', label: 'T恤尺码', required: true, options: 'S\nM\nL', rule: 'f1 = 需要' },
      { type: 'region', label: '所在地区', required: true },
      { type: 'hidden', label: '来源' },
    ];
    for (const [i, f] of fields.entries()) {
      await page.click('[data-testid=add-field]');
      await page.selectOption(`[data-testid=field-type-${i}]`, f.type);
      await setText(page, `field-label-${i}`, f.label);
      if (f.required) await page.check(`[data-testid=field-required-${i}]`);
      if (f.options) await setText(page, `field-options-${i}`, f.options);
      if (f.rule) {
        await page.click(`[data-testid=field-editor-${i}] details.logic summary`);
        await page.selectOption(`[data-testid=field-logic-${i}]`, 'show');
        await setText(page, `field-logic-rules-${i}`, f.rule);
      }
    }
    await saveAndPublish(page);

    // The payer, on a phone, from a poster's link.
    const phone = await b.context.newPage();
    await phone.setViewportSize({ width: 375, height: 740 });
    await phone.goto(`${BASE_URL}/f/${slug}?f4=poster`);
    await waitForHydration(phone);
    const sizeShown = () => phone.isVisible('[data-testid=q-f2]');
    assert.equal(await sizeShown(), false, 'no size until a T-shirt is wanted');
    await phone.check('[data-testid=choice-f1-o1]');
    await phone.waitForSelector('[data-testid=q-f2]', { state: 'visible' });
    await phone.selectOption('[data-testid=input-f2]', 'o3');
    await phone.check('[data-testid=choice-f1-o2]');
    await phone.waitForSelector('[data-testid=q-f2]', { state: 'hidden' });
    await phone.check('[data-testid=choice-f1-o1]');
    await phone.waitForSelector('[data-testid=q-f2]', { state: 'visible' });

    // Submitting without a region: refused in the page, by field.
    await phone.click('[data-testid=submit]');
    await phone.waitForSelector('[data-testid=error-summary]');
    // Province, then city, then district: each list comes from the server.
    await phone.waitForSelector('[data-testid=region-f3-province] option[value="44"]', { state: 'attached' });
    await phone.selectOption('[data-testid=region-f3-province]', '44');
    await phone.waitForSelector('[data-testid=region-f3-city] option[value="4403"]', { state: 'attached' });
    await phone.selectOption('[data-testid=region-f3-city]', '4403');
    await phone.waitForSelector('[data-testid=region-f3-district] option[value="440305"]', { state: 'attached' });
    await phone.selectOption('[data-testid=region-f3-district]', '440305');
    const width = await phone.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 375, `no horizontal scrolling on a phone (page is ${width}px wide)`);
    await phone.click('[data-testid=submit]');
    await phone.waitForSelector('[data-testid=form-done]');
    // The 422 of nothing: the refused submit never reached the server.
    assert.deepEqual(b.errors, []);
  } finally {
    await b.close();
  }
});

test('a multi-item order with stock is paid on a phone, and the stock goes down', TEST_OPTIONS, async () => {
  const b = await launch();
  try {
    const page = b.page;
    const slug = await newForm(page, '运动会门票', 'tickets');
    await page.click('[data-testid=add-field]');
    await page.selectOption('[data-testid=field-type-0]', 'phone');
    await setText(page, 'field-label-0', '手机号');
    await page.check('[data-testid=field-required-0]');
    await page.click('[data-testid=add-field]');
    await page.selectOption('[data-testid=field-type-1]', 'payment');
    await setText(page, 'field-label-1', '门票');
    await page.selectOption('[data-testid=field-mode-1]', 'items');
    await setText(page, 'field-options-1', '成人票 = 80, 最多 5, 库存 2\n儿童票 = 40, 最多 5');
    await page.fill('[data-testid=form-per-payer-input]', '1');
    await saveAndPublish(page);

    const phone = await b.context.newPage();
    await phone.setViewportSize({ width: 375, height: 740 });
    await phone.goto(`${BASE_URL}/f/${slug}`);
    await waitForHydration(phone);
    assert.match(await phone.textContent('[data-testid=stock-o1]'), /剩余 2/);
    await phone.fill('[data-testid=input-f1]', '13800138000');
    await phone.fill('[data-testid=item-f2-o1]', '2');
    await phone.fill('[data-testid=item-f2-o2]', '1');
    await phone.waitForFunction(() => document.querySelector('[data-testid=total]')?.textContent.includes('¥200.00'));
    const width = await phone.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 375, `no horizontal scrolling on a phone (page is ${width}px wide)`);
    await phone.click('[data-testid=submit]');
    await phone.waitForURL(/\/pay\/[0-9a-f]{32}$/);
    await waitForHydration(phone);
    assert.equal(await phone.textContent('[data-testid=pay-amount]'), '¥200.00');
    await phone.click('[data-testid=pay-wechat_native]');
    const simUrl = await phone.getAttribute('[data-testid=simulator-link]', 'href');
    const sim = await b.context.newPage();
    await sim.goto(simUrl);
    await sim.click('[data-testid=sim-pay]');
    await phone.waitForSelector('[data-testid=pay-status][data-status=paid]', { timeout: 15_000 });

    // The adult tickets are gone for the next payer.
    await phone.goto(`${BASE_URL}/f/${slug}`);
    await waitForHydration(phone);
    assert.match(await phone.textContent('[data-testid=stock-o1]'), /已售罄/);
    assert.deepEqual(b.errors, []);
  } finally {
    await b.close();
  }
});

test('an image is uploaded from a phone-sized viewport and reaches the submission', TEST_OPTIONS, async () => {
  const b = await launch();
  try {
    const page = b.page;
    const slug = await newForm(page, '社团报名', 'club');
    await page.click('[data-testid=add-field]');
    await setText(page, 'field-label-0', '姓名');
    await page.check('[data-testid=field-required-0]');
    await page.click('[data-testid=add-field]');
    await page.selectOption('[data-testid=field-type-1]', 'upload');
    await setText(page, 'field-label-1', '学生证照片');
    await page.check('[data-testid=field-required-1]');
    const formUrl = await saveAndPublish(page);

    const phone = await b.context.newPage();
    await phone.setViewportSize({ width: 375, height: 740 });
    await phone.goto(`${BASE_URL}/f/${slug}`);
    await waitForHydration(phone);
    await phone.fill('[data-testid=input-f1]', '小红');
    // A 1×1 PNG, as a phone's camera roll would hand it over.
    const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');
    await phone.setInputFiles('[data-testid=input-f2]', { name: '学生证.png', mimeType: 'image/png', buffer: png });
    await phone.waitForFunction(() => document.querySelector('[data-testid=uploaded-f2]')?.textContent.includes('学生证.png'));
    const width = await phone.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 375, `no horizontal scrolling on a phone (page is ${width}px wide)`);
    await phone.click('[data-testid=submit]');
    await phone.waitForSelector('[data-testid=form-done]');

    // The administrator finds it in the submission and can download it.
    await page.goto(formUrl + '/submissions');
    await waitForHydration(page);
    const href = await page.getAttribute('[data-testid=upload-link]', 'href');
    const got = await page.request.get(BASE_URL + href);
    assert.equal(got.status(), 200);
    assert.equal(got.headers()['content-type'], 'image/png');
    assert.deepEqual(Buffer.from(await got.body()), png);

    // Without JavaScript (or before the page is ready on a slow phone) the
    // file travels with the answers, and reaches the submission the same way.
    const plain = await launch({ javaScriptEnabled: false });
    try {
      await plain.page.setViewportSize({ width: 375, height: 740 });
      await plain.page.goto(`${BASE_URL}/f/${slug}`);
      await plain.page.fill('[data-testid=input-f1]', '小明');
      await plain.page.setInputFiles('[data-testid=input-f2]', { name: '无脚本.png', mimeType: 'image/png', buffer: png });
      await Promise.all([plain.page.waitForURL(/\?submitted=1$/), plain.page.click('[data-testid=submit]')]);
      await plain.page.waitForSelector('[data-testid=form-done]');
    } finally {
      await plain.close();
    }
    await page.reload();
    await waitForHydration(page);
    // Each submission's file, once per submission (a row may show it twice: table and card).
    const links = [...new Set(await page.$$eval('[data-testid=upload-link]', (as) => as.map((a) => a.getAttribute('href'))))];
    assert.equal(links.length, 2, links.join(', '));
    for (const link of links) {
      const file = await page.request.get(BASE_URL + link);
      assert.deepEqual(Buffer.from(await file.body()), png, link);
    }
    assert.deepEqual(b.errors, []);
  } finally {
    await b.close();
  }
});

test('the privacy notice must be agreed in the page, and a discount code lowers the amount to pay', TEST_OPTIONS, async () => {
  const b = await launch();
  try {
    const page = b.page;
    const slug = await newForm(page, '社团会费', 'dues');
    await page.click('[data-testid=add-field]');
    await setText(page, 'field-label-0', '姓名');
    await page.check('[data-testid=field-required-0]');
    await page.click('[data-testid=add-field]');
    await page.selectOption('[data-testid=field-type-1]', 'payment');
    await setText(page, 'field-label-1', '会费');
    await page.check('[data-testid=field-required-1]');
    await page.selectOption('[data-testid=field-mode-1]', 'fixed');
    await setText(page, 'field-amount-1', '80');
    await page.fill('[data-testid=form-privacy-input]', '我们只用您的信息办理入会。');
    await saveAndPublish(page);
    await page.click('[data-testid=form-codes]');
    await page.waitForSelector('[data-testid=code-form]');
    await waitForHydration(page);
    await page.fill('[data-testid=code-code]', 'CLUB10');
    await page.selectOption('[data-testid=code-kind]', 'percent');
    await page.fill('[data-testid=code-value]', '10');
    await page.click('[data-testid=code-add]');
    await page.waitForFunction(() => document.querySelector('[data-testid=codes]')?.textContent.includes('CLUB10'));

    const phone = await b.context.newPage();
    await phone.setViewportSize({ width: 375, height: 740 });
    await phone.goto(`${BASE_URL}/f/${slug}`);
    await waitForHydration(phone);
    assert.match(await phone.textContent('[data-testid=total]'), /¥80\.00/);
    await phone.fill('[data-testid=input-f1]', '小李');
    // Not agreed: refused in the page, the box focused, nothing sent.
    await phone.click('[data-testid=submit]');
    await phone.waitForSelector('[data-testid=privacy-notice] [data-testid=field-error]');
    await phone.waitForSelector('[data-testid=error-summary]');
    assert.equal(await phone.evaluate(() => document.activeElement?.getAttribute('name')), 'privacy.consent');
    await phone.check('[data-testid=privacy-consent]');
    await phone.fill('[data-testid=discount-code]', 'CLUB10');
    await phone.click('[data-testid=submit]');
    await phone.waitForURL(/\/pay\/[0-9a-f]{32}$/);
    await waitForHydration(phone);
    assert.equal(await phone.textContent('[data-testid=pay-amount]'), '¥72.00');
    assert.deepEqual(b.errors, []);
  } finally {
    await b.close();
  }
});
