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
    CredentialField {
        development_only: true,
        ..setting(
            "api_base",
            env,
            (
                "接口地址（仅开发，留空为正式地址）",
                "API base (development only; empty: the real one)",
            ),
        )
    }
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
        let base = self.c.get("api_base");
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
                "api_base",
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
