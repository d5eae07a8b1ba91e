//! What payers on phones meet, as the simulator plays it: WeChat's silent
//! OAuth (`/connect/oauth2/authorize`, `/sns/oauth2/access_token`), a stand-in
//! for `WeixinJSBridge` (the pay sheet inside WeChat) that checks our
//! `paySign` like WeChat does, and the H5 cashier that returns the payer to
//! the merchant's `redirect_url`.

use super::{dev_keys, new_token, SimProvider, SimState, Simulator};
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Json;
use providers::crypto::VerifySignature;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// How long a code may wait for its exchange (WeChat: 5 minutes).
const CODE_TTL_MS: i64 = 5 * 60 * 1000;

/// The openid of the simulator's usual payer for an app id: stable, and
/// different per app id, as WeChat's are.
pub fn openid_for(app_id: &str) -> String {
    openid_of(app_id, "")
}

fn app_part(app_id: &str) -> String {
    let digest = Sha256::digest(format!("formpay simulator app {app_id}").as_bytes());
    hex::encode(digest)[..12].to_owned()
}

/// The openid of the payer named `payer` for an app id (several WeChat
/// accounts paying through one app): what WeChat's login would learn for them.
pub fn openid_of(app_id: &str, payer: &str) -> String {
    let who = Sha256::digest(format!("formpay simulator payer {payer}").as_bytes());
    format!("oSim{}{}", app_part(app_id), &hex::encode(who)[..12])
}

/// Whether WeChat would take `openid` as one of `app_id`'s payers (it refuses
/// another app's openid: "appid和openid不匹配").
pub fn is_openid_of(openid: &str, app_id: &str) -> bool {
    openid
        .strip_prefix("oSim")
        .and_then(|rest| rest.strip_prefix(app_part(app_id).as_str()))
        .is_some_and(|who| who.len() == 12 && who.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// One issued code.
#[derive(Clone, Debug)]
pub struct OauthCode {
    pub openid: String,
    pub issued_ms: i64,
    pub used: bool,
}

fn error_page(status: StatusCode, text: &str) -> Response {
    (
        status,
        Html(format!(
            r#"<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>微信 · simulator</title></head>
<body><h1 data-testid="sim-error">{}</h1><p>payment simulator (development only)</p></body></html>"#,
            super::pages::escape(text)
        )),
    )
        .into_response()
}

/// Whether `url` is on the merchant's registered domain: the simulator's
/// own host (the app that mounts it), as the console would have it.
pub(crate) fn registered(sim: &Simulator, url: &str) -> bool {
    let ours = url::Url::parse(&sim.0.settings.public_base)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned));
    let theirs = url::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .and_then(|u| u.host_str().map(str::to_owned));
    ours.is_some() && ours == theirs
}

#[derive(Deserialize)]
pub struct Authorize {
    appid: Option<String>,
    redirect_uri: Option<String>,
    response_type: Option<String>,
    scope: Option<String>,
    state: Option<String>,
}

/// `GET /connect/oauth2/authorize`: silent for `snsapi_base`, so straight
/// back to `redirect_uri` with a fresh code.
pub async fn authorize(State(sim): State<Simulator>, Query(q): Query<Authorize>) -> Response {
    if q.appid.as_deref() != Some(dev_keys::WECHAT_APP_ID) {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Oops! Something went wrong:( 参数错误 appid",
        );
    }
    if q.response_type.as_deref() != Some("code")
        || !matches!(q.scope.as_deref(), Some("snsapi_base" | "snsapi_userinfo"))
    {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Oops! Something went wrong:( 参数错误 scope",
        );
    }
    let Some(redirect) = q.redirect_uri.filter(|r| registered(&sim, r)) else {
        return error_page(StatusCode::BAD_REQUEST, "redirect_uri 参数错误 (10003)");
    };
    let code = new_token();
    if let Ok(mut codes) = sim.0.oauth_codes.lock() {
        codes.retain(|_, c| formpay_core::now_ms() - c.issued_ms < CODE_TTL_MS * 2);
        codes.insert(
            code.clone(),
            OauthCode {
                openid: openid_for(dev_keys::WECHAT_APP_ID),
                issued_ms: formpay_core::now_ms(),
                used: false,
            },
        );
    }
    let Ok(mut url) = url::Url::parse(&redirect) else {
        return error_page(StatusCode::BAD_REQUEST, "redirect_uri 参数错误");
    };
    url.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", q.state.as_deref().unwrap_or(""));
    Redirect::to(url.as_str()).into_response()
}

