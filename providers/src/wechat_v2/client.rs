//! The WeChat Pay API v2 client (the legacy mode, `WECHAT_MCH_KEY`): NATIVE
//! unified order, order query and close, as signed XML. Refunds in v2 need the
//! merchant's client certificate (mutual TLS); use API v3 for refunds.

use super::{parse_xml, sign, to_xml, verify, SignType, NOTIFY_SUCCESS};
use crate::crypto::random_nonce;
use crate::http::client as http_client;
use crate::time::beijing_rfc3339;
use domain::{Channel, Money, OutTradeNo, Provider};
use formpay_core::payment_log::{LogEntry, PaymentLog};
use formpay_core::provider::*;
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;
use std::time::Instant;
use url::Url;

pub struct WechatPayV2 {
    http: reqwest::Client,
    base: Url,
    app_id: String,
    mch_id: String,
    key: SecretString,
    sign_type: SignType,
    log: PaymentLog,
    /// WeChat OAuth (the official account's secret): JSAPI is served with it.
    oauth: Option<crate::wechat_oauth::WechatOauth>,
    /// H5 (`MWEB`) is enabled for this merchant.
    h5: bool,
}

/// `yyyyMMddHHmmss` in Beijing time.
fn v2_time(ms: i64) -> String {
    beijing_rfc3339(ms)
        .replace(['-', ':', 'T'], "")
        .chars()
        .take(14)
        .collect()
}

