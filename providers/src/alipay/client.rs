//! The Alipay Open Platform client: signed requests (RSA2), answers verified
//! over the raw bytes of their `*_response` node, notifications verified.

use super::transformers::{self as wire, from_alipay_amount, to_alipay_amount};
use super::{response_node, response_node_name, sign_request, verify_notify, verify_response};
use crate::crypto::{RsaSigner, RsaVerifier};
use crate::http::client as http_client;
use domain::{Channel, OutTradeNo, Provider};
use formpay_core::payment_log::{redact_json, redact_params, LogEntry, PaymentLog};
use formpay_core::provider::*;
use std::time::Instant;
use url::Url;

/// Larger notification bodies are refused unread.
pub const MAX_NOTIFY_BYTES: usize = 64 * 1024;

pub struct AlipayClient {
    http: reqwest::Client,
    gateway: Url,
    app_id: String,
    signer: RsaSigner,
    alipay_key: RsaVerifier,
    seller_id: Option<String>,
    /// Certificate mode: `app_cert_sn` and `alipay_root_cert_sn`.
    cert_sns: Option<(String, String)>,
    log: PaymentLog,
    /// Phone-site pay (手机网站支付, WAP) is signed for this application.
    wap: bool,
}

/// Beijing time as Alipay writes it: `yyyy-MM-dd HH:mm:ss`.
pub fn beijing_timestamp(ms: i64) -> String {
    use chrono::{FixedOffset, TimeZone};
    let tz =
        FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| unreachable!("+08:00 is a valid offset"));
    tz.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

impl AlipayClient {
    pub fn new(
        gateway: Url,
        app_id: String,
        signer: RsaSigner,
        alipay_key: RsaVerifier,
        seller_id: Option<String>,
        cert_sns: Option<(String, String)>,
        log: PaymentLog,
    ) -> Self {
        AlipayClient {
            http: http_client(),
            gateway,
            app_id,
            signer,
            alipay_key,
            seller_id,
            cert_sns,
            log,
            wap: true,
        }
    }

    /// Whether phone-site pay (WAP) is offered: off for an application that
    /// has not signed the product (Alipay would refuse every WAP order).
    pub fn with_wap(mut self, on: bool) -> Self {
        self.wap = on;
        self
    }

    /// Every parameter of a request, signed.
    fn signed_params(
        &self,
        method: &str,
        biz_content: &str,
        notify_url: Option<&str>,
        return_url: Option<&str>,
    ) -> Result<Vec<(String, String)>, ProviderError> {
        let mut params: Vec<(String, String)> = vec![
            ("app_id".into(), self.app_id.clone()),
            ("method".into(), method.into()),
            ("format".into(), "JSON".into()),
            ("charset".into(), "utf-8".into()),
            ("sign_type".into(), "RSA2".into()),
            (
                "timestamp".into(),
                beijing_timestamp(formpay_core::now_ms()),
            ),
            ("version".into(), "1.0".into()),
            ("biz_content".into(), biz_content.into()),
        ];
        if let Some(u) = notify_url {
            params.push(("notify_url".into(), u.into()));
        }
        if let Some(u) = return_url {
            params.push(("return_url".into(), u.into()));
        }
        if let Some((app_sn, root_sn)) = &self.cert_sns {
            params.push(("app_cert_sn".into(), app_sn.clone()));
            params.push(("alipay_root_cert_sn".into(), root_sn.clone()));
        }
        let sign = sign_request(
            params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            &self.signer,
        )
        .map_err(|e| ProviderError::NotConfigured(e.to_string()))?;
        params.push(("sign".into(), sign));
        Ok(params)
    }

    /// The cashier URL the payer's browser opens (`alipay.trade.page.pay`).
    pub fn page_pay_url(&self, p: &NewPayment) -> Result<String, ProviderError> {
        let biz = wire::PagePayBiz {
            out_trade_no: p.out_trade_no.to_string(),
            total_amount: to_alipay_amount(p.amount),
            subject: p.subject.chars().take(256).collect(),
            product_code: "FAST_INSTANT_TRADE_PAY".into(),
            time_expire: Some(beijing_timestamp(p.expires_at_ms)),
            passback_params: None,
            extend_params: wire::ExtendParams::for_sharing(p.profit_sharing),
        };
        self.cashier_url("alipay.trade.page.pay", &biz, p)
    }

