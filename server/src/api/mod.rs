//! The public JSON API (`/api/v1`), for integrators and tests, documented by
//! an OpenAPI document generated from these handlers.

mod error;

pub use error::{ApiError, ApiJson};

use app::domain::form::Availability;
use app::domain::{Channel, PayerBrowser, StatusEvent};
use app::ssr::forms;
use app::ssr::pay::{self, Answers, Submission};
use app::ssr::provider::PayAction;
use app::ssr::{orders, AppState};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;
use utoipa::{OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "formpay public API",
        version = "1",
        description = "Forms, submissions and payment orders. Amounts are integer fen; a payer-entered amount is sent as a yuan string such as \"12.34\"."
    ),
    paths(
        get_form,
        submit,
        get_order,
        start_pay,
        check_order,
        order_events,
        openapi_json
    ),
    components(schemas(
        PublicFormDto,
        ChannelName,
        SubmitRequest,
        SubmitResponse,
        OrderDto,
        FieldErrorDto,
        ValidationErrorDto,
        ChallengeDto,
        PayRequest,
        PayResponse,
        JsapiDto,
        ErrorDto
    ))
)]
pub struct ApiDoc;

#[derive(Serialize, ToSchema)]
pub struct ErrorDto {
    /// A stable code: not_found, unavailable, not_payable, expired, busy, channel_unavailable, provider_error, account_unavailable, rate_limited, too_many_streams, malformed, openid_required, internal.
    pub error: String,
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct PublicFormDto {
    pub slug: String,
    pub title: String,
    pub description: String,
    pub success_message: String,
    /// open, not_published, closed, not_yet_open, ended or full.
    pub availability: String,
    /// The fields: `{key, label, help, required, type, …}`; a payment field adds `mode` and its amounts in fen.
    #[schema(value_type = Vec<Object>)]
    pub fields: Vec<serde_json::Value>,
    /// The ways to pay that the form's receiving account serves and that fit
    /// the caller's browser (by its `User-Agent`), best first.
    pub channels: Vec<String>,
    /// What the form does with the answers (PIPL), to show before submitting;
    /// empty: none. When set, a submission must carry `"privacy.consent": true`.
    pub privacy_notice: String,
    /// Items with a stock (a payment field of mode `items`): how many are left, by item key.
    #[schema(value_type = Object)]
    pub stock_left: std::collections::BTreeMap<String, i64>,
}

fn availability_name(a: Availability) -> String {
    serde_json::to_value(a)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A published form.
#[utoipa::path(get, path = "/api/v1/forms/{slug}", params(("slug" = String, Path, description = "the form's link name")),
    responses((status = 200, body = PublicFormDto), (status = 404, body = ErrorDto), (status = 503, body = ErrorDto, description = "the database is briefly unavailable; see Retry-After")))]
