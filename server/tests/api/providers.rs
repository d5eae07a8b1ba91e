//! Our provider clients against the simulator, over real HTTP, with real
//! signatures both ways.

use crate::helpers::{press, spawn_app};
use app::domain::{Channel, Money, OutTradeNo, Provider};
use app::ssr::provider::*;
use app::ssr::Backend;
use axum::body::Bytes;
use axum::http::HeaderMap;
use formpay_core::payment_log::PaymentLog;
use providers::crypto::RsaSigner;
use providers::wechat_v3::client::{PlatformKeys, WechatPayV3};
use simulator::dev_keys;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn out_trade_no() -> OutTradeNo {
    OutTradeNo::parse(&format!("T{}", &app::ssr::random_token().to_string()[..20])).expect("valid")
}

fn fen(n: i64) -> Money {
    Money::from_fen(n).expect("in range")
}

fn payment(no: &OutTradeNo, amount: i64, notify_url: &str) -> NewPayment {
    NewPayment {
        out_trade_no: no.clone(),
        amount: fen(amount),
        subject: "社团年费 club fee".into(),
        expires_at_ms: app::ssr::now_ms() + 15 * 60 * 1000,
        notify_url: notify_url.into(),
        return_url: "http://127.0.0.1:9/return".into(),
        quit_url: "http://127.0.0.1:9/return".into(),
        client_ip: Some("127.0.0.1".into()),
        payer_openid: None,
        profit_sharing: false,
    }
}

/// A merchant endpoint for callbacks: records them, refuses the first `fail_first`.
#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    fail_first: usize,
    success_body: &'static str,
}

