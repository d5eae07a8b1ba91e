//! The form's fields read from their JSON by hand, for the browser.
//!
//! `Field` is stored and sent as serde writes it: `#[serde(flatten)]` over
//! the internally tagged `FieldKind` (itself holding the internally tagged
//! `PaymentMode`), and `Condition` flattens the internally tagged `Test`.
//! serde's derive reads that through its buffered `Content` path, stamped
//! out once per type and per deserializer: ≈ 89 KB of WebAssembly, a sixth of
//! the form page's bundle (issue 14). This module reads the same JSON from a
//! parsed [`Value`] in a few hundred bytes of code per type. It follows
//! serde's rules for this format (defaults, optional fields, unknown keys
//! ignored, integers only where serde takes integers); the tests below hold
//! it to serde's answer for every kind of field.

use super::fields::{
    ChoiceOption, Field, FieldKind, PaymentMode, PricedItem, PricedOption, UploadAccept,
};
use super::logic::{Combine, Condition, Logic, LogicAction, Test};
use crate::Money;
use serde_json::{Map, Value};

/// Why a definition could not be read: the path of the part that is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the form's definition is malformed at {0}")]
pub struct DecodeError(pub String);

type Result<T> = std::result::Result<T, DecodeError>;

/// Reads a list of fields as serde would from the same JSON.
pub fn fields_from_json(v: &Value) -> Result<Vec<Field>> {
    array(v, "fields", field)
}

fn bad<T>(at: &str) -> Result<T> {
    Err(DecodeError(at.to_owned()))
}

fn object<'a>(v: &'a Value, at: &str) -> Result<&'a Map<String, Value>> {
    v.as_object().ok_or_else(|| DecodeError(at.to_owned()))
}

fn array<T>(v: &Value, at: &str, item: impl Fn(&Value, &str) -> Result<T>) -> Result<Vec<T>> {
    let Some(items) = v.as_array() else {
        return bad(at);
    };
    items
        .iter()
        .enumerate()
        .map(|(i, v)| item(v, &format!("{at}[{i}]")))
        .collect()
}

/// A required list of objects under `key`, each read by `item`.
fn objects<T>(
    o: &Map<String, Value>,
    key: &str,
    at: &str,
    item: impl Fn(&Map<String, Value>, &str) -> Result<T>,
) -> Result<Vec<T>> {
    let at = format!("{at}.{key}");
    array(o.get(key).unwrap_or(&Value::Null), &at, |v, at| {
        item(object(v, at)?, at)
    })
}

/// A required string.
fn text(o: &Map<String, Value>, key: &str, at: &str) -> Result<String> {
    match o.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => bad(&format!("{at}.{key}")),
    }
}

/// A string that defaults to empty.
fn text_or_empty(o: &Map<String, Value>, key: &str, at: &str) -> Result<String> {
    match o.get(key) {
        None => Ok(String::new()),
        Some(_) => text(o, key, at),
    }
}

fn whole(o: &Map<String, Value>, key: &str, at: &str) -> Result<Option<i64>> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| DecodeError(format!("{at}.{key}"))),
    }
}

/// A count (`u32`), with its default when absent.
fn count(o: &Map<String, Value>, key: &str, at: &str, default: Option<u32>) -> Result<u32> {
    match (o.get(key), default) {
        (None, Some(d)) => Ok(d),
        (Some(v), _) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| DecodeError(format!("{at}.{key}"))),
        (None, None) => bad(&format!("{at}.{key}")),
    }
}

fn money(o: &Map<String, Value>, key: &str, at: &str) -> Result<Money> {
    whole(o, key, at)?
        .and_then(|fen| Money::from_fen(fen).ok())
        .ok_or_else(|| DecodeError(format!("{at}.{key}")))
}

fn options(o: &Map<String, Value>, at: &str) -> Result<Vec<ChoiceOption>> {
    objects(o, "options", at, |o, at| {
        Ok(ChoiceOption {
            key: text(o, "key", at)?,
            label: text(o, "label", at)?,
        })
    })
}

fn field(v: &Value, at: &str) -> Result<Field> {
    let o = object(v, at)?;
    let required = match o.get("required") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return bad(&format!("{at}.required")),
    };
    let logic = match o.get("logic") {
        None | Some(Value::Null) => None,
        Some(v) => Some(logic(v, &format!("{at}.logic"))?),
    };
    Ok(Field {
        key: text(o, "key", at)?,
        label: text(o, "label", at)?,
        help: text_or_empty(o, "help", at)?,
        required,
        kind: kind(o, at)?,
        logic,
    })
}

