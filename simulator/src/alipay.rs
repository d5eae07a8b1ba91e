//! The Alipay gateway, as the provider side: checks our RSA2 signatures,
//! keeps orders, signs every answer over the exact bytes of its node.

use super::{
    dev_keys, new_token, transaction_id, SimOrder, SimProvider, SimRefund, SimRefundStatus,
    SimState, Simulator,
};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use domain::Money;
use providers::alipay::{response_node_name, signing_string};
use providers::crypto::{SignMessage, VerifySignature};
use serde_json::{json, Value};

type Params = Vec<(String, String)>;

fn get<'a>(params: &'a Params, k: &str) -> Option<&'a str> {
    params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

/// `{"<node>":{…},"sign":"…"}` with the signature over the node's exact text.
pub(super) fn answer(sim: &Simulator, node: &str, content: Value) -> Response {
    let text = content.to_string();
    let sign = sim
        .0
        .alipay_platform
        .sign_base64(text.as_bytes())
        .unwrap_or_default();
    let body = format!("{{\"{node}\":{text},\"sign\":\"{sign}\"}}");
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
        body,
    )
        .into_response()
}

fn failure(
    sim: &Simulator,
    node: &str,
    code: &str,
    msg: &str,
    sub_code: &str,
    sub_msg: &str,
) -> Response {
    answer(
        sim,
        node,
        json!({"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg}),
    )
}

fn business(sim: &Simulator, node: &str, sub_code: &str, sub_msg: &str) -> Response {
    failure(sim, node, "40004", "Business Failed", sub_code, sub_msg)
}

/// Gateway-level checks of any request: app id, sign type, signature.
fn authenticate(sim: &Simulator, params: &Params) -> Result<(String, Value), Response> {
    let invalid = |sub_code: &str, sub_msg: &str| {
        let body = json!({"error_response": {"code": "40002", "msg": "Invalid Arguments", "sub_code": sub_code, "sub_msg": sub_msg}});
        Err((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
            body.to_string(),
        )
            .into_response())
    };
    if get(params, "app_id") != Some(dev_keys::ALIPAY_APP_ID) {
        return invalid("isv.invalid-app-id", "无效的AppID参数");
    }
    if get(params, "sign_type") != Some("RSA2") {
        return invalid("isv.invalid-signature-type", "无效的签名类型");
    }
    let Some(sign) = get(params, "sign") else {
        return invalid("isv.missing-signature", "缺少签名参数");
    };
    let content = signing_string(
        params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &["sign"],
    );
    if sim
        .0
        .alipay_app
        .verify_base64(content.as_bytes(), sign)
        .is_err()
    {
        return invalid(
            "isv.invalid-signature",
            "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配",
        );
    }
    let Some(method) = get(params, "method") else {
        return invalid("isv.missing-method", "缺少方法名参数");
    };
    let biz: Value = match get(params, "biz_content").map(serde_json::from_str) {
        Some(Ok(v)) => v,
        _ => return invalid("isv.invalid-biz-content", "biz_content 不是合法的 JSON"),
    };
    Ok((method.to_owned(), biz))
}

fn amount_fen(v: &Value, field: &str) -> Option<i64> {
    v.get(field)
        .and_then(Value::as_str)
        .and_then(|s| Money::parse_yuan(s).ok())
        .map(Money::fen)
        .filter(|f| *f > 0)
}

fn yuan(fen: i64) -> String {
    Money::from_fen(fen)
        .map(|m| m.to_yuan_string())
        .unwrap_or_default()
}

fn expires(biz: &Value) -> Option<i64> {
    use chrono::{FixedOffset, NaiveDateTime, TimeZone};
    let s = biz.get("time_expire")?.as_str()?;
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").ok()?;
    FixedOffset::east_opt(8 * 3600)?
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.timestamp_millis())
}

/// The product code each cashier method takes.
fn wap_checked(method: &str, biz: &Value) -> Result<(), (&'static str, &'static str)> {
    let want = match method {
        "alipay.trade.wap.pay" => "QUICK_WAP_WAY",
        _ => "FAST_INSTANT_TRADE_PAY",
    };
    if biz.get("product_code").and_then(Value::as_str) == Some(want) {
        Ok(())
    } else {
        Err(("ACQ.INVALID_PARAMETER", "product_code 与接口不匹配"))
    }
}

/// Creates the order on first sight (page pay, WAP pay, precreate).
fn ensure_order(
    sim: &Simulator,
    biz: &Value,
    params: &Params,
    with_return: bool,
) -> Result<SimOrder, (&'static str, &'static str)> {
    let no = biz
        .get("out_trade_no")
        .and_then(Value::as_str)
        .ok_or(("ACQ.INVALID_PARAMETER", "缺少 out_trade_no"))?;
    if no.len() > 64 || !no.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(("ACQ.INVALID_PARAMETER", "out_trade_no 不合法"));
    }
    let amount =
        amount_fen(biz, "total_amount").ok_or(("ACQ.INVALID_PARAMETER", "total_amount 不合法"))?;
    if let Some(existing) = sim.order(SimProvider::Alipay, no) {
        if existing.state == SimState::Paid {
            return Err(("ACQ.TRADE_HAS_SUCCESS", "交易已被支付"));
        }
        if existing.amount_fen != amount {
            return Err(("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改"));
        }
        return Ok(existing);
    }
    let order = SimOrder {
        provider: SimProvider::Alipay,
        wechat_v2: false,
        token: new_token(),
        out_trade_no: no.to_owned(),
        amount_fen: amount,
        subject: biz
            .get("subject")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        notify_url: get(params, "notify_url").unwrap_or("").to_owned(),
        return_url: if with_return {
            get(params, "return_url").map(str::to_owned)
        } else {
            None
        },
        state: SimState::NotPaid,
        transaction_id: transaction_id(""),
        created_at_ms: formpay_core::now_ms(),
        expires_at_ms: expires(biz),
        paid_at_ms: None,
        refunded_fen: 0,
        trade_type: "NATIVE",
        openid: None,
        quit_url: biz
            .get("quit_url")
            .and_then(Value::as_str)
            .map(str::to_owned),
    };
    if biz
        .pointer("/extend_params/royalty_freeze")
        .and_then(Value::as_str)
        == Some("true")
    {
        sim.open_to_sharing(no);
    }
    sim.insert(order.clone());
    Ok(order)
}

