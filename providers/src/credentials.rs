//! What the providers' credential schemas share: field constructors and the
//! checks that more than one provider needs.

use crate::keys::{parse_private_key, parse_public_key};
use formpay_core::registry::{CredentialField, Credentials, Problems};

/// A field shown in clear.
pub const fn setting(
    key: &'static str,
    env: &'static str,
    label: (&'static str, &'static str),
) -> CredentialField {
    CredentialField {
        key,
        env,
        label,
        secret: false,
        multiline: false,
        development_only: false,
    }
}

/// A field shown in clear on several lines (a PEM key or certificate).
pub const fn text(
    key: &'static str,
    env: &'static str,
    label: (&'static str, &'static str),
) -> CredentialField {
    CredentialField {
        multiline: true,
        ..setting(key, env, label)
    }
}

/// A field sealed at rest and never shown again.
pub const fn secret(
    key: &'static str,
    env: &'static str,
    label: (&'static str, &'static str),
    multiline: bool,
) -> CredentialField {
    CredentialField {
        secret: true,
        multiline,
        ..setting(key, env, label)
    }
}

/// Another gateway than the provider's own (the simulator, a test
/// environment): refused for stored accounts in production.
pub const fn gateway(env: &'static str) -> CredentialField {
    dev_url(
        "api_base",
        env,
        (
            "接口地址（仅开发，留空为正式地址）",
            "API base (development only; empty: the real one)",
        ),
    )
}

/// Another host than the provider's own for one of its services (WeChat's
/// OAuth): development only, like [`gateway`].
pub const fn dev_url(
    key: &'static str,
    env: &'static str,
    label: (&'static str, &'static str),
) -> CredentialField {
    CredentialField {
        development_only: true,
        ..setting(key, env, label)
    }
}

/// The settings of WeChat Pay on phones, the same for API v3 and v2: the
/// official account's secret (JSAPI's OAuth), H5's switch, and the OAuth
/// hosts (development only).
pub const WECHAT_PHONE_FIELDS: [CredentialField; 4] = [
    secret(
        "app_secret",
        "WECHAT_APP_SECRET",
        (
            "公众号 AppSecret（微信内支付 JSAPI 需要；留空则不提供）",
            "Official account AppSecret (for paying inside WeChat, JSAPI; empty: not offered)",
        ),
        false,
    ),
    setting(
        "h5",
        "WECHAT_H5",
        (
            "H5 支付（手机浏览器；需在商户平台开通并登记域名）true/false",
            "H5 pay (phone browsers; enable it and register the domain first) true/false",
        ),
    ),
    dev_url(
        "oauth_base",
        "WECHAT_OAUTH_BASE",
        (
            "网页授权地址（仅开发，留空为 open.weixin.qq.com）",
            "OAuth host (development only; empty: open.weixin.qq.com)",
        ),
    ),
    dev_url(
        "mp_api_base",
        "WECHAT_MP_API_BASE",
        (
            "公众号接口地址（仅开发，留空为 api.weixin.qq.com）",
            "Official account API host (development only; empty: api.weixin.qq.com)",
        ),
    ),
];

/// The checks of [`WECHAT_PHONE_FIELDS`].
pub fn check_wechat_phone(k: &mut Checks<'_>) {
    if k.c.has("app_secret") && k.c.get("app_secret").chars().count() != 32 {
        k.problem("app_secret", "must be the 32-character AppSecret");
    }
    k.flag("h5");
    k.url("oauth_base");
    k.url("mp_api_base");
}

/// WeChat OAuth from the phone settings, when the secret is given.
pub fn wechat_oauth(
    c: &Credentials,
    log: &formpay_core::payment_log::PaymentLog,
) -> Result<Option<crate::wechat_oauth::WechatOauth>, String> {
    if !c.has("app_secret") {
        return Ok(None);
    }
    let url = |key: &str, default: &str| {
        let raw = match c.get(key) {
            "" => default,
            other => other,
        };
        url::Url::parse(raw).map_err(|e| format!("{key}: {e}"))
    };
    Ok(Some(crate::wechat_oauth::WechatOauth::new(
        url("oauth_base", crate::wechat_oauth::OAUTH_BASE)?,
        url("mp_api_base", crate::wechat_oauth::MP_API_BASE)?,
        c.get("app_id").to_owned(),
        secrecy::SecretString::from(c.get("app_secret").to_owned()),
        log.clone(),
    )))
}