#[derive(Deserialize)]
pub struct TokenQuery {
    appid: Option<String>,
    secret: Option<String>,
    code: Option<String>,
    grant_type: Option<String>,
}

fn wechat_error(code: i64, msg: &str) -> Response {
    Json(serde_json::json!({"errcode": code, "errmsg": msg})).into_response()
}

/// `GET /sns/oauth2/access_token`: a code once, within five minutes, for
/// the app id it was issued to, with that app's secret.
pub async fn access_token(State(sim): State<Simulator>, Query(q): Query<TokenQuery>) -> Response {
    if q.appid.as_deref() != Some(dev_keys::WECHAT_APP_ID) {
        return wechat_error(40013, "invalid appid");
    }
    if q.secret.as_deref() != Some(dev_keys::WECHAT_APP_SECRET) {
        return wechat_error(40125, "invalid appsecret");
    }
    if q.grant_type.as_deref() != Some("authorization_code") {
        return wechat_error(40002, "invalid grant_type");
    }
    let code = q.code.unwrap_or_default();
    let Ok(mut codes) = sim.0.oauth_codes.lock() else {
        return wechat_error(-1, "system error");
    };
    let Some(c) = codes.get_mut(&code) else {
        return wechat_error(40029, "invalid code");
    };
    if c.used {
        return wechat_error(40163, "code been used");
    }
    if formpay_core::now_ms() - c.issued_ms >= CODE_TTL_MS {
        return wechat_error(40029, "invalid code, code expired");
    }
    c.used = true;
    Json(serde_json::json!({
        "access_token": format!("SIM_AT_{}", new_token()),
        "expires_in": 7200,
        "refresh_token": format!("SIM_RT_{}", new_token()),
        "openid": c.openid,
        "scope": "snsapi_base",
    }))
    .into_response()
}

/// Test control: every code issued so far is now older than five minutes.
pub async fn expire_codes(State(sim): State<Simulator>) -> StatusCode {
    if let Ok(mut codes) = sim.0.oauth_codes.lock() {
        for c in codes.values_mut() {
            c.issued_ms -= CODE_TTL_MS;
        }
    }
    StatusCode::NO_CONTENT
}

/// The stand-in for `WeixinJSBridge`, loaded by the pay page only while the
/// simulator is mounted and the page is opened with WeChat's user agent.
pub async fn jsbridge() -> Response {
    let mut r = include_str!("jsbridge.js").into_response();
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/javascript; charset=utf-8"),
    );
    r
}

/// What the page passes to `getBrandWCPayRequest`, plus what the sheet's
/// button was.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BridgeRequest {
    app_id: String,
    time_stamp: String,
    nonce_str: String,
    package: String,
    sign_type: String,
    pay_sign: String,
    #[serde(default)]
    action: String,
}

fn bridge_answer(outcome: &str, detail: &str) -> Response {
    Json(serde_json::json!({
        "err_msg": format!("get_brand_wcpay_request:{outcome}"),
        "err_desc": detail,
    }))
    .into_response()
}

/// Checks the `paySign` WeChat checks before it opens its sheet:
/// RSA (v3) with the merchant key over `appId\ntimeStamp\nnonceStr\npackage\n`,
/// or the v2 signature (MD5 / HMAC-SHA256 with the API key) over the fields.
fn pay_sign_ok(r: &BridgeRequest, sim: &Simulator) -> bool {
    match r.sign_type.as_str() {
        "RSA" => {
            let message = format!(
                "{}\n{}\n{}\n{}\n",
                r.app_id, r.time_stamp, r.nonce_str, r.package
            );
            sim.0
                .wechat_merchant
                .verify_base64(message.as_bytes(), &r.pay_sign)
                .is_ok()
        }
        "MD5" | "HMAC-SHA256" => {
            let sign_type = if r.sign_type == "MD5" {
                providers::wechat_v2::SignType::Md5
            } else {
                providers::wechat_v2::SignType::HmacSha256
            };
            let fields: BTreeMap<String, String> = [
                ("appId", &r.app_id),
                ("nonceStr", &r.nonce_str),
                ("package", &r.package),
                ("signType", &r.sign_type),
                ("timeStamp", &r.time_stamp),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.clone()))
            .collect();
            providers::wechat_v2::sign(&fields, dev_keys::WECHAT_V2_KEY, sign_type) == r.pay_sign
        }
        _ => false,
    }
}

