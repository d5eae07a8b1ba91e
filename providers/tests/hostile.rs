//! Hostile input at the providers' doors (issue 11, part 4): property tests
//! of every parser a stranger (or a provider gone wrong) can feed. Two kinds:
//!
//! - **unsigned garbage**: arbitrary headers and bytes for the three callback
//!   formats, WeChat v2 XML built to hurt (entities, deep nesting, huge
//!   attributes), the `Authorization` header, Alipay's signed-node cutter.
//!   Never a panic, always an error, in bounded time.
//! - **signed nonsense**: messages correctly encrypted and signed with the
//!   providers' (development) keys whose *content* is arbitrary JSON or
//!   arbitrary field values, as if the provider itself misbehaved. Never a
//!   panic; whatever is accepted names an order and a non-negative amount.

use formpay_core::payment_log::PaymentLog;
use formpay_core::provider::{NotifyEvent, PaymentProvider};
use proptest::prelude::*;
use providers::crypto::{aes_gcm_encrypt, RsaSigner, SignMessage};
use providers::keys::parse_private_key;
use providers::{dev_keys, wechat_v2, wechat_v3};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn base() -> url::Url {
    // Never called: parsing a callback makes no request.
    url::Url::parse("http://127.0.0.1:9/_simulator/").expect("url")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Arbitrary JSON, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A realistic value or anything at all.
fn or_any(real: Value) -> impl Strategy<Value = Value> {
    prop_oneof![3 => Just(real), 1 => json_value()]
}

/// A WeChat Pay v3 transaction or refund whose every field may be wrong.
fn v3_resource() -> impl Strategy<Value = Value> {
    (
        or_any(json!(dev_keys::WECHAT_MCH_ID)),
        or_any(json!(dev_keys::WECHAT_APP_ID)),
        or_any(json!("FP20261203000001")),
        or_any(json!("4200000000202612030000000001")),
        prop_oneof![
            Just(json!("SUCCESS")),
            Just(json!("CLOSED")),
            Just(json!("NOTPAY")),
            Just(json!("REFUND")),
            json_value()
        ],
        prop_oneof![any::<i64>().prop_map(|n| json!(n)), json_value()],
        prop_oneof![Just(json!("CNY")), Just(json!("USD")), json_value()],
        or_any(json!("2026-12-03T10:00:00+08:00")),
        or_any(json!("RF20261203000001")),
    )
        .prop_map(
            |(mchid, appid, no, tx, state, total, currency, time, refund_no)| {
                json!({
                    "mchid": mchid, "appid": appid, "out_trade_no": no,
                    "transaction_id": tx, "trade_state": state.clone(),
                    "refund_status": state, "out_refund_no": refund_no,
                    "refund_id": "50000000000000000001",
                    "success_time": time,
                    "amount": { "total": total, "payer_total": total, "refund": total,
                                "payer_refund": total, "currency": currency }
                })
            },
        )
}

fn v3_event_type() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("TRANSACTION.SUCCESS".to_owned()),
        Just("REFUND.SUCCESS".to_owned()),
        Just("REFUND.CLOSED".to_owned()),
        Just("REFUND.ABNORMAL".to_owned()),
        ".{0,20}",
    ]
}

/// A v3 callback as WeChat Pay sends it: encrypted resource, signed body.
fn v3_signed(event_type: &str, plaintext: &str) -> (http::HeaderMap, Vec<u8>) {
    let nonce = "r8d7c6b5a4e3";
    let ciphertext = aes_gcm_encrypt(
        dev_keys::WECHAT_APIV3_KEY.as_bytes(),
        nonce.as_bytes(),
        b"transaction",
        plaintext.as_bytes(),
    )
    .expect("encrypt");
    let body = json!({
        "id": "EV-2026", "create_time": "2026-12-03T10:00:00+08:00",
        "resource_type": "encrypt-resource", "event_type": event_type, "summary": "x",
        "resource": { "original_type": "transaction", "algorithm": "AEAD_AES_256_GCM",
                      "ciphertext": ciphertext, "associated_data": "transaction", "nonce": nonce }
    })
    .to_string();
    let ts = (formpay_core::now_ms() / 1000).to_string();
    let signer = RsaSigner::new(parse_private_key(dev_keys::WECHAT_PLATFORM_KEY).expect("key"));
    let signature = signer
        .sign_base64(format!("{ts}\n{nonce}\n{body}\n").as_bytes())
        .expect("sign");
    let mut headers = http::HeaderMap::new();
    headers.insert("wechatpay-timestamp", ts.parse().expect("header"));
    headers.insert("wechatpay-nonce", nonce.parse().expect("header"));
    headers.insert("wechatpay-signature", signature.parse().expect("header"));
    headers.insert(
        "wechatpay-serial",
        dev_keys::WECHAT_PUBLIC_KEY_ID.parse().expect("header"),
    );
    (headers, body.into_bytes())
}

