//! The provider simulator: WeChat Pay API v3 and the Alipay gateway on
//! loopback, with their paths, fields, RSA signatures, AES-GCM callbacks and
//! notify retries, plus a page that plays the payer (pay, cancel, let it
//! expire). The development profile mounts it under `/_simulator` and points
//! the providers at it; production refuses to start with it.
//!
//! Its keys are the development keys in `providers/dev-keys/` (public, marked
//! DEVELOPMENT ONLY).

// Handlers answer a refused request with the provider's own error response,
// returned early through `Result<_, Response>`; its size does not matter here.
#![allow(clippy::result_large_err)]

mod alipay;
pub mod bills;
mod faults;
mod notify;
mod pages;
mod phone;
pub mod profitsharing;
mod standalone;
mod wechat;
mod wechat_refunds;
mod wechat_v2;

pub use faults::Fault;
pub use standalone::{spawn_standalone, wechat_merchant_env};

use axum::routing::{get, post};
use axum::Router;
use providers::crypto::{RsaSigner, RsaVerifier};
use providers::keys::{parse_private_key, parse_public_key};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use phone::{is_openid_of, openid_for, openid_of};
pub use providers::dev_keys;

/// WeChat Pay's notify retry schedule, after the first attempt.
pub const WECHAT_RETRY_SCHEDULE: [u64; 15] = [
    15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600,
];
/// Alipay's notify retry schedule, after the first attempt.
pub const ALIPAY_RETRY_SCHEDULE: [u64; 7] = [240, 600, 600, 3600, 7200, 21600, 54000];

