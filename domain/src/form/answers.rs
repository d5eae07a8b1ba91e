//! Answer checking: each answer against its field, the amount to pay, and
//! the text of an answer as tables and exports show it.

use super::fields::*;
use crate::Money;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Why one answer was refused. The interface turns the code into text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerError {
    Required,
    WrongType,
    TooLong {
        max: usize,
    },
    NotANumber,
    OutOfRange,
    BadPhone,
    BadEmail,
    BadDate,
    BadTime,
    BadIdCard,
    BadRegion,
    UnknownOption,
    BadAmount,
    BadQuantity,
    UnknownField,
    /// An item has not that many left.
    SoldOut,
    /// This phone number or email has reached the form's limit.
    PayerLimit,
    /// No such discount code for this form, or expired, or used up.
    BadDiscount,
    /// This phone number made today's submissions.
    DailyLimit,
    /// This phone number's orders reached today's amount.
    DailyAmount,
    /// An upload is unknown, belongs elsewhere, or there are too many.
    BadUpload,
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
            AnswerError::BadTime => "bad_time",
            AnswerError::BadIdCard => "bad_id_card",
            AnswerError::BadRegion => "bad_region",
            AnswerError::UnknownOption => "unknown_option",
            AnswerError::BadAmount => "bad_amount",
            AnswerError::BadQuantity => "bad_quantity",
            AnswerError::UnknownField => "unknown_field",
            AnswerError::SoldOut => "sold_out",
            AnswerError::PayerLimit => "payer_limit",
            AnswerError::BadDiscount => "bad_discount",
            AnswerError::DailyLimit => "daily_limit",
            AnswerError::DailyAmount => "daily_amount",
            AnswerError::BadUpload => "bad_upload",
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
    Option {
        option: String,
        quantity: u32,
    },
    /// A multi-item payment: item key → quantity (only those taken).
    Items(BTreeMap<String, u32>),
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

pub(super) fn valid_date(s: &str) -> bool {
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

/// Who a submission is from, for a per-payer limit: the answer to the
/// form's first phone field, else its first email field (both normalised by
/// checking).
pub fn payer_key(fields: &[Field], answers: &BTreeMap<String, Answer>) -> Option<(String, String)> {
    [FieldKind::Phone, FieldKind::Email]
        .iter()
        .find_map(|kind| {
            let f = fields.iter().find(|f| &f.kind == kind)?;
            match answers.get(&f.key) {
                Some(Answer::Text(t)) => {
                    Some((f.key.clone(), format!("{}:{t}", f.kind.type_name())))
                }
                _ => None,
            }
        })
}

/// What a ticked consent field stores.
pub const CONSENTED: &str = "同意";

/// `HH:MM`, 24-hour.
pub(super) fn valid_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 5
        && b[2] == b':'
        && [b[0], b[1], b[3], b[4]].iter().all(u8::is_ascii_digit)
        && (b[0] - b'0') * 10 + (b[1] - b'0') < 24
        && b[3] < b'6'
}

/// A resident identity card number (GB 11643-1999): six digits of region,
/// the birth date `YYYYMMDD`, three digits of sequence and an ISO 7064
/// MOD 11-2 check character (`X` for ten). Returns it with an upper-case `X`.
pub fn normalise_id_card(s: &str) -> Option<String> {
    let id = s.trim().to_ascii_uppercase();
    let b = id.as_bytes();
    if b.len() != 18
        || !b[..17].iter().all(u8::is_ascii_digit)
        || !(b[17].is_ascii_digit() || b[17] == b'X')
        || !(b'1'..=b'8').contains(&b[0])
    {
        return None;
    }
    let birth = format!("{}-{}-{}", &id[6..10], &id[10..12], &id[12..14]);
    if !valid_date(&birth) {
        return None;
    }
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = b[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize];
    (b[17] == check).then_some(id)
}

/// The longest region answer: a district code, or its names typed out (the
/// page without JavaScript). The server resolves it against the bundled
/// division codes and stores the names.
pub const MAX_REGION_TEXT: usize = 100;

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn is_blank(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) | Some(Value::Bool(false)) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}