/// Server-to-server calls (and a POSTed page pay form).
pub async fn gateway(
    State(sim): State<Simulator>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let mut params: Params = url::form_urlencoded::parse(&body).into_owned().collect();
    if let Some(q) = query {
        params.extend(url::form_urlencoded::parse(q.as_bytes()).into_owned());
    }
    let (method, biz) = match authenticate(&sim, &params) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let node = response_node_name(&method);
    let no = biz
        .get("out_trade_no")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    match method.as_str() {
        "alipay.trade.page.pay" | "alipay.trade.wap.pay" => match wap_checked(&method, &biz)
            .and_then(|()| ensure_order(&sim, &biz, &params, true))
        {
            Ok(o) => Redirect::to(&sim.payer_url(&o.token)).into_response(),
            Err((_, msg)) => (StatusCode::BAD_REQUEST, msg).into_response(),
        },
        "alipay.trade.precreate" => match ensure_order(&sim, &biz, &params, false) {
            Ok(o) => answer(
                &sim,
                &node,
                json!({"code": "10000", "msg": "Success", "out_trade_no": o.out_trade_no, "qr_code": sim.payer_url(&o.token)}),
            ),
            Err((code, msg)) => business(&sim, &node, code, msg),
        },
        "alipay.trade.query" => match sim.queried(SimProvider::Alipay, &no) {
            None => business(&sim, &node, "ACQ.TRADE_NOT_EXIST", "交易不存在"),
            Some(o) => {
                let status = match o.state {
                    SimState::NotPaid => "WAIT_BUYER_PAY",
                    SimState::Paid if o.refunded_fen >= o.amount_fen => "TRADE_CLOSED",
                    SimState::Paid => "TRADE_SUCCESS",
                    SimState::Closed => "TRADE_CLOSED",
                };
                let mut content = json!({"code": "10000", "msg": "Success", "out_trade_no": o.out_trade_no, "trade_no": o.transaction_id, "trade_status": status, "total_amount": yuan(o.amount_fen), "buyer_logon_id": "sim***@example.com"});
                if let Some(p) = o.paid_at_ms {
                    content["send_pay_date"] =
                        json!(providers::alipay::client::beijing_timestamp(p));
                }
                answer(&sim, &node, content)
            }
        },
        "alipay.trade.close" => match sim.close(SimProvider::Alipay, &no) {
            Ok(()) => answer(
                &sim,
                &node,
                json!({"code": "10000", "msg": "Success", "out_trade_no": no}),
            ),
            Err("no such order") => business(&sim, &node, "ACQ.TRADE_NOT_EXIST", "交易不存在"),
            Err(_) => business(&sim, &node, "ACQ.TRADE_STATUS_ERROR", "交易状态不合法"),
        },
        "alipay.trade.refund" => refund(&sim, &node, &biz, &no),
        "alipay.trade.royalty.relation.bind" => {
            match super::profitsharing::alipay_bind(&sim, &biz) {
                Ok(content) => answer(&sim, &node, content),
                Err((code, msg)) => business(&sim, &node, code, msg),
            }
        }
        "alipay.trade.order.settle" => match super::profitsharing::alipay_settle(&sim, &biz) {
            Ok(content) => answer(&sim, &node, content),
            Err((code, msg)) => business(&sim, &node, code, msg),
        },
        "alipay.trade.order.settle.query" => {
            match super::profitsharing::alipay_settle_query(&sim, &biz) {
                Ok(content) => answer(&sim, &node, content),
                Err((code, msg)) => business(&sim, &node, code, msg),
            }
        }
        "alipay.data.dataservice.bill.downloadurl.query" => {
            match super::bills::alipay_bill_url(&sim, &biz) {
                Ok(url) => answer(
                    &sim,
                    &node,
                    json!({"code": "10000", "msg": "Success", "bill_download_url": url}),
                ),
                Err((code, msg)) => business(&sim, &node, code, msg),
            }
        }
        "alipay.trade.fastpay.refund.query" => {
            let request_no = biz
                .get("out_request_no")
                .and_then(Value::as_str)
                .unwrap_or("");
            let found = sim
                .0
                .refunds
                .lock()
                .ok()
                .and_then(|r| r.get(&(1u8, request_no.to_owned())).cloned());
            match found {
                Some(r) if r.out_trade_no == no => answer(
                    &sim,
                    &node,
                    json!({"code": "10000", "msg": "Success", "out_trade_no": no, "out_request_no": request_no, "refund_amount": yuan(r.amount_fen), "total_amount": yuan(r.total_fen), "refund_status": "REFUND_SUCCESS"}),
                ),
                _ => answer(&sim, &node, json!({"code": "10000", "msg": "Success"})),
            }
        }
        _ => failure(
            &sim,
            &node,
            "40004",
            "Business Failed",
            "isv.invalid-method",
            "不存在的方法名",
        ),
    }
}

