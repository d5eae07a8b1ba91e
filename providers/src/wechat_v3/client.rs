//! The WeChat Pay API v3 client: every request signed, every answer verified.

use super::transformers as wire;
use super::verify::{verify, KeyRing, SignedHeaders};
use super::{authorization, request_nonce};
use crate::crypto::{RsaSigner, RsaVerifier, SignMessage};
use domain::{Channel, Money, OutTradeNo, Provider};
use formpay_core::payment_log::{redact_json, LogEntry, PaymentLog};
use formpay_core::provider::*;
use secrecy::{ExposeSecret, SecretString};
use std::sync::RwLock;
use std::time::{Duration, Instant};
use url::Url;

/// How the client knows WeChat Pay's signing keys.
pub enum PlatformKeys {
    /// The "WeChat Pay public key" and its `PUB_KEY_ID_…`.
    PublicKey { id: String, key: rsa::PublicKey },
    /// Platform certificates, downloaded from `/v3/certificates` and refreshed
    /// when an unknown serial appears.
    Certificates,
}

pub struct WechatPayV3 {
    pub(super) http: reqwest::Client,
    pub(super) base: Url,
    pub(super) app_id: String,
    pub(super) mch_id: String,
    pub(super) serial_no: String,
    pub(super) signer: RsaSigner,
    pub(super) apiv3_key: SecretString,
    pub(super) public_key_id: Option<String>,
    pub(super) keys: RwLock<KeyRing>,
    pub(super) last_refresh: std::sync::Mutex<Option<Instant>>,
    pub(super) log: PaymentLog,
    /// WeChat OAuth (the official account's secret): JSAPI is served with it.
    oauth: Option<crate::wechat_oauth::WechatOauth>,
    /// H5 pay is enabled for this merchant (its domain is registered).
    h5: bool,
}

/// Certificates are fetched again at most this often when an unknown serial appears.
pub(super) const REFRESH_INTERVAL: Duration = Duration::from_secs(60);

pub(super) fn now_secs() -> i64 {
    formpay_core::now_ms() / 1000
}

pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) body: String,
}

