//! Callback delivery, on each provider's retry schedule (time compressible),
//! until the merchant acknowledges.

use super::wechat::{rfc3339, transaction_json};
use super::wechat_refunds::refund_json;
use super::{
    dev_keys, SimOrder, SimProvider, SimRefundStatus, Simulator, ALIPAY_RETRY_SCHEDULE,
    WECHAT_RETRY_SCHEDULE,
};
use providers::alipay::signing_string;
use providers::crypto::{aes_gcm_encrypt, random_nonce, SignMessage};
use std::sync::atomic::Ordering;

/// A callback ready to send.
#[derive(Clone, Debug)]
enum Callback {
    Wechat {
        url: String,
        body: String,
    },
    WechatV2 {
        url: String,
        body: String,
    },
    Alipay {
        url: String,
        params: Vec<(String, String)>,
    },
}

fn record(sim: &Simulator, f: impl FnOnce(&mut super::DeliveryStats)) {
    if let Ok(mut s) = sim.0.stats.lock() {
        f(&mut s);
    }
}

/// Sends one attempt; true when the merchant acknowledged in the provider's way.
async fn attempt(sim: &Simulator, cb: &Callback) -> bool {
    record(sim, |s| s.attempts += 1);
    match cb {
        Callback::Wechat { url, body } => {
            let ts = (formpay_core::now_ms() / 1000).to_string();
            let nonce = random_nonce(32);
            let signature = sim
                .0
                .wechat_platform
                .sign_base64(format!("{ts}\n{nonce}\n{body}\n").as_bytes())
                .unwrap_or_default();
            let sent = sim
                .0
                .http
                .post(url)
                .header("content-type", "application/json")
                .header("wechatpay-timestamp", ts)
                .header("wechatpay-nonce", nonce)
                .header("wechatpay-signature", signature)
                .header("wechatpay-serial", dev_keys::WECHAT_PUBLIC_KEY_ID)
                .body(body.clone())
                .send()
                .await;
            matches!(sent, Ok(r) if r.status().as_u16() == 200 || r.status().as_u16() == 204)
        }
        Callback::WechatV2 { url, body } => {
            let sent = sim
                .0
                .http
                .post(url)
                .header("content-type", "text/xml")
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => r
                    .text()
                    .await
                    .is_ok_and(|t| t.contains("<return_code><![CDATA[SUCCESS]]></return_code>")),
                _ => false,
            }
        }
        Callback::Alipay { url, params } => {
            let sent = sim.0.http.post(url).form(params).send().await;
            match sent {
                Ok(r) if r.status().is_success() => {
                    r.text().await.is_ok_and(|t| t.trim() == "success")
                }
                _ => false,
            }
        }
    }
}

/// What a callback is about, for the record of acknowledgements.
#[derive(Clone, Debug)]
enum About {
    Payment(String),
    Refund(String),
}

/// Delivers in the background: at once, then on the schedule, until acknowledged.
fn deliver(sim: Simulator, cb: Callback, schedule: &'static [u64], about: About) {
    tokio::spawn(async move {
        if !sim.0.deliver.load(Ordering::SeqCst) {
            record(&sim, |s| s.swallowed += 1);
            tracing::info!("simulator: callback swallowed (delivery is off)");
            return;
        }
        for wait in std::iter::once(0).chain(schedule.iter().copied()) {
            tokio::time::sleep(sim.scaled(wait)).await;
            if attempt(&sim, &cb).await {
                let now = formpay_core::now_ms();
                record(&sim, |s| {
                    s.acknowledged += 1;
                    match &about {
                        About::Payment(no) => s.acknowledged_payments.insert(no.clone(), now),
                        About::Refund(no) => s.acknowledged_refunds.insert(no.clone(), now),
                    };
                });
                return;
            }
        }
        tracing::warn!("simulator: callback never acknowledged");
    });
}

fn wechat_envelope(
    event_type: &str,
    summary: &str,
    original_type: &str,
    plaintext: &str,
) -> String {
    let nonce = random_nonce(12);
    let ciphertext = aes_gcm_encrypt(
        dev_keys::WECHAT_APIV3_KEY.as_bytes(),
        nonce.as_bytes(),
        original_type.as_bytes(),
        plaintext.as_bytes(),
    )
    .unwrap_or_default();
    serde_json::json!({
        "id": uuid_like(),
        "create_time": rfc3339(formpay_core::now_ms()),
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": summary,
        "resource": {
            "original_type": original_type,
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": ciphertext,
            "associated_data": original_type,
            "nonce": nonce,
        }
    })
    .to_string()
}

fn uuid_like() -> String {
    let t = formpay_core::random_token().to_string();
    format!(
        "{}-{}-{}-{}-{}",
        &t[..8],
        &t[8..12],
        &t[12..16],
        &t[16..20],
        &t[20..]
    )
}

