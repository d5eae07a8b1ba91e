//! WeChat Pay API v3 profit sharing (分账), as the provider side: receivers,
//! splits of payments made with `settle_info.profit_sharing`, their query
//! (a split is processing until it is first asked about), releasing the
//! rest, and returns from merchant receivers. Its book also makes refunds
//! honest: a refund cannot take money that was shared and not returned.

use super::wechat::{authenticate, error, parse_json, rfc3339, signed};
use super::{dev_keys, transaction_id, SimProvider, SimState, Simulator};
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use providers::wechat_v3::profitsharing as wire;
use std::collections::{BTreeMap, HashMap, HashSet};

/// WeChat's default ceiling: 30 % of a payment.
const MAX_SHARE_PERCENT: i64 = 30;

#[derive(Clone, Debug)]
pub struct SimShare {
    pub order: wire::ShareOrder,
    pub out_trade_no: String,
}

/// Receivers, payments open to sharing, splits and returns.
#[derive(Default)]
pub struct ShareBook {
    /// (type, account) registered by the merchant.
    receivers: HashSet<(String, String)>,
    /// Payments (`out_trade_no`) made with profit sharing on.
    open_to_sharing: HashSet<String>,
    /// Splits by `out_order_no`.
    shares: BTreeMap<String, SimShare>,
    /// Returns by `out_return_no`.
    returns: HashMap<String, wire::ReturnOrder>,
}

impl Simulator {
    /// Marks a payment as made with profit sharing on (`settle_info`).
    pub(crate) fn open_to_sharing(&self, out_trade_no: &str) {
        if let Ok(mut b) = self.0.shares.lock() {
            b.open_to_sharing.insert(out_trade_no.to_owned());
        }
    }

    /// What was shared from a payment and not returned (fen).
    pub(crate) fn shared_of(&self, out_trade_no: &str) -> i64 {
        let Ok(b) = self.0.shares.lock() else {
            return 0;
        };
        b.shares
            .values()
            .filter(|s| s.out_trade_no == out_trade_no)
            .flat_map(|s| {
                s.order
                    .receivers
                    .iter()
                    .filter(|r| r.result != "CLOSED")
                    .map(|r| r.amount - returned(&b, &s.order.out_order_no, &r.account))
            })
            .sum()
    }

    pub(crate) fn is_open_to_sharing(&self, out_trade_no: &str) -> bool {
        self.0
            .shares
            .lock()
            .map(|b| b.open_to_sharing.contains(out_trade_no))
            .unwrap_or(false)
    }

    /// The splits of a payment, for tests: (account, amount, result, returned).
    pub fn shares_of(&self, out_trade_no: &str) -> Vec<(String, i64, String, i64)> {
        let Ok(b) = self.0.shares.lock() else {
            return Vec::new();
        };
        b.shares
            .values()
            .filter(|s| s.out_trade_no == out_trade_no)
            .flat_map(|s| {
                s.order.receivers.iter().map(|r| {
                    (
                        r.account.clone(),
                        r.amount,
                        r.result.clone(),
                        returned(&b, &s.order.out_order_no, &r.account),
                    )
                })
            })
            .collect()
    }
}

fn returned(b: &ShareBook, out_order_no: &str, account: &str) -> i64 {
    b.returns
        .values()
        .filter(|r| {
            r.out_order_no == out_order_no && r.return_mchid == account && r.result == "SUCCESS"
        })
        .map(|r| r.amount)
        .sum()
}

fn bad(sim: &Simulator, code: &str, message: &str, serial: &str) -> Response {
    error(sim, StatusCode::BAD_REQUEST, code, message, serial)
}

fn answer<T: serde::Serialize>(sim: &Simulator, v: &T, serial: &str) -> Response {
    signed(
        sim,
        StatusCode::OK,
        serde_json::to_string(v).unwrap_or_default(),
        serial,
    )
}

