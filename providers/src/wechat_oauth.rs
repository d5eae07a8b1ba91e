//! WeChat's web OAuth (`snsapi_base`, silent): how a page opened inside
//! WeChat learns the payer's `openid` for our app id, which a JSAPI order
//! needs. Shared by the v3 and v2 clients; it needs the official account's
//! secret (`WECHAT_APP_SECRET`).
//!
//! 1. Send the browser to `{oauth_base}/connect/oauth2/authorize?appid=…&redirect_uri=…&response_type=code&scope=snsapi_base&state=…#wechat_redirect`.
//! 2. WeChat comes back to `redirect_uri?code=…&state=…`.
//! 3. Exchange: `GET {mp_api_base}/sns/oauth2/access_token?appid=…&secret=…&code=…&grant_type=authorization_code`
//!    → `{"access_token","expires_in","refresh_token","openid","scope"}` or `{"errcode","errmsg"}`.
//!
//! A code is single-use and short-lived; the openid belongs to the app id.

use formpay_core::payment_log::{LogEntry, PaymentLog};
use formpay_core::provider::ProviderError;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

/// WeChat's authorize host.
pub const OAUTH_BASE: &str = "https://open.weixin.qq.com";
/// The official accounts' API host (the code exchange).
pub const MP_API_BASE: &str = "https://api.weixin.qq.com";

/// The longest `code` we pass on (WeChat's are 32 characters).
const MAX_CODE: usize = 128;

pub struct WechatOauth {
    http: reqwest::Client,
    oauth_base: Url,
    mp_api_base: Url,
    app_id: String,
    secret: SecretString,
    log: PaymentLog,
}

/// The exchange's answer: a success or WeChat's error, never both.
#[derive(Debug, Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    openid: Option<String>,
    #[serde(default)]
    errcode: Option<i64>,
    #[serde(default)]
    errmsg: Option<String>,
}

impl WechatOauth {
    pub fn new(
        oauth_base: Url,
        mp_api_base: Url,
        app_id: String,
        secret: SecretString,
        log: PaymentLog,
    ) -> WechatOauth {
        // Paths are joined below the bases (the simulator lives under a path).
        let slash = |mut u: Url| {
            if !u.path().ends_with('/') {
                let p = format!("{}/", u.path());
                u.set_path(&p);
            }
            u
        };
        WechatOauth {
            http: crate::http::client(),
            oauth_base: slash(oauth_base),
            mp_api_base: slash(mp_api_base),
            app_id,
            secret,
            log,
        }
    }

    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// Where to send the payer's browser; WeChat comes back to `redirect_uri`
    /// with `code` and `state`.
    pub fn authorize_url(&self, redirect_uri: &str, state: &str) -> String {
        let mut url = self
            .oauth_base
            .join("connect/oauth2/authorize")
            .unwrap_or_else(|_| self.oauth_base.clone());
        // WeChat wants exactly this order of parameters.
        url.query_pairs_mut()
            .append_pair("appid", &self.app_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("scope", "snsapi_base")
            .append_pair("state", state);
        url.set_fragment(Some("wechat_redirect"));
        url.to_string()
    }

    /// Exchanges a code for the payer's openid.
    pub async fn openid(&self, code: &str) -> Result<String, ProviderError> {
        if code.is_empty()
            || code.len() > MAX_CODE
            || !code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(ProviderError::Api {
                status: 400,
                code: "40029".into(),
                message: "invalid code".into(),
            });
        }
        let mut url = self
            .mp_api_base
            .join("sns/oauth2/access_token")
            .map_err(|e| ProviderError::NotConfigured(format!("WECHAT_MP_API_BASE: {e}")))?;
        url.query_pairs_mut()
            .append_pair("appid", &self.app_id)
            .append_pair("secret", self.secret.expose_secret())
            .append_pair("code", code)
            .append_pair("grant_type", "authorization_code");
        let started = std::time::Instant::now();
        let result = self.http.get(url).send().await;
        let latency_ms = started.elapsed().as_millis() as i64;
        let (status, body) = match result {
            Ok(r) => {
                let status = r.status().as_u16();
                match r.text().await {
                    Ok(b) => (status, b),
                    Err(e) => return Err(ProviderError::Transport(e.to_string())),
                }
            }
            Err(e) => {
                self.write_log(None, latency_ms, "", Some(e.to_string()))
                    .await;
                return Err(ProviderError::Transport(e.to_string()));
            }
        };
        let answer: Result<TokenAnswer, _> = serde_json::from_str(&body);
        // The answer carries tokens and the openid: only the outcome is kept.
        let kept = match &answer {
            Ok(TokenAnswer {
                errcode: Some(code),
                errmsg,
                ..
            }) if *code != 0 => format!("errcode {code} {}", errmsg.as_deref().unwrap_or("")),
            Ok(TokenAnswer {
                openid: Some(_), ..
            }) => "openid received".to_owned(),
            _ => "unreadable answer".to_owned(),
        };
        self.write_log(Some(status), latency_ms, &kept, None).await;
        match answer {
            Ok(TokenAnswer {
                errcode: Some(code),
                errmsg,
                ..
            }) if code != 0 => Err(ProviderError::Api {
                status,
                code: code.to_string(),
                message: errmsg.unwrap_or_default(),
            }),
            Ok(TokenAnswer {
                openid: Some(openid),
                ..
            }) if valid_openid(&openid) => Ok(openid),
            Ok(_) => Err(ProviderError::Malformed(
                "the code exchange answered no usable openid".into(),
            )),
            Err(e) => Err(ProviderError::Malformed(e.to_string())),
        }
    }

