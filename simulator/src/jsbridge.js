// A development-only stand-in for WeChat's WeixinJSBridge, served by the
// payment simulator and loaded by the pay page only while the simulator is
// mounted and the page runs with WeChat's user agent. It shows a pay sheet
// like WeChat's; the simulator checks paySign as WeChat does, then pays (and
// calls back) or cancels, and the page's callback gets WeChat's err_msg.
(function () {
  'use strict';
  if (window.WeixinJSBridge) return;
  var script = document.currentScript;
  var base = script && script.src ? script.src.replace(/\/wechat\/jsbridge\.js.*$/, '') : '/_simulator';

  function el(tag, text, testid) {
    var e = document.createElement(tag);
    if (text) e.textContent = text;
    if (testid) e.setAttribute('data-testid', testid);
    return e;
  }

  function sheet(params, cb) {
    var back = el('div', '', 'sim-jsapi-sheet');
    var s = back.style;
    s.position = 'fixed'; s.left = '0'; s.right = '0'; s.top = '0'; s.bottom = '0';
    s.background = 'rgba(0,0,0,.45)'; s.display = 'flex'; s.alignItems = 'flex-end'; s.zIndex = '2147483647';
    var box = el('div');
    var b = box.style;
    b.background = '#fff'; b.width = '100%'; b.padding = '16px'; b.boxSizing = 'border-box';
    b.borderRadius = '12px 12px 0 0'; b.fontFamily = 'sans-serif'; b.textAlign = 'center';
    box.appendChild(el('p', '微信支付 WeChat Pay · simulator'));
    var amount = el('p', '…', 'sim-jsapi-amount');
    amount.style.fontSize = '2rem';
    box.appendChild(amount);
    var pay = el('button', '确认支付 Pay', 'sim-jsapi-pay');
    var cancel = el('button', '取消 Cancel', 'sim-jsapi-cancel');
    [pay, cancel].forEach(function (btn) {
      btn.style.display = 'block'; btn.style.width = '100%'; btn.style.padding = '12px';
      btn.style.margin = '8px 0'; btn.style.fontSize = '1rem'; btn.style.borderRadius = '8px';
      btn.style.border = '1px solid #ccc'; btn.style.background = '#fff';
    });
    pay.style.background = '#07c160'; pay.style.color = '#fff'; pay.style.borderColor = '#07c160';
    box.appendChild(pay);
    box.appendChild(cancel);
    back.appendChild(box);
    document.body.appendChild(back);

    var prepay = String(params && params['package'] || '').replace(/^prepay_id=/, '');
    fetch(base + '/wechat/jsapi/order?prepay_id=' + encodeURIComponent(prepay))
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (o) { amount.textContent = o ? o.amount : '?'; }, function () {});

    function done(action) {
      pay.disabled = true; cancel.disabled = true;
      var body = {};
      for (var k in params) body[k] = params[k];
      body.action = action;
      fetch(base + '/wechat/jsapi/pay', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
        .then(function (r) { return r.json(); })
        .then(function (answer) { back.remove(); cb(answer); },
              function () { back.remove(); cb({ err_msg: 'get_brand_wcpay_request:fail' }); });
    }
    pay.addEventListener('click', function () { done('pay'); });
    cancel.addEventListener('click', function () { done('cancel'); });
  }

  window.WeixinJSBridge = {
    invoke: function (name, params, cb) {
      cb = cb || function () {};
      if (name !== 'getBrandWCPayRequest') {
        cb({ err_msg: name + ':fail' });
        return;
      }
      sheet(params || {}, cb);
    },
  };
  document.dispatchEvent(new Event('WeixinJSBridgeReady'));
})();
