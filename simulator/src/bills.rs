//! WeChat Pay's daily trade bills, made from the simulator's ledger (its
//! orders and refunds) in WeChat's exact format: `GET /v3/bill/tradebill`
//! answers a signed `download_url` and the SHA-1 of the file, the file
//! (gzip when asked) is served to a signed request and is itself unsigned.
//! The simulator serves a day's bill at once (WeChat: after 10:00 the next
//! day), and `POST /control/bill` injects discrepancies.

use super::wechat::{authenticate, error, signed};
use super::{dev_keys, new_token, SimProvider, SimRefund, SimRefundStatus, SimState, Simulator};
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use formpay_core::provider::{BillKind, BillLine};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Write;

/// How long a download URL works (WeChat: 5 minutes in its current text).
const DOWNLOAD_TTL_MS: i64 = 5 * 60 * 1000;

/// Discrepancies the next bills carry, to test a merchant's reconciliation.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct BillFaults {
    /// Payments the merchant never heard of, added to every bill.
    #[serde(default)]
    pub extra: Vec<ExtraPayment>,
    /// Orders (`out_trade_no`) and refunds (`out_refund_no`) left out of the bills.
    #[serde(default)]
    pub drop: Vec<String>,
    /// Orders and refunds whose amount the bills state differently (fen).
    #[serde(default)]
    pub amounts: BTreeMap<String, i64>,
    /// Refunds the merchant never asked for, added to every bill.
    #[serde(default)]
    pub extra_refunds: Vec<ExtraRefund>,
    /// The bills are not made yet (`STATEMENT_CREATING`).
    #[serde(default)]
    pub not_ready: bool,
    /// Orders and refunds whose money the fund flow bill leaves out.
    #[serde(default)]
    pub fund_flow_drop: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ExtraRefund {
    pub out_trade_no: String,
    pub out_refund_no: String,
    pub amount_fen: i64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ExtraPayment {
    pub out_trade_no: String,
    pub amount_fen: i64,
}

/// WeChat's usual rate, 0.6 %, rounded to the fen.
pub fn fee_of(fen: i64) -> i64 {
    (fen * 6 + 500) / 1000
}

/// A stable provider number for an injected line (a bill says the same each time).
fn stable_number(prefix: &str, of: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, of.as_bytes());
    let digits: String = digest
        .as_ref()
        .iter()
        .take(14)
        .map(|b| char::from(b'0' + b % 10))
        .collect();
    format!("{prefix}{digits}")
}

/// Beijing time, as bills write it.
fn beijing(ms: i64) -> chrono::NaiveDateTime {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .naive_utc()
        + chrono::Duration::hours(8)
}

impl Simulator {
    pub fn set_bill_faults(&self, faults: BillFaults) {
        if let Ok(mut f) = self.0.bill_faults.lock() {
            *f = faults;
        }
    }

    /// The lines of WeChat's bill for a Beijing day: each payment on the day
    /// it was paid, each refund on the day it was asked for.
    pub fn wechat_bill_lines(&self, date: chrono::NaiveDate) -> Vec<BillLine> {
        self.bill_lines(SimProvider::Wechat, date)
    }