/// `POST /v3/profitsharing/receivers/add`
pub async fn add_receiver(
    State(sim): State<Simulator>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let serial = match authenticate(&sim, &method, &uri, &headers, &body) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let req: wire::AddReceiverRequest = match parse_json(&sim, &body, &serial) {
        Ok(r) => r,
        Err(r) => return r,
    };
    if req.appid != dev_keys::WECHAT_APP_ID {
        return bad(&sim, "PARAM_ERROR", "appid和mch_id不匹配", &serial);
    }
    let account_ok = match req.kind.as_str() {
        "MERCHANT_ID" => req.account.len() >= 8 && req.account.bytes().all(|b| b.is_ascii_digit()),
        "PERSONAL_OPENID" => super::phone::is_openid_of(&req.account, &req.appid),
        _ => return bad(&sim, "PARAM_ERROR", "分账接收方类型错误", &serial),
    };
    if !account_ok {
        return bad(&sim, "PARAM_ERROR", "分账接收方账号格式错误", &serial);
    }
    if req.kind == "MERCHANT_ID" && req.name.as_deref().is_none_or(str::is_empty) {
        return bad(&sim, "PARAM_ERROR", "分账接收方全称不能为空", &serial);
    }
    // A name comes encrypted under our platform key, which the request names.
    if let Some(sealed) = req.name.as_deref() {
        let named = headers
            .get("wechatpay-serial")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|s| s.eq_ignore_ascii_case(&serial));
        let opened = sim
            .0
            .wechat_platform
            .decrypt_oaep_sha1_base64(sealed)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .filter(|n| !n.is_empty());
        if !named || opened.is_none() {
            return bad(
                &sim,
                "PARAM_ERROR",
                "分账接收方全称解密失败（须用平台公钥加密并在 Wechatpay-Serial 中注明）",
                &serial,
            );
        }
    }
    if req.relation_type.is_empty() {
        return bad(&sim, "PARAM_ERROR", "与分账方的关系类型不能为空", &serial);
    }
    if let Ok(mut b) = sim.0.shares.lock() {
        b.receivers.insert((req.kind.clone(), req.account.clone()));
    }
    answer(
        &sim,
        &serde_json::json!({"type": req.kind, "account": req.account, "relation_type": req.relation_type}),
        &serial,
    )
}

/// The paid WeChat payment of a transaction id, if any: (out_trade_no, amount, refunded).
fn paid_payment(sim: &Simulator, transaction: &str) -> Option<(String, i64, i64)> {
    paid_at(sim, SimProvider::Wechat, transaction)
}

fn paid_at(
    sim: &Simulator,
    provider: SimProvider,
    transaction: &str,
) -> Option<(String, i64, i64)> {
    let orders = sim.0.orders.lock().ok()?;
    orders
        .values()
        .find(|o| {
            o.provider == provider && o.transaction_id == transaction && o.state == SimState::Paid
        })
        .map(|o| (o.out_trade_no.clone(), o.amount_fen, o.refunded_fen))
}