/// What may come out of a callback, however odd its content. (The checks
/// against the order, amount, merchant, app id and currency CNY, are the
/// core's, after this: black-box tests in `server/tests/api/trust.rs`.)
fn accepted_is_sane(event: &NotifyEvent) {
    match event {
        NotifyEvent::Trade(t) => {
            if let Some(m) = t.amount {
                assert!(m.fen() >= 0, "a negative amount was accepted: {t:?}");
            }
            assert!(!t.out_trade_no.is_empty());
        }
        NotifyEvent::Refund(r) => {
            if let Some(m) = r.amount {
                assert!(m.fen() >= 0, "a negative refund was accepted: {r:?}");
            }
            assert!(!r.out_trade_no.is_empty());
        }
    }
}

fn header_value() -> impl Strategy<Value = Option<String>> {
    prop::option::of("[ -~]{0,80}")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn unsigned_wechat_v3_callbacks_are_refused(
        ts in header_value(), nonce in header_value(), sig in header_value(), serial in header_value(),
        body in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        let client = providers::simulated_wechat(&base(), true, PaymentLog::disabled()).expect("client");
        let mut headers = http::HeaderMap::new();
        for (name, v) in [("wechatpay-timestamp", ts), ("wechatpay-nonce", nonce), ("wechatpay-signature", sig), ("wechatpay-serial", serial)] {
            if let Some(v) = v.and_then(|v| http::HeaderValue::from_str(&v).ok()) {
                headers.insert(name, v);
            }
        }
        let started = Instant::now();
        let result = runtime().block_on(client.parse_notify(&headers, &body));
        prop_assert!(result.is_err(), "an unsigned callback was accepted: {result:?}");
        prop_assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn signed_wechat_v3_callbacks_with_any_content_never_panic(
        event_type in v3_event_type(), resource in v3_resource(),
    ) {
        let client = providers::simulated_wechat(&base(), true, PaymentLog::disabled()).expect("client");
        let (headers, body) = v3_signed(&event_type, &resource.to_string());
        if let Ok(event) = runtime().block_on(client.parse_notify(&headers, &body)) {
            accepted_is_sane(&event);
        }
    }

    #[test]
    fn signed_wechat_v3_callbacks_with_arbitrary_json_never_panic(
        event_type in v3_event_type(), resource in json_value(),
    ) {
        let client = providers::simulated_wechat(&base(), true, PaymentLog::disabled()).expect("client");
        let (headers, body) = v3_signed(&event_type, &resource.to_string());
        if let Ok(event) = runtime().block_on(client.parse_notify(&headers, &body)) {
            accepted_is_sane(&event);
        }
    }

    #[test]
    fn unsigned_wechat_v2_bodies_are_refused(body in prop::collection::vec(any::<u8>(), 0..4096)) {
        let client = providers::simulated_wechat_v2(&base(), PaymentLog::disabled()).expect("client");
        let started = Instant::now();
        let result = runtime().block_on(client.parse_notify(&http::HeaderMap::new(), &body));
        prop_assert!(result.is_err());
        prop_assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn hostile_xml_is_refused_quickly(
        depth in 1usize..2000, attr in 0usize..200_000, entity in prop::bool::ANY, tag in "[a-z_]{1,12}",
    ) {
        let mut xml = String::from("<xml>");
        if entity {
            xml = format!("<!DOCTYPE xml [<!ENTITY a \"{}\"><!ENTITY b \"&a;&a;&a;&a;\">]>{xml}&b;", "x".repeat(64));
        }
        for _ in 0..depth {
            xml.push_str(&format!("<{tag} k=\"{}\">", "v".repeat(attr / depth.max(1))));
        }
        for _ in 0..depth {
            xml.push_str(&format!("</{tag}>"));
        }
        xml.push_str("</xml>");
        let started = Instant::now();
        let parsed = wechat_v2::parse_xml(xml.as_bytes());
        prop_assert!(parsed.is_err() || (depth == 1 && !entity), "nested or entity-laden XML accepted");
        prop_assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn signed_wechat_v2_callbacks_with_any_fields_never_panic(
        fields in prop::collection::btree_map("[a-z_]{1,16}", ".{0,40}", 0..12),
        total in prop_oneof![any::<i64>().prop_map(|n| n.to_string()), ".{0,12}"],
        fee_type in prop_oneof![Just("CNY".to_owned()), Just("USD".to_owned()), ".{0,6}"],
        result_code in prop_oneof![Just("SUCCESS".to_owned()), Just("FAIL".to_owned()), ".{0,8}"],
    ) {
        let mut f: std::collections::BTreeMap<String, String> = [
            ("return_code", "SUCCESS".to_owned()), ("result_code", result_code),
            ("appid", dev_keys::WECHAT_APP_ID.to_owned()), ("mch_id", dev_keys::WECHAT_MCH_ID.to_owned()),
            ("out_trade_no", "FP20261203000001".to_owned()), ("transaction_id", "4200000000000001".to_owned()),
            ("total_fee", total), ("fee_type", fee_type), ("nonce_str", "abc".to_owned()),
            ("sign_type", "HMAC-SHA256".to_owned()), ("time_end", "20261203100000".to_owned()),
        ].into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        for (k, v) in fields {
            if k != "sign" {
                f.insert(k, v);
            }
        }
        let sign_type = wechat_v2::SignType::parse(f.get("sign_type").map(String::as_str))
            .unwrap_or(wechat_v2::SignType::HmacSha256);
        let sign = wechat_v2::sign(&f, dev_keys::WECHAT_V2_KEY, sign_type);
        f.insert("sign".into(), sign);
        let client = providers::simulated_wechat_v2(&base(), PaymentLog::disabled()).expect("client");
        let body = wechat_v2::to_xml(&f);
        if let Ok(event) = runtime().block_on(client.parse_notify(&http::HeaderMap::new(), body.as_bytes())) {
            accepted_is_sane(&event);
        }
    }

    #[test]
    fn unsigned_alipay_notifications_are_refused(
        pairs in prop::collection::vec((".{0,16}", ".{0,64}"), 0..24),
        raw in prop::collection::vec(any::<u8>(), 0..1024),
    ) {
        let client = providers::simulated_alipay(&base(), PaymentLog::disabled()).expect("client");
        let encoded = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish();
        for body in [encoded.into_bytes(), raw] {
            let result = runtime().block_on(client.parse_notify(&http::HeaderMap::new(), &body));
            prop_assert!(result.is_err(), "an unsigned notification was accepted");
        }
    }

    #[test]
    fn signed_alipay_notifications_with_any_values_never_panic(
        extra in prop::collection::vec(("[a-z_]{1,16}", ".{0,40}"), 0..8),
        amount in prop_oneof![Just("12.34".to_owned()), Just("-1.00".to_owned()), Just("99999999999999.99".to_owned()), ".{0,14}"],
        status in prop_oneof![Just("TRADE_SUCCESS".to_owned()), Just("TRADE_FINISHED".to_owned()), Just("TRADE_CLOSED".to_owned()), ".{0,14}"],
        currency in prop::option::of(prop_oneof![Just("CNY".to_owned()), Just("USD".to_owned()), ".{0,4}"]),
        refund in prop::option::of(".{0,12}"),
    ) {
        let mut params: Vec<(String, String)> = [
            ("notify_type", "trade_status_sync".to_owned()), ("notify_id", "n1".to_owned()),
            ("notify_time", "2026-12-03 10:00:00".to_owned()), ("app_id", dev_keys::ALIPAY_APP_ID.to_owned()),
            ("seller_id", dev_keys::ALIPAY_SELLER_ID.to_owned()), ("trade_no", "2026120322001".to_owned()),
            ("out_trade_no", "FP20261203000001".to_owned()), ("trade_status", status),
            ("total_amount", amount.clone()), ("receipt_amount", amount),
            ("gmt_payment", "2026-12-03 10:00:00".to_owned()), ("sign_type", "RSA2".to_owned()),
        ].into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        if let Some(c) = currency {
            params.push(("trans_currency".into(), c));
        }
        if let Some(r) = refund {
            params.push(("refund_fee".into(), r));
            params.push(("out_biz_no".into(), "RF1".into()));
        }
        for (k, v) in extra {
            if k != "sign" && k != "sign_type" && !params.iter().any(|(p, _)| p == &k) {
                params.push((k, v));
            }
        }
        let content = providers::alipay::signing_string(params.iter().map(|(k, v)| (k.as_str(), v.as_str())), &["sign", "sign_type"]);
        let signer = RsaSigner::new(parse_private_key(dev_keys::ALIPAY_PLATFORM_KEY).expect("key"));
        params.push(("sign".into(), signer.sign_base64(content.as_bytes()).expect("sign")));
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&params).finish();
        let client = providers::simulated_alipay(&base(), PaymentLog::disabled()).expect("client");
        if let Ok(event) = runtime().block_on(client.parse_notify(&http::HeaderMap::new(), body.as_bytes())) {
            accepted_is_sane(&event);
        }
    }

    #[test]
    fn authorization_headers_and_signed_nodes_never_panic(
        header in ".{0,300}", raw in ".{0,600}", node in ".{0,40}",
    ) {
        let _ = wechat_v3::parse_authorization(&header);
        let _ = providers::alipay::response_node(&raw, &node);
        let _ = providers::alipay::response_node(&format!("{{\"{node}\":{raw}"), &node);
    }
}