fn kind(o: &Map<String, Value>, at: &str) -> Result<FieldKind> {
    Ok(match text(o, "type", at)?.as_str() {
        "short_text" => FieldKind::ShortText,
        "long_text" => FieldKind::LongText,
        "number" => FieldKind::Number {
            min: whole(o, "min", at)?,
            max: whole(o, "max", at)?,
        },
        "phone" => FieldKind::Phone,
        "email" => FieldKind::Email,
        "single_choice" => FieldKind::SingleChoice {
            options: options(o, at)?,
        },
        "multi_choice" => FieldKind::MultiChoice {
            options: options(o, at)?,
        },
        "date" => FieldKind::Date,
        "payment" => FieldKind::Payment(payment(o, at)?),
        "dropdown" => FieldKind::Dropdown {
            options: options(o, at)?,
        },
        "time" => FieldKind::Time,
        "date_time" => FieldKind::DateTime,
        "id_card" => FieldKind::IdCard,
        "region" => FieldKind::Region,
        "consent" => FieldKind::Consent {
            link: text_or_empty(o, "link", at)?,
        },
        "section" => FieldKind::Section,
        "hidden" => FieldKind::Hidden,
        "upload" => FieldKind::Upload {
            max_files: count(o, "max_files", at, Some(1))?,
            max_mb: count(o, "max_mb", at, Some(5))?,
            accept: match o.get("accept").and_then(Value::as_str) {
                None if !o.contains_key("accept") => UploadAccept::default(),
                Some("images") => UploadAccept::Images,
                Some("pdf") => UploadAccept::Pdf,
                Some("images_and_pdf") => UploadAccept::ImagesAndPdf,
                _ => return bad(&format!("{at}.accept")),
            },
        },
        _ => return bad(&format!("{at}.type")),
    })
}

fn payment(o: &Map<String, Value>, at: &str) -> Result<PaymentMode> {
    Ok(match text(o, "mode", at)?.as_str() {
        "fixed" => PaymentMode::Fixed {
            amount: money(o, "amount", at)?,
        },
        "priced_options" => PaymentMode::PricedOptions {
            options: objects(o, "options", at, |o, at| {
                Ok(PricedOption {
                    key: text(o, "key", at)?,
                    label: text(o, "label", at)?,
                    price: money(o, "price", at)?,
                })
            })?,
            max_quantity: count(o, "max_quantity", at, None)?,
        },
        "payer_amount" => PaymentMode::PayerAmount {
            min: money(o, "min", at)?,
            max: money(o, "max", at)?,
        },
        "items" => PaymentMode::Items {
            items: objects(o, "items", at, |o, at| {
                Ok(PricedItem {
                    key: text(o, "key", at)?,
                    label: text(o, "label", at)?,
                    price: money(o, "price", at)?,
                    min: count(o, "min", at, Some(0))?,
                    max: count(o, "max", at, None)?,
                    stock: match o.get("stock") {
                        None | Some(Value::Null) => None,
                        Some(_) => Some(count(o, "stock", at, None)?),
                    },
                })
            })?,
        },
        _ => return bad(&format!("{at}.mode")),
    })
}

