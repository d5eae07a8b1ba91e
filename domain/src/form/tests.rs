//! Tests of field definitions and answer checking.

use super::*;
use crate::Money;
use serde_json::json;
use serde_json::Value;
use std::collections::BTreeMap;

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
    let errs = check(json!({"name": ["x"], "phone": "13800138000", "fee": 12.34, "age": "abc"}))
        .expect_err("invalid");
    assert_eq!(errs.get("name"), Some(&AnswerError::WrongType));
    assert_eq!(
        errs.get("fee"),
        Some(&AnswerError::WrongType),
        "a float is never an amount"
    );
    assert_eq!(errs.get("age"), Some(&AnswerError::NotANumber));
    let errs = check(json!({"name": "x".repeat(201), "phone": "13800138000", "fee": "10000.01"}))
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
    let errs = check_answers(&optional, json!({}).as_object().expect("obj")).expect_err("unpaid");
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
