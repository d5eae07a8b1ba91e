//! WeChat Pay API v2 (XML, MD5 / HMAC-SHA256), as the provider side.

use super::{dev_keys, new_token, transaction_id, SimOrder, SimProvider, SimState, Simulator};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use providers::crypto::random_nonce;
use providers::wechat_v2::{parse_xml, sign, to_xml, verify, SignType};
use std::collections::BTreeMap;

fn xml(fields: BTreeMap<String, String>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        to_xml(&fields),
    )
        .into_response()
}

fn fail(msg: &str) -> Response {
    xml([
        ("return_code".to_owned(), "FAIL".to_owned()),
        ("return_msg".to_owned(), msg.to_owned()),
    ]
    .into_iter()
    .collect())
}

/// A signed answer: return_code SUCCESS, and result_code SUCCESS or the error.
fn answer(
    sign_type: SignType,
    mut f: BTreeMap<String, String>,
    err: Option<(&str, &str)>,
) -> Response {
    f.insert("return_code".into(), "SUCCESS".into());
    f.insert("return_msg".into(), "OK".into());
    f.insert("appid".into(), dev_keys::WECHAT_APP_ID.into());
    f.insert("mch_id".into(), dev_keys::WECHAT_MCH_ID.into());
    f.insert("nonce_str".into(), random_nonce(16));
    match err {
        None => {
            f.insert("result_code".into(), "SUCCESS".into());
        }
        Some((code, des)) => {
            f.insert("result_code".into(), "FAIL".into());
            f.insert("err_code".into(), code.into());
            f.insert("err_code_des".into(), des.into());
        }
    }
    if sign_type == SignType::HmacSha256 {
        f.insert("sign_type".into(), "HMAC-SHA256".into());
    }
    let s = sign(&f, dev_keys::WECHAT_V2_KEY, sign_type);
    f.insert("sign".into(), s);
    xml(f)
}

/// Checks the merchant's signature; answers v2's own failure otherwise.
fn authenticate(body: &[u8]) -> Result<(BTreeMap<String, String>, SignType), Response> {
    let fields = match parse_xml(body) {
        Ok(f) => f,
        Err(e) => return Err(fail(&format!("XML格式错误: {e}"))),
    };
    let Some(sign_type) = SignType::parse(fields.get("sign_type").map(String::as_str)) else {
        return Err(fail("签名类型错误"));
    };
    if fields.get("mch_id").map(String::as_str) != Some(dev_keys::WECHAT_MCH_ID)
        || fields.get("appid").map(String::as_str) != Some(dev_keys::WECHAT_APP_ID)
    {
        return Err(fail("appid和mch_id不匹配"));
    }
    if verify(body, dev_keys::WECHAT_V2_KEY, None).is_err() {
        return Err(fail("签名错误"));
    }
    Ok((fields, sign_type))
}

pub(super) fn order_fields(o: &SimOrder) -> BTreeMap<String, String> {
    let mut f = BTreeMap::new();
    f.insert("out_trade_no".to_owned(), o.out_trade_no.clone());
    f.insert("total_fee".to_owned(), o.amount_fen.to_string());
    f.insert("trade_type".to_owned(), o.trade_type.to_owned());
    f.insert("fee_type".to_owned(), "CNY".to_owned());
    if o.state == SimState::Paid {
        f.insert("transaction_id".to_owned(), o.transaction_id.clone());
        f.insert(
            "openid".to_owned(),
            o.openid
                .clone()
                .unwrap_or_else(|| super::phone::openid_for(super::dev_keys::WECHAT_APP_ID)),
        );
        f.insert("bank_type".to_owned(), "OTHERS".to_owned());
        f.insert("cash_fee".to_owned(), o.amount_fen.to_string());
        if let Some(p) = o.paid_at_ms {
            let t = providers::time::beijing_rfc3339(p).replace(['-', ':', 'T'], "");
            f.insert("time_end".to_owned(), t.chars().take(14).collect());
        }
    }
    f
}

/// The XML callback of a paid v2 order, signed with the v2 key.
pub(super) fn notify_xml(o: &SimOrder) -> String {
    let mut f = order_fields(o);
    f.insert("return_code".into(), "SUCCESS".into());
    f.insert("result_code".into(), "SUCCESS".into());
    f.insert("appid".into(), dev_keys::WECHAT_APP_ID.into());
    f.insert("mch_id".into(), dev_keys::WECHAT_MCH_ID.into());
    f.insert("nonce_str".into(), random_nonce(16));
    f.insert("sign_type".into(), "HMAC-SHA256".into());
    let s = sign(&f, dev_keys::WECHAT_V2_KEY, SignType::HmacSha256);
    f.insert("sign".into(), s);
    to_xml(&f)
}

