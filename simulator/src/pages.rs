//! The payer, played by a person (or a browser test): one page per order with
//! Pay, Cancel and Let it expire; and a small control API for tests.

use super::notify::alipay_trade_params;
use super::{SimProvider, SimState, Simulator};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Json;

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// WeChat H5: where the payer goes back to, whatever they do.
#[derive(serde::Deserialize)]
pub struct ReturnTo {
    redirect_url: Option<String>,
}

pub async fn payer_page(
    State(sim): State<Simulator>,
    Path(token): Path<String>,
    Query(back): Query<ReturnTo>,
) -> Response {
    let Some(o) = sim.order_by_token(&token) else {
        return (StatusCode::NOT_FOUND, Html("<h1>No such order</h1>")).into_response();
    };
    let (brand, color) = match o.provider {
        SimProvider::Wechat => ("微信支付 WeChat Pay", "#07c160"),
        SimProvider::Alipay => ("支付宝 Alipay", "#1677ff"),
    };
    let amount = domain::Money::from_fen(o.amount_fen)
        .map(|m| m.to_string())
        .unwrap_or_default();
    let state = match o.state {
        SimState::NotPaid => "待支付 waiting for payment",
        SimState::Paid => "已支付 paid",
        SimState::Closed => "已关闭 closed",
    };
    let query = back
        .redirect_url
        .as_deref()
        .map(|u| {
            format!(
                "?redirect_url={}",
                url::form_urlencoded::byte_serialize(u.as_bytes()).collect::<String>()
            )
        })
        .unwrap_or_default();
    let buttons = if o.state == SimState::NotPaid {
        format!(
            r#"<form method="post" action="{t}/pay{q}"><button class="pay" data-testid="sim-pay">确认支付 Pay {amount}</button></form>
<form method="post" action="{t}/cancel{q}"><button data-testid="sim-cancel">取消 Cancel</button></form>
<form method="post" action="{t}/expire"><button data-testid="sim-expire">让订单过期 Let it expire</button></form>"#,
            t = escape(&token),
            q = escape(&query)
        )
    } else {
        String::new()
    };
    Html(format!(
        r#"<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{brand} · simulator</title><link rel="icon" href="data:,">
<style>body{{font-family:sans-serif;max-width:420px;margin:2rem auto;padding:0 1rem}}.brand{{color:{color};font-weight:700}}
.amount{{font-size:2.2rem;margin:.5rem 0}}button{{width:100%;padding:.8rem;margin:.4rem 0;font-size:1rem;border-radius:8px;border:1px solid #ccc;background:#fff}}
button.pay{{background:{color};color:#fff;border-color:{color}}}.note{{color:#666;font-size:.85rem}}</style></head>
<body><p class="brand">{brand}</p><p class="note">支付模拟器 · payment simulator (development only, no real money)</p>
<p>{subject}</p><p class="amount" data-testid="sim-amount">{amount}</p><p data-testid="sim-state">{state}</p>{buttons}
<p class="note">商户订单号 {no}</p></body></html>"#,
        subject = escape(&o.subject),
        no = escape(&o.out_trade_no),
    ))
    .into_response()
}

pub async fn payer_action(
    State(sim): State<Simulator>,
    Path((token, action)): Path<(String, String)>,
    Query(back): Query<ReturnTo>,
) -> Response {
    let Some(o) = sim.order_by_token(&token) else {
        return (StatusCode::NOT_FOUND, "no such order").into_response();
    };
    let result = match action.as_str() {
        "pay" => sim.pay(o.provider, &o.out_trade_no).map(|_| ()),
        // The payer walks away: nothing changes at the provider.
        "cancel" => Ok(()),
        "expire" => sim.expire(o.provider, &o.out_trade_no),
        _ => return (StatusCode::NOT_FOUND, "unknown action").into_response(),
    };
    if let Err(e) = result {
        return (StatusCode::CONFLICT, e).into_response();
    }
    // WeChat H5 goes back to the merchant's redirect_url, paid or not (the
    // page must ask for the status: coming back proves nothing).
    if let (SimProvider::Wechat, Some(url)) = (o.provider, &back.redirect_url) {
        if action != "expire" && super::phone::registered(&sim, url) {
            return Redirect::to(url).into_response();
        }
    }
    // Alipay WAP: a payer who gives up goes to quit_url.
    if let (SimProvider::Alipay, "cancel", Some(quit)) = (o.provider, action.as_str(), &o.quit_url)
    {
        return Redirect::to(quit).into_response();
    }
    // Alipay page pay sends the browser back to the merchant, signed like a notify.
    if let (SimProvider::Alipay, Some(return_url)) = (o.provider, &o.return_url) {
        if action != "expire" {
            let Some(now) = sim.order(o.provider, &o.out_trade_no) else {
                return StatusCode::NOT_FOUND.into_response();
            };
            let mut params = alipay_trade_params(&sim, &now, "trade_page_pay_return");
            if now.state != SimState::Paid {
                params.retain(|(k, _)| k == "out_trade_no");
            }
            if let Ok(mut url) = url::Url::parse(return_url) {
                url.query_pairs_mut().extend_pairs(params.iter());
                return Redirect::to(url.as_str()).into_response();
            }
        }
    }
    Redirect::to(&sim.payer_url(&token)).into_response()
}

#[derive(serde::Deserialize)]
pub struct Delivery {
    enabled: bool,
}

pub async fn set_delivery(State(sim): State<Simulator>, Json(d): Json<Delivery>) -> StatusCode {
    sim.set_delivery(d.enabled);
    StatusCode::NO_CONTENT
}

#[derive(serde::Deserialize)]
pub struct Which {
    provider: Option<String>,
}

pub async fn order_json(
    State(sim): State<Simulator>,
    Path(no): Path<String>,
    Query(w): Query<Which>,
) -> Response {
    let provider = if w.provider.as_deref() == Some("alipay") {
        SimProvider::Alipay
    } else {
        SimProvider::Wechat
    };
    match sim.order(provider, &no) {
        Some(o) => Json(serde_json::json!({
            "out_trade_no": o.out_trade_no,
            "amount_fen": o.amount_fen,
            "state": match o.state { SimState::NotPaid => "not_paid", SimState::Paid => "paid", SimState::Closed => "closed" },
            "token": o.token,
            "refunded_fen": o.refunded_fen,
        }))
        .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[derive(serde::Deserialize)]
pub struct FaultRequest {
    /// `slow`, `5xx`, `malformed`, `wrong-signature`, `reset`; absent or
    /// empty clears the fault.
    kind: Option<String>,
}

/// `POST /control/fault {"kind": "5xx"}`: the provider API misbehaves until
/// `{"kind": null}`.
pub async fn set_fault(State(sim): State<Simulator>, Json(f): Json<FaultRequest>) -> Response {
    match f.kind.as_deref().filter(|k| !k.is_empty()) {
        None => {
            sim.set_fault(None);
            StatusCode::NO_CONTENT.into_response()
        }
        Some(k) => match super::Fault::parse(k) {
            Some(fault) => {
                sim.set_fault(Some(fault));
                StatusCode::NO_CONTENT.into_response()
            }
            None => (StatusCode::BAD_REQUEST, "unknown fault").into_response(),
        },
    }
}
