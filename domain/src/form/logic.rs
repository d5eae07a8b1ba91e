//! Conditional fields: a field is shown, or required, only when earlier
//! answers match its rule (equals / one of / is filled, combined with all or
//! any). The same code runs in the browser, to hide and show fields as the
//! payer answers, and on the server, which discards the answers of fields
//! that were not shown and requires what the rules require.

use super::fields::{Field, FieldKind, FormDefError, MAX_SHORT_TEXT};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The most conditions one field's rule combines.
pub const MAX_CONDITIONS: usize = 10;

/// What a rule does to its field when it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogicAction {
    /// Shown only while the rule holds; otherwise neither asked nor kept.
    Show,
    /// Always shown, required while the rule holds.
    Require,
}

/// How the conditions combine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    #[default]
    All,
    Any,
}

/// A test on one earlier field's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Test {
    /// The answer is this value (a choice: this option's key; several
    /// choices: this one among them).
    Equals { value: String },
    /// The answer is one of these values.
    OneOf { values: Vec<String> },
    /// Anything is answered.
    Filled,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// The key of an earlier field.
    pub field: String,
    #[serde(flatten)]
    pub test: Test,
}

/// A field's rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Logic {
    pub action: LogicAction,
    #[serde(default)]
    pub combine: Combine,
    pub conditions: Vec<Condition>,
}

/// The texts an answer offers to a test: a string, a number, each of several
/// choices, a priced option's key.
fn texts(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.trim().to_owned()],
        Value::Number(n) => vec![n.to_string()],
        Value::Bool(true) => vec!["true".to_owned()],
        Value::Array(items) => items.iter().flat_map(texts).collect(),
        Value::Object(o) => o.get("option").map(texts).unwrap_or_default(),
        _ => Vec::new(),
    }
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect()
}

impl Condition {
    fn holds(&self, answer: Option<&Value>) -> bool {
        let given = answer.map(texts).unwrap_or_default();
        match &self.test {
            Test::Filled => !given.is_empty(),
            Test::Equals { value } => given.iter().any(|g| g == value.trim()),
            Test::OneOf { values } => given.iter().any(|g| values.iter().any(|v| v.trim() == g)),
        }
    }
}

/// Where each field stands, in form order: whether it is shown and whether
/// it is required now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldState {
    pub shown: bool,
    pub required: bool,
}

/// Evaluates every field's rule against the answers so far. A condition on
/// a field that is not shown sees no answer, so hiding cascades.
pub fn field_states(fields: &[Field], answers: &Map<String, Value>) -> Vec<FieldState> {
    let mut states: Vec<FieldState> = Vec::with_capacity(fields.len());
    for f in fields {
        let holds = f.logic.as_ref().map(|logic| {
            let mut results = logic.conditions.iter().map(|c| {
                let shown = fields
                    .iter()
                    .position(|x| x.key == c.field)
                    .and_then(|i| states.get(i))
                    .is_some_and(|s| s.shown);
                c.holds(if shown { answers.get(&c.field) } else { None })
            });
            match logic.combine {
                Combine::All => results.all(|r| r),
                Combine::Any => results.any(|r| r),
            }
        });
        states.push(match (f.logic.as_ref().map(|l| l.action), holds) {
            (Some(LogicAction::Show), Some(h)) => FieldState {
                shown: h,
                required: h && f.required,
            },
            (Some(LogicAction::Require), Some(h)) => FieldState {
                shown: true,
                required: h || f.required,
            },
            _ => FieldState {
                shown: true,
                required: f.required,
            },
        });
    }
    states
}

/// Checks a field's rule when the form is saved: conditions on earlier,
/// answerable fields, values that exist, no rule on the payment field, and
/// nothing required that a payer is never asked.
pub(super) fn check_logic(fields: &[Field], index: usize) -> Result<(), FormDefError> {
    let f = &fields[index];
    let Some(logic) = &f.logic else {
        return Ok(());
    };
    let bad = || Err(FormDefError::BadLogic(f.key.clone()));
    let unanswered = matches!(f.kind, FieldKind::Section | FieldKind::Hidden);
    if matches!(f.kind, FieldKind::Payment(_))
        || (unanswered && logic.action == LogicAction::Require)
        || logic.conditions.is_empty()
        || logic.conditions.len() > MAX_CONDITIONS
    {
        return bad();
    }
    for c in &logic.conditions {
        let Some(target) = fields[..index].iter().find(|x| x.key == c.field) else {
            return bad();
        };
        if !target.kind.is_answered() {
            return bad();
        }
        let values: Vec<&String> = match &c.test {
            Test::Filled => Vec::new(),
            Test::Equals { value } => vec![value],
            Test::OneOf { values } => values.iter().collect(),
        };
        if matches!(c.test, Test::OneOf { .. }) && values.is_empty() {
            return bad();
        }
        for v in values {
            if v.trim().is_empty() || v.chars().count() > MAX_SHORT_TEXT {
                return bad();
            }
            let known = match &target.kind {
                FieldKind::SingleChoice { options }
                | FieldKind::MultiChoice { options }
                | FieldKind::Dropdown { options } => options.iter().any(|o| &o.key == v),
                _ => true,
            };
            if !known {
                return bad();
            }
        }
    }
    Ok(())
}
