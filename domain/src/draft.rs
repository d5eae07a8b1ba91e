//! The form builder edits fields as flat drafts of text inputs; these turn
//! them into checked [`Field`]s and back. Shared by the browser and the server.

use super::form::{ChoiceOption, Field, FieldKind, PaymentMode, PricedOption};
use super::Money;
use serde::{Deserialize, Serialize};

/// The type of field the builder edits: one per [`FieldKind`] variant, so a
/// new kind of field does not compile until the builder knows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    #[default]
    ShortText,
    LongText,
    Number,
    Phone,
    Email,
    SingleChoice,
    MultiChoice,
    Date,
    Payment,
}

impl FieldType {
    pub const ALL: [FieldType; 9] = [
        FieldType::ShortText,
        FieldType::LongText,
        FieldType::Number,
        FieldType::Phone,
        FieldType::Email,
        FieldType::SingleChoice,
        FieldType::MultiChoice,
        FieldType::Date,
        FieldType::Payment,
    ];

    /// The type of a field kind.
    pub fn of(kind: &FieldKind) -> FieldType {
        match kind {
            FieldKind::ShortText => FieldType::ShortText,
            FieldKind::LongText => FieldType::LongText,
            FieldKind::Number { .. } => FieldType::Number,
            FieldKind::Phone => FieldType::Phone,
            FieldKind::Email => FieldType::Email,
            FieldKind::SingleChoice { .. } => FieldType::SingleChoice,
            FieldKind::MultiChoice { .. } => FieldType::MultiChoice,
            FieldKind::Date => FieldType::Date,
            FieldKind::Payment(_) => FieldType::Payment,
        }
    }

    /// The wire name, the same as [`FieldKind::type_name`].
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::ShortText => "short_text",
            FieldType::LongText => "long_text",
            FieldType::Number => "number",
            FieldType::Phone => "phone",
            FieldType::Email => "email",
            FieldType::SingleChoice => "single_choice",
            FieldType::MultiChoice => "multi_choice",
            FieldType::Date => "date",
            FieldType::Payment => "payment",
        }
    }

    pub fn parse(s: &str) -> Option<FieldType> {
        FieldType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// What the builder calls it: (Chinese, English).
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            FieldType::ShortText => ("单行文本", "Short text"),
            FieldType::LongText => ("多行文本", "Long text"),
            FieldType::Number => ("数字", "Number"),
            FieldType::Phone => ("手机号", "Mobile number"),
            FieldType::Email => ("邮箱", "Email"),
            FieldType::SingleChoice => ("单选", "Single choice"),
            FieldType::MultiChoice => ("多选", "Multiple choice"),
            FieldType::Date => ("日期", "Date"),
            FieldType::Payment => ("付款", "Payment"),
        }
    }

    /// Whether the builder asks for options (one per line).
    pub fn has_options(self) -> bool {
        matches!(self, FieldType::SingleChoice | FieldType::MultiChoice)
    }
}

/// How a payment field's amount is decided, as the builder edits it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentModeType {
    Fixed,
    PricedOptions,
    #[default]
    PayerAmount,
}

impl PaymentModeType {
    pub const ALL: [PaymentModeType; 3] = [
        PaymentModeType::Fixed,
        PaymentModeType::PricedOptions,
        PaymentModeType::PayerAmount,
    ];

    pub fn of(mode: &PaymentMode) -> PaymentModeType {
        match mode {
            PaymentMode::Fixed { .. } => PaymentModeType::Fixed,
            PaymentMode::PricedOptions { .. } => PaymentModeType::PricedOptions,
            PaymentMode::PayerAmount { .. } => PaymentModeType::PayerAmount,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentModeType::Fixed => "fixed",
            PaymentModeType::PricedOptions => "priced_options",
            PaymentModeType::PayerAmount => "payer_amount",
        }
    }