pub struct SimulatorSettings {
    /// Where the simulator is reachable, e.g. `http://127.0.0.1:3000/_simulator`.
    pub public_base: String,
    /// Real seconds per simulated second: 1.0 in development, tiny in tests.
    pub time_scale: f64,
    /// How long a WeChat refund stays PROCESSING (simulated seconds).
    pub refund_delay_secs: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimProvider {
    Wechat,
    Alipay,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimState {
    NotPaid,
    Paid,
    Closed,
}

#[derive(Clone, Debug)]
pub struct SimOrder {
    pub provider: SimProvider,
    /// Created through API v2: its callback is XML.
    pub wechat_v2: bool,
    pub token: String,
    pub out_trade_no: String,
    pub amount_fen: i64,
    pub subject: String,
    pub notify_url: String,
    pub return_url: Option<String>,
    pub state: SimState,
    pub transaction_id: String,
    pub created_at_ms: i64,
    pub expires_at_ms: Option<i64>,
    pub paid_at_ms: Option<i64>,
    pub refunded_fen: i64,
    /// WeChat's `trade_type`: NATIVE, JSAPI, MWEB (H5).
    pub trade_type: &'static str,
    /// JSAPI: the payer's openid.
    pub openid: Option<String>,
    /// Alipay WAP: where a payer who cancels goes.
    pub quit_url: Option<String>,
}

#[derive(Clone, Debug)]
pub struct SimRefund {
    pub provider: SimProvider,
    pub out_trade_no: String,
    pub out_refund_no: String,
    pub refund_id: String,
    pub amount_fen: i64,
    pub total_fen: i64,
    pub status: SimRefundStatus,
    pub created_at_ms: i64,
    pub notify_url: Option<String>,
}

/// Where a simulated refund is. WeChat refunds start `Processing` and settle
/// to the outcome set with [`Simulator::set_refund_outcome`] (success by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimRefundStatus {
    Processing,
    Success,
    Closed,
    Abnormal,
}

/// What the tests can see of deliveries.
#[derive(Clone, Debug, Default)]
pub struct DeliveryStats {
    pub attempts: u64,
    pub acknowledged: u64,
    pub swallowed: u64,
    /// Order queries answered (WeChat v3 and v2, Alipay).
    pub queries: u64,
    /// Provider API requests answered with a fault.
    pub faulted: u64,
    /// The orders (`out_trade_no`) whose payment callback the merchant
    /// acknowledged, and when (simulator clock, ms): what a provider knows
    /// it need not send again.
    pub acknowledged_payments: std::collections::BTreeMap<String, i64>,
    /// The same for refund callbacks (`out_refund_no`).
    pub acknowledged_refunds: std::collections::BTreeMap<String, i64>,
}

pub(crate) struct Inner {
    pub settings: SimulatorSettings,
    pub wechat_merchant: RsaVerifier,
    pub wechat_platform: RsaSigner,
    pub alipay_app: RsaVerifier,
    pub alipay_platform: RsaSigner,
    pub orders: Mutex<HashMap<(u8, String), SimOrder>>,
    pub refunds: Mutex<HashMap<(u8, String), SimRefund>>,
    pub deliver: AtomicBool,
    pub refund_outcome: Mutex<SimRefundStatus>,
    pub stats: Mutex<DeliveryStats>,
    pub http: reqwest::Client,
    /// WeChat OAuth codes issued and not yet forgotten.
    pub oauth_codes: Mutex<HashMap<String, phone::OauthCode>>,
    /// How the provider API misbehaves now, if it does.
    pub fault: Mutex<Option<Fault>>,
    /// Bill files issued, by download token, with when.
    pub bill_files: Mutex<HashMap<String, (Vec<u8>, i64)>>,
    /// Discrepancies the bills carry.
    pub bill_faults: Mutex<bills::BillFaults>,
    /// Profit sharing: receivers, payments open to sharing, splits, returns.
    pub shares: Mutex<profitsharing::ShareBook>,
}

fn key_of(p: SimProvider, no: &str) -> (u8, String) {
    (if p == SimProvider::Wechat { 0 } else { 1 }, no.to_owned())
}

/// A running simulator's shared state; cheap to clone.
#[derive(Clone)]
pub struct Simulator(pub(crate) Arc<Inner>);

impl Simulator {
    pub fn new(settings: SimulatorSettings) -> anyhow::Result<Simulator> {
        let signer = |pem: &str| {
            parse_private_key(pem)
                .map(RsaSigner::new)
                .map_err(anyhow::Error::msg)
        };
        let verifier = |pem: &str| {
            parse_public_key(pem)
                .map(RsaVerifier::new)
                .map_err(anyhow::Error::msg)
        };
        Ok(Simulator(Arc::new(Inner {
            settings,
            wechat_merchant: verifier(dev_keys::WECHAT_MERCHANT_PUB)?,
            wechat_platform: signer(dev_keys::WECHAT_PLATFORM_KEY)?,
            alipay_app: verifier(dev_keys::ALIPAY_APP_PUB)?,
            alipay_platform: signer(dev_keys::ALIPAY_PLATFORM_KEY)?,
            orders: Mutex::new(HashMap::new()),
            refunds: Mutex::new(HashMap::new()),
            deliver: AtomicBool::new(true),
            refund_outcome: Mutex::new(SimRefundStatus::Success),
            stats: Mutex::new(DeliveryStats::default()),
            http: providers::http::client(),
            oauth_codes: Mutex::new(HashMap::new()),
            fault: Mutex::new(None),
            bill_files: Mutex::new(HashMap::new()),
            bill_faults: Mutex::new(bills::BillFaults::default()),
            shares: Mutex::new(profitsharing::ShareBook::default()),
        })))
    }

