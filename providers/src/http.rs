//! The HTTP client every provider uses.

use formpay_core::provider::ProviderError;
use std::time::Duration;

/// A response's body, refused once it passes `max` bytes (read as it comes,
/// never more than `max` held).
pub async fn body_capped(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, ProviderError> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(ProviderError::Malformed("the file is too large".into()));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ProviderError::Transport(e.without_url().to_string()))?
    {
        if bytes.len() + chunk.len() > max {
            return Err(ProviderError::Malformed("the file is too large".into()));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Timeouts, and no redirects (a provider's API never redirects; following
/// one could send a signed request to another host).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("formpay/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}
