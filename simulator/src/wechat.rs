//! WeChat Pay API v3, as the provider side: checks our signatures, keeps
//! orders, signs every answer.

use super::{dev_keys, new_token, transaction_id, SimOrder, SimProvider, SimState, Simulator};
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use providers::crypto::{aes_gcm_encrypt, random_nonce, SignMessage, VerifySignature};
use providers::wechat_v3::parse_authorization;
use providers::wechat_v3::transformers as wire;

pub(super) fn now_secs() -> i64 {
    formpay_core::now_ms() / 1000
}

/// Answers signed the way WeChat Pay signs: `ts\nnonce\nbody\n`, SHA256withRSA.
pub(super) fn signed(sim: &Simulator, status: StatusCode, body: String, serial: &str) -> Response {
    let ts = now_secs().to_string();
    let nonce = random_nonce(32);
    let message = format!("{ts}\n{nonce}\n{body}\n");
    let signature = sim
        .0
        .wechat_platform
        .sign_base64(message.as_bytes())
        .unwrap_or_default();
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    for (name, value) in [
        ("wechatpay-timestamp", ts),
        ("wechatpay-nonce", nonce),
        ("wechatpay-signature", signature),
        ("wechatpay-serial", serial.to_owned()),
        ("request-id", new_token()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    h.insert("content-type", HeaderValue::from_static("application/json"));
    response
}

pub(super) fn error(
    sim: &Simulator,
    status: StatusCode,
    code: &str,
    message: &str,
    serial: &str,
) -> Response {
    signed(
        sim,
        status,
        serde_json::json!({"code": code, "message": message}).to_string(),
        serial,
    )
}

/// The serial we answer with: the public key id if the merchant uses that mode.
pub(super) fn answer_serial(headers: &HeaderMap) -> String {
    match headers
        .get("wechatpay-serial")
        .and_then(|v| v.to_str().ok())
    {
        Some(s) if s.starts_with("PUB_KEY_ID_") => dev_keys::WECHAT_PUBLIC_KEY_ID.to_owned(),
        _ => dev_keys::WECHAT_PLATFORM_CERT_SERIAL.to_owned(),
    }
}

/// Checks the merchant's `WECHATPAY2-SHA256-RSA2048` signature over exactly
/// what was received; answers WeChat Pay's own errors when it is wrong.
pub(super) fn authenticate(
    sim: &Simulator,
    method: &Method,
    uri: &OriginalUri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, Response> {
    let serial = answer_serial(headers);
    let sign_error = |msg: &str| {
        Err(error(
            sim,
            StatusCode::UNAUTHORIZED,
            "SIGN_ERROR",
            msg,
            &serial,
        ))
    };
    let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return sign_error("Authorization 不合法（缺少签名信息）");
    };
    let Some(fields) = parse_authorization(auth) else {
        return sign_error("Authorization 格式错误");
    };
    if fields.mch_id != dev_keys::WECHAT_MCH_ID {
        return sign_error("商户号与签名不匹配");
    }
    if !fields
        .serial_no
        .eq_ignore_ascii_case(dev_keys::WECHAT_MERCHANT_SERIAL)
    {
        return sign_error("商户证书序列号有误");
    }
    let Ok(ts) = fields.timestamp.parse::<i64>() else {
        return sign_error("timestamp 格式错误");
    };
    if (now_secs() - ts).abs() >= 300 {
        return sign_error("请求已过期（时间戳与服务器时间相差超过5分钟）");
    }
    let path = uri.0.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let body_text = String::from_utf8_lossy(body);
    let message = format!(
        "{method}\n{path}\n{}\n{}\n{body_text}\n",
        fields.timestamp, fields.nonce
    );
    if sim
        .0
        .wechat_merchant
        .verify_base64(message.as_bytes(), &fields.signature)
        .is_err()
    {
        return sign_error("签名错误");
    }
    Ok(serial)
}

pub(super) fn parse_json<T: serde::de::DeserializeOwned>(
    sim: &Simulator,
    body: &[u8],
    serial: &str,
) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| {
        error(
            sim,
            StatusCode::BAD_REQUEST,
            "PARAM_ERROR",
            &format!("请求参数格式错误: {e}"),
            serial,
        )
    })
}

pub(crate) fn rfc3339(ms: i64) -> String {
    providers::time::beijing_rfc3339(ms)
}

fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

