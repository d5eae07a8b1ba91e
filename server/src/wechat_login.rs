//! The payer's WeChat login for JSAPI (silent OAuth), as two plain routes:
//! `GET /pay/{order}/wechat-login` sends the browser to WeChat, and
//! `GET /oauth/wechat` takes WeChat's `code` back, remembers the openid in a
//! signed, HTTP-only cookie and returns the payer to the pay page, which
//! then opens WeChat's pay sheet by itself (`?method=wechat_jsapi`).

use app::ssr::pay::{self, LoginError};
use app::ssr::payer::{OPENID_COOKIE, OPENID_TTL_MS};
use app::ssr::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// The route WeChat comes back to, below the public base.
pub const CALLBACK_PATH: &str = "/oauth/wechat";

fn pay_page(order_id: &str, query: &str) -> String {
    format!("/pay/{order_id}?{query}")
}

pub async fn start(State(state): State<AppState>, Path(order_id): Path<String>) -> Response {
    let redirect_uri = format!("{}{CALLBACK_PATH}", state.pay.return_base);
    match pay::wechat_login_url(&state, &order_id, &redirect_uri).await {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(pay::PayError::NotFound) => (StatusCode::NOT_FOUND, "no such order").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, order = %order_id, "cannot start the WeChat login");
            Redirect::to(&pay_page(&order_id, "wechat_login=failed")).into_response()
        }
    }
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
}

pub async fn callback(State(state): State<AppState>, Query(q): Query<Callback>) -> Response {
    let (Some(code), Some(oauth_state)) = (q.code, q.state) else {
        return (
            StatusCode::BAD_REQUEST,
            "WeChat's answer has no code or state",
        )
            .into_response();
    };
    match pay::wechat_login_done(&state, &code, &oauth_state).await {
        Ok((order_id, cookie)) => {
            let mut resp =
                Redirect::to(&pay_page(&order_id, "method=wechat_jsapi")).into_response();
            let secure = if state.secure_cookies { "; Secure" } else { "" };
            let value = format!(
                "{OPENID_COOKIE}={cookie}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
                OPENID_TTL_MS / 1000
            );
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            resp
        }
        Err(LoginError::BadState) => {
            tracing::warn!("a WeChat login came back with a state that is not ours");
            (
                StatusCode::BAD_REQUEST,
                "this login link is not valid any more; go back to the payment page",
            )
                .into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "the WeChat login failed");
            // The state was ours: back to its order, which offers the other ways.
            match state
                .payer_seal
                .check_oauth_state(&oauth_state, app::ssr::now_ms())
            {
                Some(order_id) => {
                    Redirect::to(&pay_page(&order_id, "wechat_login=failed")).into_response()
                }
                None => (StatusCode::BAD_REQUEST, "the WeChat login failed").into_response(),
            }
        }
    }
}