/// `getBrandWCPayRequest` as WeChat answers it: the parameters must be
/// signed by the merchant of the app id, for a prepay id WeChat issued;
/// then the payer's choice on the sheet pays (and calls back) or cancels.
pub async fn bridge_pay(State(sim): State<Simulator>, Json(r): Json<BridgeRequest>) -> Response {
    if r.app_id != dev_keys::WECHAT_APP_ID {
        return bridge_answer("fail", "appId 与商户号不匹配");
    }
    let Some(prepay_id) = r.package.strip_prefix("prepay_id=") else {
        return bridge_answer("fail", "package 格式错误");
    };
    let fresh = r
        .time_stamp
        .parse::<i64>()
        .is_ok_and(|t| (formpay_core::now_ms() / 1000 - t).abs() < 600);
    if !fresh {
        return bridge_answer("fail", "timeStamp 不合法");
    }
    if !pay_sign_ok(&r, &sim) {
        return bridge_answer("fail", "支付验证签名失败");
    }
    let Some(order) = sim.order_by_prepay_id(prepay_id) else {
        return bridge_answer("fail", "prepay_id 不存在或已过期");
    };
    match (r.action.as_str(), order.state) {
        ("cancel", _) => bridge_answer("cancel", ""),
        ("pay", SimState::NotPaid) => match sim.pay(SimProvider::Wechat, &order.out_trade_no) {
            Ok(_) => bridge_answer("ok", ""),
            Err(e) => bridge_answer("fail", e),
        },
        ("pay", SimState::Paid) => bridge_answer("fail", "该订单已支付"),
        ("pay", SimState::Closed) => bridge_answer("fail", "该订单已关闭"),
        _ => bridge_answer("fail", "unknown action"),
    }
}

#[derive(Deserialize)]
pub struct PrepayQuery {
    prepay_id: String,
}

/// The amount the sheet shows.
pub async fn bridge_order(State(sim): State<Simulator>, Query(q): Query<PrepayQuery>) -> Response {
    match sim.order_by_prepay_id(&q.prepay_id) {
        Some(o) => Json(serde_json::json!({
            "amount": domain::Money::from_fen(o.amount_fen).map(|m| m.to_string()).unwrap_or_default(),
            "subject": o.subject,
        }))
        .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[derive(Deserialize)]
pub struct H5Query {
    prepay_id: String,
    redirect_url: Option<String>,
}

/// The H5 cashier (`h5_url`): opened from the phone's browser, it refuses a
/// `redirect_url` outside the merchant's registered H5 domain (WeChat checks
/// the domain the payer comes from), then shows the payer page, which
/// returns to `redirect_url` whatever the payer does.
pub async fn h5_cashier(State(sim): State<Simulator>, Query(q): Query<H5Query>) -> Response {
    let Some(order) = sim.order_by_prepay_id(&q.prepay_id) else {
        return error_page(StatusCode::NOT_FOUND, "订单不存在或已过期");
    };
    if let Some(url) = &q.redirect_url {
        if !registered(&sim, url) {
            return error_page(
                StatusCode::FORBIDDEN,
                "商家参数格式有误，请联系商家解决（H5 支付域名未登记）",
            );
        }
    }
    let mut target = format!("{}/pay/{}", sim.0.settings.public_base, order.token);
    if let Some(url) = q.redirect_url {
        target.push_str("?redirect_url=");
        target.push_str(&url::form_urlencoded::byte_serialize(url.as_bytes()).collect::<String>());
    }
    Redirect::to(&target).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_payer_has_an_openid_per_app() {
        let app = dev_keys::WECHAT_APP_ID;
        let (usual, other) = (openid_for(app), openid_of(app, "other"));
        assert_ne!(usual, other);
        assert!(providers::wechat_oauth::valid_openid(&usual));
        assert!(is_openid_of(&usual, app) && is_openid_of(&other, app));
        assert!(
            !is_openid_of(&openid_for("wxAnotherApp"), app),
            "another app's"
        );
        assert!(!is_openid_of("oAnotherAppsPayer0000000000", app));
        assert!(!is_openid_of(&format!("{usual}0"), app), "too long");
    }
}