    /// "Test connection" for the AppSecret: exchanges a code that cannot
    /// exist. WeChat checks the app id (40013) and the secret (40125) before
    /// the code, so "invalid code" (40029) proves both without issuing a
    /// token, invalidating one, or needing the IP allow-list of
    /// `/cgi-bin/token`.
    pub async fn check_secret(&self) -> Result<(), ProviderError> {
        match self.openid("FPTEST_probe_code_that_does_not_exist").await {
            Err(ProviderError::Api { code, .. }) if code == "40029" || code == "40163" => Ok(()),
            Err(ProviderError::Api { code, message, .. }) => Err(ProviderError::Api {
                status: 200,
                message: match code.as_str() {
                    "40013" => format!("the app id is not an official account's ({message})"),
                    "40125" | "40001" => {
                        format!("the AppSecret is wrong or was reset ({message})")
                    }
                    _ => message,
                },
                code,
            }),
            Err(other) => Err(other),
            Ok(_) => Err(ProviderError::Malformed(
                "an openid for a code that cannot exist".into(),
            )),
        }
    }

    async fn write_log(
        &self,
        status: Option<u16>,
        latency_ms: i64,
        kept: &str,
        error: Option<String>,
    ) {
        self.log
            .write(LogEntry {
                provider: "wechat",
                operation: "oauth_code",
                direction: domain::Direction::Out,
                out_trade_no: None,
                status_code: status,
                latency_ms,
                // Never the secret or the code: the app id is all we sent that may be kept.
                request: format!("appid={}", self.app_id),
                response: kept.to_owned(),
                error,
            })
            .await;
    }
}

#[async_trait::async_trait]
impl formpay_core::provider::PayerIdentity for WechatOauth {
    fn app_id(&self) -> &str {
        &self.app_id
    }

    fn authorize_url(&self, redirect_uri: &str, state: &str) -> String {
        WechatOauth::authorize_url(self, redirect_uri, state)
    }

    async fn openid(&self, code: &str) -> Result<String, ProviderError> {
        WechatOauth::openid(self, code).await
    }

    async fn check(&self) -> Result<(), ProviderError> {
        self.check_secret().await
    }
}

/// An openid as WeChat issues them: 28 characters of `[A-Za-z0-9_-]`; we
/// accept up to 64 so that a longer format does not break payments.
pub fn valid_openid(s: &str) -> bool {
    (8..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oauth() -> WechatOauth {
        WechatOauth::new(
            Url::parse(OAUTH_BASE).expect("url"),
            Url::parse(MP_API_BASE).expect("url"),
            "wx520c15f417810387".into(),
            SecretString::from("secret".to_owned()),
            PaymentLog::disabled(),
        )
    }

    #[test]
    fn the_authorize_url_has_wechats_shape() {
        let url = oauth().authorize_url("https://pay.example.com/oauth/wechat", "s1.x");
        assert_eq!(
            url,
            "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wx520c15f417810387&redirect_uri=https%3A%2F%2Fpay.example.com%2Foauth%2Fwechat&response_type=code&scope=snsapi_base&state=s1.x#wechat_redirect"
        );
    }

    #[test]
    fn openids_are_checked() {
        assert!(valid_openid("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"));
        assert!(!valid_openid("short"));
        assert!(!valid_openid("o<script>alert(1)</script>xxxxxxx"));
    }

    #[tokio::test]
    async fn a_malformed_code_is_refused_without_a_call() {
        let e = oauth().openid("../etc").await.expect_err("refused");
        assert!(matches!(e, ProviderError::Api { code, .. } if code == "40029"));
    }
}