/// `POST /v3/profitsharing/orders`
pub async fn share(
    State(sim): State<Simulator>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let serial = match authenticate(&sim, &method, &uri, &headers, &body) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let req: wire::ShareOrderRequest = match parse_json(&sim, &body, &serial) {
        Ok(r) => r,
        Err(r) => return r,
    };
    if req.appid != dev_keys::WECHAT_APP_ID {
        return bad(&sim, "PARAM_ERROR", "appid和mch_id不匹配", &serial);
    }
    let Some((out_trade_no, amount, refunded)) = paid_payment(&sim, &req.transaction_id) else {
        return bad(
            &sim,
            "ORDER_NOT_READY",
            "订单处理中，暂时无法分账，请稍后重试",
            &serial,
        );
    };
    if !sim.is_open_to_sharing(&out_trade_no) {
        return bad(
            &sim,
            "INVALID_REQUEST",
            "该笔订单不支持分账（下单时未设置 profit_sharing）",
            &serial,
        );
    }
    let refunded_so_far: i64 = sim
        .refunds_of(SimProvider::Wechat, &out_trade_no)
        .iter()
        .filter(|r| r.status != super::SimRefundStatus::Closed)
        .map(|r| r.amount_fen)
        .sum::<i64>()
        .max(refunded);
    let Ok(mut b) = sim.0.shares.lock() else {
        return error(
            &sim,
            StatusCode::INTERNAL_SERVER_ERROR,
            "SYSTEM_ERROR",
            "系统错误",
            &serial,
        );
    };
    if let Some(existing) = b.shares.get(&req.out_order_no) {
        // The same number is the same split.
        if existing.order.transaction_id != req.transaction_id {
            return bad(&sim, "INVALID_REQUEST", "商户分账单号重复", &serial);
        }
        return answer(&sim, &existing.order, &serial);
    }
    if b.shares.values().any(|s| s.out_trade_no == out_trade_no) {
        return bad(
            &sim,
            "INVALID_REQUEST",
            "该笔订单已完结分账，不能再次分账",
            &serial,
        );
    }
    if req.receivers.is_empty() || req.receivers.iter().any(|r| r.amount < 1) {
        return bad(&sim, "PARAM_ERROR", "分账金额必须为正整数（分）", &serial);
    }
    if let Some(r) = req
        .receivers
        .iter()
        .find(|r| !b.receivers.contains(&(r.kind.clone(), r.account.clone())))
    {
        let message = format!("分账接收方 {} 未添加，请先添加分账接收方", r.account);
        return bad(&sim, "RECEIVER_INVALID", &message, &serial);
    }
    let total: i64 = req.receivers.iter().map(|r| r.amount).sum();
    if total > amount * MAX_SHARE_PERCENT / 100 {
        return bad(&sim, "INVALID_REQUEST", "分账金额超出最大分账比例", &serial);
    }
    if total > amount - refunded_so_far {
        return bad(&sim, "NOT_ENOUGH", "分账金额不足（订单已退款）", &serial);
    }
    let now = formpay_core::now_ms();
    let order = wire::ShareOrder {
        transaction_id: req.transaction_id.clone(),
        out_order_no: req.out_order_no.clone(),
        order_id: transaction_id("3008"),
        state: "PROCESSING".into(),
        receivers: req
            .receivers
            .iter()
            .map(|r| wire::ReceiverResult {
                kind: r.kind.clone(),
                account: r.account.clone(),
                amount: r.amount,
                description: r.description.clone(),
                result: "PENDING".into(),
                fail_reason: None,
                detail_id: Some(transaction_id("3601")),
                create_time: Some(rfc3339(now)),
                finish_time: None,
            })
            .collect(),
    };
    b.shares.insert(
        req.out_order_no.clone(),
        SimShare {
            order: order.clone(),
            out_trade_no,
        },
    );
    answer(&sim, &order, &serial)
}

