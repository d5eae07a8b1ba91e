//! The API's one error vocabulary: every failure answers the documented body
//! `{"error": code, "message": text}` (field errors add `errors`), with the
//! status its code implies; the cause of an internal failure goes to the log,
//! never into the answer.

use super::{ErrorDto, FieldErrorDto, ValidationErrorDto};
use app::domain::form::AnswerError;
use app::ssr::pay::PayError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

/// Why an API call failed.
#[derive(Debug)]
pub enum ApiError {
    /// 404 `not_found`: "no such form", "no such order".
    NotFound(&'static str),
    /// 400 `malformed`, 415 when the body is not declared JSON.
    Malformed { status: StatusCode, message: String },
    /// 409 `unavailable`: the form does not take submissions.
    Unavailable(String),
    /// 403 `refused`: the address or phone number is on the blocklist.
    Blocked,
    /// 428 `challenge`: the form is under a burst; solve and submit again.
    Challenge { challenge: String, bits: u32 },
    /// 422 `invalid`, one entry per refused field.
    Invalid(BTreeMap<String, AnswerError>),
    /// 422 `channel_unavailable`: an unknown channel name.
    UnknownChannel,
    /// 429 `too_many_streams`, with `Retry-After`.
    TooManyStreams,
    /// What starting or checking a payment refused.
    Pay(PayError),
    /// 500 `internal`; logged, not shown.
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        ApiError::Internal(e)
    }
}

impl From<PayError> for ApiError {
    fn from(e: PayError) -> ApiError {
        ApiError::Pay(e)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        let status = match r {
            JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::Malformed {
            status,
            message: r.body_text(),
        }
    }
}

fn body(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(ErrorDto {
            error: code.into(),
            message: message.into(),
        }),
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::NotFound(what) => body(StatusCode::NOT_FOUND, "not_found", what),
            ApiError::Malformed { status, message } => body(status, "malformed", message),
            ApiError::Unavailable(m) => body(StatusCode::CONFLICT, "unavailable", m),
            ApiError::Blocked => body(
                StatusCode::FORBIDDEN,
                "refused",
                "this submission is refused".to_owned(),
            ),
            ApiError::Challenge { challenge, bits } => (
                StatusCode::PRECONDITION_REQUIRED,
                Json(super::ChallengeDto {
                    error: "challenge".into(),
                    message: format!(
                        "the form is receiving many submissions: find a nonce such that SHA-256 of \"challenge:nonce\" starts with {bits} zero bits, and send \"pow.solution\": \"challenge:nonce\" with the answers"
                    ),
                    challenge,
                    bits,
                }),
            )
                .into_response(),
            ApiError::Invalid(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(ValidationErrorDto {
                    error: "invalid".into(),
                    errors: field_errors(&errors),
                }),
            )
                .into_response(),
            ApiError::UnknownChannel => body(
                StatusCode::UNPROCESSABLE_ENTITY,
                "channel_unavailable",
                format!(
                    "channel is one of {}",
                    app::domain::Channel::ALL.map(|c| c.as_str()).join(", ")
                ),
            ),
            ApiError::TooManyStreams => {
                let mut resp = body(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_streams",
                    "too many live status streams are open; the page asks again by itself",
                );
                resp.headers_mut()
                    .insert("retry-after", HeaderValue::from_static("10"));
                resp
            }
            ApiError::Pay(e) => pay_error(e),
            ApiError::Internal(e) if crate::db_gate::is_database_unavailable(&e) => {
                tracing::warn!(error = %e, "api: the database is unreachable");
                crate::db_gate::unavailable()
            }
            ApiError::Internal(e) => {
                tracing::error!(error = ?e, "api failure");
                body(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "something went wrong; try again",
                )
            }
        }
    }
}

fn pay_error(e: PayError) -> Response {
    match e {
        PayError::NotFound => body(StatusCode::NOT_FOUND, "not_found", "no such order"),
        PayError::NotPayable(s) => body(
            StatusCode::CONFLICT,
            "not_payable",
            format!("the order is {s}"),
        ),
        PayError::Expired => body(StatusCode::CONFLICT, "expired", "the order has expired"),
        PayError::Busy => body(
            StatusCode::CONFLICT,
            "busy",
            "a payment of this order is being started; try again in a moment",
        ),
        PayError::NeedsOpenid => body(
            StatusCode::UNPROCESSABLE_ENTITY,
            "openid_required",
            "wechat_jsapi needs the payer's openid: send it, or let the payer sign in at /pay/{id}/wechat-login",
        ),
        PayError::PayerLimit(n) => body(
            StatusCode::CONFLICT,
            "payer_limit",
            format!("this WeChat account has reached the form's limit of {n} per payer"),
        ),
        PayError::ChannelUnavailable => body(
            StatusCode::UNPROCESSABLE_ENTITY,
            "channel_unavailable",
            "this payment method is not available",
        ),
        PayError::Provider(p) => {
            tracing::warn!(error = %p, "provider call failed");
            body(
                StatusCode::BAD_GATEWAY,
                "provider_error",
                "the payment provider did not answer as expected; try again",
            )
        }
        PayError::Account(why) => {
            tracing::error!(%why, "receiving account unusable");
            body(
                StatusCode::SERVICE_UNAVAILABLE,
                "account_unavailable",
                "the merchant's receiving account cannot be used; tell the organiser",
            )
        }
        PayError::Unexpected(e) => ApiError::Internal(e).into_response(),
    }
}

/// One entry per refused field, in key order.
pub fn field_errors(errors: &BTreeMap<String, AnswerError>) -> Vec<FieldErrorDto> {
    errors
        .iter()
        .map(|(field, e)| FieldErrorDto {
            field: field.clone(),
            code: e.code().into(),
            message: app::i18n::answer_error_text(app::i18n::Lang::Zh, e),
        })
        .collect()
}

/// A JSON body whose rejection is the documented error body, not axum's text.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(value) = Json::<T>::from_request(req, state).await?;
        Ok(ApiJson(value))
    }
}
