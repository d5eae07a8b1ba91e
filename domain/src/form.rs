//! Forms, their fields and the validation of answers. Shared by the browser
//! (inline validation) and the server (the only authority on what is stored
//! and on the amount to pay).

use super::Money;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Limits that keep one submission small.
pub const MAX_FIELDS: usize = 50;
pub const MAX_SHORT_TEXT: usize = 200;
pub const MAX_LONG_TEXT: usize = 5000;
pub const MAX_OPTIONS: usize = 50;
pub const MAX_LABEL: usize = 200;
pub const MAX_QUANTITY: u32 = 99;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChoiceOption {
    pub key: String,
    pub label: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PricedOption {
    pub key: String,
    pub label: String,
    pub price: Money,
}

/// How the amount to pay is decided.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum PaymentMode {
    Fixed {
        amount: Money,
    },
    /// The payer picks one option; with `max_quantity > 1` also a quantity.
    PricedOptions {
        options: Vec<PricedOption>,
        max_quantity: u32,
    },
    /// The payer types the amount, within the bounds.
    PayerAmount {
        min: Money,
        max: Money,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FieldKind {
    ShortText,
    LongText,
    Number {
        min: Option<i64>,
        max: Option<i64>,
    },
    /// Mainland China mobile number.
    Phone,
    Email,
    SingleChoice {
        options: Vec<ChoiceOption>,
    },
    MultiChoice {
        options: Vec<ChoiceOption>,
    },
    /// `YYYY-MM-DD`.
    Date,
    Payment(PaymentMode),
}

impl FieldKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldKind::ShortText => "short_text",
            FieldKind::LongText => "long_text",
            FieldKind::Number { .. } => "number",
            FieldKind::Phone => "phone",
            FieldKind::Email => "email",
            FieldKind::SingleChoice { .. } => "single_choice",
            FieldKind::MultiChoice { .. } => "multi_choice",
            FieldKind::Date => "date",
            FieldKind::Payment(_) => "payment",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// Stable key used in answers, exports and the API.
    pub key: String,
    pub label: String,
    #[serde(default)]
    pub help: String,
    #[serde(default)]
    pub required: bool,
    #[serde(flatten)]
    pub kind: FieldKind,
}

/// Why a form definition cannot be saved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormDefError {
    #[error("a form has at most {MAX_FIELDS} fields")]
    TooManyFields,
    #[error("field keys must be 1–40 lowercase letters, digits or underscores: {0}")]
    BadKey(String),
    #[error("two fields share the key {0}")]
    DuplicateKey(String),
    #[error("every field needs a label of at most {MAX_LABEL} characters: {0}")]
    BadLabel(String),
    #[error("a form has at most one payment field")]
    TwoPaymentFields,
    #[error("the field {0} needs 1–{MAX_OPTIONS} options with distinct keys and labels")]
    BadOptions(String),
    #[error("the payment field {0} has an amount of zero or bounds in the wrong order")]
    BadAmount(String),
    #[error("the number field {0} has its minimum above its maximum")]
    BadRange(String),
    #[error(
        "the payment field {0} must be required: a payable form cannot be submitted without paying"
    )]
    OptionalPayment(String),
}