impl Receiver {
    async fn start(fail_first: usize, success_body: &'static str) -> (Receiver, String) {
        let r = Receiver {
            seen: Arc::default(),
            fail_first,
            success_body,
        };
        let state = r.clone();
        let router = axum::Router::new().route(
            "/notify",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move {
                    let mut seen = state.seen.lock().expect("lock");
                    seen.push((headers, body));
                    if seen.len() <= state.fail_first {
                        (
                            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                            "try again".to_owned(),
                        )
                    } else {
                        (axum::http::StatusCode::OK, state.success_body.to_owned())
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/notify", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        (r, url)
    }

    async fn wait_for(&self, n: usize) -> Vec<(HeaderMap, Bytes)> {
        for _ in 0..200 {
            let seen = self.seen.lock().expect("lock").clone();
            if seen.len() >= n {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "expected {n} callbacks, got {}",
            self.seen.lock().expect("lock").len()
        );
    }
}

async fn wait_refund(p: &Arc<dyn PaymentProvider>, no: &OutTradeNo, refund_no: &str) -> RefundInfo {
    for _ in 0..200 {
        let r = p.query_refund(no, refund_no).await.expect("refund query");
        if r.state != RefundState::Processing {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the refund never settled");
}

#[tokio::test]
async fn wechat_native_order_query_pay_refund_round_trip() {
    let app = spawn_app(Backend::Sqlite).await;
    let wechat = app
        .payments
        .for_provider(Provider::Wechat)
        .cloned()
        .expect("simulated WeChat Pay");
    let (receiver, notify_url) = Receiver::start(1, "").await;
    let no = out_trade_no();

    let action = wechat
        .create(Channel::WechatNative, &payment(&no, 1234, &notify_url))
        .await
        .expect("native order");
    let PayAction::QrCode(code_url) = action else {
        panic!("a QR code")
    };
    assert!(code_url.contains("/_simulator/pay/"), "{code_url}");
    // Creating again with the same number answers the same code_url.
    assert_eq!(
        wechat
            .create(Channel::WechatNative, &payment(&no, 1234, &notify_url))
            .await,
        Ok(PayAction::QrCode(code_url.clone()))
    );

    let before = wechat.query(&no).await.expect("query");
    assert_eq!(before.state, TradeState::NotPaid);
    assert_eq!(before.amount, Some(fen(1234)));

    press(&app, &code_url, "pay").await;
    let paid = wechat.query(&no).await.expect("query");
    assert_eq!(paid.state, TradeState::Paid);
    assert_eq!(paid.merchant_id.as_deref(), Some(dev_keys::WECHAT_MCH_ID));
    assert!(paid.transaction_id.is_some());

    // The callback: refused once, retried, then verified and decrypted by our client.
    let seen = receiver.wait_for(2).await;
    let (headers, body) = &seen[1];
    let event = wechat
        .parse_notify(headers, body)
        .await
        .expect("a verified callback");
    let NotifyEvent::Trade(t) = event else {
        panic!("a trade callback")
    };
    assert_eq!(
        (t.out_trade_no.as_str(), t.state.clone(), t.amount),
        (no.as_str(), TradeState::Paid, Some(fen(1234)))
    );
    // The same callback with one byte changed fails verification.
    let mut tampered = body.to_vec();
    tampered[10] ^= 1;
    assert!(matches!(
        wechat.parse_notify(headers, &tampered).await,
        Err(ProviderError::Verification(_))
    ));

    assert!(
        matches!(wechat.close(&no).await, Err(ProviderError::Api { code, .. }) if code == "ORDERPAID")
    );

    let refund = RefundOrder {
        out_trade_no: no.clone(),
        out_refund_no: format!("R{}", no.as_str()),
        amount: fen(234),
        total: fen(1234),
        reason: Some("部分退款".into()),
        notify_url: notify_url.clone(),
        royalty_returns: Vec::new(),
    };
    let started = wechat.refund(&refund).await.expect("refund");
    assert_eq!(started.state, RefundState::Processing);
    assert_eq!(
        wechat
            .refund(&refund)
            .await
            .expect("same refund again")
            .out_refund_no,
        refund.out_refund_no,
        "idempotent"
    );
    let done = wait_refund(&wechat, &no, &refund.out_refund_no).await;
    assert_eq!(
        (done.state, done.amount),
        (RefundState::Succeeded, Some(fen(234)))
    );
    let seen = receiver.wait_for(3).await;
    let NotifyEvent::Refund(r) = wechat
        .parse_notify(&seen[2].0, &seen[2].1)
        .await
        .expect("refund callback")
    else {
        panic!("a refund callback")
    };
    assert_eq!(
        (r.state, r.amount),
        (RefundState::Succeeded, Some(fen(234)))
    );

    let too_much = RefundOrder {
        out_refund_no: format!("X{}", no.as_str()),
        amount: fen(1001),
        ..refund
    };
    assert!(
        matches!(wechat.refund(&too_much).await, Err(ProviderError::Api { code, .. }) if code == "NOT_ENOUGH")
    );
}

#[tokio::test]
async fn wechat_close_and_unknown_orders() {
    let app = spawn_app(Backend::Sqlite).await;
    let wechat = app
        .payments
        .for_provider(Provider::Wechat)
        .cloned()
        .expect("simulated WeChat Pay");
    let no = out_trade_no();
    assert_eq!(wechat.query(&no).await, Err(ProviderError::NotFound));
    wechat
        .create(
            Channel::WechatNative,
            &payment(&no, 1, "http://127.0.0.1:9/notify"),
        )
        .await
        .expect("order");
    wechat.close(&no).await.expect("close");
    assert_eq!(
        wechat.query(&no).await.expect("query").state,
        TradeState::Closed
    );
    assert!(wechat
        .create(Channel::AlipayQr, &payment(&no, 1, "http://127.0.0.1:9/n"))
        .await
        .is_err());
}

#[tokio::test]
async fn wechat_platform_certificate_mode_downloads_and_verifies() {
    let app = spawn_app(Backend::Sqlite).await;
    let client = providers::simulated_wechat(&app.simulator_base, false, PaymentLog::disabled())
        .expect("client");
    assert_eq!(client.refresh_certificates().await, Ok(1));
    let no = out_trade_no();
    assert_eq!(
        client.query(&no).await,
        Err(ProviderError::NotFound),
        "answers verified with the downloaded certificate"
    );
}

fn dev_key(name: &str) -> String {
    providers::test_vectors::read(name)
}

#[tokio::test]
async fn wechat_refuses_a_request_signed_with_another_key() {
    let app = spawn_app(Backend::Sqlite).await;
    let wrong = RsaSigner::new(
        providers::keys::parse_private_key(&dev_key("wechatpay-go-test-private-key.pem"))
            .expect("key"),
    );
    let client = WechatPayV3::new(
        app.simulator_base.join("wechat/").expect("url"),
        dev_keys::WECHAT_APP_ID.into(),
        dev_keys::WECHAT_MCH_ID.into(),
        dev_keys::WECHAT_MERCHANT_SERIAL.into(),
        wrong,
        dev_keys::WECHAT_APIV3_KEY.to_owned().into(),
        PlatformKeys::PublicKey {
            id: dev_keys::WECHAT_PUBLIC_KEY_ID.into(),
            key: providers::keys::parse_public_key(dev_keys::WECHAT_PLATFORM_PUB).expect("key"),
        },
        PaymentLog::disabled(),
    );
    let no = out_trade_no();
    let err = client
        .create(
            Channel::WechatNative,
            &payment(&no, 100, "http://127.0.0.1:9/n"),
        )
        .await
        .expect_err("refused");
    assert!(
        matches!(err, ProviderError::Api { status: 401, ref code, .. } if code == "SIGN_ERROR"),
        "{err:?}"
    );
}

#[tokio::test]
async fn wechat_answers_signed_by_an_unexpected_key_are_refused() {
    let app = spawn_app(Backend::Sqlite).await;
    // The client trusts another "WeChat Pay public key" under the same id.
    let client = WechatPayV3::new(
        app.simulator_base.join("wechat/").expect("url"),
        dev_keys::WECHAT_APP_ID.into(),
        dev_keys::WECHAT_MCH_ID.into(),
        dev_keys::WECHAT_MERCHANT_SERIAL.into(),
        RsaSigner::new(
            providers::keys::parse_private_key(dev_keys::WECHAT_MERCHANT_KEY).expect("key"),
        ),
        dev_keys::WECHAT_APIV3_KEY.to_owned().into(),
        PlatformKeys::PublicKey {
            id: dev_keys::WECHAT_PUBLIC_KEY_ID.into(),
            key: providers::keys::parse_public_key(dev_keys::ALIPAY_PLATFORM_PUB).expect("key"),
        },
        PaymentLog::disabled(),
    );
    let err = client
        .query(&out_trade_no())
        .await
        .expect_err("unverifiable");
    assert!(matches!(err, ProviderError::Verification(_)), "{err:?}");
}

#[tokio::test]
async fn alipay_precreate_page_pay_query_refund_round_trip() {
    let app = spawn_app(Backend::Sqlite).await;
    let alipay = app
        .payments
        .for_provider(Provider::Alipay)
        .cloned()
        .expect("simulated Alipay");
    let (receiver, notify_url) = Receiver::start(1, "success").await;

    // Before the payer opens the cashier Alipay does not know the order.
    let no = out_trade_no();
    assert_eq!(
        alipay.query(&no).await.expect("query").state,
        TradeState::NotPaid
    );

    // Page pay: the signed cashier URL leads to the payer's page.
    let PayAction::Redirect(cashier) = alipay
        .create(Channel::AlipayPage, &payment(&no, 9999, &notify_url))
        .await
        .expect("page pay")
    else {
        panic!("a redirect")
    };
    let opened = app.client.get(&cashier).send().await.expect("cashier");
    assert_eq!(opened.status(), 303);
    let payer_page = opened
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location")
        .to_owned();
    assert_eq!(
        alipay.query(&no).await.expect("query").state,
        TradeState::NotPaid
    );
    press(&app, &payer_page, "pay").await;
    let paid = alipay.query(&no).await.expect("query");
    assert_eq!(
        (paid.state.clone(), paid.amount),
        (TradeState::Paid, Some(fen(9999)))
    );

    let seen = receiver.wait_for(2).await;
    let NotifyEvent::Trade(t) = alipay
        .parse_notify(&seen[1].0, &seen[1].1)
        .await
        .expect("verified notify")
    else {
        panic!("trade")
    };
    assert_eq!(
        (t.state, t.amount, t.merchant_id.as_deref()),
        (
            TradeState::Paid,
            Some(fen(9999)),
            Some(dev_keys::ALIPAY_SELLER_ID)
        )
    );
    let forged =
        String::from_utf8_lossy(&seen[1].1).replace("total_amount=99.99", "total_amount=0.01");
    assert!(matches!(
        alipay
            .parse_notify(&HeaderMap::new(), forged.as_bytes())
            .await,
        Err(ProviderError::Verification(_))
    ));

    let refund = RefundOrder {
        out_trade_no: no.clone(),
        out_refund_no: format!("R{}", no.as_str()),
        amount: fen(999),
        total: fen(9999),
        reason: None,
        notify_url: notify_url.clone(),
        royalty_returns: Vec::new(),
    };
    assert_eq!(
        alipay.refund(&refund).await.expect("refund").state,
        RefundState::Succeeded
    );
    assert_eq!(
        alipay.refund(&refund).await.expect("repeat").state,
        RefundState::Succeeded,
        "idempotent"
    );
    assert_eq!(
        alipay
            .query_refund(&no, &refund.out_refund_no)
            .await
            .expect("query")
            .amount,
        Some(fen(999))
    );
    let too_much = RefundOrder {
        out_refund_no: format!("X{}", no.as_str()),
        amount: fen(9001),
        ..refund
    };
    assert!(matches!(
        alipay.refund(&too_much).await,
        Err(ProviderError::Api { .. })
    ));

    // Precreate: a QR code for the Alipay app.
    let qr_no = out_trade_no();
    let PayAction::QrCode(qr) = alipay
        .create(Channel::AlipayQr, &payment(&qr_no, 1, &notify_url))
        .await
        .expect("precreate")
    else {
        panic!("a QR code")
    };
    assert!(qr.contains("/_simulator/pay/"));
    alipay.close(&qr_no).await.expect("close");
    assert_eq!(
        alipay.query(&qr_no).await.expect("query").state,
        TradeState::Closed
    );
    // Closing an order Alipay never saw confirms nothing: a signed cashier
    // link could still create it (issue 10), so the caller keeps watching it.
    assert_eq!(
        alipay.close(&out_trade_no()).await,
        Err(ProviderError::NotFound)
    );
}

#[tokio::test]
async fn alipay_refuses_a_request_signed_with_another_key() {
    let app = spawn_app(Backend::Sqlite).await;
    let client = providers::alipay::client::AlipayClient::new(
        app.simulator_base.join("alipay/gateway.do").expect("url"),
        dev_keys::ALIPAY_APP_ID.into(),
        RsaSigner::new(
            providers::keys::parse_private_key(&dev_key("alipay-node-app-private-key.pem"))
                .expect("key"),
        ),
        providers::crypto::RsaVerifier::new(
            providers::keys::parse_public_key(dev_keys::ALIPAY_PLATFORM_PUB).expect("key"),
        ),
        None,
        None,
        PaymentLog::disabled(),
    );
    let err = client.query(&out_trade_no()).await.expect_err("refused");
    assert!(
        matches!(err, ProviderError::Api { ref code, .. } if code == "isv.invalid-signature"),
        "{err:?}"
    );
}

#[tokio::test]
async fn every_call_is_in_the_payment_log_without_signatures() {
    let app = spawn_app(Backend::Sqlite).await;
    let wechat = app
        .payments
        .for_provider(Provider::Wechat)
        .cloned()
        .expect("wechat");
    let alipay = app
        .payments
        .for_provider(Provider::Alipay)
        .cloned()
        .expect("alipay");
    let no = out_trade_no();
    wechat
        .create(
            Channel::WechatNative,
            &payment(&no, 5, "http://127.0.0.1:9/n"),
        )
        .await
        .expect("order");
    wechat.query(&no).await.expect("query");
    alipay
        .create(Channel::AlipayQr, &payment(&no, 5, "http://127.0.0.1:9/n"))
        .await
        .expect("precreate");
    use sqlx::Row;
    let rows = sqlx::query("SELECT provider, operation, out_trade_no, request, response, status_code, latency_ms FROM payment_log ORDER BY created_at")
        .fetch_all(&app.db.pool)
        .await
        .expect("log");
    let ops: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r.get::<String, _>("provider"),
                r.get::<String, _>("operation"),
            )
        })
        .collect();
    assert_eq!(
        ops,
        vec![
            ("wechat".into(), "native_order".into()),
            ("wechat".into(), "query".into()),
            ("alipay".into(), "precreate".into())
        ]
    );
    for r in &rows {
        assert_eq!(
            r.get::<Option<String>, _>("out_trade_no").as_deref(),
            Some(no.as_str())
        );
        assert_eq!(r.get::<Option<i64>, _>("status_code"), Some(200));
        let text = format!(
            "{}{}",
            r.get::<String, _>("request"),
            r.get::<String, _>("response")
        );
        // Full RSA-2048 signatures are 344 base64 characters; none may be stored.
        assert!(
            !text
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '='))
                .any(|w| w.len() >= 300),
            "a signature leaked: {text}"
        );
        assert!(!text.contains("PRIVATE KEY"));
    }
}

#[tokio::test]
async fn wechat_v2_unified_order_query_close_and_xml_callback() {
    let app = spawn_app(Backend::Sqlite).await;
    let v2: Arc<dyn PaymentProvider> = Arc::new(
        providers::simulated_wechat_v2(&app.simulator_base, PaymentLog::disabled())
            .expect("client"),
    );
    let (receiver, notify_url) = Receiver::start(
        1,
        "<xml><return_code><![CDATA[SUCCESS]]></return_code></xml>",
    )
    .await;
    let no = out_trade_no();
    let PayAction::QrCode(code_url) = v2
        .create(Channel::WechatNative, &payment(&no, 2500, &notify_url))
        .await
        .expect("unified order")
    else {
        panic!("qr")
    };
    assert_eq!(
        v2.query(&no).await.expect("query").state,
        TradeState::NotPaid
    );
    press(&app, &code_url, "pay").await;
    let paid = v2.query(&no).await.expect("query");
    assert_eq!(
        (paid.state, paid.amount),
        (TradeState::Paid, Some(fen(2500)))
    );
    let seen = receiver.wait_for(2).await;
    let NotifyEvent::Trade(t) = v2
        .parse_notify(&seen[1].0, &seen[1].1)
        .await
        .expect("verified XML notify")
    else {
        panic!("trade")
    };
    assert_eq!(
        (t.out_trade_no.as_str(), t.amount),
        (no.as_str(), Some(fen(2500)))
    );
    let forged = String::from_utf8_lossy(&seen[1].1).replace("2500", "1");
    assert!(matches!(
        v2.parse_notify(&HeaderMap::new(), forged.as_bytes()).await,
        Err(ProviderError::Verification(_))
    ));
    assert!(
        matches!(v2.close(&no).await, Err(ProviderError::Api { code, .. }) if code == "ORDERPAID")
    );
    let other = out_trade_no();
    assert_eq!(v2.query(&other).await, Err(ProviderError::NotFound));
    v2.create(Channel::WechatNative, &payment(&other, 1, &notify_url))
        .await
        .expect("order");
    v2.close(&other).await.expect("close");
    assert_eq!(
        v2.query(&other).await.expect("query").state,
        TradeState::Closed
    );
    assert_eq!(v2.notify_success().body, "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>");
}

#[tokio::test]
async fn a_swallowed_callback_is_never_delivered_but_the_query_still_tells() {
    let app = spawn_app(Backend::Sqlite).await;
    let sim = app.simulator.clone().expect("simulator");
    let wechat = app
        .payments
        .for_provider(Provider::Wechat)
        .cloned()
        .expect("wechat");
    let (receiver, notify_url) = Receiver::start(0, "").await;
    sim.set_delivery(false);
    let no = out_trade_no();
    let PayAction::QrCode(code_url) = wechat
        .create(Channel::WechatNative, &payment(&no, 42, &notify_url))
        .await
        .expect("order")
    else {
        panic!("qr")
    };
    press(&app, &code_url, "pay").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(receiver.seen.lock().expect("lock").is_empty());
    assert_eq!(sim.stats().swallowed, 1);
    assert_eq!(
        wechat.query(&no).await.expect("query").state,
        TradeState::Paid
    );
}

#[tokio::test]
async fn the_payer_can_let_an_order_expire() {
    let app = spawn_app(Backend::Sqlite).await;
    let alipay = app
        .payments
        .for_provider(Provider::Alipay)
        .cloned()
        .expect("alipay");
    let no = out_trade_no();
    let PayAction::QrCode(qr) = alipay
        .create(Channel::AlipayQr, &payment(&no, 42, "http://127.0.0.1:9/n"))
        .await
        .expect("order")
    else {
        panic!("qr")
    };
    let page = app
        .client
        .get(&qr)
        .send()
        .await
        .expect("payer page")
        .text()
        .await
        .expect("html");
    assert!(page.contains("¥0.42") && page.contains("sim-pay"));
    press(&app, &qr, "expire").await;
    assert_eq!(
        alipay.query(&no).await.expect("query").state,
        TradeState::Closed
    );
    let again = app
        .client
        .post(format!("{qr}/pay"))
        .send()
        .await
        .expect("pay after expiry");
    assert_eq!(again.status(), 409, "an expired order cannot be paid");
}

#[tokio::test]
async fn oversized_or_malformed_callbacks_are_refused_before_anything_else() {
    let app = spawn_app(Backend::Sqlite).await;
    let wechat = app
        .payments
        .for_provider(Provider::Wechat)
        .cloned()
        .expect("wechat");
    let alipay = app
        .payments
        .for_provider(Provider::Alipay)
        .cloned()
        .expect("alipay");
    let huge = vec![b'a'; 70 * 1024];
    assert!(matches!(
        wechat.parse_notify(&HeaderMap::new(), &huge).await,
        Err(ProviderError::Malformed(_))
    ));
    assert!(matches!(
        alipay.parse_notify(&HeaderMap::new(), &huge).await,
        Err(ProviderError::Malformed(_))
    ));
    // No signature headers at all.
    assert!(matches!(
        wechat.parse_notify(&HeaderMap::new(), b"{}").await,
        Err(ProviderError::Verification(_))
    ));
    // A form without a signature, and bytes that are not a form.
    assert!(matches!(
        alipay
            .parse_notify(&HeaderMap::new(), b"out_trade_no=A1&total_amount=1.00")
            .await,
        Err(ProviderError::Verification(_))
    ));
    assert!(alipay
        .parse_notify(&HeaderMap::new(), &[0xff, 0xfe, 0x00])
        .await
        .is_err());
}

#[tokio::test]
async fn the_cashier_form_auto_submits_the_signed_parameters() {
    let app = spawn_app(Backend::Sqlite).await;
    let client =
        providers::simulated_alipay(&app.simulator_base, PaymentLog::disabled()).expect("client");
    let no = out_trade_no();
    let html = client
        .page_pay_form(&payment(&no, 100, "http://127.0.0.1:9/n"))
        .expect("form");
    assert!(
        html.contains("method=\"post\"")
            && html.contains("name=\"sign\"")
            && html.contains(".submit()")
    );
    assert!(html.contains("alipay.trade.page.pay"));
}

/// A provider's API never redirects; a client that followed one could send a
/// signed request (and read an answer) from another host (issue 10, finding 9).
#[tokio::test]
async fn provider_clients_never_follow_redirects() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let elsewhere = Arc::new(AtomicUsize::new(0));
    let hits = elsewhere.clone();
    let router = axum::Router::new()
        .route(
            "/v3/pay/transactions/out-trade-no/{no}",
            axum::routing::get(|| async {
                (
                    axum::http::StatusCode::FOUND,
                    [("location", "/elsewhere")],
                    "",
                )
            }),
        )
        .route(
            "/elsewhere",
            axum::routing::get(move || {
                hits.fetch_add(1, Ordering::SeqCst);
                async { "{}" }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    let client = WechatPayV3::new(
        url::Url::parse(&format!("http://{addr}/")).expect("url"),
        dev_keys::WECHAT_APP_ID.into(),
        dev_keys::WECHAT_MCH_ID.into(),
        dev_keys::WECHAT_MERCHANT_SERIAL.into(),
        RsaSigner::new(
            providers::keys::parse_private_key(dev_keys::WECHAT_MERCHANT_KEY).expect("key"),
        ),
        dev_keys::WECHAT_APIV3_KEY.to_owned().into(),
        PlatformKeys::PublicKey {
            id: dev_keys::WECHAT_PUBLIC_KEY_ID.into(),
            key: providers::keys::parse_public_key(dev_keys::WECHAT_PLATFORM_PUB).expect("key"),
        },
        PaymentLog::disabled(),
    );
    assert!(client.query(&out_trade_no()).await.is_err());
    assert_eq!(
        elsewhere.load(Ordering::SeqCst),
        0,
        "the redirect was not followed"
    );
}
