//! Identifiers that arrive from outside the process, parsed once at the edge.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("a merchant order number is 6 to 32 letters, digits or underscores")]
    OutTradeNo,
    #[error("a link name is 1 to 64 lowercase letters, digits or hyphens, not starting or ending with a hyphen")]
    Slug,
    #[error("this link is not valid")]
    Token,
    #[error("this is not an email address")]
    Email,
}

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident, $check:expr, $err:expr) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(input: &str) -> Result<Self, IdError> {
                let check: fn(&str) -> bool = $check;
                if check(input) {
                    Ok(Self(input.to_owned()))
                } else {
                    Err($err)
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// The merchant order number (商户订单号) sent to the providers. Restricted to
    /// what both WeChat Pay (6–32 of `[0-9A-Za-z_-|*]`) and Alipay (≤64 of
    /// `[A-Za-z0-9_]`) accept.
    OutTradeNo,
    |s| (6..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
    IdError::OutTradeNo
);

string_id!(
    /// The public name of a form in its link, `/f/{slug}`.
    Slug,
    |s| (1..=64).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-'),
    IdError::Slug
);

string_id!(
    /// An unguessable identifier used in public links (orders, receipts,
    /// sessions): 128 random bits as 32 lowercase hex digits.
    Token,
    |s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
    IdError::Token
);

/// An email address, trimmed and lowercased. The check is deliberately modest:
/// one `@`, something on both sides, a dot in the domain, no spaces.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let s = input.trim().to_lowercase();
        let ok = s.len() <= 254
            && !s.chars().any(|c| c.is_whitespace() || c.is_control())
            && match s.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                }
                None => false,
            };
        if ok {
            Ok(Email(s))
        } else {
            Err(IdError::Email)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Email::parse(&s)
    }
}

impl From<Email> for String {
    fn from(v: Email) -> String {
        v.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_trade_no_accepts_what_both_providers_accept() {
        assert!(OutTradeNo::parse("FP20261127abc_123").is_ok());
        assert!(OutTradeNo::parse("123456").is_ok());
        assert!(OutTradeNo::parse(&"a".repeat(32)).is_ok());
        assert_eq!(OutTradeNo::parse("12345"), Err(IdError::OutTradeNo));
        assert_eq!(OutTradeNo::parse(&"a".repeat(33)), Err(IdError::OutTradeNo));
        assert_eq!(OutTradeNo::parse("abc-123"), Err(IdError::OutTradeNo));
        assert_eq!(OutTradeNo::parse("abc 123"), Err(IdError::OutTradeNo));
        assert_eq!(OutTradeNo::parse("订单123456"), Err(IdError::OutTradeNo));
    }

    #[test]
    fn slugs() {
        assert!(Slug::parse("demo").is_ok());
        assert!(Slug::parse("club-fee-2026").is_ok());
        for bad in ["", "-a", "a-", "Demo", "a b", "a/b", "a_b", &"a".repeat(65)] {
            assert_eq!(Slug::parse(bad), Err(IdError::Slug), "{bad}");
        }
    }

    #[test]
    fn tokens_are_32_lowercase_hex_digits() {
        assert!(Token::parse("0123456789abcdef0123456789abcdef").is_ok());
        assert!(Token::parse("0123456789ABCDEF0123456789abcdef").is_err());
        assert!(Token::parse("0123456789abcdef").is_err());
        assert!(Token::parse("0123456789abcdef0123456789abcdeg").is_err());
        assert!(serde_json::from_str::<Token>("\"../etc/passwd\"").is_err());
    }

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" Admin@Example.COM ")
                .map(|e| e.to_string())
                .ok()
                .as_deref(),
            Some("admin@example.com")
        );
        for bad in [
            "", "a", "a@", "@b.c", "a@b", "a@b.", "a b@c.d", "a@b@c.d", "a@.b",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
