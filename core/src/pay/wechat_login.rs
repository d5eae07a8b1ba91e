//! Paying inside WeChat needs the payer's `openid` for the order's WeChat
//! app: learnt once through WeChat's silent OAuth and remembered in a signed
//! cookie ([`crate::payer`]). The round trip's `state` is signed and names
//! the order, so WeChat's answer can only come back to the order it was
//! asked for.

use super::{providers_of, PayError};
use crate::provider::ProviderError;
use crate::store::orders;
use crate::{now_ms, Core};
use domain::Provider;

/// Why a payer's WeChat login failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The `state` is not ours, was altered, or is too old.
    #[error("the login state is not ours or has expired")]
    BadState,
    /// The order's account cannot serve JSAPI (no official-account secret).
    #[error(transparent)]
    Pay(#[from] PayError),
    /// WeChat refused the code (used, expired, another app's) or answered badly.
    #[error("WeChat refused the login: {0}")]
    Provider(ProviderError),
}

/// Where to send the payer's browser to learn their openid for `order_id`'s
/// WeChat app; WeChat comes back to `redirect_uri`.
pub async fn wechat_login_url(
    state: &Core,
    order_id: &str,
    redirect_uri: &str,
) -> Result<String, PayError> {
    let order = orders::by_id(&state.db, order_id)
        .await?
        .ok_or(PayError::NotFound)?;
    let providers = providers_of(state, &order).await?;
    let identity = providers
        .for_provider(Provider::Wechat)
        .and_then(|p| p.payer_identity())
        .ok_or(PayError::ChannelUnavailable)?;
    let oauth_state = state
        .payer_seal
        .oauth_state(&order.id, now_ms())
        .ok_or(PayError::NotFound)?;
    Ok(identity.authorize_url(redirect_uri, &oauth_state))
}

/// WeChat came back with `code` and `state`: the order it was for, and the
/// signed cookie value that remembers the payer's openid.
#[tracing::instrument(name = "wechat_login", skip_all)]
pub async fn wechat_login_done(
    state: &Core,
    code: &str,
    oauth_state: &str,
) -> Result<(String, String), LoginError> {
    let order_id = state
        .payer_seal
        .check_oauth_state(oauth_state, now_ms())
        .ok_or(LoginError::BadState)?;
    let order = orders::by_id(&state.db, &order_id)
        .await
        .map_err(|e| LoginError::Pay(e.into()))?
        .ok_or(LoginError::Pay(PayError::NotFound))?;
    let providers = providers_of(state, &order).await?;
    let identity = providers
        .for_provider(Provider::Wechat)
        .and_then(|p| p.payer_identity())
        .ok_or(LoginError::Pay(PayError::ChannelUnavailable))?;
    let openid = identity.openid(code).await.map_err(LoginError::Provider)?;
    let cookie = state
        .payer_seal
        .seal_openid(identity.app_id(), &openid, now_ms())
        .ok_or_else(|| LoginError::Provider(ProviderError::Malformed("unusable openid".into())))?;
    Ok((order.id, cookie))
}

/// The payer's openid for the WeChat app of `order_id`'s account, from the
/// cookie: None when there is none, it is not ours, or it is another app's.
pub async fn remembered_openid(
    state: &Core,
    order_id: &str,
    cookie: Option<&str>,
) -> Option<String> {
    let cookie = cookie?;
    let order = orders::by_id(&state.db, order_id).await.ok()??;
    let providers = providers_of(state, &order).await.ok()?;
    let identity = providers
        .for_provider(Provider::Wechat)
        .and_then(|p| p.payer_identity())?;
    state
        .payer_seal
        .open_openid(cookie, identity.app_id(), now_ms())
}