/// Collects problems by field.
pub struct Checks<'a> {
    pub c: &'a Credentials,
    pub problems: Problems,
}

impl<'a> Checks<'a> {
    pub fn new(c: &'a Credentials) -> Checks<'a> {
        Checks {
            c,
            problems: Vec::new(),
        }
    }

    pub fn problem(&mut self, field: &'static str, what: impl Into<String>) {
        self.problems.push((field, what.into()));
    }

    /// Present, or named as missing.
    pub fn required(&mut self, field: &'static str) -> bool {
        if self.c.has(field) {
            true
        } else {
            self.problem(field, "is missing");
            false
        }
    }

    pub fn digits(&mut self, field: &'static str) {
        if self.c.has(field) && !self.c.get(field).bytes().all(|b| b.is_ascii_digit()) {
            self.problem(field, "must be digits");
        }
    }

    pub fn length(&mut self, field: &'static str, n: usize) {
        if self.c.has(field) && self.c.get(field).chars().count() != n {
            self.problem(field, format!("must be {n} characters"));
        }
    }

    pub fn private_key(&mut self, field: &'static str) {
        if self.c.has(field) {
            if let Err(e) = parse_private_key(self.c.get(field)) {
                self.problem(field, e);
            }
        }
    }

    pub fn public_key(&mut self, field: &'static str) {
        if self.c.has(field) {
            if let Err(e) = parse_public_key(self.c.get(field)) {
                self.problem(field, e);
            }
        }
    }

    /// `true` or `false` (empty: false).
    pub fn flag(&mut self, field: &'static str) {
        if self.c.has(field) && flag(self.c, field).is_none() {
            self.problem(field, "must be true or false");
        }
    }

    /// Another gateway must be https, or plain http on this machine.
    pub fn api_base(&mut self) {
        self.url("api_base");
    }

    /// A development-only URL field: https, or plain http on this machine.
    pub fn url(&mut self, field: &'static str) {
        let base = self.c.get(field);
        if base.is_empty() {
            return;
        }
        let ok = url::Url::parse(base).is_ok_and(|u| {
            let loopback = match u.host() {
                Some(url::Host::Domain(d)) => d == "localhost",
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => return false,
            };
            u.scheme() == "https" || (u.scheme() == "http" && loopback)
        });
        if !ok {
            self.problem(
                field,
                "must be an https:// URL (or http:// on 127.0.0.1 or localhost in development)",
            );
        }
    }

    pub fn done(self) -> Problems {
        self.problems
    }
}

/// A flag field's value: None when it is neither true nor false.
pub fn flag(c: &Credentials, field: &str) -> Option<bool> {
    match c.get(field).to_ascii_lowercase().as_str() {
        "" | "false" | "0" | "no" | "off" => Some(false),
        "true" | "1" | "yes" | "on" => Some(true),
        _ => None,
    }
}

/// Whether any of these fields holds one of the public development keys.
pub fn any_development_key(c: &Credentials, fields: &[&str]) -> bool {
    fields
        .iter()
        .any(|f| c.has(f) && crate::dev_keys::is_development_key(c.get(f)))
}

/// `base` with a trailing slash (so that relative paths join under it).
pub fn base_url(c: &Credentials, default: &str, slash: bool) -> Result<url::Url, String> {
    let raw = match c.get("api_base") {
        "" => default,
        other => other,
    };
    let raw = if slash && !raw.ends_with('/') {
        format!("{raw}/")
    } else {
        raw.to_owned()
    };
    url::Url::parse(&raw).map_err(|e| format!("api_base: {e}"))
}
