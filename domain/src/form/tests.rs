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
        logic: None,
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
        logic: None,
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
        logic: None,
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
        logic: None,
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
        logic: None,
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
        logic: None,
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
        logic: None,
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
        logic: None,
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

fn newer_fields() -> Vec<Field> {
    let f = |key: &str, required: bool, kind: FieldKind| Field {
        key: key.into(),
        label: key.into(),
        help: String::new(),
        required,
        logic: None,
        kind,
    };
    vec![
        f("intro", false, FieldKind::Section),
        f(
            "size",
            true,
            FieldKind::Dropdown {
                options: vec![ChoiceOption {
                    key: "m".into(),
                    label: "M 码".into(),
                }],
            },
        ),
        f("at", false, FieldKind::Time),
        f("starts", false, FieldKind::DateTime),
        f("id", false, FieldKind::IdCard),
        f("home", false, FieldKind::Region),
        f(
            "terms",
            true,
            FieldKind::Consent {
                link: "/terms".into(),
            },
        ),
        f("source", false, FieldKind::Hidden),
    ]
}

fn check_newer(v: Value) -> Result<CheckedAnswers, BTreeMap<String, AnswerError>> {
    check_answers(&newer_fields(), v.as_object().expect("object"))
}

#[test]
fn id_card_numbers_are_checked_by_birth_date_and_check_digit() {
    // Check digits computed by GB 11643's MOD 11-2 (the second is an X).
    assert_eq!(
        normalise_id_card("11010519491231002x").as_deref(),
        Some("11010519491231002X")
    );
    assert_eq!(
        normalise_id_card(" 440524198001010013 ").as_deref(),
        Some("440524198001010013")
    );
    for bad in [
        "11010519491231002",   // 17 characters
        "110105194912310021",  // wrong check digit
        "110105194902300020",  // 30 February
        "010105194912310026",  // no region starts with 0
        "11010519491231002Y",  // not a check character
        "1101051949123１002X", // a full-width digit
        "",
    ] {
        assert_eq!(normalise_id_card(bad), None, "{bad}");
    }
    assert!(masked_in_lists(&FieldKind::IdCard));
}

#[test]
fn newer_field_types_check_their_answers() {
    let ok = check_newer(json!({
        "intro": "ignored", "size": "m", "at": "09:30", "starts": "2026-12-24T19:00:00",
        "id": "11010519491231002x", "home": "440305", "terms": "on", "source": "poster"
    }))
    .expect("valid");
    assert!(
        !ok.answers.contains_key("intro"),
        "a heading stores nothing"
    );
    assert_eq!(
        ok.answers.get("size"),
        Some(&Answer::Choices(vec!["m".into()]))
    );
    assert_eq!(
        ok.answers.get("starts"),
        Some(&Answer::Text("2026-12-24T19:00".into()))
    );
    assert_eq!(
        ok.answers.get("id"),
        Some(&Answer::Text("11010519491231002X".into()))
    );
    assert_eq!(
        ok.answers.get("terms"),
        Some(&Answer::Text(CONSENTED.into()))
    );
    assert_eq!(
        ok.answers.get("source"),
        Some(&Answer::Text("poster".into()))
    );
    let field = newer_fields().into_iter().nth(1);
    assert_eq!(
        answer_text(field.as_ref(), &Answer::Choices(vec!["m".into()])),
        "M 码"
    );

    let errs = check_newer(json!({
        "size": "xl", "at": "24:00", "starts": "2026-02-30T10:00", "id": "110105194912310021",
        "home": "广".repeat(MAX_REGION_TEXT + 1), "terms": "no", "source": "x".repeat(MAX_SHORT_TEXT + 1)
    }))
    .expect_err("all wrong");
    assert_eq!(errs.get("size"), Some(&AnswerError::UnknownOption));
    assert_eq!(errs.get("at"), Some(&AnswerError::BadTime));
    assert_eq!(errs.get("starts"), Some(&AnswerError::BadDate));
    assert_eq!(errs.get("id"), Some(&AnswerError::BadIdCard));
    assert_eq!(errs.get("home"), Some(&AnswerError::BadRegion));
    assert_eq!(errs.get("terms"), Some(&AnswerError::Required));
    assert_eq!(
        errs.get("source"),
        Some(&AnswerError::TooLong {
            max: MAX_SHORT_TEXT
        })
    );
    assert_eq!(
        check_newer(json!({"size": "m", "terms": false})).expect_err("unticked")["terms"],
        AnswerError::Required
    );
    for t in ["9:30", "12:60", "ab:cd", "12:3", "12-30"] {
        assert!(!answers::valid_time(t), "{t}");
    }
    assert!(answers::valid_time("23:59"));
}