pub async fn unified_order(State(sim): State<Simulator>, body: Bytes) -> Response {
    let (f, st) = match authenticate(&body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let no = get("out_trade_no");
    let Ok(amount) = get("total_fee").parse::<i64>() else {
        return answer(
            st,
            BTreeMap::new(),
            Some(("PARAM_ERROR", "total_fee 格式错误")),
        );
    };
    let trade_type: &'static str = match get("trade_type").as_str() {
        "NATIVE" => "NATIVE",
        "JSAPI" => "JSAPI",
        "MWEB" => "MWEB",
        _ => {
            return answer(
                st,
                BTreeMap::new(),
                Some(("PARAM_ERROR", "trade_type 参数错误")),
            )
        }
    };
    if amount < 1 || domain::OutTradeNo::parse(&no).is_err() {
        return answer(st, BTreeMap::new(), Some(("PARAM_ERROR", "参数错误")));
    }
    let openid = (trade_type == "JSAPI").then(|| get("openid"));
    if let Some(o) = &openid {
        if !super::phone::is_openid_of(o, &get("appid")) {
            return answer(
                st,
                BTreeMap::new(),
                Some(("PARAM_ERROR", "appid和openid不匹配")),
            );
        }
    }
    if trade_type == "MWEB" && !get("scene_info").contains("h5_info") {
        return answer(
            st,
            BTreeMap::new(),
            Some(("PARAM_ERROR", "缺少参数 scene_info")),
        );
    }
    let token = match sim.order(SimProvider::Wechat, &no) {
        Some(o) if o.state == SimState::Paid => {
            return answer(st, BTreeMap::new(), Some(("ORDERPAID", "该订单已支付")))
        }
        Some(o) if o.state == SimState::Closed => {
            return answer(st, BTreeMap::new(), Some(("ORDERCLOSED", "该订单已关闭")))
        }
        Some(o) => o.token,
        None => {
            let order = SimOrder {
                provider: SimProvider::Wechat,
                wechat_v2: true,
                token: new_token(),
                out_trade_no: no.clone(),
                amount_fen: amount,
                subject: get("body"),
                notify_url: get("notify_url"),
                return_url: None,
                state: SimState::NotPaid,
                transaction_id: transaction_id("4200"),
                created_at_ms: formpay_core::now_ms(),
                expires_at_ms: None,
                paid_at_ms: None,
                refunded_fen: 0,
                trade_type,
                openid,
                quit_url: None,
            };
            let t = order.token.clone();
            sim.insert(order);
            t
        }
    };
    let mut out = BTreeMap::new();
    out.insert("trade_type".to_owned(), trade_type.to_owned());
    out.insert("prepay_id".to_owned(), super::prepay_id_of(&token));
    match trade_type {
        "NATIVE" => {
            out.insert("code_url".to_owned(), sim.payer_url(&token));
        }
        "MWEB" => {
            out.insert(
                "mweb_url".to_owned(),
                format!(
                    "{}/wechat/h5?prepay_id={}",
                    sim.0.settings.public_base.trim_end_matches('/'),
                    super::prepay_id_of(&token)
                ),
            );
        }
        _ => {}
    }
    answer(st, out, None)
}

pub async fn order_query(State(sim): State<Simulator>, body: Bytes) -> Response {
    let (f, st) = match authenticate(&body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    sim.count_query();
    let no = f.get("out_trade_no").cloned().unwrap_or_default();
    match sim.order(SimProvider::Wechat, &no) {
        None => answer(
            st,
            BTreeMap::new(),
            Some(("ORDERNOTEXIST", "此交易订单号不存在")),
        ),
        Some(o) => {
            let mut out = order_fields(&o);
            let state = match o.state {
                SimState::NotPaid => "NOTPAY",
                SimState::Paid => "SUCCESS",
                SimState::Closed => "CLOSED",
            };
            out.insert("trade_state".into(), state.into());
            answer(st, out, None)
        }
    }
}

pub async fn close_order(State(sim): State<Simulator>, body: Bytes) -> Response {
    let (f, st) = match authenticate(&body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let no = f.get("out_trade_no").cloned().unwrap_or_default();
    match sim.close(SimProvider::Wechat, &no) {
        Ok(()) => answer(st, BTreeMap::new(), None),
        Err("no such order") => answer(st, BTreeMap::new(), Some(("ORDERNOTEXIST", "订单不存在"))),
        Err(_) => answer(st, BTreeMap::new(), Some(("ORDERPAID", "订单已支付"))),
    }
}