/// Checks one field's answer; `Ok(None)` for an optional field left empty.
/// `required` is the field's own flag or what its rule requires now.
fn check_field(
    f: &Field,
    required: bool,
    v: Option<&Value>,
) -> Result<Option<(Answer, Option<Money>)>, AnswerError> {
    if let FieldKind::Payment(PaymentMode::Fixed { amount }) = &f.kind {
        // Nothing to answer: the price is the form's.
        return Ok(Some((Answer::Text(amount.to_yuan_string()), Some(*amount))));
    }
    if !f.kind.is_answered() {
        return Ok(None);
    }
    if let FieldKind::Consent { .. } = &f.kind {
        // An unticked box sends nothing; anything but a tick is no consent.
        return if v.is_some_and(super::consent_given) {
            Ok(Some((Answer::Text(CONSENTED.to_owned()), None)))
        } else if required {
            Err(AnswerError::Required)
        } else {
            Ok(None)
        };
    }
    if is_blank(v) {
        // A payment field is required whatever its flag says (forms saved
        // before that rule): a payable form is never submitted unpaid.
        return if required || matches!(f.kind, FieldKind::Payment(_)) {
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
                crate::Email::parse(&text()?)
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
        FieldKind::Time => {
            let s = text()?;
            if !valid_time(&s) {
                return Err(AnswerError::BadTime);
            }
            (Answer::Text(s), None)
        }
        FieldKind::DateTime => {
            // `datetime-local` may add seconds; minutes are enough.
            let s = text()?;
            let s: String = s.chars().take(16).collect();
            if s.len() != 16 || super::beijing_local_to_ms(&s).is_none() {
                return Err(AnswerError::BadDate);
            }
            (Answer::Text(s), None)
        }
        FieldKind::IdCard => (
            Answer::Text(normalise_id_card(&text()?).ok_or(AnswerError::BadIdCard)?),
            None,
        ),
        FieldKind::Region => {
            let s = text()?;
            if s.chars().count() > MAX_REGION_TEXT {
                return Err(AnswerError::BadRegion);
            }
            (Answer::Text(s), None)
        }
        FieldKind::Upload { max_files, .. } => {
            let ids: Vec<String> = match v {
                Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map(str::to_owned).ok_or(AnswerError::WrongType))
                    .collect::<Result<_, _>>()?,
                Value::String(s) => vec![s.clone()],
                _ => return Err(AnswerError::WrongType),
            };
            let mut unique: Vec<String> = Vec::new();
            for id in ids {
                if crate::Token::parse(&id).is_err() {
                    return Err(AnswerError::BadUpload);
                }
                if !unique.contains(&id) {
                    unique.push(id);
                }
            }
            if unique.len() > *max_files as usize {
                return Err(AnswerError::BadUpload);
            }
            (Answer::Choices(unique), None)
        }
        FieldKind::Consent { .. } | FieldKind::Section => return Ok(None),
        FieldKind::Hidden => {
            let s = text()?;
            if s.chars().count() > MAX_SHORT_TEXT {
                return Err(AnswerError::TooLong {
                    max: MAX_SHORT_TEXT,
                });
            }
            (Answer::Text(s), None)
        }
        FieldKind::SingleChoice { options } | FieldKind::Dropdown { options } => {
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
        FieldKind::Payment(PaymentMode::Items { items }) => {
            let Value::Object(given) = v else {
                return Err(AnswerError::WrongType);
            };
            if given.keys().any(|k| !items.iter().any(|i| &i.key == k)) {
                return Err(AnswerError::UnknownOption);
            }
            let mut taken = BTreeMap::new();
            let mut total: i64 = 0;
            for item in items {
                let q = match given.get(&item.key) {
                    None | Some(Value::Null) => 0,
                    Some(Value::String(s)) if s.trim().is_empty() => 0,
                    Some(q) => q
                        .as_u64()
                        .or_else(|| q.as_str().and_then(|s| s.trim().parse().ok()))
                        .and_then(|q| u32::try_from(q).ok())
                        .ok_or(AnswerError::BadQuantity)?,
                };
                if q < item.min || q > item.max {
                    return Err(AnswerError::BadQuantity);
                }
                if q > 0 {
                    total = item
                        .price
                        .fen()
                        .checked_mul(i64::from(q))
                        .and_then(|t| t.checked_add(total))
                        .ok_or(AnswerError::BadAmount)?;
                    taken.insert(item.key.clone(), q);
                }
            }
            if taken.is_empty() {
                return Err(AnswerError::Required);
            }
            let total = Money::from_fen(total).map_err(|_| AnswerError::BadAmount)?;
            (Answer::Items(taken), Some(total))
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

/// Checks every answer against the form and its rules (the answers of fields
/// a rule hides are dropped). Unknown keys are refused; the amount
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
    let states = super::field_states(fields, answers);
    for (f, state) in fields.iter().zip(states) {
        // A field its rule hides is neither asked nor kept.
        if !state.shown {
            continue;
        }
        match check_field(f, state.required, answers.get(&f.key)) {
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
    check_field(f, f.required, answers.get(&f.key))
        .ok()
        .flatten()
        .and_then(|(_, m)| m)
}

/// The text of an answer, as shown in tables and exports.
pub fn answer_text(field: Option<&Field>, a: &Answer) -> String {
    let label_of = |k: &str| -> String {
        match field.map(|f| &f.kind) {
            Some(FieldKind::SingleChoice { options })
            | Some(FieldKind::MultiChoice { options })
            | Some(FieldKind::Dropdown { options }) => options
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
    if let (Some(FieldKind::Upload { .. }), Answer::Choices(ids)) = (field.map(|f| &f.kind), a) {
        return format!("{} 个文件 files", ids.len());
    }
    match a {
        Answer::Text(s) => s.clone(),
        Answer::Number(n) => n.to_string(),
        Answer::Choices(c) => c.iter().map(|k| label_of(k)).collect::<Vec<_>>().join("、"),
        Answer::Option { option, quantity } if *quantity > 1 => {
            format!("{} × {quantity}", label_of(option))
        }
        Answer::Option { option, .. } => label_of(option),
        Answer::Items(taken) => {
            let items: &[PricedItem] = match field.map(|f| &f.kind) {
                Some(FieldKind::Payment(PaymentMode::Items { items })) => items,
                _ => &[],
            };
            taken
                .iter()
                .map(|(k, q)| {
                    let label = items
                        .iter()
                        .find(|i| &i.key == k)
                        .map_or(k.as_str(), |i| i.label.as_str());
                    format!("{label} × {q}")
                })
                .collect::<Vec<_>>()
                .join("、")
        }
    }
}

/// Builds the answers of a plain form POST: repeated names become lists, a
/// priced option's quantity travels as `{key}__quantity`, an item's as
/// `{key}__{item}`.
pub fn answers_from_form(
    fields: &[Field],
    pairs: &[(String, String)],
) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    for f in fields {
        let values: Vec<&str> = pairs
            .iter()
            .filter(|(k, _)| k == &f.key)
            .map(|(_, v)| v.as_str())
            .collect();
        let quantity = pairs
            .iter()
            .find(|(k, _)| k == &format!("{}__quantity", f.key))
            .map(|(_, v)| v.clone());
        if let FieldKind::Payment(PaymentMode::Items { items }) = &f.kind {
            let prefix = format!("{}__", f.key);
            let given: serde_json::Map<String, Value> = pairs
                .iter()
                .filter_map(|(k, v)| {
                    let item = k.strip_prefix(&prefix)?;
                    items
                        .iter()
                        .any(|i| i.key == item)
                        .then(|| (item.to_owned(), Value::String(v.clone())))
                })
                .collect();
            if !given.is_empty() {
                out.insert(f.key.clone(), Value::Object(given));
            }
            continue;
        }
        let value = match (&f.kind, values.as_slice()) {
            (_, []) => continue,
            (FieldKind::MultiChoice { .. } | FieldKind::Upload { .. }, vs) => {
                Value::Array(vs.iter().map(|v| Value::String((*v).to_owned())).collect())
            }
            (FieldKind::Payment(PaymentMode::PricedOptions { .. }), [v, ..]) => match quantity {
                Some(q) => serde_json::json!({"option": v, "quantity": q}),
                None => Value::String((*v).to_owned()),
            },
            (_, [v, ..]) => Value::String((*v).to_owned()),
        };
        out.insert(f.key.clone(), value);
    }
    // Unknown names are kept so that validation can refuse them.
    for (k, v) in pairs {
        let item_of_a_field = k
            .split_once("__")
            .is_some_and(|(f, _)| fields.iter().any(|x| x.key == f));
        if !item_of_a_field && !fields.iter().any(|f| &f.key == k) {
            out.insert(k.clone(), Value::String(v.clone()));
        }
    }
    out
}

/// Whether a field's answers are masked in the administrators' lists (a phone
/// or ID card number): shown in full only on a reveal, which is audited.
pub fn masked_in_lists(kind: &FieldKind) -> bool {
    matches!(kind, FieldKind::Phone | FieldKind::IdCard)
}

/// A phone number, ID number or email as lists show it: `138****5678`,
/// `1101**********1234`, `z***@example.com`.
pub fn mask_personal(text: &str) -> String {
    if let Some((user, domain)) = text.split_once('@') {
        return format!("{}***@{domain}", user.chars().next().unwrap_or('*'));
    }
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    let (head, tail) = match n {
        0..=4 => return "*".repeat(n),
        5..=7 => (0, 2),
        8..=11 => (3, 4),
        _ => (4, 4),
    };
    chars[..head]
        .iter()
        .chain(std::iter::repeat_n(&'*', n - head - tail))
        .chain(&chars[n - tail..])
        .collect()
}

#[cfg(test)]
mod masking_tests {
    use super::mask_personal;

    #[test]
    fn masks_keep_only_the_ends() {
        assert_eq!(mask_personal("13800138000"), "138****8000");
        assert_eq!(mask_personal("110101199003074514"), "1101**********4514");
        assert_eq!(mask_personal("zhang@example.com"), "z***@example.com");
        assert_eq!(mask_personal("123"), "***");
        assert_eq!(mask_personal(""), "");
        assert_eq!(mask_personal("12345"), "***45");
    }
}