fn valid_key(k: &str) -> bool {
    (1..=40).contains(&k.len())
        && k.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn check_options<'a>(
    key: &str,
    items: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<(), FormDefError> {
    let mut keys = std::collections::BTreeSet::new();
    let mut n = 0;
    for (k, label) in items {
        n += 1;
        if !valid_key(k)
            || label.trim().is_empty()
            || label.chars().count() > MAX_LABEL
            || !keys.insert(k.to_owned())
        {
            return Err(FormDefError::BadOptions(key.to_owned()));
        }
    }
    if n == 0 || n > MAX_OPTIONS {
        return Err(FormDefError::BadOptions(key.to_owned()));
    }
    Ok(())
}

/// Checks the fields an administrator saves.
pub fn validate_fields(fields: &[Field]) -> Result<(), FormDefError> {
    if fields.len() > MAX_FIELDS {
        return Err(FormDefError::TooManyFields);
    }
    let mut keys = std::collections::BTreeSet::new();
    let mut payments = 0;
    for f in fields {
        if !valid_key(&f.key) {
            return Err(FormDefError::BadKey(f.key.clone()));
        }
        if !keys.insert(f.key.clone()) {
            return Err(FormDefError::DuplicateKey(f.key.clone()));
        }
        if f.label.trim().is_empty()
            || f.label.chars().count() > MAX_LABEL
            || f.help.chars().count() > 1000
        {
            return Err(FormDefError::BadLabel(f.key.clone()));
        }
        match &f.kind {
            FieldKind::SingleChoice { options } | FieldKind::MultiChoice { options } => {
                check_options(
                    &f.key,
                    options.iter().map(|o| (o.key.as_str(), o.label.as_str())),
                )?
            }
            FieldKind::Number {
                min: Some(a),
                max: Some(b),
            } if a > b => return Err(FormDefError::BadRange(f.key.clone())),
            FieldKind::Payment(mode) => {
                payments += 1;
                if payments > 1 {
                    return Err(FormDefError::TwoPaymentFields);
                }
                match mode {
                    PaymentMode::Fixed { amount } if amount.fen() == 0 => {
                        return Err(FormDefError::BadAmount(f.key.clone()))
                    }
                    PaymentMode::PayerAmount { min, max } if min.fen() == 0 || min > max => {
                        return Err(FormDefError::BadAmount(f.key.clone()))
                    }
                    PaymentMode::PricedOptions {
                        options,
                        max_quantity,
                    } => {
                        check_options(
                            &f.key,
                            options.iter().map(|o| (o.key.as_str(), o.label.as_str())),
                        )?;
                        if options.iter().any(|o| o.price.fen() == 0)
                            || *max_quantity == 0
                            || *max_quantity > MAX_QUANTITY
                        {
                            return Err(FormDefError::BadAmount(f.key.clone()));
                        }
                    }
                    _ => {}
                }
                if !f.required {
                    return Err(FormDefError::OptionalPayment(f.key.clone()));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Why one answer was refused. The interface turns the code into text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerError {
    Required,
    WrongType,
    TooLong { max: usize },
    NotANumber,
    OutOfRange,
    BadPhone,
    BadEmail,
    BadDate,
    UnknownOption,
    BadAmount,
    BadQuantity,
    UnknownField,
}

impl AnswerError {
    pub fn code(&self) -> &'static str {
        match self {
            AnswerError::Required => "required",
            AnswerError::WrongType => "wrong_type",
            AnswerError::TooLong { .. } => "too_long",
            AnswerError::NotANumber => "not_a_number",
            AnswerError::OutOfRange => "out_of_range",
            AnswerError::BadPhone => "bad_phone",
            AnswerError::BadEmail => "bad_email",
            AnswerError::BadDate => "bad_date",
            AnswerError::UnknownOption => "unknown_option",
            AnswerError::BadAmount => "bad_amount",
            AnswerError::BadQuantity => "bad_quantity",
            AnswerError::UnknownField => "unknown_field",
        }
    }
}

/// A stored answer, already checked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Answer {
    Text(String),
    Number(i64),
    Choices(Vec<String>),
    Option { option: String, quantity: u32 },
}

/// Checked answers and, for a form with a payment field, the amount to pay.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckedAnswers {
    pub answers: BTreeMap<String, Answer>,
    pub amount: Option<Money>,
}

/// A mainland mobile number: 11 digits starting 13–19 (an optional +86 is dropped).
pub fn normalise_phone(s: &str) -> Option<String> {
    let digits: String = s.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let d = digits
        .strip_prefix("+86")
        .or_else(|| digits.strip_prefix("86").filter(|r| r.len() == 11))
        .unwrap_or(&digits);
    let b = d.as_bytes();
    (b.len() == 11
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
        && b.iter().all(u8::is_ascii_digit))
    .then(|| d.to_owned())
}

fn valid_date(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    if parts.len() != 3 || parts[0].len() != 4 || parts[1].len() != 2 || parts[2].len() != 2 {
        return false;
    }
    let (Ok(y), Ok(m), Ok(d)) = (
        parts[0].parse::<u32>(),
        parts[1].parse::<u32>(),
        parts[2].parse::<u32>(),
    ) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1900..=2200).contains(&y) && (1..=days).contains(&d)
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn is_blank(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}

/// Checks one field's answer; `Ok(None)` for an optional field left empty.
fn check_field(
    f: &Field,
    v: Option<&Value>,
) -> Result<Option<(Answer, Option<Money>)>, AnswerError> {
    if let FieldKind::Payment(PaymentMode::Fixed { amount }) = &f.kind {
        // Nothing to answer: the price is the form's.
        return Ok(Some((Answer::Text(amount.to_yuan_string()), Some(*amount))));
    }
    if is_blank(v) {
        // A payment field is required whatever its flag says (forms saved
        // before that rule): a payable form is never submitted unpaid.
        return if f.required || matches!(f.kind, FieldKind::Payment(_)) {
            Err(AnswerError::Required)
        } else {
            Ok(None)
        };
    }
    let v = v.unwrap_or(&Value::Null);
    let text = || {
        as_text(v)
            .map(|s| s.trim().to_owned())
            .ok_or(AnswerError::WrongType)
    };
    let answer = match &f.kind {
        FieldKind::ShortText | FieldKind::LongText => {
            let max = if matches!(f.kind, FieldKind::ShortText) {
                MAX_SHORT_TEXT
            } else {
                MAX_LONG_TEXT
            };
            let s = match v {
                Value::String(s) => s.trim().to_owned(),
                _ => return Err(AnswerError::WrongType),
            };
            if s.chars().count() > max {
                return Err(AnswerError::TooLong { max });
            }
            (Answer::Text(s), None)
        }
        FieldKind::Number { min, max } => {
            let n = match v {
                Value::Number(n) => n.as_i64().ok_or(AnswerError::NotANumber)?,
                Value::String(s) => s
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| AnswerError::NotANumber)?,
                _ => return Err(AnswerError::WrongType),
            };
            if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
                return Err(AnswerError::OutOfRange);
            }
            (Answer::Number(n), None)
        }
        FieldKind::Phone => (
            Answer::Text(normalise_phone(&text()?).ok_or(AnswerError::BadPhone)?),
            None,
        ),
        FieldKind::Email => (
            Answer::Text(
                super::Email::parse(&text()?)
                    .map_err(|_| AnswerError::BadEmail)?
                    .to_string(),
            ),
            None,
        ),
        FieldKind::Date => {
            let s = text()?;
            if !valid_date(&s) {
                return Err(AnswerError::BadDate);
            }
            (Answer::Text(s), None)
        }
        FieldKind::SingleChoice { options } => {
            let s = text()?;
            if !options.iter().any(|o| o.key == s) {
                return Err(AnswerError::UnknownOption);
            }
            (Answer::Choices(vec![s]), None)
        }
        FieldKind::MultiChoice { options } => {
            let picked: Vec<String> = match v {
                Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map(str::to_owned).ok_or(AnswerError::WrongType))
                    .collect::<Result<_, _>>()?,
                Value::String(s) => vec![s.clone()],
                _ => return Err(AnswerError::WrongType),
            };
            let mut chosen: Vec<String> = Vec::new();
            for p in picked {
                if !options.iter().any(|o| o.key == p) {
                    return Err(AnswerError::UnknownOption);
                }
                if !chosen.contains(&p) {
                    chosen.push(p);
                }
            }
            (Answer::Choices(chosen), None)
        }
        FieldKind::Payment(PaymentMode::Fixed { amount }) => {
            (Answer::Text(amount.to_yuan_string()), Some(*amount))
        }
        FieldKind::Payment(PaymentMode::PayerAmount { min, max }) => {
            // Only an exact yuan string: a JSON number could be a float.
            let s = match v {
                Value::String(s) => s.clone(),
                _ => return Err(AnswerError::WrongType),
            };
            let m = Money::parse_yuan(&s).map_err(|_| AnswerError::BadAmount)?;
            if m < *min || m > *max {
                return Err(AnswerError::OutOfRange);
            }
            (Answer::Text(m.to_yuan_string()), Some(m))
        }
        FieldKind::Payment(PaymentMode::PricedOptions {
            options,
            max_quantity,
        }) => {
            let (key, quantity) = match v {
                Value::String(s) => (s.clone(), 1u32),
                Value::Object(o) => {
                    let key = o
                        .get("option")
                        .and_then(Value::as_str)
                        .ok_or(AnswerError::WrongType)?
                        .to_owned();
                    let q = match o.get("quantity") {
                        None => 1,
                        Some(q) => q
                            .as_u64()
                            .or_else(|| q.as_str().and_then(|s| s.trim().parse().ok()))
                            .and_then(|q| u32::try_from(q).ok())
                            .ok_or(AnswerError::BadQuantity)?,
                    };
                    (key, q)
                }
                _ => return Err(AnswerError::WrongType),
            };
            if quantity == 0 || quantity > *max_quantity {
                return Err(AnswerError::BadQuantity);
            }
            let option = options
                .iter()
                .find(|o| o.key == key)
                .ok_or(AnswerError::UnknownOption)?;
            let total = option
                .price
                .fen()
                .checked_mul(i64::from(quantity))
                .and_then(|f| Money::from_fen(f).ok())
                .ok_or(AnswerError::BadAmount)?;
            (
                Answer::Option {
                    option: key,
                    quantity,
                },
                Some(total),
            )
        }
    };
    Ok(Some(answer))
}