    /// The lines of a provider's bill for a Beijing day (the faults apply to both).
    pub fn bill_lines(&self, provider: SimProvider, date: chrono::NaiveDate) -> Vec<BillLine> {
        let wechat = provider == SimProvider::Wechat;
        let (app_id, merchant_id, trade_prefix, refund_prefix) = if wechat {
            (
                dev_keys::WECHAT_APP_ID,
                dev_keys::WECHAT_MCH_ID,
                "4200",
                "5030",
            )
        } else {
            ("", dev_keys::ALIPAY_SELLER_ID, "2026", "")
        };
        let faults = self
            .0
            .bill_faults
            .lock()
            .map(|f| f.clone())
            .unwrap_or_default();
        let on_day = |ms: i64| beijing(ms).date() == date;
        let at = |ms: i64| beijing(ms).format("%Y-%m-%d %H:%M:%S").to_string();
        // What every line says the same way: the merchant, and the fee of
        // the amount (given back on a refund).
        let line = |refund: Option<(String, String)>,
                    at: String,
                    transaction_id: String,
                    out_trade_no: String,
                    amount: i64| {
            let (kind, fee) = match refund {
                Some(_) => (BillKind::Refund, -fee_of(amount)),
                None => (BillKind::Payment, fee_of(amount)),
            };
            let (out_refund_no, refund_id) = refund.unzip();
            let refund_id = refund_id.filter(|id: &String| !id.is_empty());
            BillLine {
                kind,
                at,
                app_id: app_id.into(),
                merchant_id: merchant_id.into(),
                transaction_id,
                out_trade_no,
                out_refund_no,
                refund_id,
                amount_fen: amount,
                fee_fen: fee,
            }
        };
        // The day's refunds first, then the orders: one lock at a time.
        let refunds: Vec<SimRefund> = self
            .0
            .refunds
            .lock()
            .map(|refunds| {
                refunds
                    .values()
                    .filter(|r| {
                        r.provider == provider
                            && on_day(r.created_at_ms)
                            && !matches!(
                                r.status,
                                SimRefundStatus::Closed | SimRefundStatus::Abnormal
                            )
                            && !faults.drop.contains(&r.out_refund_no)
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let mut lines = Vec::new();
        let Ok(orders) = self.0.orders.lock() else {
            return lines;
        };
        for o in orders.values().filter(|o| o.provider == provider) {
            let Some(paid) = o.paid_at_ms.filter(|ms| on_day(*ms)) else {
                continue;
            };
            if o.state != SimState::Paid || faults.drop.contains(&o.out_trade_no) {
                continue;
            }
            let amount = *faults.amounts.get(&o.out_trade_no).unwrap_or(&o.amount_fen);
            lines.push(line(
                None,
                at(paid),
                o.transaction_id.clone(),
                o.out_trade_no.clone(),
                amount,
            ));
        }
        for r in refunds {
            let amount = *faults
                .amounts
                .get(&r.out_refund_no)
                .unwrap_or(&r.amount_fen);
            let transaction_id = orders
                .get(&super::key_of(provider, &r.out_trade_no))
                .map(|o| o.transaction_id.clone())
                .unwrap_or_default();
            // Alipay has no refund id of its own: the request number says it.
            let refund_id = if wechat { r.refund_id } else { String::new() };
            lines.push(line(
                Some((r.out_refund_no, refund_id)),
                at(r.created_at_ms),
                transaction_id,
                r.out_trade_no,
                amount,
            ));
        }
        drop(orders);
        let noon = date
            .and_hms_opt(12, 0, 0)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default();
        for e in &faults.extra {
            let transaction_id = stable_number(trade_prefix, &e.out_trade_no);
            lines.push(line(
                None,
                noon.clone(),
                transaction_id,
                e.out_trade_no.clone(),
                e.amount_fen,
            ));
        }
        for e in &faults.extra_refunds {
            let refund = (
                e.out_refund_no.clone(),
                if wechat {
                    stable_number(refund_prefix, &e.out_refund_no)
                } else {
                    String::new()
                },
            );
            let transaction_id = stable_number(trade_prefix, &e.out_trade_no);
            lines.push(line(
                Some(refund),
                noon.clone(),
                transaction_id,
                e.out_trade_no.clone(),
                e.amount_fen,
            ));
        }
        lines.sort_by(|a, b| a.at.cmp(&b.at));
        lines
    }
}

fn query_pairs(uri: &OriginalUri) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(uri.0.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// `GET /v3/bill/tradebill?bill_date=…&bill_type=ALL[&tar_type=GZIP]`.
pub async fn trade_bill(
    State(sim): State<Simulator>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Response {
    serve_bill(sim, method, uri, headers, false)
}

/// `GET /v3/bill/fundflowbill?bill_date=…&account_type=BASIC[&tar_type=GZIP]`:
/// the basic account's movements of the day, from the same ledger (each
/// payment in, its fee out; each refund out, its fee back in).
pub async fn fund_flow_bill(
    State(sim): State<Simulator>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Response {
    serve_bill(sim, method, uri, headers, true)
}

/// The fund flow lines of a day's bill lines (less those of the numbers
/// the faults leave out of the fund flow).
fn fund_lines(lines: &[BillLine], drop: &[String]) -> Vec<formpay_core::provider::FundFlowLine> {
    let mut balance = 0i64;
    let mut out = Vec::new();
    for l in lines {
        let voucher = l
            .out_refund_no
            .clone()
            .unwrap_or_else(|| l.out_trade_no.clone());
        if drop.contains(&voucher) {
            continue;
        }
        let refund = l.kind == BillKind::Refund;
        let name = if refund { "退款" } else { "交易" };
        let business_no = l
            .refund_id
            .clone()
            .unwrap_or_else(|| l.transaction_id.clone());
        let mut push = |kind: &str, income: bool, amount: i64| {
            if amount == 0 {
                return;
            }
            balance += if income { amount } else { -amount };
            out.push(formpay_core::provider::FundFlowLine {
                at: l.at.clone(),
                business_no: business_no.clone(),
                flow_no: l.transaction_id.clone(),
                name: name.into(),
                kind: kind.into(),
                income,
                amount_fen: amount,
                balance_fen: balance,
                voucher: voucher.clone(),
            });
        };
        if refund {
            push("退款", false, l.amount_fen);
            push("退还交易手续费", true, -l.fee_fen);
        } else {
            push("交易", true, l.amount_fen);
            push("扣除交易手续费", false, l.fee_fen);
        }
    }
    out
}

fn serve_bill(
    sim: Simulator,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    fund_flow: bool,
) -> Response {
    let serial = match authenticate(&sim, &method, &uri, &headers, b"") {
        Ok(s) => s,
        Err(r) => return r,
    };
    let q = query_pairs(&uri);
    let bad = |msg: &str| error(&sim, StatusCode::BAD_REQUEST, "PARAM_ERROR", msg, &serial);
    let Some(date) = q
        .get("bill_date")
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    else {
        return bad("bill_date 格式错误");
    };
    if !fund_flow && q.get("bill_type").is_some_and(|t| t != "ALL") {
        return bad("本模拟器只提供 ALL 账单");
    }
    if fund_flow && q.get("account_type").is_some_and(|t| t != "BASIC") {
        return bad("本模拟器只提供基本账户（BASIC）的资金账单");
    }
    let gzip = match q.get("tar_type").map(String::as_str) {
        None => false,
        Some("GZIP") => true,
        Some(_) => return bad("tar_type 错误"),
    };
    let today = beijing(formpay_core::now_ms()).date();
    if date > today {
        return error(
            &sim,
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "账单日期错误",
            &serial,
        );
    }
    if sim
        .0
        .bill_faults
        .lock()
        .map(|f| f.not_ready)
        .unwrap_or(false)
    {
        return error(
            &sim,
            StatusCode::BAD_REQUEST,
            "STATEMENT_CREATING",
            "账单生成中",
            &serial,
        );
    }
    let lines = sim.wechat_bill_lines(date);
    if lines.is_empty() {
        return error(
            &sim,
            StatusCode::BAD_REQUEST,
            "NO_STATEMENT_EXIST",
            "请求的账单文件不存在",
            &serial,
        );
    }
    let mut text = Vec::new();
    let written = if fund_flow {
        let drop = sim
            .0
            .bill_faults
            .lock()
            .map(|f| f.fund_flow_drop.clone())
            .unwrap_or_default();
        providers::wechat_v3::fundflow::write(&fund_lines(&lines, &drop), &mut text)
    } else {
        providers::wechat_v3::bill::write(&lines, &mut text)
    };
    if written.is_err() {
        return error(
            &sim,
            StatusCode::INTERNAL_SERVER_ERROR,
            "SYSTEM_ERROR",
            "系统错误",
            &serial,
        );
    }
    let hash = hex::encode(ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        &text,
    ));
    let file = if gzip {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let _ = gz.write_all(&text);
        gz.finish().unwrap_or_default()
    } else {
        text
    };
    let token = issue_file(&sim, file);
    let download_url = format!(
        "{}/wechat/v3/billdownload/file?token={token}{}",
        sim.0.settings.public_base.trim_end_matches('/'),
        if gzip { "&tartype=gzip" } else { "" }
    );
    signed(
        &sim,
        StatusCode::OK,
        serde_json::json!({"hash_type": "SHA1", "hash_value": hash, "download_url": download_url})
            .to_string(),
        &serial,
    )
}

/// Keeps a bill file for download (a few minutes); answers its token.
fn issue_file(sim: &Simulator, file: Vec<u8>) -> String {
    let token = new_token();
    if let Ok(mut files) = sim.0.bill_files.lock() {
        let now = formpay_core::now_ms();
        files.retain(|_, (_, issued)| now - *issued < DOWNLOAD_TTL_MS);
        files.insert(token.clone(), (file, now));
    }
    token
}

/// The file issued under `token`, while it has not expired.
fn issued_file(sim: &Simulator, token: &str) -> Option<Vec<u8>> {
    sim.0.bill_files.lock().ok().and_then(|files| {
        files
            .get(token)
            .filter(|(_, issued)| formpay_core::now_ms() - issued < DOWNLOAD_TTL_MS)
            .map(|(f, _)| f.clone())
    })
}

/// `GET /v3/billdownload/file?token=…`: the file, to a signed request,
/// without a signature of its own.
pub async fn download(
    State(sim): State<Simulator>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Response {
    let serial = match authenticate(&sim, &method, &uri, &headers, b"") {
        Ok(s) => s,
        Err(r) => return r,
    };
    let token = query_pairs(&uri).get("token").cloned().unwrap_or_default();
    let file = issued_file(&sim, &token);
    match file {
        Some(bytes) => {
            let mut r = (StatusCode::OK, bytes).into_response();
            r.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("application/octet-stream"),
            );
            r
        }
        None => error(
            &sim,
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "下载链接已失效",
            &serial,
        ),
    }
}

/// `POST /control/bill`: the discrepancies the next bills carry.
pub async fn set_faults(State(sim): State<Simulator>, Json(f): Json<BillFaults>) -> Response {
    sim.set_bill_faults(f);
    StatusCode::NO_CONTENT.into_response()
}

/// `alipay.data.dataservice.bill.downloadurl.query` (`bill_type=trade`): the
/// signed answer names where the day's zip is (no bill: `isp.bill_not_exist`).
pub(super) fn alipay_bill_url(
    sim: &Simulator,
    biz: &serde_json::Value,
) -> Result<String, (&'static str, &'static str)> {
    if biz.get("bill_type").and_then(|v| v.as_str()) != Some("trade") {
        return Err(("isv.invalid-bill-type", "账单类型不正确"));
    }
    let Some(date) = biz
        .get("bill_date")
        .and_then(|v| v.as_str())
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    else {
        return Err(("isv.invalid-bill-date", "账单日期格式不正确"));
    };
    let not_ready = sim
        .0
        .bill_faults
        .lock()
        .map(|f| f.not_ready)
        .unwrap_or(false);
    if date > beijing(formpay_core::now_ms()).date() || not_ready {
        return Err(("isp.bill_not_exist", "账单不存在"));
    }
    let lines = sim.bill_lines(SimProvider::Alipay, date);
    if lines.is_empty() {
        return Err(("isp.bill_not_exist", "账单不存在"));
    }
    let zip = providers::alipay::bill::write_zip(dev_keys::ALIPAY_SELLER_ID, date, &lines)
        .map_err(|_| ("isp.unknow-error", "系统繁忙"))?;
    let token = issue_file(sim, zip);
    Ok(format!(
        "{}/alipay/downloadBillFile.resource?bizType=trade&fileType=csv.zip&bizDates={}&token={token}",
        sim.0.settings.public_base.trim_end_matches('/'),
        date.format("%Y%m%d")
    ))
}

/// `GET /alipay/downloadBillFile.resource?…&token=…`: the zip, unsigned (its
/// URL is the credential, as Alipay's is).
pub async fn alipay_download(State(sim): State<Simulator>, uri: OriginalUri) -> Response {
    let token = query_pairs(&uri).get("token").cloned().unwrap_or_default();
    let file = issued_file(&sim, &token);
    match file {
        Some(bytes) => {
            let mut r = (StatusCode::OK, bytes).into_response();
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/zip"));
            r
        }
        None => (StatusCode::NOT_FOUND, "the link has expired").into_response(),
    }
}