    /// The routes, to be nested under the simulator's base path.
    pub fn router(&self) -> Router {
        Router::new()
            .route(
                "/wechat/v3/pay/transactions/native",
                post(wechat::native_order),
            )
            .route(
                "/wechat/v3/pay/transactions/out-trade-no/{no}",
                get(wechat::query),
            )
            .route(
                "/wechat/v3/pay/transactions/out-trade-no/{no}/close",
                post(wechat::close),
            )
            .route(
                "/wechat/v3/refund/domestic/refunds",
                post(wechat_refunds::refund),
            )
            .route(
                "/wechat/v3/refund/domestic/refunds/{no}",
                get(wechat_refunds::query_refund),
            )
            .route("/wechat/v3/certificates", get(wechat::certificates))
            .route("/wechat/v3/bill/tradebill", get(bills::trade_bill))
            .route("/wechat/v3/bill/fundflowbill", get(bills::fund_flow_bill))
            .route("/wechat/v3/billdownload/file", get(bills::download))
            .route("/control/bill", post(bills::set_faults))
            .route(
                "/alipay/downloadBillFile.resource",
                get(bills::alipay_download),
            )
            .route(
                "/wechat/v3/profitsharing/receivers/add",
                post(profitsharing::add_receiver),
            )
            .route(
                "/wechat/v3/profitsharing/orders",
                post(profitsharing::share),
            )
            .route(
                "/wechat/v3/profitsharing/orders/unfreeze",
                post(profitsharing::unfreeze),
            )
            .route(
                "/wechat/v3/profitsharing/orders/{no}",
                get(profitsharing::query),
            )
            .route(
                "/wechat/v3/profitsharing/return-orders",
                post(profitsharing::return_share),
            )
            .route(
                "/wechat/v3/pay/transactions/jsapi",
                post(wechat::jsapi_order),
            )
            .route("/wechat/v3/pay/transactions/h5", post(wechat::h5_order))
            .route("/wechat/connect/oauth2/authorize", get(phone::authorize))
            .route("/wechat/sns/oauth2/access_token", get(phone::access_token))
            .route("/wechat/jsbridge.js", get(phone::jsbridge))
            .route("/wechat/jsapi/pay", post(phone::bridge_pay))
            .route("/wechat/jsapi/order", get(phone::bridge_order))
            .route("/wechat/h5", get(phone::h5_cashier))
            .route("/control/oauth/expire-codes", post(phone::expire_codes))
            .route("/wechat/pay/unifiedorder", post(wechat_v2::unified_order))
            .route("/wechat/pay/orderquery", post(wechat_v2::order_query))
            .route("/wechat/pay/closeorder", post(wechat_v2::close_order))
            .route(
                "/alipay/gateway.do",
                post(alipay::gateway).get(alipay::cashier),
            )
            .route("/pay/{token}", get(pages::payer_page))
            .route("/pay/{token}/{action}", post(pages::payer_action))
            .route("/control/deliver", post(pages::set_delivery))
            .route("/control/orders/{no}", get(pages::order_json))
            .route("/control/fault", post(pages::set_fault))
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                faults::apply,
            ))
            .with_state(self.clone())
    }

    /// Makes the provider API misbehave until cleared (`None`).
    pub fn set_fault(&self, fault: Option<Fault>) {
        if let Ok(mut f) = self.0.fault.lock() {
            *f = fault;
        }
    }

    /// Whether callbacks are delivered (tests turn this off to lose one).
    pub fn set_delivery(&self, on: bool) {
        self.0.deliver.store(on, Ordering::SeqCst);
    }

    /// How the next WeChat refunds settle (tests: closed or abnormal refunds).
    pub fn set_refund_outcome(&self, outcome: SimRefundStatus) {
        if let Ok(mut o) = self.0.refund_outcome.lock() {
            *o = outcome;
        }
    }

    pub fn stats(&self) -> DeliveryStats {
        self.0.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Counts one order query (what a merchant's API quota is spent on).
    pub(crate) fn count_query(&self) {
        if let Ok(mut s) = self.0.stats.lock() {
            s.queries += 1;
        }
    }

    /// An order as a query sees it, counted.
    pub(crate) fn queried(&self, provider: SimProvider, no: &str) -> Option<SimOrder> {
        self.count_query();
        self.order(provider, no)
    }

    /// An Alipay notification for `no`, signed with the simulator's Alipay
    /// key, as the simulator sends it; `overrides` replace (or add) fields
    /// before signing. For tests that post notifications themselves.
    pub fn signed_alipay_notify(
        &self,
        no: &str,
        amount_fen: i64,
        overrides: &[(&str, &str)],
    ) -> String {
        let order = SimOrder {
            provider: SimProvider::Alipay,
            wechat_v2: false,
            token: new_token(),
            out_trade_no: no.to_owned(),
            amount_fen,
            subject: "test".into(),
            notify_url: String::new(),
            return_url: None,
            state: SimState::Paid,
            transaction_id: transaction_id("2026"),
            created_at_ms: formpay_core::now_ms(),
            expires_at_ms: None,
            paid_at_ms: Some(formpay_core::now_ms()),
            refunded_fen: 0,
            trade_type: "NATIVE",
            openid: None,
            quit_url: None,
        };
        let mut params = notify::alipay_trade_params(self, &order, "trade_status_sync");
        if !overrides.is_empty() {
            params.retain(|(k, _)| k != "sign");
            for (k, v) in overrides {
                params.retain(|(n, _)| n != k);
                params.push(((*k).to_owned(), (*v).to_owned()));
            }
            let content = providers::alipay::signing_string(
                params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                &["sign", "sign_type"],
            );
            use providers::crypto::SignMessage;
            let sign = self
                .0
                .alipay_platform
                .sign_base64(content.as_bytes())
                .unwrap_or_default();
            params.push(("sign".into(), sign));
        }
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish()
    }

    pub fn order(&self, provider: SimProvider, no: &str) -> Option<SimOrder> {
        let mut orders = self.0.orders.lock().ok()?;
        let order = orders.get_mut(&key_of(provider, no))?;
        expire_if_due(order);
        Some(order.clone())
    }

    /// The refunds made for an order, oldest first.
    pub fn refunds_of(&self, provider: SimProvider, out_trade_no: &str) -> Vec<SimRefund> {
        let mut list: Vec<SimRefund> = self
            .0
            .refunds
            .lock()
            .map(|r| {
                r.values()
                    .filter(|r| r.provider == provider && r.out_trade_no == out_trade_no)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        list.sort_by_key(|r| r.created_at_ms);
        list
    }

    /// A WeChat order by the `prepay_id` given for it (JSAPI, H5).
    pub(crate) fn order_by_prepay_id(&self, prepay_id: &str) -> Option<SimOrder> {
        let mut orders = self.0.orders.lock().ok()?;
        let order = orders
            .values_mut()
            .find(|o| o.provider == SimProvider::Wechat && prepay_id_of(&o.token) == prepay_id)?;
        expire_if_due(order);
        Some(order.clone())
    }

    fn order_by_token(&self, token: &str) -> Option<SimOrder> {
        let mut orders = self.0.orders.lock().ok()?;
        let order = orders.values_mut().find(|o| o.token == token)?;
        expire_if_due(order);
        Some(order.clone())
    }

    fn update<T>(
        &self,
        provider: SimProvider,
        no: &str,
        f: impl FnOnce(&mut SimOrder) -> T,
    ) -> Option<T> {
        let mut orders = self.0.orders.lock().ok()?;
        let order = orders.get_mut(&key_of(provider, no))?;
        expire_if_due(order);
        Some(f(order))
    }

    fn insert(&self, order: SimOrder) {
        if let Ok(mut orders) = self.0.orders.lock() {
            orders.insert(key_of(order.provider, &order.out_trade_no), order);
        }
    }

    /// The payer pays: the order becomes paid and the callback is delivered.
    pub fn pay(&self, provider: SimProvider, no: &str) -> Result<SimOrder, &'static str> {
        let paid = self
            .update(provider, no, |o| match o.state {
                SimState::NotPaid => {
                    o.state = SimState::Paid;
                    o.paid_at_ms = Some(formpay_core::now_ms());
                    Ok(o.clone())
                }
                SimState::Paid => Err("already paid"),
                SimState::Closed => Err("the order is closed"),
            })
            .ok_or("no such order")??;
        notify::deliver_payment(self.clone(), paid.clone());
        Ok(paid)
    }

    /// Pays an order even though it was closed: a late payment, as happens
    /// when the payer confirmed just before the close reached the provider.
    pub fn pay_late(&self, provider: SimProvider, no: &str) -> Result<SimOrder, &'static str> {
        let paid = self
            .update(provider, no, |o| {
                o.state = SimState::Paid;
                o.paid_at_ms = Some(formpay_core::now_ms());
                o.clone()
            })
            .ok_or("no such order")?;
        notify::deliver_payment(self.clone(), paid.clone());
        Ok(paid)
    }

    pub fn close(&self, provider: SimProvider, no: &str) -> Result<(), &'static str> {
        self.update(provider, no, |o| match o.state {
            SimState::Paid => Err("the order is paid"),
            _ => {
                o.state = SimState::Closed;
                Ok(())
            }
        })
        .ok_or("no such order")?
    }

    /// Makes an order's time run out now.
    pub fn expire(&self, provider: SimProvider, no: &str) -> Result<(), &'static str> {
        self.update(provider, no, |o| match o.state {
            SimState::Paid => Err("the order is paid"),
            _ => {
                o.expires_at_ms = Some(formpay_core::now_ms() - 1);
                o.state = SimState::Closed;
                Ok(())
            }
        })
        .ok_or("no such order")?
    }

    pub(crate) fn scaled(&self, simulated_secs: u64) -> Duration {
        Duration::from_secs_f64(simulated_secs as f64 * self.0.settings.time_scale)
    }

    pub(crate) fn payer_url(&self, token: &str) -> String {
        format!(
            "{}/pay/{token}",
            self.0.settings.public_base.trim_end_matches('/')
        )
    }
}