fn logic(v: &Value, at: &str) -> Result<Logic> {
    let o = object(v, at)?;
    let action = match o.get("action").and_then(Value::as_str) {
        Some("show") => LogicAction::Show,
        Some("require") => LogicAction::Require,
        _ => return bad(&format!("{at}.action")),
    };
    let combine = match o.get("combine") {
        None => Combine::default(),
        Some(v) => match v.as_str() {
            Some("all") => Combine::All,
            Some("any") => Combine::Any,
            _ => return bad(&format!("{at}.combine")),
        },
    };
    let conditions = objects(o, "conditions", at, |o, at| {
        let test = match text(o, "op", at)?.as_str() {
            "equals" => Test::Equals {
                value: text(o, "value", at)?,
            },
            "one_of" => Test::OneOf {
                values: array(o.get("values").unwrap_or(&Value::Null), at, |v, at| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| DecodeError(at.to_owned()))
                })?,
            },
            "filled" => Test::Filled,
            _ => return bad(&format!("{at}.op")),
        };
        Ok(Condition {
            field: text(o, "field", at)?,
            test,
        })
    })?;
    Ok(Logic {
        action,
        combine,
        conditions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn money(fen: i64) -> Money {
        Money::from_fen(fen).expect("an amount")
    }

    fn field(key: &str, kind: FieldKind) -> Field {
        Field {
            key: key.to_owned(),
            label: format!("标签 {key}"),
            help: String::new(),
            required: false,
            kind,
            logic: None,
        }
    }

    fn choices() -> Vec<ChoiceOption> {
        vec![
            ChoiceOption {
                key: "o1".into(),
                label: "需要".into(),
            },
            ChoiceOption {
                key: "o2".into(),
                label: "不需要".into(),
            },
        ]
    }

    /// One field of every kind and payment mode, with and without rules.
    fn every_kind() -> Vec<Field> {
        let mut fields = vec![
            field("a", FieldKind::ShortText),
            field("b", FieldKind::LongText),
            field(
                "c",
                FieldKind::Number {
                    min: Some(-3),
                    max: None,
                },
            ),
            field("d", FieldKind::Phone),
            field("e", FieldKind::Email),
            field("f", FieldKind::SingleChoice { options: choices() }),
            field("g", FieldKind::MultiChoice { options: choices() }),
            field("h", FieldKind::Date),
            field("i", FieldKind::Dropdown { options: choices() }),
            field("j", FieldKind::Time),
            field("k", FieldKind::DateTime),
            field("l", FieldKind::IdCard),
            field("m", FieldKind::Region),
            field(
                "n",
                FieldKind::Consent {
                    link: "https://example.com/terms".into(),
                },
            ),
            field("o", FieldKind::Section),
            field("p", FieldKind::Hidden),
            field(
                "q",
                FieldKind::Upload {
                    max_files: 3,
                    max_mb: 10,
                    accept: UploadAccept::ImagesAndPdf,
                },
            ),
            field(
                "r",
                FieldKind::Payment(PaymentMode::Fixed {
                    amount: money(8000),
                }),
            ),
            field(
                "s",
                FieldKind::Payment(PaymentMode::PricedOptions {
                    options: vec![PricedOption {
                        key: "o1".into(),
                        label: "成人".into(),
                        price: money(8000),
                    }],
                    max_quantity: 5,
                }),
            ),
            field(
                "t",
                FieldKind::Payment(PaymentMode::PayerAmount {
                    min: money(1),
                    max: money(100_000),
                }),
            ),
            field(
                "u",
                FieldKind::Payment(PaymentMode::Items {
                    items: vec![
                        PricedItem {
                            key: "o1".into(),
                            label: "成人票".into(),
                            price: money(8000),
                            min: 0,
                            max: 5,
                            stock: Some(50),
                        },
                        PricedItem {
                            key: "o2".into(),
                            label: "儿童票".into(),
                            price: money(4000),
                            min: 1,
                            max: 5,
                            stock: None,
                        },
                    ],
                }),
            ),
        ];
        fields[1].help = "一行\n两行".into();
        fields[1].required = true;
        fields[8].logic = Some(Logic {
            action: LogicAction::Show,
            combine: Combine::Any,
            conditions: vec![
                Condition {
                    field: "f".into(),
                    test: Test::Equals { value: "o1".into() },
                },
                Condition {
                    field: "g".into(),
                    test: Test::OneOf {
                        values: vec!["o1".into(), "o2".into()],
                    },
                },
                Condition {
                    field: "a".into(),
                    test: Test::Filled,
                },
            ],
        });
        fields[2].logic = Some(Logic {
            action: LogicAction::Require,
            combine: Combine::All,
            conditions: vec![],
        });
        fields
    }

    /// What serde reads from this JSON, and what this module reads.
    fn both(v: Value) -> (Option<Vec<Field>>, Option<Vec<Field>>) {
        (
            serde_json::from_value::<Vec<Field>>(v.clone()).ok(),
            fields_from_json(&v).ok(),
        )
    }

    #[test]
    fn every_kind_reads_back_as_serde_wrote_it() {
        let fields = every_kind();
        let v = serde_json::to_value(&fields).expect("json");
        assert_eq!(fields_from_json(&v), Ok(fields));
    }

    #[test]
    fn defaults_and_unknown_keys_as_serde_takes_them() {
        let v = json!([
            {"key": "a", "label": "A", "type": "upload", "future": 1},
            {"key": "b", "label": "B", "type": "consent", "help": "h", "required": true},
            {"key": "c", "label": "C", "type": "number", "min": null},
            {"key": "d", "label": "D", "type": "payment", "mode": "items",
             "items": [{"key": "o1", "label": "x", "price": 100, "max": 2, "stock": null}]},
            {"key": "e", "label": "E", "type": "dropdown", "options": [],
             "logic": {"action": "require", "conditions": [{"field": "a", "op": "filled"}]}},
            {"key": "f", "label": "F", "type": "short_text", "logic": null},
        ]);
        let (serde, ours) = both(v);
        assert!(serde.is_some());
        assert_eq!(ours, serde);
    }

    #[test]
    fn what_serde_refuses_is_refused() {
        for bad in [
            json!({"key": "a"}),
            json!([{"key": "a", "label": "A"}]),
            json!([{"key": "a", "label": "A", "type": "teleport"}]),
            json!([{"key": 1, "label": "A", "type": "phone"}]),
            json!([{"key": "a", "label": "A", "type": "payment", "mode": "fixed", "amount": -1}]),
            json!([{"key": "a", "label": "A", "type": "payment", "mode": "fixed", "amount": 1.5}]),
            json!([{"key": "a", "label": "A", "type": "payment", "mode": "priced_options", "options": []}]),
            json!([{"key": "a", "label": "A", "type": "upload", "max_files": -1}]),
            json!([{"key": "a", "label": "A", "type": "upload", "accept": "video"}]),
            json!([{"key": "a", "label": "A", "type": "phone", "required": "yes"}]),
            json!([{"key": "a", "label": "A", "type": "phone", "logic": {"action": "hide", "conditions": []}}]),
            json!([{"key": "a", "label": "A", "type": "phone",
                    "logic": {"action": "show", "conditions": [{"field": "b", "op": "near"}]}}]),
        ] {
            let (serde, ours) = both(bad.clone());
            assert_eq!((serde.is_some(), ours.is_some()), (false, false), "{bad}");
        }
    }
}
