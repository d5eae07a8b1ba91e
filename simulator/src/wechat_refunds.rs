//! WeChat Pay API v3 refunds, as the provider side: `POST
//! /v3/refund/domestic/refunds` (answered "processing", settled later by an
//! encrypted `REFUND.*` callback) and the refund query.

use super::wechat::{authenticate, error, parse_json, rfc3339, signed};
use super::{notify, transaction_id, SimProvider, SimRefund, SimRefundStatus, SimState, Simulator};
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use providers::wechat_v3::transformers as wire;

pub(super) fn refund_json(r: &SimRefund) -> wire::Refund {
    wire::Refund {
        refund_id: r.refund_id.clone(),
        out_refund_no: r.out_refund_no.clone(),
        transaction_id: None,
        out_trade_no: r.out_trade_no.clone(),
        status: match r.status {
            SimRefundStatus::Processing => wire::RefundStatus::Processing,
            SimRefundStatus::Success => wire::RefundStatus::Success,
            SimRefundStatus::Closed => wire::RefundStatus::Closed,
            SimRefundStatus::Abnormal => wire::RefundStatus::Abnormal,
        },
        create_time: Some(rfc3339(r.created_at_ms)),
        success_time: None,
        amount: wire::RefundAmount {
            refund: r.amount_fen,
            total: r.total_fen,
            payer_refund: Some(r.amount_fen),
            currency: "CNY".into(),
        },
    }
}

pub async fn refund(
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
    let req: wire::RefundRequest = match parse_json(&sim, &body, &serial) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let Some(order) = sim.order(SimProvider::Wechat, &req.out_trade_no) else {
        return error(
            &sim,
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_EXISTS",
            "订单不存在",
            &serial,
        );
    };
    if order.state != SimState::Paid {
        return error(
            &sim,
            StatusCode::FORBIDDEN,
            "INVALID_REQUEST",
            "订单未支付，不能退款",
            &serial,
        );
    }
    if req.amount.total != order.amount_fen || req.amount.refund < 1 {
        return error(
            &sim,
            StatusCode::BAD_REQUEST,
            "PARAM_ERROR",
            "订单金额或退款金额与之前请求不一致",
            &serial,
        );
    }
    let key = (0u8, req.out_refund_no.clone());
    let refund = {
        let Ok(mut refunds) = sim.0.refunds.lock() else {
            return error(
                &sim,
                StatusCode::INTERNAL_SERVER_ERROR,
                "SYSTEM_ERROR",
                "系统错误",
                &serial,
            );
        };
        if let Some(existing) = refunds.get(&key) {
            // The same out_refund_no is the same refund: idempotent.
            if existing.amount_fen != req.amount.refund || existing.out_trade_no != req.out_trade_no
            {
                return error(
                    &sim,
                    StatusCode::BAD_REQUEST,
                    "PARAM_ERROR",
                    "退款单号重复但参数不一致",
                    &serial,
                );
            }
            return signed(
                &sim,
                StatusCode::OK,
                serde_json::to_string(&refund_json(existing)).unwrap_or_default(),
                &serial,
            );
        }
        let already: i64 = refunds
            .values()
            .filter(|r| {
                r.provider == SimProvider::Wechat
                    && r.out_trade_no == req.out_trade_no
                    && r.status != SimRefundStatus::Closed
            })
            .map(|r| r.amount_fen)
            .sum();
        if already + req.amount.refund > order.amount_fen {
            return error(
                &sim,
                StatusCode::FORBIDDEN,
                "NOT_ENOUGH",
                "退款金额超过订单可退金额",
                &serial,
            );
        }
        // Money shared with receivers and not returned is not the merchant's
        // to refund: it must be returned first.
        if sim.is_open_to_sharing(&req.out_trade_no)
            && already + req.amount.refund + sim.shared_of(&req.out_trade_no) > order.amount_fen
        {
            return error(
                &sim,
                StatusCode::FORBIDDEN,
                "NOT_ENOUGH",
                "可退款金额不足：订单已分账，请先分账回退",
                &serial,
            );
        }
        let refund = SimRefund {
            provider: SimProvider::Wechat,
            out_trade_no: req.out_trade_no.clone(),
            out_refund_no: req.out_refund_no.clone(),
            refund_id: transaction_id("5030"),
            amount_fen: req.amount.refund,
            total_fen: order.amount_fen,
            status: SimRefundStatus::Processing,
            created_at_ms: formpay_core::now_ms(),
            notify_url: req.notify_url.clone(),
        };
        refunds.insert(key, refund.clone());
        refund
    };
    notify::settle_wechat_refund_later(sim.clone(), refund.out_refund_no.clone());
    signed(
        &sim,
        StatusCode::OK,
        serde_json::to_string(&refund_json(&refund)).unwrap_or_default(),
        &serial,
    )
}

pub async fn query_refund(
    State(sim): State<Simulator>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    Path(no): Path<String>,
) -> Response {
    let serial = match authenticate(&sim, &method, &uri, &headers, b"") {
        Ok(s) => s,
        Err(r) => return r,
    };
    let found = sim
        .0
        .refunds
        .lock()
        .ok()
        .and_then(|r| r.get(&(0u8, no.clone())).cloned());
    match found {
        Some(r) => signed(
            &sim,
            StatusCode::OK,
            serde_json::to_string(&refund_json(&r)).unwrap_or_default(),
            &serial,
        ),
        None => error(
            &sim,
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_EXISTS",
            "退款单不存在",
            &serial,
        ),
    }
}