pub(super) fn transaction_json(o: &SimOrder) -> wire::Transaction {
    let state = match o.state {
        SimState::NotPaid => wire::TradeState::Notpay,
        SimState::Closed => wire::TradeState::Closed,
        SimState::Paid if o.refunded_fen > 0 => wire::TradeState::Refund,
        SimState::Paid => wire::TradeState::Success,
    };
    let paid = o.state == SimState::Paid;
    wire::Transaction {
        appid: dev_keys::WECHAT_APP_ID.into(),
        mchid: dev_keys::WECHAT_MCH_ID.into(),
        out_trade_no: o.out_trade_no.clone(),
        transaction_id: paid.then(|| o.transaction_id.clone()),
        trade_type: Some(o.trade_type.into()),
        trade_state: state,
        trade_state_desc: match o.state {
            SimState::NotPaid => "订单未支付".into(),
            SimState::Closed => "订单已关闭".into(),
            SimState::Paid => "支付成功".into(),
        },
        success_time: o.paid_at_ms.filter(|_| paid).map(rfc3339),
        payer: paid.then(|| wire::Payer {
            openid: Some(
                o.openid
                    .clone()
                    .unwrap_or_else(|| super::phone::openid_for(dev_keys::WECHAT_APP_ID)),
            ),
        }),
        attach: None,
        amount: wire::Amount {
            total: o.amount_fen,
            currency: "CNY".into(),
            payer_total: paid.then_some(o.amount_fen),
        },
    }
}

/// Which order endpoint was called.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Native,
    Jsapi,
    H5,
}

impl Mode {
    fn trade_type(self) -> &'static str {
        match self {
            Mode::Native => "NATIVE",
            Mode::Jsapi => "JSAPI",
            Mode::H5 => "MWEB",
        }
    }

    /// What the endpoint answers for an order: the QR content, the pay
    /// sheet's prepay id, or the H5 cashier's URL.
    fn answer(self, sim: &Simulator, token: &str) -> serde_json::Value {
        match self {
            Mode::Native => serde_json::json!({"code_url": sim.payer_url(token)}),
            Mode::Jsapi => serde_json::json!({"prepay_id": super::prepay_id_of(token)}),
            Mode::H5 => serde_json::json!({"h5_url": format!(
                "{}/wechat/h5?prepay_id={}",
                sim.0.settings.public_base.trim_end_matches('/'),
                super::prepay_id_of(token)
            )}),
        }
    }
}

pub async fn native_order(
    State(sim): State<Simulator>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    create_order(sim, method, uri, headers, body, Mode::Native)
}

/// `POST /v3/pay/transactions/jsapi`: `payer.openid` must be the payer's
/// openid for this app id.
pub async fn jsapi_order(
    State(sim): State<Simulator>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    create_order(sim, method, uri, headers, body, Mode::Jsapi)
}

/// `POST /v3/pay/transactions/h5`: `scene_info` with the payer's address and
/// `h5_info.type`.
pub async fn h5_order(
    State(sim): State<Simulator>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    create_order(sim, method, uri, headers, body, Mode::H5)
}

fn create_order(
    sim: Simulator,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
    mode: Mode,
) -> Response {
    let serial = match authenticate(&sim, &method, &uri, &headers, &body) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let req: wire::NativeOrderRequest = match parse_json(&sim, &body, &serial) {
        Ok(r) => r,
        Err(r) => return r,
    };
    if req.mchid != dev_keys::WECHAT_MCH_ID || req.appid != dev_keys::WECHAT_APP_ID {
        return error(
            &sim,
            StatusCode::BAD_REQUEST,
            "PARAM_ERROR",
            "appid和mch_id不匹配",
            &serial,
        );
    }
    if domain::OutTradeNo::parse(&req.out_trade_no).is_err() {
        return error(
            &sim,
            StatusCode::BAD_REQUEST,
            "PARAM_ERROR",
            "out_trade_no 格式错误",
            &serial,
        );
    }
    if req.amount.total < 1 || req.amount.currency != "CNY" {
        return error(
            &sim,
            StatusCode::BAD_REQUEST,
            "PARAM_ERROR",
            "amount.total 必须为正整数（分）",
            &serial,
        );
    }
    if req.description.chars().count() > 127 || req.notify_url.contains('?') {
        return error(
            &sim,
            StatusCode::BAD_REQUEST,
            "PARAM_ERROR",
            "description 或 notify_url 不合法",
            &serial,
        );
    }
    let openid = match (mode, &req.payer) {
        (Mode::Jsapi, Some(p)) if super::phone::is_openid_of(&p.openid, &req.appid) => {
            Some(p.openid.clone())
        }
        (Mode::Jsapi, Some(_)) => {
            return error(
                &sim,
                StatusCode::BAD_REQUEST,
                "PARAM_ERROR",
                "appid和openid不匹配",
                &serial,
            )
        }
        (Mode::Jsapi, None) => {
            return error(
                &sim,
                StatusCode::BAD_REQUEST,
                "PARAM_ERROR",
                "缺少参数 payer.openid",
                &serial,
            )
        }
        _ => None,
    };
    if mode == Mode::H5
        && !req
            .scene_info
            .as_ref()
            .is_some_and(|s| !s.payer_client_ip.is_empty() && s.h5_info.is_some())
    {
        return error(
            &sim,
            StatusCode::BAD_REQUEST,
            "PARAM_ERROR",
            "缺少参数 scene_info.payer_client_ip 或 scene_info.h5_info",
            &serial,
        );
    }
    let expires_at_ms = match req.time_expire.as_deref().map(parse_rfc3339_ms) {
        Some(None) => {
            return error(
                &sim,
                StatusCode::BAD_REQUEST,
                "PARAM_ERROR",
                "time_expire 格式错误",
                &serial,
            )
        }
        Some(Some(t)) => Some(t),
        None => None,
    };
    if let Some(existing) = sim.order(SimProvider::Wechat, &req.out_trade_no) {
        return match existing.state {
            SimState::Paid => error(
                &sim,
                StatusCode::BAD_REQUEST,
                "ORDERPAID",
                "该订单已支付",
                &serial,
            ),
            SimState::Closed => error(
                &sim,
                StatusCode::BAD_REQUEST,
                "ORDERCLOSED",
                "该订单已关闭",
                &serial,
            ),
            SimState::NotPaid if existing.amount_fen != req.amount.total => error(
                &sim,
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "201 商户订单号重复",
                &serial,
            ),
            SimState::NotPaid => signed(
                &sim,
                StatusCode::OK,
                mode.answer(&sim, &existing.token).to_string(),
                &serial,
            ),
        };
    }
    let order = SimOrder {
        provider: SimProvider::Wechat,
        wechat_v2: false,
        token: new_token(),
        out_trade_no: req.out_trade_no,
        amount_fen: req.amount.total,
        subject: req.description,
        notify_url: req.notify_url,
        return_url: None,
        state: SimState::NotPaid,
        transaction_id: transaction_id("4200"),
        created_at_ms: formpay_core::now_ms(),
        expires_at_ms,
        paid_at_ms: None,
        refunded_fen: 0,
        trade_type: mode.trade_type(),
        openid,
        quit_url: None,
    };
    let answer = mode.answer(&sim, &order.token);
    if req.settle_info.is_some_and(|s| s.profit_sharing) {
        sim.open_to_sharing(&order.out_trade_no);
    }
    sim.insert(order);
    signed(&sim, StatusCode::OK, answer.to_string(), &serial)
}