/// The signed form an Alipay notification (or return) carries.
pub(super) fn alipay_trade_params(
    sim: &Simulator,
    o: &SimOrder,
    notify_type: &str,
) -> Vec<(String, String)> {
    let paid = o
        .paid_at_ms
        .map(providers::alipay::client::beijing_timestamp)
        .unwrap_or_default();
    let amount = domain::Money::from_fen(o.amount_fen)
        .map(|m| m.to_yuan_string())
        .unwrap_or_default();
    let mut params: Vec<(String, String)> = vec![
        ("notify_type".into(), notify_type.into()),
        ("notify_id".into(), formpay_core::random_token().to_string()),
        (
            "notify_time".into(),
            providers::alipay::client::beijing_timestamp(formpay_core::now_ms()),
        ),
        ("charset".into(), "utf-8".into()),
        ("version".into(), "1.0".into()),
        ("app_id".into(), dev_keys::ALIPAY_APP_ID.into()),
        ("seller_id".into(), dev_keys::ALIPAY_SELLER_ID.into()),
        ("trade_no".into(), o.transaction_id.clone()),
        ("out_trade_no".into(), o.out_trade_no.clone()),
        ("trade_status".into(), "TRADE_SUCCESS".into()),
        ("total_amount".into(), amount.clone()),
        ("receipt_amount".into(), amount),
        ("subject".into(), o.subject.clone()),
        ("gmt_payment".into(), paid),
        ("sign_type".into(), "RSA2".into()),
    ];
    let content = signing_string(
        params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &["sign", "sign_type"],
    );
    let sign = sim
        .0
        .alipay_platform
        .sign_base64(content.as_bytes())
        .unwrap_or_default();
    params.push(("sign".into(), sign));
    params
}

pub(super) fn deliver_payment(sim: Simulator, o: SimOrder) {
    match o.provider {
        SimProvider::Wechat if o.wechat_v2 => {
            let body = super::wechat_v2::notify_xml(&o);
            deliver(
                sim,
                Callback::WechatV2 {
                    url: o.notify_url.clone(),
                    body,
                },
                &WECHAT_RETRY_SCHEDULE,
                About::Payment(o.out_trade_no.clone()),
            );
        }
        SimProvider::Wechat => {
            let plaintext = serde_json::to_string(&transaction_json(&o)).unwrap_or_default();
            let body =
                wechat_envelope("TRANSACTION.SUCCESS", "支付成功", "transaction", &plaintext);
            deliver(
                sim,
                Callback::Wechat {
                    url: o.notify_url.clone(),
                    body,
                },
                &WECHAT_RETRY_SCHEDULE,
                About::Payment(o.out_trade_no.clone()),
            );
        }
        SimProvider::Alipay => {
            let params = alipay_trade_params(&sim, &o, "trade_status_sync");
            deliver(
                sim,
                Callback::Alipay {
                    url: o.notify_url.clone(),
                    params,
                },
                &ALIPAY_RETRY_SCHEDULE,
                About::Payment(o.out_trade_no.clone()),
            );
        }
    }
}

/// A WeChat refund is PROCESSING for a while, then succeeds and is announced.
pub(super) fn settle_wechat_refund_later(sim: Simulator, out_refund_no: String) {
    tokio::spawn(async move {
        tokio::time::sleep(sim.scaled(sim.0.settings.refund_delay_secs)).await;
        let outcome = sim
            .0
            .refund_outcome
            .lock()
            .map(|o| *o)
            .unwrap_or(SimRefundStatus::Success);
        let settled = sim.0.refunds.lock().ok().and_then(|mut refunds| {
            let r = refunds.get_mut(&(0u8, out_refund_no.clone()))?;
            r.status = outcome;
            Some(r.clone())
        });
        let Some(refund) = settled else { return };
        if outcome == SimRefundStatus::Success {
            sim.update(SimProvider::Wechat, &refund.out_trade_no, |o| {
                o.refunded_fen += refund.amount_fen
            });
        }
        let (event, status, summary) = match outcome {
            SimRefundStatus::Closed => ("REFUND.CLOSED", "CLOSED", "退款关闭"),
            SimRefundStatus::Abnormal => ("REFUND.ABNORMAL", "ABNORMAL", "退款异常"),
            _ => ("REFUND.SUCCESS", "SUCCESS", "退款成功"),
        };
        let Some(url) = refund.notify_url.clone() else {
            return;
        };
        let wire = refund_json(&refund);
        let plaintext = serde_json::json!({
            "mchid": dev_keys::WECHAT_MCH_ID,
            "out_trade_no": wire.out_trade_no,
            "out_refund_no": wire.out_refund_no,
            "refund_id": wire.refund_id,
            "refund_status": status,
            "success_time": rfc3339(formpay_core::now_ms()),
            "amount": wire.amount,
        })
        .to_string();
        let body = wechat_envelope(event, summary, "refund", &plaintext);
        deliver(
            sim,
            Callback::Wechat { url, body },
            &WECHAT_RETRY_SCHEDULE,
            About::Refund(refund.out_refund_no.clone()),
        );
    });
}