/// Checks every answer against the form. Unknown keys are refused; the amount
/// comes from the form definition, never from the payer (except the bounded
/// payer-entered mode).
pub fn check_answers(
    fields: &[Field],
    answers: &serde_json::Map<String, Value>,
) -> Result<CheckedAnswers, BTreeMap<String, AnswerError>> {
    let mut errors = BTreeMap::new();
    for key in answers.keys() {
        if !fields.iter().any(|f| &f.key == key) {
            errors.insert(key.clone(), AnswerError::UnknownField);
        }
    }
    let mut out = BTreeMap::new();
    let mut amount = None;
    for f in fields {
        match check_field(f, answers.get(&f.key)) {
            Ok(Some((a, m))) => {
                out.insert(f.key.clone(), a);
                if m.is_some() {
                    amount = m;
                }
            }
            Ok(None) => {}
            Err(e) => {
                errors.insert(f.key.clone(), e);
            }
        }
    }
    if errors.is_empty() {
        Ok(CheckedAnswers {
            answers: out,
            amount,
        })
    } else {
        Err(errors)
    }
}

/// The amount the current answers come to, for the live total on the page.
pub fn preview_amount(fields: &[Field], answers: &serde_json::Map<String, Value>) -> Option<Money> {
    let f = fields
        .iter()
        .find(|f| matches!(f.kind, FieldKind::Payment(_)))?;
    check_field(f, answers.get(&f.key))
        .ok()
        .flatten()
        .and_then(|(_, m)| m)
}

