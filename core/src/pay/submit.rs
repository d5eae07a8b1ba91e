//! Submitting a form: the one use case behind the JSON API, the page's
//! server function and the plain (no-JavaScript) form POST. The answers are
//! checked against the form here, on the server, and the amount to pay comes
//! from the form, never from the caller.

use crate::store::forms::{self, SubmitError};
use crate::store::orders::{self, OrderRecord};
use crate::Core;
use domain::form::{answers_from_form, check_answers, AnswerError, Availability};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The answers as they arrived.
pub enum Answers<'a> {
    /// A JSON object, key by key (the API and the hydrated page).
    Json(&'a Map<String, Value>),
    /// The name/value pairs of a plain form POST.
    FormPairs(&'a [(String, String)]),
}

/// What became of a submission.
#[derive(Debug)]
pub enum Submission {
    /// Stored; with its payment order when the form takes a payment.
    Stored {
        submission_id: String,
        order: Option<Box<OrderRecord>>,
        /// What the form says after a submission without payment.
        success_message: String,
    },
    /// No such form, or not published.
    NotFound,
    /// The form does not take submissions now (closed, not yet open, ended, full).
    Unavailable(Availability),
    /// Some answers were refused, by field key.
    Invalid(BTreeMap<String, AnswerError>),
}

/// Checks and stores a submission of the form at `slug`, with its order.
#[tracing::instrument(name = "submit", skip(core, answers), fields(form = %slug))]
pub async fn submit(core: &Core, slug: &str, answers: Answers<'_>) -> anyhow::Result<Submission> {
    let Some(form) = forms::form_by_slug(&core.db, slug).await? else {
        return Ok(Submission::NotFound);
    };
    let availability = form.availability();
    if availability == Availability::NotPublished {
        return Ok(Submission::NotFound);
    }
    if availability != Availability::Open {
        return Ok(Submission::Unavailable(availability));
    }
    let pairs_answers;
    let answers = match answers {
        Answers::Json(a) => a,
        Answers::FormPairs(pairs) => {
            pairs_answers = answers_from_form(&form.def.fields, pairs);
            &pairs_answers
        }
    };
    let checked = match check_answers(&form.def.fields, answers) {
        Ok(c) => c,
        Err(errors) => return Ok(Submission::Invalid(errors)),
    };
    match forms::submit(&core.db, &form, &checked, core.pay.order_ttl_ms).await {
        Ok(s) => {
            let order = match s.order {
                Some(o) => orders::by_id(&core.db, &o.id).await?.map(Box::new),
                None => None,
            };
            if let Some(o) = &order {
                tracing::info!(order = %o.id, out_trade_no = %o.out_trade_no, amount = %o.amount, "order created");
            }
            Ok(Submission::Stored {
                submission_id: s.submission_id,
                order,
                success_message: form.def.success_message.clone(),
            })
        }
        Err(SubmitError::Unavailable(a)) => Ok(Submission::Unavailable(a)),
        Err(SubmitError::Unexpected(e)) => Err(e),
    }
}
