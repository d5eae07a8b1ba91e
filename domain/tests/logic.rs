//! The conditional-field cases of `logic_cases.json`, run natively and in
//! WebAssembly (`wasm-bindgen-test-runner`, by `cargo xtask test`): the
//! browser and the server evaluate the rules with this same code. The
//! black-box test `server/tests/api/logic.rs` submits the same cases to the
//! real server. Also the proof of work, solved by the page and checked by
//! the server.

use domain::form::{check_answers, field_states, validate_fields, FormDef};
use serde_json::Value;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const CASES: &str = include_str!("logic_cases.json");

#[test]
fn every_logic_case_holds() {
    let all: Value = serde_json::from_str(CASES).expect("cases");
    let def: FormDef = serde_json::from_value(all["form"].clone()).expect("form");
    assert_eq!(validate_fields(&def.fields), Ok(()));
    let cases = all["cases"].as_array().expect("cases");
    assert!(cases.len() >= 7);
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let answers = case["answers"].as_object().expect("answers");
        let states = field_states(&def.fields, answers);
        let shown: Vec<bool> = states.iter().map(|s| s.shown).collect();
        let required: Vec<bool> = states.iter().map(|s| s.required).collect();
        let want = |k: &str| -> Vec<bool> {
            case[k]
                .as_array()
                .expect(k)
                .iter()
                .map(|b| b.as_bool().expect("bool"))
                .collect()
        };
        assert_eq!(shown, want("shown"), "{name}: shown");
        assert_eq!(required, want("required"), "{name}: required");
        match (check_answers(&def.fields, answers), case.get("stored")) {
            (Ok(checked), Some(stored)) => {
                let kept: Vec<&str> = checked.answers.keys().map(String::as_str).collect();
                let stored: Vec<&str> = stored
                    .as_array()
                    .expect("stored")
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                assert_eq!(kept, stored, "{name}: kept");
            }
            (Err(errors), None) => {
                let codes: serde_json::Map<String, Value> = errors
                    .iter()
                    .map(|(k, e)| (k.clone(), Value::String(e.code().to_owned())))
                    .collect();
                assert_eq!(Value::Object(codes), case["errors"], "{name}: errors");
            }
            (result, _) => panic!("{name}: unexpected {result:?}"),
        }
    }
}

#[test]
fn rules_must_look_back_at_answerable_fields() {
    let all: Value = serde_json::from_str(CASES).expect("cases");
    let def: FormDef = serde_json::from_value(all["form"].clone()).expect("form");
    let refused = |fields: &[domain::form::Field]| validate_fields(fields).is_err();
    // A rule on a later field, on itself, on an unknown option, or on the payment field.
    let mut f = def.fields.clone();
    f.swap(0, 1);
    assert!(refused(&f), "a rule on a later field");
    let mut f = def.fields.clone();
    f[2].logic.as_mut().expect("rule").conditions[0].field = "note".into();
    assert!(refused(&f), "a rule on itself");
    let mut f = def.fields.clone();
    f[1].logic.as_mut().expect("rule").conditions[0].test = domain::form::Test::Equals {
        value: "maybe".into(),
    };
    assert!(refused(&f), "an option that does not exist");
    let mut f = def.fields.clone();
    f[1].logic.as_mut().expect("rule").conditions.clear();
    assert!(refused(&f), "a rule without conditions");
}

/// The proof of work a form asks for under a burst is solved in the browser
/// (WebAssembly) and checked on the server (native) by the same code: both
/// find the same first nonce, known here from an independent computation
/// (Python's `hashlib.sha256` over `challenge:nonce`).
#[test]
fn a_proof_of_work_solved_in_the_browser_is_the_one_the_server_finds() {
    use domain::pow::{check, parse_solution, solution, solve};
    for (challenge, bits, first) in [
        ("demo.1760000000.AbCd.tag", 12, 2049),
        ("报名.1.x.y", 16, 104_078),
    ] {
        assert_eq!(solve(challenge, bits), first, "{challenge} at {bits} bits");
        assert!(check(challenge, first, bits));
        assert!(!check(challenge, first - 1, bits), "not a solution");
        let sent = solution(challenge, first);
        assert_eq!(parse_solution(&sent), Some((challenge, first)));
    }
}
