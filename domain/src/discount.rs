//! Discount codes (优惠码): what one takes off a total, checked on the server.

use crate::Money;
use serde::{Deserialize, Serialize};

/// The answer key a discount code arrives under (no field has a dot).
pub const DISCOUNT_KEY: &str = "discount.code";

/// How much a code takes off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Discount {
    /// This much off, in fen.
    Fixed(i64),
    /// This percentage off (1–100).
    Percent(i64),
}

impl Discount {
    /// Checks an administrator's new code: 1–100 percent, or a positive
    /// amount.
    pub fn new(kind: &str, value: &str) -> Result<Discount, String> {
        match kind {
            "percent" => match value.trim().parse::<i64>() {
                Ok(p) if (1..=100).contains(&p) => Ok(Discount::Percent(p)),
                _ => Err("a percentage is a whole number from 1 to 100".into()),
            },
            "fixed" => match Money::parse_yuan(value.trim()) {
                Ok(m) if m.fen() > 0 => Ok(Discount::Fixed(m.fen())),
                _ => Err("the amount off is a positive amount such as 10 or 9.90".into()),
            },
            _ => Err("a discount is fixed or a percentage".into()),
        }
    }

    /// The total after the discount: never below ¥0.01 (a payment is a
    /// payment; a free place is a form without a payment field). A
    /// percentage is rounded to the fen, half up.
    pub fn apply(self, total: Money) -> Money {
        let t = total.fen();
        let after = match self {
            Discount::Fixed(off) => t - off,
            Discount::Percent(p) => t - (t * p + 50) / 100,
        };
        Money::from_fen(after.max(1)).unwrap_or(total)
    }

    pub fn kind(self) -> &'static str {
        match self {
            Discount::Fixed(_) => "fixed",
            Discount::Percent(_) => "percent",
        }
    }

    pub fn value(self) -> i64 {
        match self {
            Discount::Fixed(v) | Discount::Percent(v) => v,
        }
    }

    /// As lists show it: `¥10.00 off`, `15% off`.
    pub fn describe(self) -> String {
        match self {
            Discount::Fixed(f) => format!(
                "-{}",
                Money::from_fen(f)
                    .map(|m| m.to_string())
                    .unwrap_or_default()
            ),
            Discount::Percent(p) => format!("-{p}%"),
        }
    }
}

/// A code as payers type it: 3–32 letters, digits, `-` or `_`, upper-cased.
pub fn normalise_code(s: &str) -> Option<String> {
    let c = s.trim().to_ascii_uppercase();
    ((3..=32).contains(&c.len())
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    .then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yuan(s: &str) -> Money {
        Money::parse_yuan(s).expect("amount")
    }

    #[test]
    fn discounts_round_to_the_fen_and_never_reach_zero() {
        assert_eq!(Discount::Percent(15).apply(yuan("80")), yuan("68"));
        // 33% of 0.10 is 0.033: 0.03 off.
        assert_eq!(Discount::Percent(33).apply(yuan("0.10")), yuan("0.07"));
        // 50% of 0.05 is 0.025, half up: 0.03 off.
        assert_eq!(Discount::Percent(50).apply(yuan("0.05")), yuan("0.02"));
        assert_eq!(Discount::Percent(100).apply(yuan("80")), yuan("0.01"));
        assert_eq!(Discount::Fixed(1000).apply(yuan("80")), yuan("70"));
        assert_eq!(Discount::Fixed(9000).apply(yuan("80")), yuan("0.01"));
    }

    #[test]
    fn new_codes_are_checked() {
        assert_eq!(Discount::new("percent", "15"), Ok(Discount::Percent(15)));
        assert_eq!(Discount::new("fixed", "9.90"), Ok(Discount::Fixed(990)));
        for (k, v) in [
            ("percent", "0"),
            ("percent", "101"),
            ("percent", "1.5"),
            ("fixed", "0"),
            ("fixed", "-1"),
            ("other", "1"),
        ] {
            assert!(Discount::new(k, v).is_err(), "{k} {v}");
        }
        assert_eq!(normalise_code(" early-bird "), Some("EARLY-BIRD".into()));
        assert_eq!(normalise_code("ab"), None);
        assert_eq!(normalise_code("有码"), None);
        assert_eq!(normalise_code("a b c"), None);
    }
}