fn refund(sim: &Simulator, node: &str, biz: &Value, no: &str) -> Response {
    let Some(order) = sim.order(SimProvider::Alipay, no) else {
        return business(sim, node, "ACQ.TRADE_NOT_EXIST", "交易不存在");
    };
    if order.state != SimState::Paid {
        return business(sim, node, "ACQ.TRADE_STATUS_ERROR", "交易状态不合法");
    }
    let Some(amount) = amount_fen(biz, "refund_amount") else {
        return business(sim, node, "ACQ.INVALID_PARAMETER", "refund_amount 不合法");
    };
    let request_no = biz
        .get("out_request_no")
        .and_then(Value::as_str)
        .unwrap_or(no)
        .to_owned();
    let Ok(mut refunds) = sim.0.refunds.lock() else {
        return business(sim, node, "ACQ.SYSTEM_ERROR", "系统错误");
    };
    let refunded_so_far = |refunds: &std::collections::HashMap<(u8, String), SimRefund>| -> i64 {
        refunds
            .values()
            .filter(|r| r.provider == SimProvider::Alipay && r.out_trade_no == no)
            .map(|r| r.amount_fen)
            .sum()
    };
    if let Some(existing) = refunds.get(&(1u8, request_no.clone())) {
        if existing.amount_fen != amount {
            return business(
                sim,
                node,
                "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
                "退款金额与之前请求不一致",
            );
        }
        let total = refunded_so_far(&refunds);
        return answer(
            sim,
            node,
            json!({"code": "10000", "msg": "Success", "out_trade_no": no, "trade_no": order.transaction_id, "refund_fee": yuan(total), "fund_change": "N"}),
        );
    }
    if refunded_so_far(&refunds) + amount > order.amount_fen {
        return business(sim, node, "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限");
    }
    // Shared money comes back only when the refund says from whom (退分账);
    // otherwise the merchant's own part must cover the refund.
    if sim.is_open_to_sharing(no) {
        let royalties = match super::profitsharing::refund_royalties(biz) {
            Ok(r) => r,
            Err((code, msg)) => return business(sim, node, code, msg),
        };
        let taken =
            match super::profitsharing::alipay_refund_royalties(sim, no, &request_no, &royalties) {
                Ok(t) => t,
                Err((code, msg)) => return business(sim, node, code, msg),
            };
        if refunded_so_far(&refunds) + amount + sim.shared_of(no) - taken > order.amount_fen {
            return business(
                sim,
                node,
                "ACQ.SELLER_BALANCE_NOT_ENOUGH",
                "卖家余额不足（分账金额未退回）",
            );
        }
        super::profitsharing::alipay_take_back(sim, no, &request_no, &royalties);
    }
    refunds.insert(
        (1u8, request_no.clone()),
        SimRefund {
            provider: SimProvider::Alipay,
            out_trade_no: no.to_owned(),
            out_refund_no: request_no,
            refund_id: order.transaction_id.clone(),
            amount_fen: amount,
            total_fen: order.amount_fen,
            status: SimRefundStatus::Success,
            created_at_ms: formpay_core::now_ms(),
            notify_url: None,
        },
    );
    let total = refunded_so_far(&refunds);
    drop(refunds);
    sim.update(SimProvider::Alipay, no, |o| o.refunded_fen = total);
    answer(
        sim,
        node,
        json!({"code": "10000", "msg": "Success", "out_trade_no": no, "trade_no": order.transaction_id, "refund_fee": yuan(total), "fund_change": "Y"}),
    )
}

/// The browser arrives at the cashier (`alipay.trade.page.pay` as a GET).
pub async fn cashier(State(sim): State<Simulator>, RawQuery(query): RawQuery) -> Response {
    let params: Params = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let (method, biz) = match authenticate(&sim, &params) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if method != "alipay.trade.page.pay" && method != "alipay.trade.wap.pay" {
        return (
            StatusCode::BAD_REQUEST,
            "only alipay.trade.page.pay and alipay.trade.wap.pay open the cashier",
        )
            .into_response();
    }
    match wap_checked(&method, &biz).and_then(|()| ensure_order(&sim, &biz, &params, true)) {
        Ok(o) => Redirect::to(&sim.payer_url(&o.token)).into_response(),
        Err((_, msg)) => (StatusCode::BAD_REQUEST, msg).into_response(),
    }
}