    pub fn parse(s: &str) -> Option<PaymentModeType> {
        PaymentModeType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// What the builder calls it: (Chinese, English).
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            PaymentModeType::Fixed => ("固定金额", "Fixed amount"),
            PaymentModeType::PricedOptions => ("按选项计价", "Priced options"),
            PaymentModeType::PayerAmount => ("付款人填写金额", "Payer enters the amount"),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FieldDraft {
    pub key: String,
    pub label: String,
    pub help: String,
    pub required: bool,
    pub kind: FieldType,
    /// One option per line; for priced options `label = 12.50`.
    pub options: String,
    pub min: String,
    pub max: String,
    pub payment_mode: PaymentModeType,
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

fn choices(text: &str) -> Vec<ChoiceOption> {
    options_of(text)
        .into_iter()
        .map(|(key, label)| ChoiceOption { key, label })
        .collect()
}

fn money(s: &str, what: &str) -> Result<Money, String> {
    Money::parse_yuan(s).map_err(|e| format!("{what}: {e}"))
}

impl FieldDraft {
    pub fn new(key: String) -> FieldDraft {
        FieldDraft {
            key,
            kind: FieldType::ShortText,
            payment_mode: PaymentModeType::PayerAmount,
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
        let kind = match self.kind {
            FieldType::ShortText => FieldKind::ShortText,
            FieldType::LongText => FieldKind::LongText,
            FieldType::Number => FieldKind::Number {
                min: int(&self.min)?,
                max: int(&self.max)?,
            },
            FieldType::Phone => FieldKind::Phone,
            FieldType::Email => FieldKind::Email,
            FieldType::Date => FieldKind::Date,
            FieldType::SingleChoice => FieldKind::SingleChoice {
                options: choices(&self.options),
            },
            FieldType::MultiChoice => FieldKind::MultiChoice {
                options: choices(&self.options),
            },
            FieldType::Payment => FieldKind::Payment(match self.payment_mode {
                PaymentModeType::Fixed => PaymentMode::Fixed {
                    amount: money(&self.amount, &name)?,
                },
                PaymentModeType::PricedOptions => {
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
                PaymentModeType::PayerAmount => PaymentMode::PayerAmount {
                    min: money(&self.min, &name)?,
                    max: money(&self.max, &name)?,
                },
            }),
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
        d.kind = FieldType::of(&f.kind);
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
                d.payment_mode = PaymentModeType::Fixed;
                d.amount = amount.to_yuan_string();
            }
            FieldKind::Payment(PaymentMode::PayerAmount { min, max }) => {
                d.payment_mode = PaymentModeType::PayerAmount;
                d.min = min.to_yuan_string();
                d.max = max.to_yuan_string();
            }
            FieldKind::Payment(PaymentMode::PricedOptions {
                options,
                max_quantity,
            }) => {
                d.payment_mode = PaymentModeType::PricedOptions;
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
        for (i, kind) in FieldType::ALL.into_iter().enumerate() {
            let mut d = FieldDraft::new(format!("f{i}"));
            d.label = format!("Field {i}");
            d.kind = kind;
            d.options = "红\n黄\n蓝".into();
            drafts.push(d);
        }
        drafts[8].payment_mode = PaymentModeType::PricedOptions;
        drafts[8].options = "成人 = 50\n儿童 = 20.50".into();
        drafts[8].max_quantity = "3".into();
        let fields: Vec<Field> = drafts
            .iter()
            .map(|d| d.to_field().expect("valid"))
            .collect();
        for t in FieldType::ALL {
            assert_eq!(FieldType::parse(t.as_str()), Some(t));
        }
        assert_eq!(super::super::form::validate_fields(&fields), Ok(()));
        for (d, f) in drafts.iter().zip(&fields) {
            assert_eq!(
                FieldDraft::from_field(f).to_field().as_ref(),
                Ok(f),
                "{:?}",
                d.kind
            );
        }
    }

    #[test]
    fn bad_drafts_say_what_is_wrong() {
        let mut d = FieldDraft::new("fee".into());
        d.label = "Fee".into();
        d.kind = FieldType::Payment;
        d.payment_mode = PaymentModeType::Fixed;
        d.amount = "1.234".into();
        assert!(d.to_field().expect_err("bad amount").starts_with("Fee"));
        d.payment_mode = PaymentModeType::PricedOptions;
        d.options = "no price".into();
        assert!(d.to_field().is_err());
        d.kind = FieldType::Number;
        d.min = "x".into();
        assert!(d.to_field().is_err());
    }
}