/// `GET /v3/profitsharing/orders/{out_order_no}?transaction_id=…`: a split
/// in progress is done by the time it is asked about.
pub async fn query(
    State(sim): State<Simulator>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    Path(no): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let serial = match authenticate(&sim, &method, &uri, &headers, b"") {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(mut b) = sim.0.shares.lock() else {
        return error(
            &sim,
            StatusCode::INTERNAL_SERVER_ERROR,
            "SYSTEM_ERROR",
            "系统错误",
            &serial,
        );
    };
    let Some(share) = b.shares.get_mut(&no) else {
        return error(
            &sim,
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_EXISTS",
            "记录不存在",
            &serial,
        );
    };
    if q.get("transaction_id") != Some(&share.order.transaction_id) {
        return bad(&sim, "PARAM_ERROR", "微信订单号与分账单不匹配", &serial);
    }
    if share.order.state == "PROCESSING" {
        let now = rfc3339(formpay_core::now_ms());
        share.order.state = "FINISHED".into();
        for r in &mut share.order.receivers {
            r.result = "SUCCESS".into();
            r.finish_time = Some(now.clone());
        }
    }
    let order = share.order.clone();
    answer(&sim, &order, &serial)
}

/// `POST /v3/profitsharing/orders/unfreeze`: the payment's frozen money goes
/// to the merchant, with no split.
pub async fn unfreeze(
    State(sim): State<Simulator>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let serial = match authenticate(&sim, &method, &uri, &headers, &body) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let req: wire::UnfreezeRequest = match parse_json(&sim, &body, &serial) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let Some((out_trade_no, _, _)) = paid_payment(&sim, &req.transaction_id) else {
        return bad(&sim, "ORDER_NOT_READY", "订单处理中，暂时无法解冻", &serial);
    };
    if !sim.is_open_to_sharing(&out_trade_no) {
        return bad(&sim, "INVALID_REQUEST", "该笔订单不支持分账", &serial);
    }
    let Ok(mut b) = sim.0.shares.lock() else {
        return error(
            &sim,
            StatusCode::INTERNAL_SERVER_ERROR,
            "SYSTEM_ERROR",
            "系统错误",
            &serial,
        );
    };
    if let Some(existing) = b.shares.get(&req.out_order_no) {
        return answer(&sim, &existing.order, &serial);
    }
    if b.shares.values().any(|s| s.out_trade_no == out_trade_no) {
        return bad(&sim, "INVALID_REQUEST", "该笔订单已完结分账", &serial);
    }
    let order = wire::ShareOrder {
        transaction_id: req.transaction_id.clone(),
        out_order_no: req.out_order_no.clone(),
        order_id: transaction_id("3008"),
        state: "FINISHED".into(),
        receivers: Vec::new(),
    };
    b.shares.insert(
        req.out_order_no.clone(),
        SimShare {
            order: order.clone(),
            out_trade_no,
        },
    );
    answer(&sim, &order, &serial)
}

/// `POST /v3/profitsharing/return-orders`: a merchant receiver gives back
/// (part of) its share of a finished split.
pub async fn return_share(
    State(sim): State<Simulator>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let serial = match authenticate(&sim, &method, &uri, &headers, &body) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let req: wire::ReturnRequest = match parse_json(&sim, &body, &serial) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let Ok(mut b) = sim.0.shares.lock() else {
        return error(
            &sim,
            StatusCode::INTERNAL_SERVER_ERROR,
            "SYSTEM_ERROR",
            "系统错误",
            &serial,
        );
    };
    if let Some(existing) = b.returns.get(&req.out_return_no) {
        if existing.out_order_no != req.out_order_no || existing.amount != req.amount {
            return bad(&sim, "INVALID_REQUEST", "回退单号重复但参数不一致", &serial);
        }
        return answer(&sim, existing, &serial);
    }
    let Some(share) = b.shares.get(&req.out_order_no) else {
        return error(
            &sim,
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_EXISTS",
            "分账单不存在",
            &serial,
        );
    };
    if share.order.state != "FINISHED" {
        return bad(&sim, "INVALID_REQUEST", "分账处理中，暂时不能回退", &serial);
    }
    let Some(line) = share.order.receivers.iter().find(|r| {
        r.kind == "MERCHANT_ID" && r.account == req.return_mchid && r.result == "SUCCESS"
    }) else {
        return bad(
            &sim,
            "INVALID_REQUEST",
            "回退方不是该分账单的商户接收方",
            &serial,
        );
    };
    let open = line.amount - returned(&b, &req.out_order_no, &req.return_mchid);
    if req.amount < 1 || req.amount > open {
        return bad(&sim, "NOT_ENOUGH", "回退金额超过可回退金额", &serial);
    }
    let done = wire::ReturnOrder {
        order_id: share.order.order_id.clone(),
        out_order_no: req.out_order_no.clone(),
        out_return_no: req.out_return_no.clone(),
        return_id: transaction_id("3008"),
        return_mchid: req.return_mchid.clone(),
        amount: req.amount,
        result: "SUCCESS".into(),
        fail_reason: None,
    };
    b.returns.insert(req.out_return_no.clone(), done.clone());
    answer(&sim, &done, &serial)
}

// Alipay's royalty (分账): relations, `alipay.trade.order.settle` (processing
// until first queried), its query, and shares taken back in a refund.

type Refusal = (&'static str, &'static str);

fn fen_of(v: &serde_json::Value) -> Option<i64> {
    v.as_str()
        .and_then(|s| domain::Money::parse_yuan(s).ok())
        .map(domain::Money::fen)
        .filter(|f| *f > 0)
}

/// `alipay.trade.royalty.relation.bind`
pub(super) fn alipay_bind(
    sim: &Simulator,
    biz: &serde_json::Value,
) -> Result<serde_json::Value, Refusal> {
    let list = biz
        .get("receiver_list")
        .and_then(|v| v.as_array())
        .filter(|l| !l.is_empty() && l.len() <= 20)
        .ok_or(("ACQ.INVALID_PARAMETER", "receiver_list 不合法"))?;
    let mut found = Vec::new();
    for r in list {
        let kind = r.get("type").and_then(|v| v.as_str()).unwrap_or("");
        let account = r.get("account").and_then(|v| v.as_str()).unwrap_or("");
        let ok = match kind {
            "userId" => account.len() == 16 && account.starts_with("2088"),
            "loginName" => {
                !account.is_empty()
                    && r.get("name")
                        .and_then(|v| v.as_str())
                        .is_some_and(|n| !n.is_empty())
            }
            _ => false,
        };
        if !ok {
            return Err(("ACQ.INVALID_PARAMETER", "分账接收方不合法"));
        }
        found.push((kind.to_owned(), account.to_owned()));
    }
    if let Ok(mut b) = sim.0.shares.lock() {
        b.receivers.extend(found);
    }
    Ok(serde_json::json!({"code": "10000", "msg": "Success", "result_code": "SUCCESS"}))
}

/// `alipay.trade.order.settle`: a split of a frozen payment (or, with no
/// parameters, the release of its rest), once per payment.
pub(super) fn alipay_settle(
    sim: &Simulator,
    biz: &serde_json::Value,
) -> Result<serde_json::Value, Refusal> {
    let trade_no = biz.get("trade_no").and_then(|v| v.as_str()).unwrap_or("");
    let request_no = biz
        .get("out_request_no")
        .and_then(|v| v.as_str())
        .filter(|n| !n.is_empty() && n.len() <= 32)
        .ok_or(("ACQ.INVALID_PARAMETER", "out_request_no 不合法"))?;
    let (out_trade_no, amount, refunded) =
        paid_at(sim, SimProvider::Alipay, trade_no).ok_or(("ACQ.TRADE_NOT_EXIST", "交易不存在"))?;
    if !sim.is_open_to_sharing(&out_trade_no) {
        return Err((
            "ACQ.TRADE_SETTLE_ERROR",
            "交易未冻结资金（royalty_freeze），不能分账",
        ));
    }
    let mut b = sim
        .0
        .shares
        .lock()
        .map_err(|_| ("ACQ.SYSTEM_ERROR", "系统错误"))?;
    if let Some(existing) = b.shares.get(request_no) {
        return Ok(
            serde_json::json!({"code": "10000", "msg": "Success", "trade_no": trade_no, "settle_no": existing.order.order_id}),
        );
    }
    if b.shares.values().any(|s| s.out_trade_no == out_trade_no) {
        return Err(("ACQ.TRADE_SETTLE_ERROR", "该交易已完结分账"));
    }
    let params = biz
        .get("royalty_parameters")
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default();
    let mut receivers = Vec::new();
    for p in &params {
        let kind = p
            .get("trans_in_type")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        let account = p.get("trans_in").and_then(|v| v.as_str()).unwrap_or("");
        let fen = p
            .get("amount")
            .and_then(fen_of)
            .ok_or(("ACQ.INVALID_PARAMETER", "分账金额不合法"))?;
        if !b.receivers.contains(&(kind.to_owned(), account.to_owned())) {
            return Err(("ACQ.INVALID_PARAMETER", "分账关系不存在，请先绑定分账关系"));
        }
        receivers.push(wire::ReceiverResult {
            kind: kind.to_owned(),
            account: account.to_owned(),
            amount: fen,
            description: p
                .get("desc")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned(),
            result: "PENDING".into(),
            fail_reason: None,
            detail_id: None,
            create_time: None,
            finish_time: None,
        });
    }
    let total: i64 = receivers.iter().map(|r| r.amount).sum();
    if total > amount * MAX_SHARE_PERCENT / 100 || total > amount - refunded {
        return Err((
            "ACQ.ALLOC_AMOUNT_VALIDATE_ERROR",
            "分账金额超过最大可分账金额",
        ));
    }
    let settle_no = transaction_id("2026");
    b.shares.insert(
        request_no.to_owned(),
        SimShare {
            order: wire::ShareOrder {
                transaction_id: trade_no.to_owned(),
                out_order_no: request_no.to_owned(),
                order_id: settle_no.clone(),
                state: if receivers.is_empty() {
                    "FINISHED"
                } else {
                    "PROCESSING"
                }
                .into(),
                receivers,
            },
            out_trade_no,
        },
    );
    Ok(
        serde_json::json!({"code": "10000", "msg": "Success", "trade_no": trade_no, "settle_no": settle_no}),
    )
}

/// `alipay.trade.order.settle.query`: done by the time it is asked about.
pub(super) fn alipay_settle_query(
    sim: &Simulator,
    biz: &serde_json::Value,
) -> Result<serde_json::Value, Refusal> {
    let request_no = biz
        .get("out_request_no")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let trade_no = biz.get("trade_no").and_then(|v| v.as_str()).unwrap_or("");
    let mut b = sim
        .0
        .shares
        .lock()
        .map_err(|_| ("ACQ.SYSTEM_ERROR", "系统错误"))?;
    let share = b
        .shares
        .get_mut(request_no)
        .filter(|s| s.order.transaction_id == trade_no)
        .ok_or(("ACQ.TRADE_NOT_EXIST", "分账单不存在"))?;
    if share.order.state == "PROCESSING" {
        share.order.state = "FINISHED".into();
        for r in &mut share.order.receivers {
            r.result = "SUCCESS".into();
        }
    }
    let list: Vec<serde_json::Value> = share
        .order
        .receivers
        .iter()
        .map(|r| serde_json::json!({"operation_type": "transfer", "trans_in": r.account, "trans_in_type": r.kind, "amount": providers::wechat_v3::bill::fen_to_yuan(r.amount), "state": if r.result == "SUCCESS" { "SUCCESS" } else { "PROCESSING" }, "detail_id": share.order.order_id}))
        .collect();
    Ok(
        serde_json::json!({"code": "10000", "msg": "Success", "out_request_no": request_no, "settle_no": share.order.order_id, "royalty_detail_list": list}),
    )
}

/// The shares a refund takes back (`refund_royalty_parameters`): receiver
/// (`trans_out`) and amount.
pub(super) fn refund_royalties(biz: &serde_json::Value) -> Result<Vec<(String, i64)>, Refusal> {
    biz.get("refund_royalty_parameters")
        .and_then(|v| v.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|p| {
            let account = p.get("trans_out").and_then(|v| v.as_str()).unwrap_or("");
            let fen = p
                .get("amount")
                .and_then(fen_of)
                .ok_or(("ACQ.INVALID_PARAMETER", "退分账金额不合法"))?;
            Ok((account.to_owned(), fen))
        })
        .collect()
}

/// Checks the shares a refund takes back against what each receiver still
/// holds of the payment: their sum (a refund asked again takes nothing more).
pub(super) fn alipay_refund_royalties(
    sim: &Simulator,
    out_trade_no: &str,
    request_no: &str,
    taken: &[(String, i64)],
) -> Result<i64, Refusal> {
    let b = sim
        .0
        .shares
        .lock()
        .map_err(|_| ("ACQ.SYSTEM_ERROR", "系统错误"))?;
    let mut total = 0;
    for (account, fen) in taken {
        if b.returns.contains_key(&format!("{request_no}-{account}")) {
            continue;
        }
        let held: i64 = b
            .shares
            .values()
            .filter(|s| s.out_trade_no == out_trade_no)
            .flat_map(|s| {
                s.order
                    .receivers
                    .iter()
                    .filter(|r| r.account == *account && r.result == "SUCCESS")
                    .map(|r| r.amount - returned(&b, &s.order.out_order_no, account))
            })
            .sum();
        if *fen > held {
            return Err(("ACQ.ALLOC_AMOUNT_VALIDATE_ERROR", "退分账金额超限"));
        }
        total += fen;
    }
    Ok(total)
}

/// Records the shares a refund took back.
pub(super) fn alipay_take_back(
    sim: &Simulator,
    out_trade_no: &str,
    request_no: &str,
    taken: &[(String, i64)],
) {
    let Ok(mut b) = sim.0.shares.lock() else {
        return;
    };
    for (account, fen) in taken {
        let Some((order_id, out_order_no)) = b
            .shares
            .values()
            .find(|s| {
                s.out_trade_no == out_trade_no
                    && s.order.receivers.iter().any(|r| r.account == *account)
            })
            .map(|s| (s.order.order_id.clone(), s.order.out_order_no.clone()))
        else {
            continue;
        };
        let key = format!("{request_no}-{account}");
        b.returns.entry(key.clone()).or_insert(wire::ReturnOrder {
            order_id,
            out_order_no,
            out_return_no: key,
            return_id: transaction_id("2026"),
            return_mchid: account.clone(),
            amount: *fen,
            result: "SUCCESS".into(),
            fail_reason: None,
        });
    }
}
