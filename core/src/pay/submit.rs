//! Submitting a form: the one use case behind the JSON API, the page's
//! server function and the plain (no-JavaScript) form POST. The answers are
//! checked against the form here, on the server, and the amount to pay comes
//! from the form, never from the caller.

use crate::store::forms::{self, SubmitError};
use crate::store::orders::{self, OrderRecord};
use crate::Core;
use domain::discount::{normalise_code, DISCOUNT_KEY};
use domain::form::{
    answers_from_form, check_answers, consent_given, consent_text, AnswerError, Availability,
    CONSENT_KEY,
};
use domain::pow::{parse_solution, POW_KEY};
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
    /// The address or phone number is on the blocklist.
    Blocked,
    /// The form is under a burst: solve this and submit again with the
    /// solution (`pow.solution`).
    Challenge { challenge: String, bits: u32 },
}

/// Checks and stores a submission of the form at `slug`, with its order.
#[tracing::instrument(name = "submit", skip(core, answers, client), fields(form = %slug))]
pub async fn submit(
    core: &Core,
    slug: &str,
    answers: Answers<'_>,
    client: Option<std::net::IpAddr>,
) -> anyhow::Result<Submission> {
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
    // The consent to the privacy notice, a discount code and a proof of work
    // travel beside the answers.
    let (consent, code, proof, answers) = match answers {
        Answers::Json(a) => {
            let consent = a.get(CONSENT_KEY).is_some_and(consent_given);
            let code = a
                .get(DISCOUNT_KEY)
                .map(|v| v.as_str().unwrap_or("\u{0}").to_owned());
            let proof = a.get(POW_KEY).and_then(Value::as_str).map(str::to_owned);
            let mut a = a.clone();
            a.remove(CONSENT_KEY);
            a.remove(DISCOUNT_KEY);
            a.remove(POW_KEY);
            (consent, code, proof, a)
        }
        Answers::FormPairs(pairs) => {
            let (consents, rest): (Vec<_>, Vec<_>) =
                pairs.iter().cloned().partition(|(k, _)| k == CONSENT_KEY);
            let (codes, rest): (Vec<_>, Vec<_>) =
                rest.into_iter().partition(|(k, _)| k == DISCOUNT_KEY);
            let (proofs, rest): (Vec<_>, Vec<_>) =
                rest.into_iter().partition(|(k, _)| k == POW_KEY);
            (
                consents.iter().any(|(_, v)| consent_text(v)),
                codes.into_iter().next().map(|(_, v)| v),
                proofs.into_iter().next().map(|(_, v)| v),
                answers_from_form(&form.def.fields, &rest),
            )
        }
    };
    // Under a burst, a submission carries a solved challenge, used once.
    let now = crate::now_ms();
    if core.pow.note(&form.id, now) {
        let bits = core.pow.settings.bits;
        let solved = proof
            .as_deref()
            .and_then(parse_solution)
            .is_some_and(|(c, n)| {
                core.payer_seal.check_pow_challenge(c, slug, now)
                    && domain::pow::check(c, n, bits)
                    && core.pow.take(c, now + crate::payer::POW_TTL_MS, now)
            });
        if !solved {
            if let Some(challenge) = core.payer_seal.pow_challenge(slug, now) {
                return Ok(Submission::Challenge { challenge, bits });
            }
        }
    }
    // An empty code is none; one that cannot be a code is refused.
    let code = match code.filter(|c| !c.trim().is_empty()) {
        None => None,
        Some(c) => match normalise_code(&c) {
            Some(c) => Some(c),
            None => {
                return Ok(Submission::Invalid(BTreeMap::from([(
                    DISCOUNT_KEY.to_owned(),
                    AnswerError::BadDiscount,
                )])))
            }
        },
    };
    let needs_consent = !form.def.privacy_notice.is_empty();
    let checked = match check_answers(&form.def.fields, &answers) {
        Ok(mut c) if consent || !needs_consent => {
            // A region answer names a district of the bundled divisions.
            if let Err(errors) = crate::regions::settle_answers(&form.def.fields, &mut c.answers) {
                return Ok(Submission::Invalid(errors));
            }
            c
        }
        Ok(_) => {
            return Ok(Submission::Invalid(BTreeMap::from([(
                CONSENT_KEY.to_owned(),
                AnswerError::Required,
            )])))
        }
        Err(mut errors) => {
            if needs_consent && !consent {
                errors.insert(CONSENT_KEY.to_owned(), AnswerError::Required);
            }
            return Ok(Submission::Invalid(errors));
        }
    };
    let notice = needs_consent.then(|| forms::notice_hash(&form.def.privacy_notice));
    match forms::submit(
        &core.db,
        &form,
        &checked,
        notice.as_deref(),
        code.as_deref(),
        forms::Guard {
            client,
            settings: core.pay.abuse,
        },
        core.pay.order_ttl_ms,
    )
    .await
    {
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
        Err(SubmitError::Refused(errors)) => Ok(Submission::Invalid(errors)),
        Err(SubmitError::Blocked) => Ok(Submission::Blocked),
        Err(SubmitError::Unexpected(e)) => Err(e),
    }
}