pub async fn query(
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
    sim.count_query();
    if !uri
        .0
        .query()
        .unwrap_or("")
        .split('&')
        .any(|kv| kv == format!("mchid={}", dev_keys::WECHAT_MCH_ID))
    {
        return error(
            &sim,
            StatusCode::BAD_REQUEST,
            "PARAM_ERROR",
            "缺少或错误的 mchid",
            &serial,
        );
    }
    match sim.order(SimProvider::Wechat, &no) {
        Some(o) => signed(
            &sim,
            StatusCode::OK,
            serde_json::to_string(&transaction_json(&o)).unwrap_or_default(),
            &serial,
        ),
        None => error(
            &sim,
            StatusCode::NOT_FOUND,
            "ORDER_NOT_EXIST",
            "订单不存在",
            &serial,
        ),
    }
}

pub async fn close(
    State(sim): State<Simulator>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    Path(no): Path<String>,
    body: Bytes,
) -> Response {
    let serial = match authenticate(&sim, &method, &uri, &headers, &body) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let req: wire::CloseRequest = match parse_json(&sim, &body, &serial) {
        Ok(r) => r,
        Err(r) => return r,
    };
    if req.mchid != dev_keys::WECHAT_MCH_ID {
        return error(
            &sim,
            StatusCode::BAD_REQUEST,
            "PARAM_ERROR",
            "mchid 不匹配",
            &serial,
        );
    }
    match sim.close(SimProvider::Wechat, &no) {
        Ok(()) => signed(&sim, StatusCode::NO_CONTENT, String::new(), &serial),
        Err("no such order") => error(
            &sim,
            StatusCode::NOT_FOUND,
            "ORDER_NOT_EXIST",
            "订单不存在",
            &serial,
        ),
        Err(_) => error(
            &sim,
            StatusCode::BAD_REQUEST,
            "ORDERPAID",
            "订单已支付，不能关闭",
            &serial,
        ),
    }
}

pub async fn certificates(
    State(sim): State<Simulator>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authenticate(&sim, &method, &uri, &headers, b"") {
        return r;
    }
    let nonce = random_nonce(12);
    let Ok(ciphertext) = aes_gcm_encrypt(
        dev_keys::WECHAT_APIV3_KEY.as_bytes(),
        nonce.as_bytes(),
        b"certificate",
        dev_keys::WECHAT_PLATFORM_CERT.as_bytes(),
    ) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let body = serde_json::json!({"data": [{
        "serial_no": dev_keys::WECHAT_PLATFORM_CERT_SERIAL,
        "effective_time": "2026-01-01T00:00:00+08:00",
        "expire_time": "2046-01-01T00:00:00+08:00",
        "encrypt_certificate": {"algorithm": "AEAD_AES_256_GCM", "nonce": nonce, "associated_data": "certificate", "ciphertext": ciphertext}
    }]});
    signed(
        &sim,
        StatusCode::OK,
        body.to_string(),
        dev_keys::WECHAT_PLATFORM_CERT_SERIAL,
    )
}
