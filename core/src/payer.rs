//! What we remember about a payer's browser, signed so it cannot be forged:
//! the WeChat `openid` learnt through OAuth (per app id, so JSAPI's silent
//! OAuth hop happens once), and the OAuth `state` that ties WeChat's answer
//! to the order it was asked for. HMAC-SHA256 under a key derived from the
//! master key; nothing secret is inside, only nothing forgeable.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The cookie that carries the payer's openid.
pub const OPENID_COOKIE: &str = "fp_wx_openid";
/// How long an openid is remembered (it never changes for an app id).
pub const OPENID_TTL_MS: i64 = 30 * 24 * 3600 * 1000;
/// How long a proof-of-work challenge stays valid.
pub const POW_TTL_MS: i64 = 5 * 60 * 1000;
/// How long WeChat's round trip may take.
pub const STATE_TTL_MS: i64 = 10 * 60 * 1000;

/// Signs and checks what the payer's browser carries.
#[derive(Clone)]
pub struct PayerSeal {
    key: [u8; 32],
}

impl std::fmt::Debug for PayerSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PayerSeal(…)")
    }
}

fn plain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl PayerSeal {
    /// Derived from the master key, so that it survives restarts and is the
    /// same on every instance.
    pub fn from_master_key(master: &[u8; 32]) -> PayerSeal {
        let mut mac = Hmac::<Sha256>::new_from_slice(master)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(b"formpay payer seal v1");
        PayerSeal {
            key: mac.finalize().into_bytes().into(),
        }
    }

    /// A key of its own (no master key: nothing outlives the process).
    pub fn random() -> PayerSeal {
        use rand::RngCore;
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        PayerSeal { key }
    }

    fn tag(&self, purpose: &str, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(purpose.as_bytes());
        mac.update(b"\n");
        mac.update(body.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    fn verify(&self, purpose: &str, body: &str, tag: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(tag) else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(purpose.as_bytes());
        mac.update(b"\n");
        mac.update(body.as_bytes());
        mac.verify_slice(&tag).is_ok()
    }

    /// The cookie value remembering `openid` for `app_id`.
    pub fn seal_openid(&self, app_id: &str, openid: &str, now_ms: i64) -> Option<String> {
        if !plain(app_id) || !plain(openid) {
            return None;
        }
        let body = format!("{app_id}.{openid}.{}", now_ms + OPENID_TTL_MS);
        let tag = self.tag("openid", &body);
        Some(format!("{body}.{tag}"))
    }

    /// The openid in a cookie value, if we signed it, for this app id, and
    /// it has not expired. An openid belongs to one app id: another app's is
    /// worth nothing here.
    pub fn open_openid(&self, value: &str, app_id: &str, now_ms: i64) -> Option<String> {
        let mut parts = value.split('.');
        let (a, o, exp, tag) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || a != app_id {
            return None;
        }
        let body = format!("{a}.{o}.{exp}");
        if !self.verify("openid", &body, tag) || exp.parse::<i64>().ok()? <= now_ms {
            return None;
        }
        Some(o.to_owned())
    }

    /// A proof-of-work challenge for a submission to the form at `slug`,
    /// valid for [`POW_TTL_MS`]: `slug.expiry.random.tag`.
    pub fn pow_challenge(&self, slug: &str, now_ms: i64) -> Option<String> {
        if !plain(slug) {
            return None;
        }
        let body = format!(
            "{slug}.{}.{}",
            now_ms + POW_TTL_MS,
            crate::random_token().as_str()
        );
        let tag = self.tag("pow", &body);
        Some(format!("{body}.{tag}"))
    }

    /// Whether we made `challenge` for the form at `slug` and it is fresh.
    pub fn check_pow_challenge(&self, challenge: &str, slug: &str, now_ms: i64) -> bool {
        let mut parts = challenge.split('.');
        let (Some(s), Some(exp), Some(random), Some(tag), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return false;
        };
        s == slug
            && self.verify("pow", &format!("{s}.{exp}.{random}"), tag)
            && exp.parse::<i64>().is_ok_and(|e| e > now_ms)
    }

    /// The OAuth `state` for a round trip made for `order_id`.
    pub fn oauth_state(&self, order_id: &str, now_ms: i64) -> Option<String> {
        if !plain(order_id) {
            return None;
        }
        let body = format!("{order_id}.{}", now_ms + STATE_TTL_MS);
        let tag = self.tag("oauth-state", &body);
        Some(format!("{body}.{tag}"))
    }

    /// The order a `state` was made for, if we made it and it is fresh.
    pub fn check_oauth_state(&self, state: &str, now_ms: i64) -> Option<String> {
        let mut parts = state.split('.');
        let (order, exp, tag) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let body = format!("{order}.{exp}");
        if !self.verify("oauth-state", &body, tag) || exp.parse::<i64>().ok()? <= now_ms {
            return None;
        }
        Some(order.to_owned())
    }
}

/// A cookie's value from a request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_openid_cookie_opens_only_for_its_app_and_only_unchanged() {
        let seal = PayerSeal::from_master_key(&[7; 32]);
        let v = seal
            .seal_openid("wxapp1", "oOpenid_123", 1_000)
            .expect("sealed");
        assert_eq!(
            seal.open_openid(&v, "wxapp1", 2_000).as_deref(),
            Some("oOpenid_123")
        );
        assert_eq!(
            seal.open_openid(&v, "wxapp2", 2_000),
            None,
            "another app id"
        );
        assert_eq!(
            seal.open_openid(&v, "wxapp1", 1_000 + OPENID_TTL_MS),
            None,
            "expired"
        );
        let forged = v.replace("oOpenid_123", "oOpenid_999");
        assert_eq!(seal.open_openid(&forged, "wxapp1", 2_000), None, "tampered");
        let other = PayerSeal::from_master_key(&[8; 32]);
        assert_eq!(other.open_openid(&v, "wxapp1", 2_000), None, "another key");
        assert!(seal.seal_openid("wx.app", "o", 0).is_none());
    }

    #[test]
    fn an_oauth_state_names_its_order_until_it_expires() {
        let seal = PayerSeal::random();
        let s = seal.oauth_state("order1", 0).expect("state");
        assert_eq!(seal.check_oauth_state(&s, 1).as_deref(), Some("order1"));
        assert_eq!(seal.check_oauth_state(&s, STATE_TTL_MS), None);
        assert_eq!(
            seal.check_oauth_state(&s.replace("order1", "order2"), 1),
            None
        );
        assert_eq!(seal.check_oauth_state("order1.99999999999999.", 1), None);
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = http::HeaderMap::new();
        h.append(
            "cookie",
            "a=1; fp_wx_openid=x.y.z.t".parse().expect("header"),
        );
        assert_eq!(cookie(&h, OPENID_COOKIE), Some("x.y.z.t"));
        assert_eq!(cookie(&h, "b"), None);
    }
}
