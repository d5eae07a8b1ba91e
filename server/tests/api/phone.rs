//! Issue 12: payers on phones. WeChat JSAPI (with the silent OAuth hop),
//! WeChat H5 and Alipay WAP, through the simulator, which checks our
//! signatures as the providers do; and each failure mode of the new wire
//! formats.

use crate::flow::{submit_demo, wait_status};
use crate::helpers::{spawn_app, TestApp};
use app::ssr::Backend;
use providers::crypto::{RsaVerifier, VerifySignature};
use serde_json::{json, Value};
use simulator::dev_keys;

const WECHAT_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.44(0x18002c2f) NetType/WIFI Language/zh_CN";
const SAFARI_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";

/// `POST /api/v1/orders/{id}/pay` with `body`, whatever the answer.
pub(crate) async fn pay_raw(app: &TestApp, order_id: &str, body: Value) -> (u16, Value) {
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/orders/{order_id}/pay")))
        .json(&body)
        .send()
        .await
        .expect("pay");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// A location, made absolute against the app.
fn absolute(app: &TestApp, loc: &str) -> String {
    if loc.starts_with("http") {
        loc.to_owned()
    } else {
        app.url(loc)
    }
}

/// The openid the simulator gives its payer for the development app.
fn simulated_openid() -> String {
    simulator::openid_for(dev_keys::WECHAT_APP_ID)
}

/// The silent OAuth hop as WeChat's browser makes it; answers WeChat's
/// `code`, `state` and where it came back to.
async fn oauth_code(app: &TestApp, order_id: &str) -> (String, String) {
    let start = app
        .client
        .get(app.url(&format!("/pay/{order_id}/wechat-login")))
        .header("user-agent", WECHAT_UA)
        .send()
        .await
        .expect("login");
    assert_eq!(start.status(), 303, "to WeChat's authorize page");
    let authorize = location(&start);
    assert!(
        authorize.contains("/connect/oauth2/authorize?appid=")
            && authorize.contains("&response_type=code&scope=snsapi_base&state=")
            && authorize.ends_with("#wechat_redirect"),
        "{authorize}"
    );
    let back = app
        .client
        .get(authorize.trim_end_matches("#wechat_redirect"))
        .send()
        .await
        .expect("authorize");
    assert!(back.status().is_redirection());
    let callback = url::Url::parse(&location(&back)).expect("callback url");
    assert_eq!(callback.path(), "/oauth/wechat");
    let q: std::collections::HashMap<String, String> =
        callback.query_pairs().into_owned().collect();
    (q["code"].clone(), q["state"].clone())
}

async fn oauth_callback(app: &TestApp, code: &str, state: &str) -> reqwest::Response {
    app.client
        .get(app.url("/oauth/wechat"))
        .query(&[("code", code), ("state", state)])
        .send()
        .await
        .expect("callback")
}

/// What WeChat's pay sheet does with the page's parameters (the simulator
/// checks `paySign` first).
async fn bridge(app: &TestApp, jsapi: &Value, action: &str) -> String {
    let mut body = jsapi.clone();
    body["action"] = json!(action);
    let answer: Value = app
        .client
        .post(app.simulator_base.join("wechat/jsapi/pay").expect("url"))
        .json(&body)
        .send()
        .await
        .expect("bridge")
        .json()
        .await
        .expect("json");
    answer["err_msg"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn inside_wechat_the_oauth_hop_then_jsapi_pays_and_the_cookie_remembers_the_payer() {
    let app = spawn_app(Backend::Sqlite).await;
    let order = submit_demo(&app, "12.34").await;
    let id = order["id"].as_str().expect("id");

    // Without an openid (no cookie yet): the documented error.
    let (status, body) = pay_raw(&app, id, json!({"channel": "wechat_jsapi"})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("openid_required"))
    );

    let (code, state) = oauth_code(&app, id).await;
    let done = oauth_callback(&app, &code, &state).await;
    assert_eq!(done.status(), 303);
    assert_eq!(location(&done), format!("/pay/{id}?method=wechat_jsapi"));
    let cookie = done
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("cookie")
        .to_owned();
    assert!(
        cookie.starts_with("fp_wx_openid=") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    assert!(
        cookie.contains(&format!(
            "{}.{}.",
            dev_keys::WECHAT_APP_ID,
            simulated_openid()
        )),
        "{cookie}"
    );

    // The cookie (kept by the client) stands for the openid.
    let (status, body) = pay_raw(&app, id, json!({"channel": "wechat_jsapi"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["kind"], "jsapi");
    let jsapi = &body["jsapi"];
    let mut keys: Vec<&str> = jsapi
        .as_object()
        .expect("jsapi object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "appId",
            "nonceStr",
            "package",
            "paySign",
            "signType",
            "timeStamp"
        ]
    );
    assert_eq!(jsapi["appId"], dev_keys::WECHAT_APP_ID);
    assert_eq!(jsapi["signType"], "RSA");
    assert!(jsapi["package"]
        .as_str()
        .expect("package")
        .starts_with("prepay_id=wx"));
    // paySign: RSA-SHA256 with the merchant key over appId\ntimeStamp\nnonceStr\npackage\n.
    let message = format!(
        "{}\n{}\n{}\n{}\n",
        jsapi["appId"].as_str().expect("s"),
        jsapi["timeStamp"].as_str().expect("s"),
        jsapi["nonceStr"].as_str().expect("s"),
        jsapi["package"].as_str().expect("s")
    );
    let merchant = RsaVerifier::new(
        providers::keys::parse_public_key(dev_keys::WECHAT_MERCHANT_PUB).expect("key"),
    );
    merchant
        .verify_base64(message.as_bytes(), jsapi["paySign"].as_str().expect("sign"))
        .expect("paySign verifies with the merchant's public key");

    // A tampered sheet is refused by WeChat; the real one pays.
    let mut forged = jsapi.clone();
    forged["package"] = json!("prepay_id=wx00000000000000000000000000000000");
    assert_eq!(
        bridge(&app, &forged, "pay").await,
        "get_brand_wcpay_request:fail"
    );
    assert_eq!(
        bridge(&app, jsapi, "cancel").await,
        "get_brand_wcpay_request:cancel"
    );
    // Tapping again gives a freshly signed sheet for the same WeChat order.
    let (_, again) = pay_raw(&app, id, json!({"channel": "wechat_jsapi"})).await;
    assert_eq!(again["jsapi"]["package"], jsapi["package"]);
    assert_eq!(
        bridge(&app, &again["jsapi"], "pay").await,
        "get_brand_wcpay_request:ok"
    );
    wait_status(&app, id, "paid").await;
}

#[tokio::test]
async fn each_failed_wechat_login_changes_nothing_and_sends_the_payer_back() {
    let app = spawn_app(Backend::Sqlite).await;
    let order = submit_demo(&app, "1.00").await;
    let id = order["id"].as_str().expect("id");

    // A bad code.
    let (_, state) = oauth_code(&app, id).await;
    let bad = oauth_callback(&app, "notACodeWeChatGave", &state).await;
    assert_eq!(location(&bad), format!("/pay/{id}?wechat_login=failed"));
    assert!(bad.headers().get("set-cookie").is_none());

    // A code used twice: the second time WeChat says "code been used".
    let (code, state) = oauth_code(&app, id).await;
    assert!(oauth_callback(&app, &code, &state)
        .await
        .headers()
        .get("set-cookie")
        .is_some());
    let replay = oauth_callback(&app, &code, &state).await;
    assert_eq!(location(&replay), format!("/pay/{id}?wechat_login=failed"));

    // An expired code.
    let (code, state) = oauth_code(&app, id).await;
    app.client
        .post(
            app.simulator_base
                .join("control/oauth/expire-codes")
                .expect("url"),
        )
        .send()
        .await
        .expect("expire");
    let late = oauth_callback(&app, &code, &state).await;
    assert_eq!(location(&late), format!("/pay/{id}?wechat_login=failed"));

    // A state that is not ours (forged, or another order's altered).
    let forged = oauth_callback(
        &app,
        "x",
        &state.replace(id, "0123456789abcdef0123456789abcdef"),
    )
    .await;
    assert_eq!(forged.status(), 400);
    assert!(forged.headers().get("set-cookie").is_none());

    // A cookie of another app id is worth nothing: no openid, no JSAPI order.
    let other = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let foreign_app_cookie = "fp_wx_openid=wxANOTHERAPP.oSomeone1234567890.99999999999999.AAAA";
    let resp = other
        .post(app.url(&format!("/api/v1/orders/{id}/pay")))
        .header("cookie", foreign_app_cookie)
        .json(&json!({"channel": "wechat_jsapi"}))
        .send()
        .await
        .expect("pay");
    assert_eq!(resp.status(), 422);

    // An openid of another app id: WeChat refuses the order ("appid和openid不匹配").
    let (status, body) = pay_raw(
        &app,
        id,
        json!({"channel": "wechat_jsapi", "openid": "oAnotherAppsPayer0000000000"}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (502, Some("provider_error")),
        "{body}"
    );
    assert_eq!(crate::flow::order_status(&app, id).await, "created");
}

#[tokio::test]
async fn h5_sends_the_phone_browser_to_wechat_and_back_to_the_pay_page() {
    let app = spawn_app(Backend::Sqlite).await;
    let order = submit_demo(&app, "5.20").await;
    let id = order["id"].as_str().expect("id");
    let (status, body) = pay_raw(&app, id, json!({"channel": "wechat_h5"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["kind"], "redirect");
    let h5 = body["redirect_url"].as_str().expect("h5 url");
    let pay_page = app.url(&format!("/pay/{id}"));
    let encoded: String = url::form_urlencoded::byte_serialize(pay_page.as_bytes()).collect();
    assert!(h5.contains("/wechat/h5?prepay_id=wx"), "{h5}");
    assert!(h5.ends_with(&format!("&redirect_url={encoded}")), "{h5}");

    // A redirect_url outside the registered H5 domain: WeChat refuses it.
    let foreign = h5.replace(&encoded, "https%3A%2F%2Fevil.example%2F");
    let refused = app.client.get(&foreign).send().await.expect("h5");
    assert_eq!(refused.status(), 403);

    let cashier = app.client.get(h5).send().await.expect("h5");
    assert!(cashier.status().is_redirection());
    let payer_page = absolute(&app, &location(&cashier));
    assert!(payer_page.contains("redirect_url="), "{payer_page}");
    let (page, query) = payer_page.split_once('?').expect("query");
    let back = app
        .client
        .post(format!("{page}/pay?{query}"))
        .send()
        .await
        .expect("pay");
    assert!(back.status().is_redirection());
    assert_eq!(
        location(&back),
        pay_page,
        "back to our page, which shows the status"
    );
    wait_status(&app, id, "paid").await;
}

#[tokio::test]
async fn alipay_wap_is_a_signed_phone_cashier_with_a_way_out() {
    let app = spawn_app(Backend::Sqlite).await;
    let order = submit_demo(&app, "8.80").await;
    let id = order["id"].as_str().expect("id");
    let (status, body) = pay_raw(&app, id, json!({"channel": "alipay_wap"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["kind"], "redirect");
    let url = url::Url::parse(body["redirect_url"].as_str().expect("url")).expect("url");
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(q["method"], "alipay.trade.wap.pay");
    assert_eq!(q["sign_type"], "RSA2");
    let biz: Value = serde_json::from_str(&q["biz_content"]).expect("biz");
    assert_eq!(biz["product_code"], "QUICK_WAP_WAY");
    assert_eq!(biz["total_amount"], "8.80");
    let pay_page = app.url(&format!("/pay/{id}"));
    assert_eq!(biz["quit_url"], pay_page.as_str());
    assert_eq!(q["return_url"], pay_page);

    // A tampered amount fails the gateway's signature check.
    let tampered = url.as_str().replace("8.80", "0.01");
    let refused = app.client.get(&tampered).send().await.expect("cashier");
    assert!(
        !refused.status().is_redirection(),
        "a tampered cashier link is refused"
    );

    // The payer gives up: back to quit_url; then pays.
    let cashier = app.client.get(url.as_str()).send().await.expect("cashier");
    let payer_page = absolute(&app, &location(&cashier));
    let out = app
        .client
        .post(format!("{payer_page}/cancel"))
        .send()
        .await
        .expect("cancel");
    assert_eq!(location(&out), pay_page);
    assert_eq!(crate::flow::order_status(&app, id).await, "pending");
    crate::helpers::press(&app, &payer_page, "pay").await;
    wait_status(&app, id, "paid").await;
}

#[tokio::test]
async fn api_v2_merchants_get_jsapi_and_mweb_signed_the_v2_way() {
    use app::domain::{Channel, Money, OutTradeNo};
    use app::ssr::provider::{NewPayment, PayAction, PaymentProvider};
    let app = spawn_app(Backend::Sqlite).await;
    let v2 = providers::simulated_wechat_v2(
        &app.simulator_base,
        app::ssr::payment_log::PaymentLog::disabled(),
    )
    .expect("client")
    .with_sign_type(providers::wechat_v2::SignType::Md5);
    let payment = |no: &str, openid: Option<String>| NewPayment {
        out_trade_no: OutTradeNo::parse(no).expect("no"),
        amount: Money::from_fen(300).expect("fen"),
        subject: "v2".into(),
        expires_at_ms: app::ssr::now_ms() + 600_000,
        notify_url: app.url("/payment/wechat/v2/notify"),
        return_url: app.url("/pay/x"),
        quit_url: app.url("/pay/x"),
        client_ip: Some("127.0.0.1".into()),
        payer_openid: openid,
        profit_sharing: false,
    };
    let no = format!("V2J{}", &app::ssr::random_token().to_string()[..16]);
    let action = v2
        .create(
            Channel::WechatJsapi,
            &payment(&no, Some(simulated_openid())),
        )
        .await
        .expect("jsapi");
    let PayAction::Jsapi(p) = action else {
        panic!("a pay sheet, got {action:?}");
    };
    assert_eq!(p.sign_type, "MD5");
    let sheet = serde_json::to_value(&p).expect("json");
    assert_eq!(
        bridge(&app, &sheet, "pay").await,
        "get_brand_wcpay_request:ok"
    );
    let mut forged = sheet.clone();
    forged["timeStamp"] = json!((app::ssr::now_ms() / 1000 + 1).to_string());
    assert_eq!(
        bridge(&app, &forged, "pay").await,
        "get_brand_wcpay_request:fail"
    );

    let no = format!("V2H{}", &app::ssr::random_token().to_string()[..16]);
    let action = v2
        .create(Channel::WechatH5, &payment(&no, None))
        .await
        .expect("mweb");
    let PayAction::Redirect(url) = action else {
        panic!("a redirect, got {action:?}");
    };
    assert!(
        url.contains("/wechat/h5?prepay_id=wx") && url.contains("&redirect_url="),
        "{url}"
    );
    // JSAPI without an openid never reaches the provider.
    let no = format!("V2N{}", &app::ssr::random_token().to_string()[..16]);
    assert!(v2
        .create(Channel::WechatJsapi, &payment(&no, None))
        .await
        .is_err());
}

#[tokio::test]
async fn the_form_lists_the_ways_that_fit_the_payers_browser() {
    let app = spawn_app(Backend::Sqlite).await;
    let channels = |ua: &'static str| {
        let app = &app;
        async move {
            let v: Value = app
                .client
                .get(app.url("/api/v1/forms/demo"))
                .header("user-agent", ua)
                .send()
                .await
                .expect("form")
                .json()
                .await
                .expect("json");
            v["channels"].clone()
        }
    };
    assert_eq!(
        channels(WECHAT_UA).await,
        json!(["wechat_jsapi", "alipay_wap"])
    );
    assert_eq!(
        channels(SAFARI_UA).await,
        json!(["wechat_h5", "alipay_wap"])
    );
    assert_eq!(
        channels("Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0").await,
        json!(["wechat_native", "alipay_page", "alipay_qr"])
    );
    // The pay page paints the right ways at once (server-side, no flash).
    let order = submit_demo(&app, "2.00").await;
    let html = app
        .client
        .get(app.url(&format!("/pay/{}", order["id"].as_str().expect("id"))))
        .header("user-agent", WECHAT_UA)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        html.contains("data-testid=\"pay-wechat_jsapi\""),
        "JSAPI in the first paint"
    );
    assert!(!html.contains("data-testid=\"pay-wechat_h5\"") || html.contains("hidden"));
    assert!(
        html.contains("/_simulator/wechat/jsbridge.js"),
        "the simulator's bridge, in development"
    );
    let doc: Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("doc")
        .json()
        .await
        .expect("json");
    assert!(doc["components"]["schemas"]["JsapiDto"].is_object());
}

/// An Alipay application without phone-site pay (not signed for it): WAP is
/// neither offered nor accepted; phones get the QR code or the cashier.
#[tokio::test]
async fn an_account_without_alipay_wap_offers_the_qr_code_instead() {
    let app = spawn_app(Backend::Sqlite).await;
    app.login(crate::helpers::ADMIN_EMAIL, crate::helpers::ADMIN_PASSWORD)
        .await;
    let gateway = app
        .simulator_base
        .join("alipay/gateway.do")
        .expect("url")
        .to_string();
    let account = crate::trust::save_account(
        &app,
        &[
            ("name", "支付宝（未签约手机网站支付）"),
            ("kind", "alipay"),
            ("app_id", dev_keys::ALIPAY_APP_ID),
            ("alipay_public_key", dev_keys::ALIPAY_PLATFORM_PUB),
            ("seller_id", dev_keys::ALIPAY_SELLER_ID),
            ("api_base", &gateway),
            ("private_key", dev_keys::ALIPAY_APP_KEY),
            ("wap", "false"),
        ],
    )
    .await;
    crate::trust::use_account(&app, &account).await;
    let form: Value = app
        .client
        .get(app.url("/api/v1/forms/demo"))
        .header("user-agent", SAFARI_UA)
        .send()
        .await
        .expect("form")
        .json()
        .await
        .expect("json");
    assert_eq!(form["channels"], json!(["alipay_qr"]));
    let order = submit_demo(&app, "1.00").await;
    let id = order["id"].as_str().expect("id");
    let (status, body) = pay_raw(&app, id, json!({"channel": "alipay_wap"})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"], "channel_unavailable");
    let (status, body) = pay_raw(&app, id, json!({"channel": "alipay_qr"})).await;
    assert_eq!(status, 200, "{body}");
}
