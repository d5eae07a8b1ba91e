//! The form POST that works without JavaScript: the same validation and
//! storage as the hydrated page, answered with a redirect.

use app::pages::form_page::SubmitOutcome;
use app::ssr::pay::{self, Answers};
use app::ssr::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

pub async fn submit(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    axum::extract::ConnectInfo(addr): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let client = state.trusted_proxies.client_ip(addr.ip(), &headers);
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let slug_path = url::form_urlencoded::byte_serialize(slug.as_bytes()).collect::<String>();
    match pay::submit(&state, &slug, Answers::FormPairs(&pairs), Some(client))
        .await
        .map(SubmitOutcome::from)
    {
        Ok(SubmitOutcome::Pay { order_id }) => {
            Redirect::to(&format!("/pay/{order_id}")).into_response()
        }
        Ok(SubmitOutcome::Done { .. }) => {
            Redirect::to(&format!("/f/{slug_path}?submitted=1")).into_response()
        }
        Ok(SubmitOutcome::Invalid { errors }) => {
            let keys: Vec<String> = errors
                .keys()
                .map(|k| url::form_urlencoded::byte_serialize(k.as_bytes()).collect())
                .collect();
            Redirect::to(&format!("/f/{slug_path}?invalid={}", keys.join(","))).into_response()
        }
        Ok(SubmitOutcome::Unavailable { .. }) => {
            Redirect::to(&format!("/f/{slug_path}")).into_response()
        }
        Ok(SubmitOutcome::NotFound) => (StatusCode::NOT_FOUND, "no such form").into_response(),
        Ok(SubmitOutcome::Challenge { .. }) => (
            StatusCode::TOO_MANY_REQUESTS,
            "表单正在接收大量提交，请开启 JavaScript 后重试 · the form is receiving many submissions; try again with JavaScript on",
        )
            .into_response(),
        Ok(SubmitOutcome::Blocked) => (
            StatusCode::FORBIDDEN,
            "无法提交 · this submission is refused",
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = ?e, "cannot store the submission");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "暂时无法保存提交，请稍后再试 · the submission cannot be saved right now; try again",
            )
                .into_response()
        }
    }
}