    /// The signed URL of Alipay's phone cashier (`alipay.trade.wap.pay`,
    /// `QUICK_WAP_WAY`): the browser is sent there, inside the Alipay app it
    /// opens the app's own cashier.
    pub fn wap_pay_url(&self, p: &NewPayment) -> Result<String, ProviderError> {
        let biz = wire::WapPayBiz {
            out_trade_no: p.out_trade_no.to_string(),
            total_amount: to_alipay_amount(p.amount),
            subject: p.subject.chars().take(256).collect(),
            product_code: "QUICK_WAP_WAY".into(),
            time_expire: Some(beijing_timestamp(p.expires_at_ms)),
            quit_url: Some(p.quit_url.clone()).filter(|u| !u.is_empty()),
            extend_params: wire::ExtendParams::for_sharing(p.profit_sharing),
        };
        self.cashier_url("alipay.trade.wap.pay", &biz, p)
    }

    /// A signed gateway URL for a cashier `method` (page or phone): the
    /// payer's browser opens it, no call is made here.
    fn cashier_url(
        &self,
        method: &str,
        biz: &impl serde::Serialize,
        p: &NewPayment,
    ) -> Result<String, ProviderError> {
        let biz =
            serde_json::to_string(biz).map_err(|e| ProviderError::Malformed(e.to_string()))?;
        let params = self.signed_params(method, &biz, Some(&p.notify_url), Some(&p.return_url))?;
        let mut url = self.gateway.clone();
        url.query_pairs_mut().extend_pairs(params.iter());
        Ok(url.to_string())
    }