impl WechatPayV3 {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        base: Url,
        app_id: String,
        mch_id: String,
        serial_no: String,
        signer: RsaSigner,
        apiv3_key: SecretString,
        platform: PlatformKeys,
        log: PaymentLog,
    ) -> Self {
        let mut ring = KeyRing::default();
        let public_key_id = match platform {
            PlatformKeys::PublicKey { id, key } => {
                ring.insert(&id, RsaVerifier::new(key));
                Some(id)
            }
            PlatformKeys::Certificates => None,
        };
        WechatPayV3 {
            http: crate::http::client(),
            base,
            app_id,
            mch_id,
            serial_no,
            signer,
            apiv3_key,
            public_key_id,
            keys: RwLock::new(ring),
            last_refresh: std::sync::Mutex::new(None),
            log,
            oauth: None,
            h5: false,
        }
    }

    /// Serves JSAPI, learning payers' openids through this OAuth.
    pub fn with_oauth(mut self, oauth: crate::wechat_oauth::WechatOauth) -> Self {
        self.oauth = Some(oauth);
        self
    }

    /// Serves H5 (the merchant has it enabled, its domain registered).
    pub fn with_h5(mut self, on: bool) -> Self {
        self.h5 = on;
        self
    }

    /// The pay sheet's parameters for a `prepay_id=…` package, signed now.
    pub fn sign_jsapi(&self, package: &str) -> Result<domain::JsapiParams, ProviderError> {
        let time_stamp = now_secs().to_string();
        let nonce_str = super::request_nonce();
        let message = wire::jsapi_message(&self.app_id, &time_stamp, &nonce_str, package);
        let pay_sign = self
            .signer
            .sign_base64(message.as_bytes())
            .map_err(|e| ProviderError::NotConfigured(format!("cannot sign: {e}")))?;
        Ok(domain::JsapiParams {
            app_id: self.app_id.clone(),
            time_stamp,
            nonce_str,
            package: package.to_owned(),
            sign_type: "RSA".into(),
            pay_sign,
        })
    }

    pub(super) fn url(&self, path_with_query: &str) -> Result<Url, ProviderError> {
        self.base
            .join(path_with_query.trim_start_matches('/'))
            .map_err(|e| ProviderError::NotConfigured(format!("bad WECHAT_API_BASE: {e}")))
    }

    /// Signs and sends one request; verifies the answer's signature whatever its status.
    pub(super) async fn call(
        &self,
        operation: &'static str,
        method: reqwest::Method,
        path_with_query: &str,
        body: Option<String>,
        out_trade_no: Option<&str>,
    ) -> Result<Answer, ProviderError> {
        self.call_as(operation, method, path_with_query, body, out_trade_no, None)
            .await
    }

    /// [`Self::call`], naming in `Wechatpay-Serial` the platform key `serial`
    /// that encrypted a field of the body.
    pub(super) async fn call_as(
        &self,
        operation: &'static str,
        method: reqwest::Method,
        path_with_query: &str,
        body: Option<String>,
        out_trade_no: Option<&str>,
        serial: Option<&str>,
    ) -> Result<Answer, ProviderError> {
        let started = Instant::now();
        let result = self
            .call_inner(method, path_with_query, body.as_deref(), serial)
            .await;
        let (status, response, error) = match &result {
            Ok(a) => (Some(a.status), redact_json(&a.body), None),
            Err(e) => (None, String::new(), Some(e.to_string())),
        };
        self.log
            .write(LogEntry {
                provider: "wechat",
                operation,
                direction: domain::Direction::Out,
                out_trade_no: out_trade_no.map(str::to_owned),
                status_code: status,
                latency_ms: started.elapsed().as_millis() as i64,
                request: body.as_deref().map(redact_json).unwrap_or_default(),
                response,
                error,
            })
            .await;
        result
    }

    async fn call_inner(
        &self,
        method: reqwest::Method,
        path_with_query: &str,
        body: Option<&str>,
        serial: Option<&str>,
    ) -> Result<Answer, ProviderError> {
        // The path that is signed must be the one that is sent: take it from the final URL.
        let url = self.url(path_with_query)?;
        let signed_path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let body_text = body.unwrap_or("");
        let auth = authorization(
            &self.mch_id,
            &self.serial_no,
            &self.signer,
            method.as_str(),
            &signed_path,
            now_secs(),
            &request_nonce(),
            body_text,
        )
        .map_err(|e| ProviderError::NotConfigured(e.to_string()))?;
        let mut request = self
            .http
            .request(method, url)
            .header("Authorization", auth)
            .header("Accept", "application/json");
        if let Some(id) = serial.or(self.public_key_id.as_deref()) {
            request = request.header("Wechatpay-Serial", id);
        }
        if let Some(b) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(b.to_owned());
        }
        let response = request
            .send()
            .await
            .map_err(|e| ProviderError::Transport(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ProviderError::Transport(e.without_url().to_string()))?;
        self.verify_signed(&headers, &bytes).await?;
        Ok(Answer {
            status,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }

    /// Verifies a signed message; in certificate mode an unknown serial triggers one refresh.
    async fn verify_signed(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<(), ProviderError> {
        let signed = SignedHeaders::from_http(headers);
        if self.public_key_id.is_none() {
            let known = signed
                .serial
                .is_some_and(|s| self.keys.read().map(|k| k.contains(s)).unwrap_or(false));
            if !known {
                self.refresh_certificates().await?;
            }
        }
        let ring = self
            .keys
            .read()
            .map_err(|_| ProviderError::Verification("key ring poisoned".into()))?
            .clone();
        verify(signed, body, &ring, now_secs())
            .map_err(|e| ProviderError::Verification(e.to_string()))
    }

    fn trade_info(&self, t: wire::Transaction) -> TradeInfo {
        let state = match t.trade_state {
            wire::TradeState::Success => TradeState::Paid,
            wire::TradeState::Notpay => TradeState::NotPaid,
            wire::TradeState::Userpaying => TradeState::Paying,
            wire::TradeState::Closed | wire::TradeState::Revoked => TradeState::Closed,
            wire::TradeState::Refund => TradeState::Refunded,
            wire::TradeState::Payerror => TradeState::Failed,
            wire::TradeState::Unknown => TradeState::Unknown("unknown trade_state".into()),
        };
        TradeInfo {
            out_trade_no: t.out_trade_no,
            state,
            transaction_id: t.transaction_id,
            amount: Money::from_fen(t.amount.total).ok(),
            merchant_id: Some(t.mchid),
            app_id: Some(t.appid),
            currency: Some(t.amount.currency),
            paid_at: t.success_time,
        }
    }
}

fn parse<T: serde::de::DeserializeOwned>(a: &Answer) -> Result<T, ProviderError> {
    if !(200..300).contains(&a.status) {
        return Err(wire::api_error(a.status, a.body.as_bytes()));
    }
    serde_json::from_str(&a.body).map_err(|e| ProviderError::Malformed(e.to_string()))
}

/// What asking for a bill file gave.
enum Fetched {
    NoBill,
    NotReady,
    File(Vec<u8>, String),
}

/// The answer to `GET /v3/bill/tradebill`.
#[derive(serde::Deserialize)]
struct BillApplied {
    hash_type: String,
    hash_value: String,
    download_url: String,
}

/// The largest bill downloaded (compressed; a bill of 100,000 lines is about
/// 40 MB of text, a few MB compressed).
const MAX_BILL_DOWNLOAD: usize = 128 * 1024 * 1024;

impl WechatPayV3 {
    /// `GET /v3/bill/tradebill` (signed, answer verified), then the file at
    /// its `download_url` (signed; WeChat does not sign the file: its SHA-1
    /// is checked against the verified answer instead).
    async fn fetch_trade_bill(&self, date: chrono::NaiveDate) -> Result<BillAnswer, ProviderError> {
        let path = format!(
            "/v3/bill/tradebill?bill_date={}&bill_type=ALL&tar_type=GZIP",
            date.format("%Y-%m-%d")
        );
        Ok(match self.fetch_bill_file("trade_bill", &path).await? {
            Fetched::NoBill => BillAnswer::NoBill,
            Fetched::NotReady => BillAnswer::NotReady,
            Fetched::File(bytes, hash) => BillAnswer::Bill(super::bill::read_file(&bytes, &hash)?),
        })
    }

    /// `GET /v3/bill/fundflowbill` of the basic account, read the same way.
    async fn fetch_fund_flow(
        &self,
        date: chrono::NaiveDate,
    ) -> Result<FundFlowAnswer, ProviderError> {
        let path = format!(
            "/v3/bill/fundflowbill?bill_date={}&account_type=BASIC&tar_type=GZIP",
            date.format("%Y-%m-%d")
        );
        Ok(match self.fetch_bill_file("fund_flow_bill", &path).await? {
            Fetched::NoBill => FundFlowAnswer::NoBill,
            Fetched::NotReady => FundFlowAnswer::NotReady,
            Fetched::File(bytes, hash) => {
                FundFlowAnswer::Flow(super::bill::read_hashed(&bytes, &hash, |r| {
                    super::fundflow::parse(r)
                })?)
            }
        })
    }

    /// Asks for a bill (signed, answer verified), then downloads its file
    /// from the announced URL; answers the bytes and the announced SHA-1.
    async fn fetch_bill_file(
        &self,
        operation: &'static str,
        path: &str,
    ) -> Result<Fetched, ProviderError> {
        let answer = self
            .call(operation, reqwest::Method::GET, path, None, None)
            .await?;
        if answer.status == 400 {
            match wire::api_error(answer.status, answer.body.as_bytes()) {
                ProviderError::Api { code, .. } if code == "NO_STATEMENT_EXIST" => {
                    return Ok(Fetched::NoBill)
                }
                ProviderError::Api { code, .. } if code == "STATEMENT_CREATING" => {
                    return Ok(Fetched::NotReady)
                }
                e => return Err(e),
            }
        }
        let applied: BillApplied = parse(&answer)?;
        if !applied.hash_type.eq_ignore_ascii_case("SHA1") {
            return Err(ProviderError::Malformed(format!(
                "unknown bill hash {}",
                applied.hash_type
            )));
        }
        let url = Url::parse(&applied.download_url)
            .map_err(|e| ProviderError::Malformed(format!("bill download_url: {e}")))?;
        // Only WeChat's own host is asked (with our signature) for the file.
        if url.origin() != self.base.origin() {
            return Err(ProviderError::Verification(
                "the bill's download_url is not on WeChat Pay's host".into(),
            ));
        }
        let signed_path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let auth = authorization(
            &self.mch_id,
            &self.serial_no,
            &self.signer,
            "GET",
            &signed_path,
            now_secs(),
            &request_nonce(),
            "",
        )
        .map_err(|e| ProviderError::NotConfigured(e.to_string()))?;
        let started = Instant::now();
        let response = self
            .http
            .get(url)
            .header("Authorization", auth)
            .header("Accept", "*/*")
            .send()
            .await
            .map_err(|e| ProviderError::Transport(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let bytes = crate::http::body_capped(response, MAX_BILL_DOWNLOAD).await?;
        self.log
            .write(LogEntry {
                provider: "wechat",
                operation: "bill_download",
                direction: domain::Direction::Out,
                out_trade_no: None,
                status_code: Some(status),
                latency_ms: started.elapsed().as_millis() as i64,
                request: String::new(),
                response: format!("{} bytes", bytes.len()),
                error: None,
            })
            .await;
        if !(200..300).contains(&status) {
            return Err(wire::api_error(status, &bytes));
        }
        Ok(Fetched::File(bytes, applied.hash_value))
    }
}

/// Larger callbacks are refused unread.
pub const MAX_NOTIFY_BYTES: usize = 64 * 1024;

/// WeChat Pay's description limit, in characters.
const MAX_DESCRIPTION: usize = 127;

#[async_trait::async_trait]
impl PaymentProvider for WechatPayV3 {
    fn provider(&self) -> Provider {
        Provider::Wechat
    }

    fn log_name(&self) -> &'static str {
        "wechat"
    }

    fn merchant_id(&self) -> &str {
        &self.mch_id
    }

    fn app_id(&self) -> &str {
        &self.app_id
    }

    fn reads_bills(&self) -> bool {
        true
    }

    fn shares_profit(&self) -> bool {
        true
    }

    async fn add_share_receiver(&self, receiver: &ShareReceiver) -> Result<(), ProviderError> {
        self.add_receiver(receiver).await
    }

    async fn share(&self, request: &ShareRequest) -> Result<ShareInfo, ProviderError> {
        self.split(request).await
    }

    async fn query_share(
        &self,
        transaction_id: &str,
        out_order_no: &str,
    ) -> Result<ShareInfo, ProviderError> {
        self.query_split(transaction_id, out_order_no).await
    }

    async fn unfreeze_share(
        &self,
        transaction_id: &str,
        out_order_no: &str,
        description: &str,
    ) -> Result<ShareInfo, ProviderError> {
        self.unfreeze(transaction_id, out_order_no, description)
            .await
    }

    async fn return_share(&self, request: &ShareReturn) -> Result<ShareReturnInfo, ProviderError> {
        self.return_split(request).await
    }

    async fn trade_bill(&self, date: chrono::NaiveDate) -> Result<BillAnswer, ProviderError> {
        self.fetch_trade_bill(date).await
    }

    async fn fund_flow_bill(
        &self,
        date: chrono::NaiveDate,
    ) -> Result<Option<FundFlowAnswer>, ProviderError> {
        self.fetch_fund_flow(date).await.map(Some)
    }

    async fn create(&self, channel: Channel, p: &NewPayment) -> Result<PayAction, ProviderError> {
        if !self.channels().contains(&channel) {
            return Err(ProviderError::NotConfigured(format!(
                "this WeChat Pay merchant cannot serve {}",
                channel.as_str()
            )));
        }
        let mut request = wire::OrderRequest {
            appid: self.app_id.clone(),
            mchid: self.mch_id.clone(),
            description: p.subject.chars().take(MAX_DESCRIPTION).collect(),
            out_trade_no: p.out_trade_no.to_string(),
            time_expire: Some(crate::time::beijing_rfc3339(p.expires_at_ms)),
            attach: None,
            notify_url: p.notify_url.clone(),
            amount: wire::Amount {
                total: p.amount.fen(),
                currency: "CNY".into(),
                payer_total: None,
            },
            scene_info: p.client_ip.clone().map(|ip| wire::SceneInfo {
                payer_client_ip: ip,
                h5_info: None,
            }),
            payer: None,
            settle_info: p.profit_sharing.then_some(wire::SettleInfo {
                profit_sharing: true,
            }),
        };
        let (operation, path) = match channel {
            Channel::WechatJsapi => {
                let openid = p.payer_openid.clone().ok_or_else(|| {
                    ProviderError::NotConfigured("JSAPI needs the payer's openid".into())
                })?;
                request.payer = Some(wire::PayerRequest { openid });
                ("jsapi_order", "/v3/pay/transactions/jsapi")
            }
            Channel::WechatH5 => {
                // H5 requires the payer's address and the page type.
                let ip = p.client_ip.clone().ok_or_else(|| {
                    ProviderError::NotConfigured("H5 needs the payer's address".into())
                })?;
                request.scene_info = Some(wire::SceneInfo {
                    payer_client_ip: ip,
                    h5_info: Some(wire::H5Info { kind: "Wap".into() }),
                });
                ("h5_order", "/v3/pay/transactions/h5")
            }
            _ => ("native_order", "/v3/pay/transactions/native"),
        };
        let body =
            serde_json::to_string(&request).map_err(|e| ProviderError::Malformed(e.to_string()))?;
        let answer = self
            .call(
                operation,
                reqwest::Method::POST,
                path,
                Some(body),
                Some(p.out_trade_no.as_str()),
            )
            .await?;
        match channel {
            Channel::WechatJsapi => {
                let created: wire::JsapiOrderResponse = parse(&answer)?;
                self.sign_jsapi(&format!("prepay_id={}", created.prepay_id))
                    .map(PayAction::Jsapi)
            }
            Channel::WechatH5 => {
                let created: wire::H5OrderResponse = parse(&answer)?;
                Ok(PayAction::Redirect(wire::h5_with_redirect(
                    &created.h5_url,
                    &p.return_url,
                )))
            }
            _ => {
                let created: wire::NativeOrderResponse = parse(&answer)?;
                Ok(PayAction::QrCode(created.code_url))
            }
        }
    }

    async fn query(&self, no: &OutTradeNo) -> Result<TradeInfo, ProviderError> {
        let path = format!(
            "/v3/pay/transactions/out-trade-no/{no}?mchid={}",
            self.mch_id
        );
        let answer = self
            .call(
                "query",
                reqwest::Method::GET,
                &path,
                None,
                Some(no.as_str()),
            )
            .await?;
        Ok(self.trade_info(parse(&answer)?))
    }

    async fn close(&self, no: &OutTradeNo) -> Result<(), ProviderError> {
        let path = format!("/v3/pay/transactions/out-trade-no/{no}/close");
        let body = serde_json::to_string(&wire::CloseRequest {
            mchid: self.mch_id.clone(),
        })
        .map_err(|e| ProviderError::Malformed(e.to_string()))?;
        let answer = self
            .call(
                "close",
                reqwest::Method::POST,
                &path,
                Some(body),
                Some(no.as_str()),
            )
            .await?;
        if (200..300).contains(&answer.status) {
            Ok(())
        } else {
            Err(wire::api_error(answer.status, answer.body.as_bytes()))
        }
    }

    async fn refund(&self, r: &RefundOrder) -> Result<RefundInfo, ProviderError> {
        let request = wire::RefundRequest {
            out_trade_no: r.out_trade_no.to_string(),
            out_refund_no: r.out_refund_no.clone(),
            reason: r.reason.clone(),
            notify_url: Some(r.notify_url.clone()),
            amount: wire::RefundAmountRequest {
                refund: r.amount.fen(),
                total: r.total.fen(),
                currency: "CNY".into(),
            },
        };
        let body =
            serde_json::to_string(&request).map_err(|e| ProviderError::Malformed(e.to_string()))?;
        let answer = self
            .call(
                "refund",
                reqwest::Method::POST,
                "/v3/refund/domestic/refunds",
                Some(body),
                Some(r.out_trade_no.as_str()),
            )
            .await?;
        Ok(parse::<wire::Refund>(&answer)?.into())
    }

    async fn query_refund(
        &self,
        no: &OutTradeNo,
        out_refund_no: &str,
    ) -> Result<RefundInfo, ProviderError> {
        let path = format!("/v3/refund/domestic/refunds/{out_refund_no}");
        let answer = self
            .call(
                "refund_query",
                reqwest::Method::GET,
                &path,
                None,
                Some(no.as_str()),
            )
            .await?;
        Ok(parse::<wire::Refund>(&answer)?.into())
    }

    async fn parse_notify(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<NotifyEvent, ProviderError> {
        self.parse_notify_inner(headers, body).await
    }

    fn redact_notify(&self, body: &[u8]) -> String {
        redact_json(&String::from_utf8_lossy(body))
    }

    fn notify_path(&self) -> &'static str {
        "/payment/wechat/notify"
    }

    fn notify_success(&self) -> NotifyReply {
        NotifyReply {
            status: 204,
            content_type: "application/json",
            body: String::new(),
        }
    }

    fn notify_failure(&self, reason: &str) -> NotifyReply {
        NotifyReply {
            status: 500,
            content_type: "application/json",
            body: serde_json::json!({"code": "FAIL", "message": reason}).to_string(),
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

impl WechatPayV3 {
    async fn parse_notify_inner(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<NotifyEvent, ProviderError> {
        if body.len() > MAX_NOTIFY_BYTES {
            return Err(ProviderError::Malformed("the callback is too large".into()));
        }
        // The signature first, on the raw bytes; nothing is parsed before.
        self.verify_signed(headers, body).await?;
        let envelope: wire::NotifyEnvelope =
            serde_json::from_slice(body).map_err(|e| ProviderError::Malformed(e.to_string()))?;
        let plain = envelope
            .resource
            .decrypt(self.apiv3_key.expose_secret().as_bytes())
            .map_err(|e| ProviderError::Verification(e.to_string()))?;
        match envelope.event_type {
            wire::EventType::TransactionSuccess => {
                let t: wire::Transaction = serde_json::from_slice(&plain)
                    .map_err(|e| ProviderError::Malformed(e.to_string()))?;
                Ok(NotifyEvent::Trade(self.trade_info(t)))
            }
            wire::EventType::RefundSuccess
            | wire::EventType::RefundAbnormal
            | wire::EventType::RefundClosed => {
                let r: wire::RefundNotice = serde_json::from_slice(&plain)
                    .map_err(|e| ProviderError::Malformed(e.to_string()))?;
                Ok(NotifyEvent::Refund(RefundInfo {
                    out_trade_no: r.out_trade_no,
                    out_refund_no: r.out_refund_no,
                    refund_id: Some(r.refund_id),
                    state: r.refund_status.into(),
                    amount: Money::from_fen(r.amount.refund).ok(),
                    merchant_id: Some(r.mchid),
                }))
            }
            wire::EventType::Unknown => Err(ProviderError::Malformed("unknown event_type".into())),
        }
    }
}