pub async fn get_form(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Result<Json<PublicFormDto>, ApiError> {
    let f = forms::form_by_slug(&state.db, &slug)
        .await?
        .filter(|f| f.availability() != Availability::NotPublished)
        .ok_or(ApiError::NotFound("no such form"))?;
    let account = app::ssr::accounts::form_account(&state.db, &f.id).await?;
    let available = app::ssr::accounts::providers(&state, account.as_deref())
        .await
        .map(|p| p.channels())
        .unwrap_or_default();
    let browser = PayerBrowser::from_user_agent(
        headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    );
    let channels = browser
        .offer(&available)
        .into_iter()
        .map(|c| c.as_str().to_owned())
        .collect();
    let p = forms::public_view(&state.db, &f).await?;
    Ok(Json(PublicFormDto {
        slug: p.slug,
        title: p.title,
        description: p.description,
        success_message: p.success_message,
        privacy_notice: p.privacy_notice,
        stock_left: p.stock_left,
        availability: availability_name(p.availability),
        fields: p
            .fields
            .iter()
            .filter_map(|f| serde_json::to_value(f).ok())
            .collect(),
        channels,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct SubmitRequest {
    /// Field key → answer. Text fields take strings, numbers integers (or digit strings),
    /// choices an option key (multiple: an array), a payer-entered amount a yuan string,
    /// a priced option its key or `{"option": key, "quantity": n}`; several items
    /// `{item_key: quantity, …}` (the total is computed here); a drop-down an option
    /// key; a time `HH:MM`, a date-time Beijing local `YYYY-MM-DDTHH:MM`; an ID card number
    /// its 18 characters; a region the code of a district (6 digits; 9 for a town of a
    /// city without districts) or its three names (`广东省 深圳市 南山区`); a consent field `true`; a hidden field a string; a section
    /// heading nothing. While a form receives a burst of submissions, it answers 428 with a
    /// proof of work to solve and send as `"pow.solution"`. A form with a privacy notice (`privacy_notice` in the form) also
    /// needs `"privacy.consent": true`.
    #[schema(value_type = Object)]
    pub answers: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct OrderDto {
    /// Unguessable: use it in `/pay/{id}` and the order routes.
    pub id: String,
    pub out_trade_no: String,
    pub status: String,
    pub amount_fen: i64,
    /// Unix milliseconds after which the order can no longer be paid.
    pub expires_at: i64,
    pub channel: Option<String>,
    pub transaction_id: Option<String>,
    pub paid_at: Option<i64>,
    /// The payer's page and receipt.
    pub pay_url: String,
    pub receipt_url: String,
}

fn order_dto(o: &orders::OrderRecord) -> OrderDto {
    OrderDto {
        id: o.id.clone(),
        out_trade_no: o.out_trade_no.clone(),
        status: o.status.as_str().into(),
        amount_fen: o.amount.fen(),
        expires_at: o.expires_at,
        channel: o.channel.map(|c| c.as_str().to_owned()),
        transaction_id: o.transaction_id.clone(),
        paid_at: o.paid_at,
        pay_url: format!("/pay/{}", o.id),
        receipt_url: format!("/r/{}", o.receipt_token),
    }
}

#[derive(Serialize, ToSchema)]
pub struct SubmitResponse {
    pub submission_id: String,
    pub order: Option<OrderDto>,
}

#[derive(Serialize, ToSchema)]
pub struct FieldErrorDto {
    pub field: String,
    pub code: String,
    pub message: String,
}

/// A proof of work the form asks for while it receives a burst of submissions.
#[derive(Serialize, ToSchema)]
pub struct ChallengeDto {
    pub error: String,
    pub message: String,
    /// Send `"pow.solution": "<challenge>:<nonce>"` with the answers, where
    /// SHA-256 of `<challenge>:<nonce>` starts with `bits` zero bits.
    pub challenge: String,
    pub bits: u32,
}

#[derive(Serialize, ToSchema)]
pub struct ValidationErrorDto {
    pub error: String,
    pub errors: Vec<FieldErrorDto>,
}

/// Submits answers; creates the payment order when the form has a payment field.
#[utoipa::path(post, path = "/api/v1/forms/{slug}/submissions", request_body = SubmitRequest, params(("slug" = String, Path)),
    responses((status = 201, body = SubmitResponse), (status = 404, body = ErrorDto), (status = 409, body = ErrorDto, description = "closed, not yet open, ended or full"), (status = 403, body = ErrorDto, description = "the address or phone number is blocked"), (status = 428, body = ChallengeDto, description = "a burst of submissions: solve the proof of work and submit again"), (status = 422, body = ValidationErrorDto), (status = 400, body = ErrorDto, description = "a malformed body"), (status = 413, description = "a body larger than 64 KiB"), (status = 415, body = ErrorDto, description = "not application/json"), (status = 429, body = ErrorDto, description = "rate limited; see Retry-After"), (status = 503, body = ErrorDto, description = "the database is briefly unavailable; see Retry-After")))]
pub async fn submit(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<SubmitRequest>,
) -> Result<Response, ApiError> {
    let client = state.trusted_proxies.client_ip(addr.ip(), &headers);
    match pay::submit(&state, &slug, Answers::Json(&req.answers), Some(client)).await? {
        Submission::Stored {
            submission_id,
            order,
            ..
        } => Ok((
            StatusCode::CREATED,
            Json(SubmitResponse {
                submission_id,
                order: order.as_deref().map(order_dto),
            }),
        )
            .into_response()),
        Submission::NotFound => Err(ApiError::NotFound("no such form")),
        Submission::Unavailable(a) => Err(ApiError::Unavailable(format!(
            "the form does not take submissions: {}",
            availability_name(a)
        ))),
        Submission::Invalid(errors) => Err(ApiError::Invalid(errors)),
        Submission::Blocked => Err(ApiError::Blocked),
        Submission::Challenge { challenge, bits } => Err(ApiError::Challenge { challenge, bits }),
    }
}

/// An order's status.
#[utoipa::path(get, path = "/api/v1/orders/{id}", params(("id" = String, Path)), responses((status = 200, body = OrderDto), (status = 404, body = ErrorDto), (status = 503, body = ErrorDto, description = "the database is briefly unavailable; see Retry-After")))]
pub async fn get_order(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<OrderDto>, ApiError> {
    let o = orders::by_id(&state.db, &id)
        .await?
        .ok_or(ApiError::NotFound("no such order"))?;
    Ok(Json(order_dto(&o)))
}

#[derive(Deserialize, ToSchema)]
pub struct PayRequest {
    /// wechat_native, wechat_jsapi, wechat_h5, alipay_page, alipay_qr or alipay_wap.
    #[schema(value_type = ChannelName)]
    pub channel: String,
    /// wechat_jsapi: the payer's openid for the account's WeChat app id
    /// (otherwise taken from the payer's signed cookie after `/pay/{id}/wechat-login`).
    #[serde(default)]
    pub openid: Option<String>,
}

/// The ways to pay (`Channel`), as the API spells them.
#[derive(ToSchema)]
#[allow(dead_code)] // the document's enum; requests are parsed by `Channel`
#[schema(rename_all = "snake_case")]
pub enum ChannelName {
    WechatNative,
    WechatJsapi,
    WechatH5,
    AlipayPage,
    AlipayQr,
    AlipayWap,
}

/// What `WeixinJSBridge.invoke('getBrandWCPayRequest', …)` takes, signed by us.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JsapiDto {
    pub app_id: String,
    /// Unix seconds, as a string.
    pub time_stamp: String,
    pub nonce_str: String,
    /// `prepay_id=…`.
    pub package: String,
    /// `RSA` (API v3) or `MD5` / `HMAC-SHA256` (API v2).
    pub sign_type: String,
    pub pay_sign: String,
}

#[derive(Serialize, ToSchema)]
pub struct PayResponse {
    pub channel: String,
    /// qr_code (show `qr_code` as a QR code), redirect (send the browser to
    /// `redirect_url`: Alipay's cashier, WeChat H5's page) or jsapi (pass
    /// `jsapi` to `getBrandWCPayRequest` inside WeChat).
    pub kind: String,
    pub qr_code: Option<String>,
    pub redirect_url: Option<String>,
    pub jsapi: Option<JsapiDto>,
    pub expires_at: i64,
}

/// Starts paying an order through a channel: answers the QR content or the cashier URL.
#[utoipa::path(post, path = "/api/v1/orders/{id}/pay", request_body = PayRequest, params(("id" = String, Path)),
    responses((status = 200, body = PayResponse), (status = 404, body = ErrorDto), (status = 409, body = ErrorDto), (status = 422, body = ErrorDto), (status = 502, body = ErrorDto), (status = 400, body = ErrorDto, description = "a malformed body"), (status = 413, description = "a body larger than 64 KiB"), (status = 415, body = ErrorDto, description = "not application/json"), (status = 429, body = ErrorDto, description = "rate limited; see Retry-After"), (status = 503, body = ErrorDto, description = "the database is briefly unavailable; see Retry-After")))]
pub async fn start_pay(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<PayRequest>,
) -> Result<Json<PayResponse>, ApiError> {
    let channel = Channel::parse(&req.channel).ok_or(ApiError::UnknownChannel)?;
    let client = state.trusted_proxies.client_ip(addr.ip(), &headers);
    let openid = match req.openid {
        Some(o) if providers::wechat_oauth::valid_openid(&o) => Some(o),
        Some(_) => {
            return Err(ApiError::Malformed {
                status: StatusCode::BAD_REQUEST,
                message: "openid is not an openid".into(),
            })
        }
        None if channel == Channel::WechatJsapi => {
            let cookie = app::ssr::payer::cookie(&headers, app::ssr::payer::OPENID_COOKIE);
            pay::remembered_openid(&state, &id, cookie).await
        }
        None => None,
    };
    let payer = pay::Payer {
        client_ip: Some(client.to_string()),
        openid,
    };
    let start = pay::start_payment(&state, &id, channel, payer).await?;
    let (kind, qr, url, jsapi) = match start.action {
        PayAction::QrCode(q) => ("qr_code", Some(q), None, None),
        PayAction::Redirect(u) => ("redirect", None, Some(u), None),
        PayAction::Jsapi(p) => (
            "jsapi",
            None,
            None,
            Some(JsapiDto {
                app_id: p.app_id,
                time_stamp: p.time_stamp,
                nonce_str: p.nonce_str,
                package: p.package,
                sign_type: p.sign_type,
                pay_sign: p.pay_sign,
            }),
        ),
    };
    Ok(Json(PayResponse {
        channel: start.channel.as_str().into(),
        kind: kind.into(),
        qr_code: qr,
        redirect_url: url,
        jsapi,
        expires_at: start.expires_at,
    }))
}

/// "I have paid": asks the provider now and answers the order as it then is.
#[utoipa::path(post, path = "/api/v1/orders/{id}/check", params(("id" = String, Path)), responses((status = 200, body = OrderDto), (status = 404, body = ErrorDto), (status = 502, body = ErrorDto), (status = 429, body = ErrorDto, description = "rate limited; see Retry-After"), (status = 503, body = ErrorDto, description = "the database is briefly unavailable; see Retry-After")))]
pub async fn check_order(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<OrderDto>, ApiError> {
    let order = orders::by_id(&state.db, &id)
        .await?
        .ok_or(ApiError::NotFound("no such order"))?;
    pay::check_for_payer(&state, &order).await?;
    get_order(State(state), Path(id)).await
}

fn status_event(o: &orders::OrderRecord) -> Event {
    let data = StatusEvent {
        status: o.status,
        amount_fen: o.amount.fen(),
        paid_at: o.paid_at,
        receipt_url: format!("/r/{}", o.receipt_token),
    };
    Event::default()
        .event(StatusEvent::NAME)
        .id(o.updated_at.to_string())
        .json_data(&data)
        .unwrap_or_else(|_| Event::default().comment("unencodable"))
}

/// Server-sent events: the current status at once, then each change; ends at a final state.
#[utoipa::path(get, path = "/api/v1/orders/{id}/events", params(("id" = String, Path)),
    responses((status = 200, content_type = "text/event-stream", description = "`event: status` with `{\"status\", \"amount_fen\", \"paid_at\", \"receipt_url\"}`; a comment heartbeat every 15 s"), (status = 404, body = ErrorDto), (status = 429, body = ErrorDto, description = "too many streams open from this address, or in all"), (status = 503, body = ErrorDto, description = "the database is briefly unavailable; see Retry-After")))]
pub async fn order_events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let client = state.trusted_proxies.client_ip(addr.ip(), &headers);
    let permit = state
        .streams
        .try_open(client)
        .ok_or(ApiError::TooManyStreams)?;
    // Subscribe before reading, so no change can slip between the two.
    let mut changes = state.hub.subscribe(&id);
    let order = orders::by_id(&state.db, &id)
        .await?
        .ok_or(ApiError::NotFound("no such order"))?;
    let last_seen: Option<i64> = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let db = state.db.clone();
    let stream = async_stream::stream! {
        // Held while the stream is open: its place under the caps.
        let _permit = permit;
        let mut version = order.updated_at;
        // A reconnect that already saw this version gets nothing new until a change.
        if last_seen != Some(order.updated_at) {
            yield Ok::<Event, std::convert::Infallible>(status_event(&order));
        }
        if order.status.is_final_for_payer() {
            return;
        }
        // Only this order's changes wake this stream; several changes while
        // it reads are one wake-up, answered with the order as it is now.
        let mut heard = version;
        while let Some(announced) = changes.newer_than(heard).await {
            heard = announced;
            if let Ok(Some(now)) = orders::by_id(&db, &order.id).await {
                if now.updated_at > version {
                    version = now.updated_at;
                    yield Ok(status_event(&now));
                    if now.status.is_final_for_payer() {
                        return;
                    }
                }
            }
        }
    };
    Ok(Sse::new(stream)
        .keep_alive(
            KeepAlive::new()
                .interval(Duration::from_secs(15))
                .text("heartbeat"),
        )
        .into_response())
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", responses((status = 200, description = "OpenAPI 3 document")))]
pub async fn openapi_json() -> Response {
    Json(ApiDoc::openapi()).into_response()
}