#[test]
fn headings_and_hidden_fields_cannot_be_required_and_links_are_safe() {
    let mut fields = newer_fields();
    fields[0].required = true;
    assert_eq!(
        validate_fields(&fields),
        Err(FormDefError::RequiredUnanswerable("intro".into()))
    );
    fields[0].required = false;
    assert_eq!(validate_fields(&fields), Ok(()));
    for bad in [
        "javascript:alert(1)",
        "//evil.example/x",
        "http://plain.example",
        "https://a b",
    ] {
        fields[6].kind = FieldKind::Consent { link: bad.into() };
        assert_eq!(
            validate_fields(&fields),
            Err(FormDefError::BadLink("terms".into())),
            "{bad}"
        );
    }
    fields[1].kind = FieldKind::Dropdown { options: vec![] };
    fields[6].kind = FieldKind::Consent {
        link: String::new(),
    };
    assert_eq!(
        validate_fields(&fields),
        Err(FormDefError::BadOptions("size".into()))
    );
}

#[test]
fn items_add_up_on_the_server_within_their_bounds() {
    let item = |key: &str, price: &str, min: u32, max: u32| PricedItem {
        key: key.into(),
        label: key.to_uppercase(),
        price: yuan(price),
        min,
        max,
        stock: Some(10),
    };
    let fields = vec![Field {
        key: "tickets".into(),
        label: "Tickets".into(),
        help: String::new(),
        required: true,
        logic: None,
        kind: FieldKind::Payment(PaymentMode::Items {
            items: vec![item("adult", "80", 0, 5), item("child", "40.50", 0, 3)],
        }),
    }];
    assert_eq!(validate_fields(&fields), Ok(()));
    let check = |v: Value| check_answers(&fields, v.as_object().expect("object"));
    let ok = check(json!({"tickets": {"adult": 2, "child": "1"}})).expect("valid");
    assert_eq!(ok.amount, Some(yuan("200.50")));
    let Some(Answer::Items(taken)) = ok.answers.get("tickets") else {
        panic!("items: {ok:?}");
    };
    assert_eq!(
        answer_text(fields.first(), &Answer::Items(taken.clone())),
        "ADULT × 2、CHILD × 1"
    );
    // Zero of an item is not kept; none at all is no order.
    let one = check(json!({"tickets": {"adult": 1, "child": 0}})).expect("valid");
    assert_eq!(
        one.answers.get("tickets"),
        Some(&Answer::Items([("adult".to_owned(), 1)].into()))
    );
    let code = |v: Value| check(v).expect_err("refused")["tickets"].clone();
    assert_eq!(
        code(json!({"tickets": {"adult": 0}})),
        AnswerError::Required
    );
    assert_eq!(
        code(json!({"tickets": {"adult": 6}})),
        AnswerError::BadQuantity
    );
    assert_eq!(
        code(json!({"tickets": {"adult": -1}})),
        AnswerError::BadQuantity
    );
    assert_eq!(
        code(json!({"tickets": {"vip": 1}})),
        AnswerError::UnknownOption
    );
    assert_eq!(code(json!({"tickets": "adult"})), AnswerError::WrongType);
    // A plain POST sends each item as `tickets__adult`.
    let pairs = [
        ("tickets__adult".to_owned(), "1".to_owned()),
        ("tickets__child".to_owned(), "2".to_owned()),
    ];
    let answers = answers_from_form(&fields, &pairs);
    assert_eq!(
        check_answers(&fields, &answers).expect("valid").amount,
        Some(yuan("161.00"))
    );
    // Bounds are checked when the form is saved.
    let mut bad = fields.clone();
    if let FieldKind::Payment(PaymentMode::Items { items }) = &mut bad[0].kind {
        items[0].min = 6;
    }
    assert_eq!(
        validate_fields(&bad),
        Err(FormDefError::BadAmount("tickets".into()))
    );
}

#[test]
fn a_plain_post_gives_an_upload_fields_files_as_its_answer() {
    let fields = vec![Field {
        key: "card".into(),
        label: "学生证".into(),
        help: String::new(),
        required: true,
        logic: None,
        kind: FieldKind::Upload {
            max_files: 2,
            max_mb: 1,
            accept: UploadAccept::Images,
        },
    }];
    let (a, b) = (
        "0123456789abcdef0123456789abcdef",
        "fedcba9876543210fedcba9876543210",
    );
    // One file and two files alike come as repeated pairs (multipart parts).
    let one = answers_from_form(&fields, &[("card".into(), a.into())]);
    assert_eq!(one["card"], json!([a]));
    let two = answers_from_form(
        &fields,
        &[("card".into(), a.into()), ("card".into(), b.into())],
    );
    assert!(check_answers(&fields, &two).is_ok());
    let three = answers_from_form(
        &fields,
        &[
            ("card".into(), a.into()),
            ("card".into(), b.into()),
            ("card".into(), "00000000000000000000000000000000".into()),
        ],
    );
    assert_eq!(
        check_answers(&fields, &three).expect_err("too many")["card"],
        AnswerError::BadUpload
    );
}