/// An unpaid order past its expiry is closed, as the providers do.
fn expire_if_due(o: &mut SimOrder) {
    if o.state == SimState::NotPaid && o.expires_at_ms.is_some_and(|e| e < formpay_core::now_ms()) {
        o.state = SimState::Closed;
    }
}

/// The `prepay_id` WeChat gives for an order (JSAPI, H5, v2's answers).
pub(crate) fn prepay_id_of(token: &str) -> String {
    format!("wx{token}")
}

pub(crate) fn new_token() -> String {
    formpay_core::random_token().to_string()
}

/// A provider-style transaction number: date and random digits.
pub(crate) fn transaction_id(prefix: &str) -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    let digits: String = (0..18)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect();
    format!("{prefix}{}{digits}", chrono::Utc::now().format("%Y%m%d"))
}

/// A `TRANSACTION.SUCCESS` callback exactly as WeChat Pay sends it, encrypted
/// and signed with the simulator's keys: for tests and benchmarks that post
/// callbacks themselves.
pub fn signed_wechat_callback(
    out_trade_no: &str,
    amount_fen: i64,
    mchid: &str,
) -> (Vec<(&'static str, String)>, String) {
    let plaintext = serde_json::json!({
        "appid": dev_keys::WECHAT_APP_ID, "mchid": mchid, "out_trade_no": out_trade_no,
        "transaction_id": transaction_id("4200"), "trade_type": "NATIVE", "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功", "success_time": wechat::rfc3339(formpay_core::now_ms()),
        "payer": {"openid": "oSimulatorPayer0000000000000"}, "amount": {"total": amount_fen, "payer_total": amount_fen, "currency": "CNY"}
    })
    .to_string();
    signed_wechat_event("TRANSACTION.SUCCESS", "支付成功", "transaction", &plaintext)
}

/// A `TRANSACTION.SUCCESS` callback whose decrypted transaction is `json`
/// (tests of fields that do not match the order: another currency, say).
pub fn signed_wechat_transaction(
    json: &serde_json::Value,
) -> (Vec<(&'static str, String)>, String) {
    signed_wechat_event(
        "TRANSACTION.SUCCESS",
        "支付成功",
        "transaction",
        &json.to_string(),
    )
}

/// A WeChat Pay v2 payment notification, signed with the v2 development key
/// (HMAC-SHA256, named in `sign_type`), as the simulator sends it.
pub fn signed_wechat_v2_callback(out_trade_no: &str, amount_fen: i64) -> String {
    wechat_v2::notify_xml(&SimOrder {
        provider: SimProvider::Wechat,
        wechat_v2: true,
        token: new_token(),
        out_trade_no: out_trade_no.to_owned(),
        amount_fen,
        subject: "test".into(),
        notify_url: String::new(),
        return_url: None,
        state: SimState::Paid,
        transaction_id: transaction_id("4200"),
        created_at_ms: formpay_core::now_ms(),
        expires_at_ms: None,
        paid_at_ms: Some(formpay_core::now_ms()),
        refunded_fen: 0,
        trade_type: "NATIVE",
        openid: None,
        quit_url: None,
    })
}

/// A `REFUND.*` callback exactly as WeChat Pay sends it (`status`: SUCCESS,
/// CLOSED or ABNORMAL), signed with the simulator's platform key.
pub fn signed_wechat_refund_callback(
    out_trade_no: &str,
    out_refund_no: &str,
    amount_fen: i64,
    status: &str,
) -> (Vec<(&'static str, String)>, String) {
    let plaintext = serde_json::json!({
        "mchid": dev_keys::WECHAT_MCH_ID, "out_trade_no": out_trade_no, "out_refund_no": out_refund_no,
        "refund_id": transaction_id("5030"), "refund_status": status,
        "amount": {"refund": amount_fen, "total": amount_fen, "payer_refund": amount_fen, "currency": "CNY"}
    })
    .to_string();
    signed_wechat_event(&format!("REFUND.{status}"), "退款", "refund", &plaintext)
}

/// Encrypts a resource under the APIv3 key and signs the envelope.
fn signed_wechat_event(
    event_type: &str,
    summary: &str,
    original_type: &str,
    plaintext: &str,
) -> (Vec<(&'static str, String)>, String) {
    use providers::crypto::{aes_gcm_encrypt, random_nonce, SignMessage};
    let nonce = random_nonce(12);
    let ciphertext = aes_gcm_encrypt(
        dev_keys::WECHAT_APIV3_KEY.as_bytes(),
        nonce.as_bytes(),
        original_type.as_bytes(),
        plaintext.as_bytes(),
    )
    .unwrap_or_default();
    let body = serde_json::json!({
        "id": new_token(), "create_time": wechat::rfc3339(formpay_core::now_ms()), "resource_type": "encrypt-resource",
        "event_type": event_type, "summary": summary,
        "resource": {"original_type": original_type, "algorithm": "AEAD_AES_256_GCM", "ciphertext": ciphertext, "associated_data": original_type, "nonce": nonce}
    })
    .to_string();
    let ts = (formpay_core::now_ms() / 1000).to_string();
    let n = random_nonce(32);
    let signature = parse_private_key(dev_keys::WECHAT_PLATFORM_KEY)
        .map(RsaSigner::new)
        .ok()
        .and_then(|s| {
            s.sign_base64(format!("{ts}\n{n}\n{body}\n").as_bytes())
                .ok()
        })
        .unwrap_or_default();
    (
        vec![
            ("wechatpay-timestamp", ts),
            ("wechatpay-nonce", n),
            ("wechatpay-signature", signature),
            (
                "wechatpay-serial",
                dev_keys::WECHAT_PUBLIC_KEY_ID.to_owned(),
            ),
        ],
        body,
    )
}
