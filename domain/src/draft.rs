//! The form builder edits fields as flat drafts of text inputs; these turn
//! them into checked [`Field`]s and back. Shared by the browser and the server.

use super::form::{ChoiceOption, Field, FieldKind, PaymentMode, PricedOption};
use super::Money;
use serde::{Deserialize, Serialize};

pub const FIELD_TYPES: [&str; 9] = [
    "short_text",
    "long_text",
    "number",
    "phone",
    "email",
    "single_choice",
    "multi_choice",
    "date",
    "payment",
];
pub const PAYMENT_MODES: [&str; 3] = ["fixed", "priced_options", "payer_amount"];

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FieldDraft {
    pub key: String,
    pub label: String,
    pub help: String,
    pub required: bool,
    pub kind: String,
    /// One option per line; for priced options `label = 12.50`.
    pub options: String,
    pub min: String,
    pub max: String,
    pub payment_mode: String,
    pub amount: String,
    pub max_quantity: String,
}

fn options_of(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, l)| (format!("o{}", i + 1), l.to_owned()))
        .collect()
}

fn money(s: &str, what: &str) -> Result<Money, String> {
    Money::parse_yuan(s).map_err(|e| format!("{what}: {e}"))
}

impl FieldDraft {
    pub fn new(key: String) -> FieldDraft {
        FieldDraft {
            key,
            kind: "short_text".into(),
            payment_mode: "payer_amount".into(),
            max_quantity: "1".into(),
            ..FieldDraft::default()
        }
    }

    pub fn to_field(&self) -> Result<Field, String> {
        let name = if self.label.trim().is_empty() {
            self.key.clone()
        } else {
            self.label.trim().to_owned()
        };
        let int = |s: &str| -> Result<Option<i64>, String> {
            if s.trim().is_empty() {
                Ok(None)
            } else {
                s.trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("{name}: {s} is not a whole number"))
            }
        };
        let kind = match self.kind.as_str() {
            "short_text" => FieldKind::ShortText,
            "long_text" => FieldKind::LongText,
            "number" => FieldKind::Number {
                min: int(&self.min)?,
                max: int(&self.max)?,
            },
            "phone" => FieldKind::Phone,
            "email" => FieldKind::Email,
            "date" => FieldKind::Date,
            "single_choice" | "multi_choice" => {
                let options = options_of(&self.options)
                    .into_iter()
                    .map(|(key, label)| ChoiceOption { key, label })
                    .collect();
                if self.kind == "single_choice" {
                    FieldKind::SingleChoice { options }
                } else {
                    FieldKind::MultiChoice { options }
                }
            }
            "payment" => FieldKind::Payment(match self.payment_mode.as_str() {
                "fixed" => PaymentMode::Fixed {
                    amount: money(&self.amount, &name)?,
                },
                "priced_options" => {
                    let mut options = Vec::new();
                    for (key, line) in options_of(&self.options) {
                        let (label, price) = line.rsplit_once('=').ok_or_else(|| {
                            format!("{name}: write each option as `label = 12.50`")
                        })?;
                        options.push(PricedOption {
                            key,
                            label: label.trim().to_owned(),
                            price: money(price.trim(), &name)?,
                        });
                    }
                    let max_quantity =
                        self.max_quantity.trim().parse().map_err(|_| {
                            format!("{name}: the maximum quantity is a whole number")
                        })?;
                    PaymentMode::PricedOptions {
                        options,
                        max_quantity,
                    }
                }
                _ => PaymentMode::PayerAmount {
                    min: money(&self.min, &name)?,
                    max: money(&self.max, &name)?,
                },
            }),
            other => return Err(format!("unknown field type {other}")),
        };
        Ok(Field {
            key: self.key.trim().to_owned(),
            label: self.label.trim().to_owned(),
            help: self.help.trim().to_owned(),
            // A payable form is never submitted without paying.
            required: self.required || matches!(kind, FieldKind::Payment(_)),
            kind,
        })
    }

    pub fn from_field(f: &Field) -> FieldDraft {
        let mut d = FieldDraft::new(f.key.clone());
        d.label = f.label.clone();
        d.help = f.help.clone();
        d.required = f.required;
        d.kind = f.kind.type_name().to_owned();
        match &f.kind {
            FieldKind::Number { min, max } => {
                d.min = min.map(|v| v.to_string()).unwrap_or_default();
                d.max = max.map(|v| v.to_string()).unwrap_or_default();
            }
            FieldKind::SingleChoice { options } | FieldKind::MultiChoice { options } => {
                d.options = options
                    .iter()
                    .map(|o| o.label.clone())
                    .collect::<Vec<_>>()
                    .join("\n");
            }
            FieldKind::Payment(PaymentMode::Fixed { amount }) => {
                d.payment_mode = "fixed".into();
                d.amount = amount.to_yuan_string();
            }
            FieldKind::Payment(PaymentMode::PayerAmount { min, max }) => {
                d.payment_mode = "payer_amount".into();
                d.min = min.to_yuan_string();
                d.max = max.to_yuan_string();
            }
            FieldKind::Payment(PaymentMode::PricedOptions {
                options,
                max_quantity,
            }) => {
                d.payment_mode = "priced_options".into();
                d.options = options
                    .iter()
                    .map(|o| format!("{} = {}", o.label, o.price.to_yuan_string()))
                    .collect::<Vec<_>>()
                    .join("\n");
                d.max_quantity = max_quantity.to_string();
            }
            _ => {}
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drafts_round_trip_every_type() {
        let mut drafts = Vec::new();
        for (i, kind) in FIELD_TYPES.iter().enumerate() {
            let mut d = FieldDraft::new(format!("f{i}"));
            d.label = format!("Field {i}");
            d.kind = (*kind).into();
            d.options = "红\n黄\n蓝".into();
            drafts.push(d);
        }
        drafts[8].payment_mode = "priced_options".into();
        drafts[8].options = "成人 = 50\n儿童 = 20.50".into();
        drafts[8].max_quantity = "3".into();
        let fields: Vec<Field> = drafts
            .iter()
            .map(|d| d.to_field().expect("valid"))
            .collect();
        assert_eq!(super::super::form::validate_fields(&fields), Ok(()));
        for (d, f) in drafts.iter().zip(&fields) {
            assert_eq!(
                FieldDraft::from_field(f).to_field().as_ref(),
                Ok(f),
                "{}",
                d.kind
            );
        }
    }

    #[test]
    fn bad_drafts_say_what_is_wrong() {
        let mut d = FieldDraft::new("fee".into());
        d.label = "Fee".into();
        d.kind = "payment".into();
        d.payment_mode = "fixed".into();
        d.amount = "1.234".into();
        assert!(d.to_field().expect_err("bad amount").starts_with("Fee"));
        d.payment_mode = "priced_options".into();
        d.options = "no price".into();
        assert!(d.to_field().is_err());
        d.kind = "number".into();
        d.min = "x".into();
        assert!(d.to_field().is_err());
    }
}