/// The text of an answer, as shown in tables and exports.
pub fn answer_text(field: Option<&Field>, a: &Answer) -> String {
    let label_of = |k: &str| -> String {
        match field.map(|f| &f.kind) {
            Some(FieldKind::SingleChoice { options })
            | Some(FieldKind::MultiChoice { options }) => options
                .iter()
                .find(|o| o.key == k)
                .map(|o| o.label.clone())
                .unwrap_or_else(|| k.to_owned()),
            Some(FieldKind::Payment(PaymentMode::PricedOptions { options, .. })) => options
                .iter()
                .find(|o| o.key == k)
                .map(|o| o.label.clone())
                .unwrap_or_else(|| k.to_owned()),
            _ => k.to_owned(),
        }
    };
    match a {
        Answer::Text(s) => s.clone(),
        Answer::Number(n) => n.to_string(),
        Answer::Choices(c) => c.iter().map(|k| label_of(k)).collect::<Vec<_>>().join("、"),
        Answer::Option { option, quantity } if *quantity > 1 => {
            format!("{} × {quantity}", label_of(option))
        }
        Answer::Option { option, .. } => label_of(option),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn yuan(s: &str) -> Money {
        Money::parse_yuan(s).expect("amount")
    }

    fn fields() -> Vec<Field> {
        let f = |key: &str, required: bool, kind: FieldKind| Field {
            key: key.into(),
            label: key.into(),
            help: String::new(),
            required,
            kind,
        };
        let opts = |keys: &[&str]| {
            keys.iter()
                .map(|k| ChoiceOption {
                    key: (*k).into(),
                    label: k.to_uppercase(),
                })
                .collect::<Vec<_>>()
        };
        vec![
            f("name", true, FieldKind::ShortText),
            f("bio", false, FieldKind::LongText),
            f(
                "age",
                false,
                FieldKind::Number {
                    min: Some(1),
                    max: Some(120),
                },
            ),
            f("phone", true, FieldKind::Phone),
            f("email", false, FieldKind::Email),
            f(
                "size",
                false,
                FieldKind::SingleChoice {
                    options: opts(&["s", "m", "l"]),
                },
            ),
            f(
                "days",
                false,
                FieldKind::MultiChoice {
                    options: opts(&["sat", "sun"]),
                },
            ),
            f("date", false, FieldKind::Date),
            f(
                "fee",
                true,
                FieldKind::Payment(PaymentMode::PayerAmount {
                    min: yuan("0.01"),
                    max: yuan("10000"),
                }),
            ),
        ]
    }

    fn check(v: Value) -> Result<CheckedAnswers, BTreeMap<String, AnswerError>> {
        check_answers(&fields(), v.as_object().expect("object"))
    }

    #[test]
    fn a_complete_submission_is_accepted_and_normalised() {
        let ok = check(json!({"name": " 张三 ", "phone": "+86 138-0013-8000", "email": "A@B.CN", "age": "30", "size": "m", "days": ["sat", "sun", "sat"], "date": "2024-02-29", "fee": "12.34"})).expect("valid");
        assert_eq!(ok.amount, Some(yuan("12.34")));
        assert_eq!(ok.answers.get("name"), Some(&Answer::Text("张三".into())));
        assert_eq!(
            ok.answers.get("phone"),
            Some(&Answer::Text("13800138000".into()))
        );
        assert_eq!(
            ok.answers.get("email"),
            Some(&Answer::Text("a@b.cn".into()))
        );
        assert_eq!(ok.answers.get("age"), Some(&Answer::Number(30)));
        assert_eq!(
            ok.answers.get("days"),
            Some(&Answer::Choices(vec!["sat".into(), "sun".into()]))
        );
    }

    #[test]
    fn every_rule_has_its_error() {
        let errs = check(json!({"name": "", "phone": "12345678901", "email": "nope", "age": 0, "size": "xl", "days": ["mon"], "date": "2023-02-29", "fee": "1.234", "hack": 1})).expect_err("invalid");
        assert_eq!(errs.get("name"), Some(&AnswerError::Required));
        assert_eq!(errs.get("phone"), Some(&AnswerError::BadPhone));
        assert_eq!(errs.get("email"), Some(&AnswerError::BadEmail));
        assert_eq!(errs.get("age"), Some(&AnswerError::OutOfRange));
        assert_eq!(errs.get("size"), Some(&AnswerError::UnknownOption));
        assert_eq!(errs.get("days"), Some(&AnswerError::UnknownOption));
        assert_eq!(errs.get("date"), Some(&AnswerError::BadDate));
        assert_eq!(errs.get("fee"), Some(&AnswerError::BadAmount));
        assert_eq!(errs.get("hack"), Some(&AnswerError::UnknownField));
        let errs =
            check(json!({"name": ["x"], "phone": "13800138000", "fee": 12.34, "age": "abc"}))
                .expect_err("invalid");
        assert_eq!(errs.get("name"), Some(&AnswerError::WrongType));
        assert_eq!(
            errs.get("fee"),
            Some(&AnswerError::WrongType),
            "a float is never an amount"
        );
        assert_eq!(errs.get("age"), Some(&AnswerError::NotANumber));
        let errs =
            check(json!({"name": "x".repeat(201), "phone": "13800138000", "fee": "10000.01"}))
                .expect_err("invalid");
        assert_eq!(errs.get("name"), Some(&AnswerError::TooLong { max: 200 }));
        assert_eq!(errs.get("fee"), Some(&AnswerError::OutOfRange));
        assert_eq!(
            check(json!({"name": "x", "phone": "13800138000", "fee": "0"}))
                .expect_err("zero")
                .get("fee"),
            Some(&AnswerError::OutOfRange)
        );
    }

    #[test]
    fn the_amount_comes_from_the_form_not_the_payer() {
        let priced = vec![Field {
            key: "ticket".into(),
            label: "Ticket".into(),
            help: String::new(),
            required: true,
            kind: FieldKind::Payment(PaymentMode::PricedOptions {
                options: vec![
                    PricedOption {
                        key: "adult".into(),
                        label: "成人".into(),
                        price: yuan("50"),
                    },
                    PricedOption {
                        key: "child".into(),
                        label: "儿童".into(),
                        price: yuan("20.50"),
                    },
                ],
                max_quantity: 5,
            }),
        }];
        let ok = check_answers(
            &priced,
            json!({"ticket": {"option": "child", "quantity": 3}})
                .as_object()
                .expect("obj"),
        )
        .expect("valid");
        assert_eq!(ok.amount, Some(yuan("61.50")));
        assert_eq!(
            check_answers(
                &priced,
                json!({"ticket": "adult"}).as_object().expect("obj")
            )
            .expect("valid")
            .amount,
            Some(yuan("50"))
        );
        let forged = check_answers(
            &priced,
            json!({"ticket": {"option": "adult", "price": "0.01"}})
                .as_object()
                .expect("obj"),
        )
        .expect("price is ignored");
        assert_eq!(forged.amount, Some(yuan("50")));
        let errs = check_answers(
            &priced,
            json!({"ticket": {"option": "adult", "quantity": 6}})
                .as_object()
                .expect("obj"),
        )
        .expect_err("too many");
        assert_eq!(errs.get("ticket"), Some(&AnswerError::BadQuantity));
        let fixed = vec![Field {
            key: "fee".into(),
            label: "Fee".into(),
            help: String::new(),
            required: true,
            kind: FieldKind::Payment(PaymentMode::Fixed { amount: yuan("88") }),
        }];
        assert_eq!(
            check_answers(&fixed, json!({"fee": "0.01"}).as_object().expect("obj"))
                .expect("valid")
                .amount,
            Some(yuan("88"))
        );
    }

    #[test]
    fn form_definitions_are_checked() {
        assert_eq!(validate_fields(&fields()), Ok(()));
        let mut two = fields();
        two.push(Field {
            key: "fee2".into(),
            label: "x".into(),
            help: String::new(),
            required: false,
            kind: FieldKind::Payment(PaymentMode::Fixed { amount: yuan("1") }),
        });
        assert_eq!(validate_fields(&two), Err(FormDefError::TwoPaymentFields));
        let mut dup = fields();
        dup.push(dup[0].clone());
        assert_eq!(
            validate_fields(&dup),
            Err(FormDefError::DuplicateKey("name".into()))
        );
        let bad_key = vec![Field {
            key: "Name".into(),
            label: "x".into(),
            help: String::new(),
            required: false,
            kind: FieldKind::ShortText,
        }];
        assert!(matches!(
            validate_fields(&bad_key),
            Err(FormDefError::BadKey(_))
        ));
        let bounds = vec![Field {
            key: "f".into(),
            label: "x".into(),
            help: String::new(),
            required: false,
            kind: FieldKind::Payment(PaymentMode::PayerAmount {
                min: yuan("10"),
                max: yuan("1"),
            }),
        }];
        assert!(matches!(
            validate_fields(&bounds),
            Err(FormDefError::BadAmount(_))
        ));
        // A payable form cannot be submitted without paying (issue 10, finding 9).
        let optional = vec![Field {
            key: "fee".into(),
            label: "Fee".into(),
            help: String::new(),
            required: false,
            kind: FieldKind::Payment(PaymentMode::PayerAmount {
                min: yuan("1"),
                max: yuan("10"),
            }),
        }];
        assert_eq!(
            validate_fields(&optional),
            Err(FormDefError::OptionalPayment("fee".into()))
        );
        // One stored before the rule is still required when answered.
        let errs =
            check_answers(&optional, json!({}).as_object().expect("obj")).expect_err("unpaid");
        assert_eq!(errs.get("fee"), Some(&AnswerError::Required));
        let empty = vec![Field {
            key: "c".into(),
            label: "x".into(),
            help: String::new(),
            required: false,
            kind: FieldKind::SingleChoice { options: vec![] },
        }];
        assert!(matches!(
            validate_fields(&empty),
            Err(FormDefError::BadOptions(_))
        ));
    }

    #[test]
    fn phones_and_dates() {
        assert_eq!(
            normalise_phone("13800138000").as_deref(),
            Some("13800138000")
        );
        assert_eq!(
            normalise_phone("8613800138000").as_deref(),
            Some("13800138000")
        );
        for bad in [
            "1380013800",
            "23800138000",
            "12800138000",
            "138001380001",
            "1380013800a",
        ] {
            assert_eq!(normalise_phone(bad), None, "{bad}");
        }
        assert!(
            valid_date("2024-02-29")
                && !valid_date("2023-02-29")
                && !valid_date("2024-13-01")
                && !valid_date("24-01-01")
        );
    }

    #[test]
    fn fields_serialise_flat() {
        let f = &fields()[8];
        let v = serde_json::to_value(f).expect("json");
        assert_eq!(v["type"], "payment");
        assert_eq!(v["mode"], "payer_amount");
        assert_eq!(v["min"], 1);
        let back: Field = serde_json::from_value(v).expect("back");
        assert_eq!(&back, f);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FormStatus {
    Draft,
    Published,
    Closed,
}

impl FormStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FormStatus::Draft => "draft",
            FormStatus::Published => "published",
            FormStatus::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<FormStatus> {
        [FormStatus::Draft, FormStatus::Published, FormStatus::Closed]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// Whether a form takes submissions now, and if not, why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    Open,
    NotPublished,
    Closed,
    NotYetOpen,
    Ended,
    Full,
}

/// Everything an administrator edits about a form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FormDef {
    pub slug: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub fields: Vec<Field>,
    /// Unix milliseconds.
    #[serde(default)]
    pub opens_at: Option<i64>,
    #[serde(default)]
    pub closes_at: Option<i64>,
    #[serde(default)]
    pub max_submissions: Option<i64>,
    #[serde(default)]
    pub success_message: String,
}

impl FormDef {
    pub fn validate(&self) -> Result<(), String> {
        super::Slug::parse(&self.slug).map_err(|e| e.to_string())?;
        if self.title.trim().is_empty() || self.title.chars().count() > 200 {
            return Err("the title is 1 to 200 characters".into());
        }
        if self.description.chars().count() > 5000 || self.success_message.chars().count() > 1000 {
            return Err("the description or success message is too long".into());
        }
        if self.max_submissions.is_some_and(|m| m < 1) {
            return Err("the maximum number of submissions is at least 1".into());
        }
        if let (Some(a), Some(b)) = (self.opens_at, self.closes_at) {
            if a >= b {
                return Err("the form must open before it closes".into());
            }
        }
        validate_fields(&self.fields).map_err(|e| e.to_string())
    }

    pub fn payment_field(&self) -> Option<&Field> {
        self.fields
            .iter()
            .find(|f| matches!(f.kind, FieldKind::Payment(_)))
    }
}

/// A form as payers see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PublicForm {
    pub slug: String,
    pub title: String,
    pub description: String,
    pub fields: Vec<Field>,
    pub success_message: String,
    pub availability: Availability,
}

/// Decides availability from the stored state and the clock.
pub fn availability(
    status: FormStatus,
    opens_at: Option<i64>,
    closes_at: Option<i64>,
    max: Option<i64>,
    count: i64,
    now_ms: i64,
) -> Availability {
    match status {
        FormStatus::Draft => Availability::NotPublished,
        FormStatus::Closed => Availability::Closed,
        FormStatus::Published if opens_at.is_some_and(|t| now_ms < t) => Availability::NotYetOpen,
        FormStatus::Published if closes_at.is_some_and(|t| now_ms >= t) => Availability::Ended,
        FormStatus::Published if max.is_some_and(|m| count >= m) => Availability::Full,
        FormStatus::Published => Availability::Open,
    }
}

/// Beijing local time `YYYY-MM-DDTHH:MM` (a `datetime-local` input) to Unix
/// milliseconds, without a time-zone library (China has no daylight saving).
pub fn beijing_local_to_ms(s: &str) -> Option<i64> {
    let (date, time) = s.trim().split_once('T')?;
    if !valid_date(date) {
        return None;
    }
    let mut d = date.split('-').map(|p| p.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.split(':').map(|p| p.parse::<i64>());
    let (hh, mm) = (t.next()?.ok()?, t.next()?.ok()?);
    if !(0..24).contains(&hh) || !(0..60).contains(&mm) {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hh - 8) * 60 + mm) * 60_000)
}

/// The inverse of [`beijing_local_to_ms`].
pub fn ms_to_beijing_local(ms: i64) -> String {
    let minutes = ms.div_euclid(60_000) + 8 * 60;
    let days = minutes.div_euclid(1440);
    let rem = minutes.rem_euclid(1440);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}", rem / 60, rem % 60)
}

#[cfg(test)]
mod time_tests {
    use super::*;

    #[test]
    fn beijing_local_times_round_trip() {
        // 2026-11-27 20:00 in Beijing is 12:00 UTC.
        assert_eq!(
            beijing_local_to_ms("2026-11-27T20:00"),
            Some(1_795_780_800_000)
        );
        assert_eq!(ms_to_beijing_local(1_795_780_800_000), "2026-11-27T20:00");
        for s in ["2024-02-29T00:00", "2000-01-01T07:59", "2099-12-31T23:59"] {
            assert_eq!(
                beijing_local_to_ms(s).map(ms_to_beijing_local).as_deref(),
                Some(s)
            );
        }
        assert_eq!(beijing_local_to_ms("2023-02-29T10:00"), None);
        assert_eq!(beijing_local_to_ms("2023-01-01T24:00"), None);
        assert_eq!(beijing_local_to_ms("nope"), None);
    }
}
