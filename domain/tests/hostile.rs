//! Hostile input to the domain's parsers (issue 11, part 4): money strings,
//! form answers (JSON from the API and pairs from a plain POST), form
//! definitions, dates and phone numbers. Never a panic; whatever is accepted
//! satisfies the form.
#![cfg(not(target_arch = "wasm32"))]

use domain::form::{answers_from_form, check_answers, normalise_phone, Field, FormDef};
use domain::Money;
use proptest::prelude::*;
use serde_json::{json, Value};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        ".{0,30}".prop_map(Value::String),
        "[0-9.+-]{0,16}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,10}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A form with every field type, as an administrator would save it.
fn every_field() -> Vec<Field> {
    serde_json::from_value(json!([
        {"key": "name", "label": "姓名", "required": true, "type": "short_text"},
        {"key": "note", "label": "备注", "type": "long_text"},
        {"key": "age", "label": "年龄", "type": "number", "min": 0, "max": 120},
        {"key": "phone", "label": "手机", "type": "phone"},
        {"key": "email", "label": "邮箱", "type": "email"},
        {"key": "size", "label": "尺码", "type": "single_choice", "options": [{"key": "s", "label": "S"}, {"key": "m", "label": "M"}]},
        {"key": "days", "label": "日期", "type": "multi_choice", "options": [{"key": "sat", "label": "六"}, {"key": "sun", "label": "日"}]},
        {"key": "day", "label": "哪天", "type": "date"},
        {"key": "ticket", "label": "票", "required": true, "type": "payment", "mode": "priced_options", "max_quantity": 5,
         "options": [{"key": "adult", "label": "成人", "price": 8000}, {"key": "child", "label": "儿童", "price": 4000}]}
    ]))
    .expect("fields")
}

fn payer_amount() -> Vec<Field> {
    serde_json::from_value(json!([
        {"key": "amount", "label": "金额", "required": true, "type": "payment", "mode": "payer_amount", "min": 1, "max": 1000000}
    ]))
    .expect("fields")
}

fn answer_for(key: &'static str) -> impl Strategy<Value = (String, Value)> {
    let realistic = match key {
        "ticket" => prop_oneof![
            Just(json!("adult")),
            Just(json!({"option": "child", "quantity": 2})),
            (any::<i64>()).prop_map(|q| json!({"option": "adult", "quantity": q})),
        ]
        .boxed(),
        "days" => Just(json!(["sat", "sun", "sat"])).boxed(),
        "amount" => "[0-9]{0,9}(\\.[0-9]{0,3})?".prop_map(Value::String).boxed(),
        _ => ".{0,20}".prop_map(Value::String).boxed(),
    };
    prop_oneof![realistic, json_value()].prop_map(move |v| (key.to_owned(), v))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn money_strings_parse_exactly_or_are_refused(s in ".{0,24}", digits in "[0-9]{0,14}(\\.[0-9]{0,3})?") {
        for input in [s.as_str(), digits.as_str()] {
            if let Ok(m) = Money::parse_yuan(input) {
                // What was accepted reads back to the same amount.
                prop_assert_eq!(Money::parse_yuan(&m.to_yuan_string()).map(|x| x.fen()), Ok(m.fen()));
            }
        }
    }

    #[test]
    fn fen_round_trip(fen in any::<i64>()) {
        if let Ok(m) = Money::from_fen(fen) {
            prop_assert_eq!(Money::parse_yuan(&m.to_yuan_string()).map(|x| x.fen()), Ok(fen));
        }
    }

    #[test]
    fn answers_of_any_shape_are_checked_without_panicking(
        picked in prop::collection::vec(prop_oneof![
            answer_for("name"), answer_for("note"), answer_for("age"), answer_for("phone"),
            answer_for("email"), answer_for("size"), answer_for("days"), answer_for("day"),
            answer_for("ticket"), answer_for("unknown"),
        ], 0..12),
    ) {
        let fields = every_field();
        let answers: serde_json::Map<String, Value> = picked.into_iter().collect();
        if let Ok(checked) = check_answers(&fields, &answers) {
            // Accepted: the amount is the form's, never the payer's.
            let amount = checked.amount.expect("a payable form has an amount").fen();
            prop_assert!((4000..=8000 * 5).contains(&amount), "amount {amount}");
            prop_assert!(answers.keys().all(|k| fields.iter().any(|f| &f.key == k)));
        }
    }

    #[test]
    fn payer_amounts_stay_within_bounds(picked in answer_for("amount")) {
        let fields = payer_amount();
        let answers: serde_json::Map<String, Value> = [picked].into_iter().collect();
        if let Ok(checked) = check_answers(&fields, &answers) {
            let fen = checked.amount.expect("amount").fen();
            prop_assert!((1..=1_000_000).contains(&fen), "{fen}");
        }
    }

    #[test]
    fn plain_posts_of_any_pairs_are_checked_without_panicking(
        pairs in prop::collection::vec(("[a-z_]{0,12}", ".{0,24}"), 0..16),
    ) {
        let fields = every_field();
        let answers = answers_from_form(&fields, &pairs);
        let _ = check_answers(&fields, &answers);
    }

    #[test]
    fn form_definitions_of_any_shape_are_refused_or_valid(def in json_value(), fields in prop::collection::vec(json_value(), 0..4)) {
        let _ = serde_json::from_value::<FormDef>(def);
        let candidate = json!({"slug": "x-form", "title": "t", "fields": fields});
        if let Ok(d) = serde_json::from_value::<FormDef>(candidate) {
            let _ = d.validate();
        }
    }

    #[test]
    fn phones_and_dates_never_panic(s in ".{0,32}", local in "[0-9T:-]{0,20}") {
        if let Some(p) = normalise_phone(&s) {
            prop_assert_eq!(p.len(), 11);
            prop_assert!(p.bytes().all(|b| b.is_ascii_digit()));
        }
        let _ = domain::form::beijing_local_to_ms(&local);
        let _ = domain::form::beijing_local_to_ms(&s);
    }
}
