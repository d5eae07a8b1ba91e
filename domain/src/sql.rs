//! How the domain types are stored (feature `sqlx`, server only): statuses,
//! channels, names and ids as text, money as integer fen. Rows decode into
//! these types directly, and a value that is not one of them is a decoding
//! error, never a string that travels on.

use crate::events::{AuditAction, Direction, OrderEventKind};
use crate::form::FormStatus;
use crate::states::{AttemptState, RefundState};
use crate::{Channel, Email, Money, OrderStatus, OutTradeNo, Provider, Slug, Token};
use sqlx::any::{Any, AnyTypeInfo};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Encode, Type};

/// A stored value that is not one of the type's.
#[derive(Debug, thiserror::Error)]
#[error("`{value}` is not a stored {what}")]
pub struct NotStored {
    what: &'static str,
    value: String,
}

macro_rules! stored_as_text {
    ($ty:ty, $what:literal, $parse:expr, $text:expr) => {
        impl Type<Any> for $ty {
            fn type_info() -> AnyTypeInfo {
                <String as Type<Any>>::type_info()
            }

            fn compatible(ty: &AnyTypeInfo) -> bool {
                <String as Type<Any>>::compatible(ty)
            }
        }

        impl<'r> Decode<'r, Any> for $ty {
            fn decode(value: <Any as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                let s = <String as Decode<'r, Any>>::decode(value)?;
                let parse: fn(&str) -> Option<$ty> = $parse;
                parse(&s).ok_or_else(|| {
                    Box::new(NotStored {
                        what: $what,
                        value: s.chars().take(64).collect(),
                    }) as BoxDynError
                })
            }
        }

        impl<'q> Encode<'q, Any> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut <Any as Database>::ArgumentBuffer<'q>,
            ) -> Result<IsNull, BoxDynError> {
                let text: fn(&$ty) -> String = $text;
                <String as Encode<'q, Any>>::encode(text(self), buf)
            }
        }
    };
}

stored_as_text!(OrderStatus, "order status", OrderStatus::parse, |v| v
    .as_str()
    .to_owned());
stored_as_text!(Channel, "channel", Channel::parse, |v| v
    .as_str()
    .to_owned());
stored_as_text!(Provider, "provider", Provider::parse, |v| v
    .as_str()
    .to_owned());
stored_as_text!(FormStatus, "form status", FormStatus::parse, |v| v
    .as_str()
    .to_owned());
stored_as_text!(AttemptState, "attempt state", AttemptState::parse, |v| v
    .as_str()
    .to_owned());
stored_as_text!(RefundState, "refund state", RefundState::parse, |v| v
    .as_str()
    .to_owned());
stored_as_text!(crate::Role, "role", crate::Role::parse, |v| v
    .as_str()
    .to_owned());
stored_as_text!(AuditAction, "audit action", AuditAction::parse, |v| v
    .as_str()
    .to_owned());
stored_as_text!(
    OrderEventKind,
    "order event kind",
    OrderEventKind::parse,
    |v| v.as_str().to_owned()
);
stored_as_text!(Direction, "direction", Direction::parse, |v| v
    .as_str()
    .to_owned());
stored_as_text!(
    OutTradeNo,
    "out_trade_no",
    |s| OutTradeNo::parse(s).ok(),
    |v| v.as_str().to_owned()
);
stored_as_text!(Token, "token", |s| Token::parse(s).ok(), |v| v
    .as_str()
    .to_owned());
stored_as_text!(Slug, "slug", |s| Slug::parse(s).ok(), |v| v
    .as_str()
    .to_owned());
stored_as_text!(Email, "email", |s| Email::parse(s).ok(), |v| v
    .as_str()
    .to_owned());

impl Type<Any> for Money {
    fn type_info() -> AnyTypeInfo {
        <i64 as Type<Any>>::type_info()
    }

    fn compatible(ty: &AnyTypeInfo) -> bool {
        <i64 as Type<Any>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Any> for Money {
    fn decode(value: <Any as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        let fen = <i64 as Decode<'r, Any>>::decode(value)?;
        Ok(Money::from_fen(fen)?)
    }
}

impl<'q> Encode<'q, Any> for Money {
    fn encode_by_ref(
        &self,
        buf: &mut <Any as Database>::ArgumentBuffer<'q>,
    ) -> Result<IsNull, BoxDynError> {
        <i64 as Encode<'q, Any>>::encode(self.fen(), buf)
    }
}
