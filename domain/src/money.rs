//! Money is an integer number of fen (分, 1/100 yuan). It is never a float.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An amount of Chinese yuan, counted in fen. Always within `0..=Money::MAX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Money(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount is empty")]
    Empty,
    #[error("amount is not a number of yuan such as 12.34")]
    Malformed,
    #[error("amount has more than two decimals")]
    TooPrecise,
    #[error("amount is negative")]
    Negative,
    #[error("amount is above the limit of 100,000,000 yuan")]
    TooLarge,
}

impl Money {
    /// The largest amount the system accepts: 100,000,000 yuan.
    pub const MAX: Money = Money(100_000_000 * 100);
    pub const ZERO: Money = Money(0);

    /// From a count of fen; refuses negative amounts and amounts above [`Money::MAX`].
    pub fn from_fen(fen: i64) -> Result<Self, MoneyError> {
        if fen < 0 {
            Err(MoneyError::Negative)
        } else if fen > Self::MAX.0 {
            Err(MoneyError::TooLarge)
        } else {
            Ok(Money(fen))
        }
    }

    pub fn fen(self) -> i64 {
        self.0
    }

    /// Parses a yuan string exactly: "12", "12.3", "12.34". No sign, no exponent,
    /// no grouping, no float arithmetic.
    pub fn parse_yuan(input: &str) -> Result<Self, MoneyError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(MoneyError::Empty);
        }
        if s.starts_with('-') {
            return Err(MoneyError::Negative);
        }
        let (int_part, frac_part) = match s.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (s, None),
        };
        if int_part.is_empty() || !int_part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MoneyError::Malformed);
        }
        let frac_fen = match frac_part {
            None => 0,
            Some(f) if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) => {
                return Err(MoneyError::Malformed)
            }
            Some(f) if f.len() > 2 => return Err(MoneyError::TooPrecise),
            Some(f) if f.len() == 1 => i64::from(f.as_bytes()[0] - b'0') * 10,
            Some(f) => i64::from(f.as_bytes()[0] - b'0') * 10 + i64::from(f.as_bytes()[1] - b'0'),
        };
        // Leading zeros are harmless; strip them so the length check below means magnitude.
        let digits = int_part.trim_start_matches('0');
        if digits.len() > 9 {
            return Err(MoneyError::TooLarge);
        }
        let yuan: i64 = if digits.is_empty() {
            0
        } else {
            digits.parse().map_err(|_| MoneyError::Malformed)?
        };
        let fen = yuan
            .checked_mul(100)
            .and_then(|v| v.checked_add(frac_fen))
            .ok_or(MoneyError::TooLarge)?;
        Self::from_fen(fen)
    }

    /// The amount as a plain yuan string with two decimals ("12.34"), the form
    /// Alipay expects on the wire.
    pub fn to_yuan_string(self) -> String {
        format!("{}.{:02}", self.0 / 100, self.0 % 100)
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0
            .checked_add(other.0)
            .and_then(|v| Money::from_fen(v).ok())
    }

    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0
            .checked_sub(other.0)
            .and_then(|v| Money::from_fen(v).ok())
    }
}

impl TryFrom<i64> for Money {
    type Error = MoneyError;
    fn try_from(fen: i64) -> Result<Self, Self::Error> {
        Money::from_fen(fen)
    }
}

impl From<Money> for i64 {
    fn from(m: Money) -> i64 {
        m.0
    }
}

/// Displays as the payer sees it: `¥12.34`.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "¥{}", self.to_yuan_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_yuan_strings() {
        assert_eq!(Money::parse_yuan("12.34").map(Money::fen), Ok(1234));
        assert_eq!(Money::parse_yuan("12").map(Money::fen), Ok(1200));
        assert_eq!(Money::parse_yuan("0.01").map(Money::fen), Ok(1));
        assert_eq!(Money::parse_yuan("0.1").map(Money::fen), Ok(10));
        assert_eq!(Money::parse_yuan("0").map(Money::fen), Ok(0));
        assert_eq!(Money::parse_yuan(" 7.50 ").map(Money::fen), Ok(750));
        assert_eq!(Money::parse_yuan("007.05").map(Money::fen), Ok(705));
        assert_eq!(
            Money::parse_yuan("100000000").map(Money::fen),
            Ok(10_000_000_000)
        );
        assert_eq!(Money::parse_yuan("100000000.00"), Ok(Money::MAX));
    }

    #[test]
    fn rejects_what_is_not_an_exact_amount() {
        assert_eq!(Money::parse_yuan("-1"), Err(MoneyError::Negative));
        assert_eq!(Money::parse_yuan("1.234"), Err(MoneyError::TooPrecise));
        assert_eq!(Money::parse_yuan("abc"), Err(MoneyError::Malformed));
        assert_eq!(Money::parse_yuan(""), Err(MoneyError::Empty));
        assert_eq!(Money::parse_yuan("   "), Err(MoneyError::Empty));
        assert_eq!(Money::parse_yuan("1."), Err(MoneyError::Malformed));
        assert_eq!(Money::parse_yuan(".5"), Err(MoneyError::Malformed));
        assert_eq!(Money::parse_yuan("+1"), Err(MoneyError::Malformed));
        assert_eq!(Money::parse_yuan("1e3"), Err(MoneyError::Malformed));
        assert_eq!(Money::parse_yuan("1,000"), Err(MoneyError::Malformed));
        assert_eq!(Money::parse_yuan("1.2.3"), Err(MoneyError::Malformed));
        assert_eq!(Money::parse_yuan("１２"), Err(MoneyError::Malformed));
        assert_eq!(Money::parse_yuan("100000000.01"), Err(MoneyError::TooLarge));
        assert_eq!(
            Money::parse_yuan("999999999999999999999999"),
            Err(MoneyError::TooLarge)
        );
        assert_eq!(
            Money::parse_yuan("9223372036854775807"),
            Err(MoneyError::TooLarge)
        );
    }

    #[test]
    fn fen_bounds_are_checked() {
        assert_eq!(Money::from_fen(-1), Err(MoneyError::Negative));
        assert_eq!(Money::from_fen(10_000_000_001), Err(MoneyError::TooLarge));
        assert!(Money::from_fen(10_000_000_000).is_ok());
        assert!(serde_json::from_str::<Money>("-5").is_err());
        assert_eq!(
            serde_json::from_str::<Money>("5").map(Money::fen).ok(),
            Some(5)
        );
    }

    #[test]
    fn displays_and_round_trips_at_the_boundaries() {
        for (fen, text) in [
            (1, "0.01"),
            (99, "0.99"),
            (100, "1.00"),
            (10_000_000_000, "100000000.00"),
        ] {
            let m = Money::from_fen(fen).expect("in range");
            assert_eq!(m.to_yuan_string(), text);
            assert_eq!(Money::parse_yuan(text), Ok(m));
        }
        assert_eq!(
            Money::from_fen(1234).map(|m| m.to_string()).ok().as_deref(),
            Some("¥12.34")
        );
    }

    #[test]
    fn arithmetic_stays_in_range() {
        let max = Money::MAX;
        let one = Money::from_fen(1).expect("in range");
        assert_eq!(max.checked_add(one), None);
        assert_eq!(Money::ZERO.checked_sub(one), None);
        assert_eq!(one.checked_add(one).map(Money::fen), Some(2));
    }
}