    /// Logs a cashier link made (no call: the payer's browser opens it).
    async fn log_cashier(&self, operation: &'static str, p: &NewPayment, url: &str) {
        self.log
            .write(LogEntry {
                provider: "alipay",
                operation,
                direction: domain::Direction::Out,
                out_trade_no: Some(p.out_trade_no.to_string()),
                status_code: None,
                latency_ms: 0,
                request: redact_params(
                    Url::parse(url)
                        .map(|u| {
                            u.query_pairs()
                                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                                .collect::<Vec<_>>()
                        })
                        .unwrap_or_default()
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str())),
                ),
                response: String::new(),
                error: None,
            })
            .await;
    }

    /// An auto-submitting form to the cashier, for pages that prefer a POST.
    pub fn page_pay_form(&self, p: &NewPayment) -> Result<String, ProviderError> {
        let url = Url::parse(&self.page_pay_url(p)?)
            .map_err(|e| ProviderError::Malformed(e.to_string()))?;
        let mut action = url.clone();
        action.set_query(None);
        let mut html = format!(
            "<form id=\"alipay-submit\" method=\"post\" action=\"{}\">",
            escape_html(action.as_str())
        );
        for (k, v) in url.query_pairs() {
            html.push_str(&format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape_html(&k),
                escape_html(&v)
            ));
        }
        html.push_str("</form><script>document.getElementById('alipay-submit').submit();</script>");
        Ok(html)
    }

    /// A server-to-server call; returns the verified raw `*_response` node.
    async fn call(
        &self,
        method: &'static str,
        operation: &'static str,
        biz: &str,
        notify_url: Option<&str>,
        out_trade_no: &str,
    ) -> Result<String, ProviderError> {
        let started = Instant::now();
        let params = self.signed_params(method, biz, notify_url, None)?;
        let result = self.call_inner(method, &params).await;
        let (status, response, error) = match &result {
            Ok((status, raw, _)) => (Some(*status), redact_json(raw), None),
            Err(e) => (None, String::new(), Some(e.to_string())),
        };
        self.log
            .write(LogEntry {
                provider: "alipay",
                operation,
                direction: domain::Direction::Out,
                out_trade_no: Some(out_trade_no.to_owned()),
                status_code: status,
                latency_ms: started.elapsed().as_millis() as i64,
                request: redact_params(params.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                response,
                error,
            })
            .await;
        result.map(|(_, _, node)| node)
    }

    async fn call_inner(
        &self,
        method: &str,
        params: &[(String, String)],
    ) -> Result<(u16, String, String), ProviderError> {
        let response = self
            .http
            .post(self.gateway.clone())
            .header("Accept", "application/json")
            .form(params)
            .send()
            .await
            .map_err(|e| ProviderError::Transport(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let raw = response
            .text()
            .await
            .map_err(|e| ProviderError::Transport(e.without_url().to_string()))?;
        if !(200..300).contains(&status) {
            return Err(ProviderError::Api {
                status,
                code: "HTTP_ERROR".into(),
                message: format!("HTTP {status}"),
            });
        }
        let node = response_node_name(method);
        if response_node(&raw, &node).is_none() {
            // Gateway-level failures (bad signature, bad app id) come as an unsigned error_response.
            if let Some(err) = response_node(&raw, "error_response") {
                let common: wire::Common = serde_json::from_str(err)
                    .map_err(|e| ProviderError::Malformed(e.to_string()))?;
                return Err(ProviderError::Api {
                    status,
                    code: common.sub_code.unwrap_or(common.code),
                    message: common.sub_msg.unwrap_or(common.msg),
                });
            }
        }
        let verified = verify_response(&raw, &node, &self.alipay_key)
            .map_err(|e| ProviderError::Verification(e.to_string()))?;
        Ok((status, raw.clone(), verified.to_owned()))
    }
}

/// Alipay's `out_request_no` of a split: at most 32 characters, so our split
/// number (`S` and the payment's number) without its leading characters.
fn settle_request_no(out_order_no: &str) -> String {
    let skip = out_order_no.chars().count().saturating_sub(32);
    out_order_no.chars().skip(skip).collect()
}

/// The `out_request_no` of binding a receiver: one per receiver (Alipay
/// answers the same again), letters, digits and `_` only, at most 32.
fn bind_request_no(account: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, account.as_bytes());
    format!("B{}", &hex::encode(digest.as_ref())[..31])
}

impl AlipayClient {
    /// `alipay.trade.order.settle` with `royalty_finish`: the split given
    /// (none: only the release of the frozen rest).
    async fn settle(
        &self,
        trade_no: &str,
        out_order_no: &str,
        royalty_parameters: Vec<wire::RoyaltyParameter>,
    ) -> Result<(), ProviderError> {
        let biz = serde_json::to_string(&wire::OrderSettleBiz {
            out_request_no: settle_request_no(out_order_no),
            trade_no: trade_no.to_owned(),
            royalty_parameters,
            extend_params: Some(wire::SettleExtendParams {
                royalty_finish: "true".into(),
            }),
        })
        .map_err(|e| ProviderError::Malformed(e.to_string()))?;
        let node = self
            .call("alipay.trade.order.settle", "share", &biz, None, "")
            .await?;
        let r: wire::OrderSettleResponse = json(&node)?;
        if r.common.is_success() {
            Ok(())
        } else {
            Err(business_error(&r.common))
        }
    }
}

/// The largest bill zip downloaded (a bill of 100,000 lines is a few MB).
const MAX_BILL_DOWNLOAD: usize = 128 * 1024 * 1024;

/// Whether Alipay has published the bill of `date` by now (noon, Beijing,
/// the next day: they appear in the morning).
fn published_by_now(date: chrono::NaiveDate) -> bool {
    let now = chrono::Utc::now().naive_utc() + chrono::Duration::hours(8);
    date.and_hms_opt(12, 0, 0)
        .is_some_and(|noon| now >= noon + chrono::Duration::days(1))
}

#[derive(serde::Deserialize)]
struct BillUrlResponse {
    #[serde(flatten)]
    common: wire::Common,
    #[serde(default)]
    bill_download_url: Option<String>,
}

impl AlipayClient {
    /// `alipay.data.dataservice.bill.downloadurl.query` (`bill_type=trade`;
    /// signed, answer verified), then the zip at `bill_download_url`. The
    /// file itself is not signed: it is fetched only from Alipay's bill host
    /// (or the gateway's own host, for the simulator), bounded, and checked
    /// against its own totals.
    async fn fetch_trade_bill(&self, date: chrono::NaiveDate) -> Result<BillAnswer, ProviderError> {
        let biz = serde_json::json!({"bill_type": "trade", "bill_date": date.format("%Y-%m-%d").to_string()})
            .to_string();
        let node = self
            .call(
                "alipay.data.dataservice.bill.downloadurl.query",
                "trade_bill",
                &biz,
                None,
                "",
            )
            .await?;
        let answer: BillUrlResponse = json(&node)?;
        if !answer.common.is_success() {
            return match answer.common.sub_code.as_deref() {
                // Alipay publishes a day's bill the next morning and says
                // "no bill" alike before that and for a day without trades.
                Some("isp.bill_not_exist") if published_by_now(date) => Ok(BillAnswer::NoBill),
                Some("isp.bill_not_exist") => Ok(BillAnswer::NotReady),
                _ => Err(business_error(&answer.common)),
            };
        }
        let url = answer
            .bill_download_url
            .as_deref()
            .and_then(|u| Url::parse(u).ok())
            .ok_or_else(|| ProviderError::Malformed("no bill_download_url".into()))?;
        let host = url.host_str().unwrap_or("");
        let trusted = host == self.gateway.host_str().unwrap_or("-")
            || host == "alipay.com"
            || host.ends_with(".alipay.com");
        if !trusted || !matches!(url.scheme(), "http" | "https") {
            return Err(ProviderError::Verification(format!(
                "the bill is offered from {host}, not from Alipay"
            )));
        }
        let started = Instant::now();
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| ProviderError::Transport(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(ProviderError::Api {
                status,
                code: "HTTP_ERROR".into(),
                message: format!("the bill download answered HTTP {status}"),
            });
        }
        let bytes = crate::http::body_capped(response, MAX_BILL_DOWNLOAD).await?;
        tracing::debug!(
            bytes = bytes.len(),
            ms = started.elapsed().as_millis() as u64,
            "bill downloaded"
        );
        Ok(BillAnswer::Bill(super::bill::read_zip(&bytes)?))
    }
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn business_error(c: &wire::Common) -> ProviderError {
    ProviderError::Api {
        status: 200,
        code: c.sub_code.clone().unwrap_or_else(|| c.code.clone()),
        message: c.sub_msg.clone().unwrap_or_else(|| c.msg.clone()),
    }
}

fn json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, ProviderError> {
    serde_json::from_str(s).map_err(|e| ProviderError::Malformed(e.to_string()))
}

fn trade_state(s: Option<wire::TradeStatus>) -> TradeState {
    match s {
        Some(wire::TradeStatus::TradeSuccess | wire::TradeStatus::TradeFinished) => {
            TradeState::Paid
        }
        Some(wire::TradeStatus::WaitBuyerPay) | None => TradeState::NotPaid,
        Some(wire::TradeStatus::TradeClosed) => TradeState::Closed,
        Some(wire::TradeStatus::Unknown) => TradeState::Unknown("unknown trade_status".into()),
    }
}

#[derive(serde::Deserialize)]
struct RefundQueryResponse {
    #[serde(flatten)]
    common: wire::Common,
    #[serde(default)]
    out_trade_no: Option<String>,
    #[serde(default)]
    out_request_no: Option<String>,
    #[serde(default)]
    refund_amount: Option<String>,
    #[serde(default)]
    refund_status: Option<String>,
}

#[async_trait::async_trait]
impl PaymentProvider for AlipayClient {
    fn provider(&self) -> Provider {
        Provider::Alipay
    }

    fn log_name(&self) -> &'static str {
        "alipay"
    }

    fn reads_bills(&self) -> bool {
        true
    }

    fn shares_profit(&self) -> bool {
        true
    }

    fn returns_shares_in_refund(&self) -> bool {
        true
    }

    async fn add_share_receiver(&self, receiver: &ShareReceiver) -> Result<(), ProviderError> {
        let biz = serde_json::to_string(&wire::RelationBindBiz {
            out_request_no: bind_request_no(&receiver.account),
            receiver_list: vec![wire::RoyaltyReceiver {
                kind: receiver.kind.clone(),
                account: receiver.account.clone(),
                name: receiver.name.clone(),
                memo: Some("formpay 分账".into()),
            }],
        })
        .map_err(|e| ProviderError::Malformed(e.to_string()))?;
        let node = self
            .call(
                "alipay.trade.royalty.relation.bind",
                "share_receiver_add",
                &biz,
                None,
                "",
            )
            .await?;
        let r: wire::Common = json(&node)?;
        if r.is_success() {
            Ok(())
        } else {
            Err(business_error(&r))
        }
    }

    async fn share(&self, request: &ShareRequest) -> Result<ShareInfo, ProviderError> {
        let parameters = request
            .lines
            .iter()
            .map(|l| wire::RoyaltyParameter {
                royalty_type: Some("transfer".into()),
                trans_out: None,
                trans_out_type: None,
                trans_in: Some(l.account.clone()),
                trans_in_type: Some(l.kind.clone()),
                amount: to_alipay_amount(
                    domain::Money::from_fen(l.amount_fen).unwrap_or(domain::Money::ZERO),
                ),
                desc: Some(l.description.clone()),
            })
            .collect();
        self.settle(&request.transaction_id, &request.out_order_no, parameters)
            .await?;
        // Alipay settles a split on its own time: asked about until it says.
        Ok(ShareInfo {
            out_order_no: request.out_order_no.clone(),
            order_id: None,
            state: ShareState::Processing,
            lines: Vec::new(),
        })
    }

    async fn query_share(
        &self,
        transaction_id: &str,
        out_order_no: &str,
    ) -> Result<ShareInfo, ProviderError> {
        let biz = serde_json::to_string(&wire::SettleQueryBiz {
            out_request_no: settle_request_no(out_order_no),
            trade_no: transaction_id.to_owned(),
        })
        .map_err(|e| ProviderError::Malformed(e.to_string()))?;
        let node = self
            .call(
                "alipay.trade.order.settle.query",
                "share_query",
                &biz,
                None,
                "",
            )
            .await?;
        let r: wire::SettleQueryResponse = json(&node)?;
        if !r.common.is_success() {
            return Err(business_error(&r.common));
        }
        let mut lines = Vec::new();
        for d in r
            .royalty_detail_list
            .iter()
            .filter(|d| d.operation_type == "transfer")
        {
            let result = match d.state.as_str() {
                "SUCCESS" => ShareResult::Success,
                "PROCESSING" => ShareResult::Pending,
                "FAIL" => ShareResult::Closed,
                other => return Err(ProviderError::Malformed(format!("royalty state {other}"))),
            };
            lines.push(ShareLineInfo {
                kind: d.trans_in_type.clone().unwrap_or_default(),
                account: d.trans_in.clone().unwrap_or_default(),
                amount_fen: from_alipay_amount(&d.amount)
                    .map(|m| m.fen())
                    .map_err(|_| ProviderError::Malformed("a royalty amount".into()))?,
                result,
                fail_reason: d
                    .error_code
                    .clone()
                    .map(|c| format!("{c} {}", d.error_desc.clone().unwrap_or_default())),
            });
        }
        let done = lines.iter().all(|l| l.result != ShareResult::Pending);
        Ok(ShareInfo {
            out_order_no: out_order_no.to_owned(),
            order_id: r.settle_no,
            state: if done {
                ShareState::Finished
            } else {
                ShareState::Processing
            },
            lines,
        })
    }

    async fn unfreeze_share(
        &self,
        transaction_id: &str,
        out_order_no: &str,
        _description: &str,
    ) -> Result<ShareInfo, ProviderError> {
        self.settle(transaction_id, out_order_no, Vec::new())
            .await?;
        Ok(ShareInfo {
            out_order_no: out_order_no.to_owned(),
            order_id: None,
            state: ShareState::Finished,
            lines: Vec::new(),
        })
    }

    async fn trade_bill(&self, date: chrono::NaiveDate) -> Result<BillAnswer, ProviderError> {
        self.fetch_trade_bill(date).await
    }

    /// The seller id (PID), when configured; empty means "not checked".
    fn merchant_id(&self) -> &str {
        self.seller_id.as_deref().unwrap_or("")
    }

    fn app_id(&self) -> &str {
        &self.app_id
    }

    async fn create(&self, channel: Channel, p: &NewPayment) -> Result<PayAction, ProviderError> {
        match channel {
            Channel::AlipayPage => {
                let url = self.page_pay_url(p)?;
                self.log_cashier("page_pay", p, &url).await;
                Ok(PayAction::Redirect(url))
            }
            Channel::AlipayWap => {
                let url = self.wap_pay_url(p)?;
                self.log_cashier("wap_pay", p, &url).await;
                Ok(PayAction::Redirect(url))
            }
            Channel::AlipayQr => {
                let biz = wire::PrecreateBiz {
                    out_trade_no: p.out_trade_no.to_string(),
                    total_amount: to_alipay_amount(p.amount),
                    subject: p.subject.chars().take(256).collect(),
                    time_expire: Some(beijing_timestamp(p.expires_at_ms)),
                    extend_params: wire::ExtendParams::for_sharing(p.profit_sharing),
                };
                let biz = serde_json::to_string(&biz)
                    .map_err(|e| ProviderError::Malformed(e.to_string()))?;
                let node = self
                    .call(
                        "alipay.trade.precreate",
                        "precreate",
                        &biz,
                        Some(&p.notify_url),
                        p.out_trade_no.as_str(),
                    )
                    .await?;
                let r: wire::PrecreateResponse = json(&node)?;
                if !r.common.is_success() {
                    return Err(business_error(&r.common));
                }
                r.qr_code.map(PayAction::QrCode).ok_or_else(|| {
                    ProviderError::Malformed("precreate answer without qr_code".into())
                })
            }
            Channel::WechatNative | Channel::WechatJsapi | Channel::WechatH5 => Err(
                ProviderError::NotConfigured(format!("Alipay cannot serve {}", channel.as_str())),
            ),
        }
    }

    async fn query(&self, no: &OutTradeNo) -> Result<TradeInfo, ProviderError> {
        let biz = serde_json::to_string(&wire::TradeNoBiz {
            out_trade_no: no.to_string(),
        })
        .map_err(|e| ProviderError::Malformed(e.to_string()))?;
        let node = self
            .call("alipay.trade.query", "query", &biz, None, no.as_str())
            .await?;
        let r: wire::QueryResponse = json(&node)?;
        if r.common.is_trade_not_exist() {
            // Before the payer opens the cashier Alipay does not know the order: not paid yet.
            return Ok(TradeInfo {
                out_trade_no: no.to_string(),
                state: TradeState::NotPaid,
                transaction_id: None,
                amount: None,
                merchant_id: None,
                app_id: None,
                currency: None,
                paid_at: None,
            });
        }
        if !r.common.is_success() {
            return Err(business_error(&r.common));
        }
        Ok(TradeInfo {
            out_trade_no: r.out_trade_no.unwrap_or_else(|| no.to_string()),
            state: trade_state(r.trade_status),
            transaction_id: r.trade_no,
            amount: r
                .total_amount
                .as_deref()
                .and_then(|a| from_alipay_amount(a).ok()),
            merchant_id: None,
            app_id: Some(self.app_id.clone()),
            currency: r.trans_currency,
            paid_at: r.send_pay_date,
        })
    }

    async fn close(&self, no: &OutTradeNo) -> Result<(), ProviderError> {
        let biz = serde_json::to_string(&wire::TradeNoBiz {
            out_trade_no: no.to_string(),
        })
        .map_err(|e| ProviderError::Malformed(e.to_string()))?;
        let node = self
            .call("alipay.trade.close", "close", &biz, None, no.as_str())
            .await?;
        let r: wire::CloseResponse = json(&node)?;
        if r.common.is_success() {
            Ok(())
        } else if r.common.is_trade_not_exist() {
            // Not opened at the cashier yet: nothing was closed, and a signed
            // cashier link could still create it. The caller decides.
            Err(ProviderError::NotFound)
        } else {
            Err(business_error(&r.common))
        }
    }

    async fn refund(&self, refund: &RefundOrder) -> Result<RefundInfo, ProviderError> {
        let biz = wire::RefundBiz {
            out_trade_no: refund.out_trade_no.to_string(),
            refund_amount: to_alipay_amount(refund.amount),
            out_request_no: refund.out_refund_no.clone(),
            refund_reason: refund.reason.clone(),
            refund_royalty_parameters: refund
                .royalty_returns
                .iter()
                .map(|r| wire::RoyaltyParameter {
                    royalty_type: Some("transfer".into()),
                    trans_out: Some(r.account.clone()),
                    trans_out_type: Some(r.kind.clone()),
                    trans_in: None,
                    trans_in_type: None,
                    amount: to_alipay_amount(
                        domain::Money::from_fen(r.amount_fen).unwrap_or(domain::Money::ZERO),
                    ),
                    desc: Some(r.description.clone()),
                })
                .collect(),
        };
        let biz =
            serde_json::to_string(&biz).map_err(|e| ProviderError::Malformed(e.to_string()))?;
        let node = self
            .call(
                "alipay.trade.refund",
                "refund",
                &biz,
                None,
                refund.out_trade_no.as_str(),
            )
            .await?;
        let r: wire::RefundResponse = json(&node)?;
        if !r.common.is_success() {
            return Err(business_error(&r.common));
        }
        // A refund repeated with the same out_request_no answers fund_change=N:
        // the money moved the first time.
        Ok(RefundInfo {
            out_trade_no: refund.out_trade_no.to_string(),
            out_refund_no: refund.out_refund_no.clone(),
            refund_id: r.trade_no,
            state: RefundState::Succeeded,
            amount: Some(refund.amount),
            merchant_id: None,
        })
    }

    async fn query_refund(
        &self,
        no: &OutTradeNo,
        out_refund_no: &str,
    ) -> Result<RefundInfo, ProviderError> {
        let biz = serde_json::json!({"out_trade_no": no.as_str(), "out_request_no": out_refund_no})
            .to_string();
        let node = self
            .call(
                "alipay.trade.fastpay.refund.query",
                "refund_query",
                &biz,
                None,
                no.as_str(),
            )
            .await?;
        let r: RefundQueryResponse = json(&node)?;
        if !r.common.is_success() {
            return Err(business_error(&r.common));
        }
        let state = match r.refund_status.as_deref() {
            Some("REFUND_SUCCESS") => RefundState::Succeeded,
            // Alipay answers an empty body for a refund it does not know.
            None if r.out_request_no.is_none() => return Err(ProviderError::NotFound),
            _ => RefundState::Processing,
        };
        Ok(RefundInfo {
            out_trade_no: r.out_trade_no.unwrap_or_else(|| no.to_string()),
            out_refund_no: out_refund_no.to_owned(),
            refund_id: None,
            state,
            amount: r
                .refund_amount
                .as_deref()
                .and_then(|a| from_alipay_amount(a).ok()),
            merchant_id: None,
        })
    }

    async fn parse_notify(
        &self,
        _headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<NotifyEvent, ProviderError> {
        self.parse_notify_inner(body)
    }

    fn redact_notify(&self, body: &[u8]) -> String {
        let params: Vec<(String, String)> =
            url::form_urlencoded::parse(body).into_owned().collect();
        redact_params(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    fn notify_path(&self) -> &'static str {
        "/payment/alipay/notify"
    }

    fn notify_success(&self) -> NotifyReply {
        NotifyReply {
            status: 200,
            content_type: "text/plain; charset=utf-8",
            body: "success".into(),
        }
    }

    fn notify_failure(&self, _reason: &str) -> NotifyReply {
        NotifyReply {
            status: 400,
            content_type: "text/plain; charset=utf-8",
            body: "failure".into(),
        }
    }
    fn channels(&self) -> Vec<Channel> {
        let mut channels = vec![Channel::AlipayPage, Channel::AlipayQr];
        if self.wap {
            channels.push(Channel::AlipayWap);
        }
        channels
    }
}

impl AlipayClient {
    fn parse_notify_inner(&self, body: &[u8]) -> Result<NotifyEvent, ProviderError> {
        if body.len() > MAX_NOTIFY_BYTES {
            return Err(ProviderError::Malformed(
                "the notification is too large".into(),
            ));
        }
        if std::str::from_utf8(body).is_err() {
            return Err(ProviderError::Malformed(
                "the notification is not UTF-8".into(),
            ));
        }
        let params: Vec<(String, String)> =
            url::form_urlencoded::parse(body).into_owned().collect();
        verify_notify(&params, &self.alipay_key)
            .map_err(|e| ProviderError::Verification(e.to_string()))?;
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let out_trade_no = get("out_trade_no")
            .ok_or_else(|| ProviderError::Malformed("out_trade_no is missing".into()))?;
        let status = get("trade_status").map(|s| {
            serde_json::from_value::<wire::TradeStatus>(serde_json::Value::String(s))
                .unwrap_or(wire::TradeStatus::Unknown)
        });
        let amount = match get("total_amount") {
            Some(a) => Some(
                from_alipay_amount(&a)
                    .map_err(|e| ProviderError::Malformed(format!("total_amount: {e}")))?,
            ),
            None => None,
        };
        // Every Alipay notification names its seller: without it, it could
        // be another merchant's (of the same application).
        let seller = get("seller_id")
            .ok_or_else(|| ProviderError::Malformed("seller_id is missing".into()))?;
        Ok(NotifyEvent::Trade(TradeInfo {
            out_trade_no,
            state: trade_state(status),
            transaction_id: get("trade_no"),
            amount,
            merchant_id: Some(seller),
            app_id: get("app_id"),
            // Present only for foreign-currency trades: then refused.
            currency: get("trans_currency"),
            paid_at: get("gmt_payment"),
        }))
    }
}