fn fields(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// The XML with its signature shortened, for the payment log.
fn redact(mut f: BTreeMap<String, String>) -> String {
    if let Some(s) = f.get_mut("sign") {
        *s = format!("{}…", s.chars().take(8).collect::<String>());
    }
    to_xml(&f)
}

impl WechatPayV2 {
    pub fn new(
        base: Url,
        app_id: String,
        mch_id: String,
        key: SecretString,
        log: PaymentLog,
    ) -> Self {
        WechatPayV2 {
            http: http_client(),
            base,
            app_id,
            mch_id,
            key,
            sign_type: SignType::HmacSha256,
            log,
            oauth: None,
            h5: false,
        }
    }

    /// Signs (and expects signatures) with another type than HMAC-SHA256.
    pub fn with_sign_type(mut self, sign_type: SignType) -> Self {
        self.sign_type = sign_type;
        self
    }

    /// Serves JSAPI, learning payers' openids through this OAuth.
    pub fn with_oauth(mut self, oauth: crate::wechat_oauth::WechatOauth) -> Self {
        self.oauth = Some(oauth);
        self
    }

    /// Serves H5 (`MWEB`).
    pub fn with_h5(mut self, on: bool) -> Self {
        self.h5 = on;
        self
    }

    /// The pay sheet's parameters, signed the v2 way: `appId, nonceStr,
    /// package, signType, timeStamp` with the API key, in our sign type.
    pub fn sign_jsapi(&self, package: &str) -> Result<domain::JsapiParams, ProviderError> {
        let time_stamp = (formpay_core::now_ms() / 1000).to_string();
        let nonce_str = random_nonce(32);
        let sign_type = self.sign_type.as_str().to_owned();
        let pay_sign = super::jsapi_pay_sign(
            &self.app_id,
            &time_stamp,
            &nonce_str,
            package,
            self.key.expose_secret(),
            self.sign_type,
        );
        Ok(domain::JsapiParams {
            app_id: self.app_id.clone(),
            time_stamp,
            nonce_str,
            package: package.to_owned(),
            sign_type,
            pay_sign,
        })
    }

    async fn call(
        &self,
        operation: &'static str,
        path: &str,
        mut f: BTreeMap<String, String>,
        out_trade_no: &str,
    ) -> Result<BTreeMap<String, String>, ProviderError> {
        f.insert("appid".into(), self.app_id.clone());
        f.insert("mch_id".into(), self.mch_id.clone());
        f.insert("nonce_str".into(), random_nonce(32));
        f.insert("sign_type".into(), self.sign_type.as_str().into());
        let s = sign(&f, self.key.expose_secret(), self.sign_type);
        f.insert("sign".into(), s);
        let started = Instant::now();
        let result = self.send(path, &f).await;
        self.log
            .write(LogEntry {
                provider: "wechat_v2",
                operation,
                direction: domain::Direction::Out,
                out_trade_no: Some(out_trade_no.to_owned()),
                status_code: result.as_ref().ok().map(|_| 200),
                latency_ms: started.elapsed().as_millis() as i64,
                request: redact(f.clone()),
                response: result
                    .as_ref()
                    .map(|r| redact(r.clone()))
                    .unwrap_or_default(),
                error: result.as_ref().err().map(|e| e.to_string()),
            })
            .await;
        result
    }

    async fn send(
        &self,
        path: &str,
        f: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, ProviderError> {
        let url = self
            .base
            .join(path.trim_start_matches('/'))
            .map_err(|e| ProviderError::NotConfigured(e.to_string()))?;
        let response = self
            .http
            .post(url)
            .header("Content-Type", "text/xml; charset=utf-8")
            .body(to_xml(f))
            .send()
            .await
            .map_err(|e| ProviderError::Transport(e.without_url().to_string()))?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ProviderError::Transport(e.without_url().to_string()))?;
        let plain = parse_xml(&bytes).map_err(|e| ProviderError::Malformed(e.to_string()))?;
        if plain.get("return_code").map(String::as_str) != Some("SUCCESS") {
            // Communication failures come unsigned, with only return_msg.
            return Err(ProviderError::Api {
                status: 200,
                code: "FAIL".into(),
                message: plain.get("return_msg").cloned().unwrap_or_default(),
            });
        }
        let verified = verify(&bytes, self.key.expose_secret(), Some(self.sign_type))
            .map_err(|e| ProviderError::Verification(e.to_string()))?;
        if verified.get("result_code").map(String::as_str) != Some("SUCCESS") {
            let code = verified
                .get("err_code")
                .cloned()
                .unwrap_or_else(|| "FAIL".into());
            if code == "ORDERNOTEXIST" {
                return Err(ProviderError::NotFound);
            }
            return Err(ProviderError::Api {
                status: 200,
                code,
                message: verified.get("err_code_des").cloned().unwrap_or_default(),
            });
        }
        Ok(verified)
    }

    fn trade_info(&self, f: &BTreeMap<String, String>) -> TradeInfo {
        let state = match f.get("trade_state").map(String::as_str) {
            Some("SUCCESS") => TradeState::Paid,
            Some("NOTPAY") | None => TradeState::NotPaid,
            Some("USERPAYING") => TradeState::Paying,
            Some("CLOSED") | Some("REVOKED") => TradeState::Closed,
            Some("REFUND") => TradeState::Refunded,
            Some("PAYERROR") => TradeState::Failed,
            Some(other) => TradeState::Unknown(other.to_owned()),
        };
        TradeInfo {
            out_trade_no: f.get("out_trade_no").cloned().unwrap_or_default(),
            state,
            transaction_id: f.get("transaction_id").cloned(),
            amount: f
                .get("total_fee")
                .and_then(|v| v.parse::<i64>().ok())
                .and_then(|v| Money::from_fen(v).ok()),
            merchant_id: f.get("mch_id").cloned(),
            app_id: f.get("appid").cloned(),
            // v2 names the currency `fee_type`, CNY when absent.
            currency: Some(f.get("fee_type").cloned().unwrap_or_else(|| "CNY".into())),
            paid_at: f.get("time_end").cloned(),
        }
    }
}

#[async_trait::async_trait]
impl PaymentProvider for WechatPayV2 {
    fn provider(&self) -> Provider {
        Provider::Wechat
    }

    fn log_name(&self) -> &'static str {
        "wechat_v2"
    }

    fn merchant_id(&self) -> &str {
        &self.mch_id
    }

    fn app_id(&self) -> &str {
        &self.app_id
    }

    async fn create(&self, channel: Channel, p: &NewPayment) -> Result<PayAction, ProviderError> {
        if !self.channels().contains(&channel) {
            return Err(ProviderError::NotConfigured(format!(
                "this WeChat Pay merchant cannot serve {}",
                channel.as_str()
            )));
        }
        let trade_type = match channel {
            Channel::WechatJsapi => "JSAPI",
            Channel::WechatH5 => "MWEB",
            _ => "NATIVE",
        };
        let mut f = fields(&[
            ("body", p.subject.chars().take(127).collect()),
            ("out_trade_no", p.out_trade_no.to_string()),
            ("total_fee", p.amount.fen().to_string()),
            (
                "spbill_create_ip",
                p.client_ip.clone().unwrap_or_else(|| "127.0.0.1".into()),
            ),
            ("notify_url", p.notify_url.clone()),
            ("trade_type", trade_type.into()),
            ("time_expire", v2_time(p.expires_at_ms)),
        ]);
        match channel {
            Channel::WechatJsapi => {
                let openid = p.payer_openid.clone().ok_or_else(|| {
                    ProviderError::NotConfigured("JSAPI needs the payer's openid".into())
                })?;
                f.insert("openid".into(), openid);
            }
            Channel::WechatH5 => {
                f.insert(
                    "scene_info".into(),
                    serde_json::json!({"h5_info": {"type": "Wap", "wap_url": p.return_url, "wap_name": p.subject.chars().take(32).collect::<String>()}}).to_string(),
                );
            }
            _ => {
                f.insert("product_id".into(), p.out_trade_no.to_string());
            }
        }
        let answer = self
            .call(
                "unifiedorder",
                "/pay/unifiedorder",
                f,
                p.out_trade_no.as_str(),
            )
            .await?;
        let field = |name: &str| {
            answer
                .get(name)
                .cloned()
                .ok_or_else(|| ProviderError::Malformed(format!("no {name}")))
        };
        match channel {
            Channel::WechatJsapi => self
                .sign_jsapi(&format!("prepay_id={}", field("prepay_id")?))
                .map(PayAction::Jsapi),
            Channel::WechatH5 => Ok(PayAction::Redirect(
                crate::wechat_v3::transformers::h5_with_redirect(
                    &field("mweb_url")?,
                    &p.return_url,
                ),
            )),
            _ => field("code_url").map(PayAction::QrCode),
        }
    }

    async fn query(&self, no: &OutTradeNo) -> Result<TradeInfo, ProviderError> {
        let answer = self
            .call(
                "orderquery",
                "/pay/orderquery",
                fields(&[("out_trade_no", no.to_string())]),
                no.as_str(),
            )
            .await?;
        Ok(self.trade_info(&answer))
    }

    async fn close(&self, no: &OutTradeNo) -> Result<(), ProviderError> {
        self.call(
            "closeorder",
            "/pay/closeorder",
            fields(&[("out_trade_no", no.to_string())]),
            no.as_str(),
        )
        .await
        .map(|_| ())
    }

    async fn refund(&self, _refund: &RefundOrder) -> Result<RefundInfo, ProviderError> {
        Err(ProviderError::NotConfigured(
            "API v2 refunds need the merchant client certificate; configure API v3 keys to refund"
                .into(),
        ))
    }

    async fn query_refund(
        &self,
        _no: &OutTradeNo,
        _out_refund_no: &str,
    ) -> Result<RefundInfo, ProviderError> {
        Err(ProviderError::NotConfigured(
            "API v2 refunds are not supported; configure API v3 keys".into(),
        ))
    }

    async fn parse_notify(
        &self,
        _headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<NotifyEvent, ProviderError> {
        let f = verify(body, self.key.expose_secret(), Some(self.sign_type))
            .map_err(|e| ProviderError::Verification(e.to_string()))?;
        if f.get("return_code").map(String::as_str) == Some("SUCCESS")
            && f.get("result_code").map(String::as_str) == Some("SUCCESS")
        {
            let mut info = self.trade_info(&f);
            info.state = TradeState::Paid;
            Ok(NotifyEvent::Trade(info))
        } else {
            Err(ProviderError::Malformed(
                "the notification does not report a success".into(),
            ))
        }
    }

    fn redact_notify(&self, body: &[u8]) -> String {
        parse_xml(body)
            .map(redact)
            .unwrap_or_else(|e| e.to_string())
    }

    fn notify_path(&self) -> &'static str {
        "/payment/wechat/v2/notify"
    }

    fn notify_success(&self) -> NotifyReply {
        NotifyReply {
            status: 200,
            content_type: "text/xml; charset=utf-8",
            body: NOTIFY_SUCCESS.into(),
        }
    }

    fn notify_failure(&self, reason: &str) -> NotifyReply {
        let f = fields(&[
            ("return_code", "FAIL".into()),
            ("return_msg", reason.into()),
        ]);
        NotifyReply {
            status: 500,
            content_type: "text/xml; charset=utf-8",
            body: to_xml(&f),
        }
    }

    fn channels(&self) -> Vec<Channel> {
        let mut c = vec![Channel::WechatNative];
        if self.oauth.is_some() {
            c.push(Channel::WechatJsapi);
        }
        if self.h5 {
            c.push(Channel::WechatH5);
        }
        c
    }

    fn payer_identity(&self) -> Option<&dyn PayerIdentity> {
        self.oauth.as_ref().map(|o| o as &dyn PayerIdentity)
    }

    fn jsapi_params(&self, package: &str) -> Result<domain::JsapiParams, ProviderError> {
        self.sign_jsapi(package)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_time_format() {
        // 2026-11-27T15:00:00Z is 23:00 in Beijing.
        assert_eq!(v2_time(1_795_791_600_000), "20261127230000");
    }
}
