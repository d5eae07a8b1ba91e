//! Everything held about one payer (PIPL): `GET /admin/payer.json?q=` with a
//! mainland mobile number or an email address. Every submission with an
//! answer equal to it (on any form), each with its form, answers, amount and
//! order. Administrators only; each export is written in the audit log with
//! the payer masked.

use crate::guard::AdminSession;
use app::domain::form::{answer_text, normalise_phone, Answer};
use app::domain::{AuditAction, Money};
use app::ssr::{audit, forms, submissions, AppState};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// An order as the export shows it: number, status, amount, refunded,
/// the provider's transaction, when it was paid.
type OrderRow = (String, String, i64, i64, Option<String>, Option<i64>);

/// The most submissions one export reads.
const LIMIT: i64 = 10_000;

#[derive(Deserialize)]
pub struct PayerQuery {
    #[serde(default)]
    q: String,
}

/// The payer as the answers hold them: a normalised phone number or a
/// lower-cased email address.
fn payer_key(q: &str) -> Option<String> {
    let q = q.trim();
    if q.contains('@') {
        let e = q.to_lowercase();
        (e.len() <= 254 && app::domain::Email::parse(&e).is_ok()).then_some(e)
    } else {
        normalise_phone(q)
    }
}

pub async fn payer_json(
    State(state): State<AppState>,
    session: AdminSession,
    Query(q): Query<PayerQuery>,
) -> Response {
    let admin = match session.permit(app::domain::Permission::PersonalData) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Some(key) = payer_key(&q.q) else {
        return (
            StatusCode::BAD_REQUEST,
            "give the payer's mainland mobile number or email address: ?q=13800138000",
        )
            .into_response();
    };
    match collect(&state, &key).await {
        Ok(found) => {
            let n = found.len();
            if let Err(e) = audit::record(
                &state.db,
                &admin,
                AuditAction::ExportPayerData,
                &app::domain::form::mask_personal(&key),
                &format!("{n} submission(s)"),
            )
            .await
            {
                tracing::error!(error = ?e, "cannot audit a personal data export");
                return (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response();
            }
            let body = json!({
                "payer": key,
                "generated_at": forms::beijing_time(app::ssr::now_ms()),
                "submissions": found,
            });
            (
                [
                    (header::CONTENT_TYPE, "application/json; charset=utf-8"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"payer-data.json\"",
                    ),
                ],
                body.to_string(),
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = ?e, "cannot export a payer's data");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the payer's data could not be read",
            )
                .into_response()
        }
    }
}

async fn collect(state: &AppState, key: &str) -> anyhow::Result<Vec<Value>> {
    let rows: Vec<(String, String, i64, String, Option<i64>)> = sqlx::query_as(
        "SELECT id, form_id, created_at, answers_json, amount_fen FROM submissions \
         WHERE search_text LIKE $1 ESCAPE '\\' ORDER BY created_at LIMIT $2",
    )
    .bind(submissions::like_pattern(key))
    .bind(LIMIT)
    .fetch_all(&state.db.pool)
    .await?;
    let mut forms_seen = BTreeMap::new();
    let mut out = Vec::new();
    for (id, form_id, created_at, answers_json, amount_fen) in rows {
        let answers: BTreeMap<String, Answer> =
            serde_json::from_str(&answers_json).unwrap_or_default();
        // The search text matched; an answer must be the payer exactly.
        let theirs = answers.values().any(|a| match a {
            Answer::Text(t) => {
                let t = t.trim();
                t.eq_ignore_ascii_case(key) || normalise_phone(t).as_deref() == Some(key)
            }
            _ => false,
        });
        if !theirs {
            continue;
        }
        if !forms_seen.contains_key(&form_id) {
            forms_seen.insert(
                form_id.clone(),
                forms::form_by_id(&state.db, &form_id).await?,
            );
        }
        let form = forms_seen.get(&form_id).and_then(Option::as_ref);
        let shown: BTreeMap<String, String> = answers
            .iter()
            .map(|(k, a)| {
                let field = form.and_then(|f| f.def.fields.iter().find(|x| &x.key == k));
                (
                    field.map_or_else(|| k.clone(), |f| f.label.clone()),
                    answer_text(field, a),
                )
            })
            .collect();
        let order: Option<OrderRow> = sqlx::query_as(
            "SELECT out_trade_no, status, amount_fen, refunded_fen, transaction_id, paid_at \
                 FROM orders WHERE submission_id = $1",
        )
        .bind(&id)
        .fetch_optional(&state.db.pool)
        .await?;
        let yuan = |f: i64| {
            Money::from_fen(f)
                .map(|m| m.to_yuan_string())
                .unwrap_or_default()
        };
        out.push(json!({
            "form": form.map(|f| f.def.title.clone()),
            "submitted_at": forms::beijing_time(created_at),
            "answers": shown,
            "amount": amount_fen.map(yuan),
            "order": order.map(|(no, status, amount, refunded, tx, paid_at)| json!({
                "out_trade_no": no,
                "status": status,
                "amount": yuan(amount),
                "refunded": yuan(refunded),
                "transaction_id": tx,
                "paid_at": paid_at.map(forms::beijing_time),
            })),
        }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payers_are_named_by_phone_or_email_and_masked_in_the_audit_log() {
        assert_eq!(payer_key(" 138-0013-8000 ").as_deref(), Some("13800138000"));
        assert_eq!(payer_key("+8613800138000").as_deref(), Some("13800138000"));
        assert_eq!(
            payer_key("Li@School.Example").as_deref(),
            Some("li@school.example")
        );
        assert_eq!(payer_key("12345"), None);
        assert_eq!(payer_key("%"), None);
        assert_eq!(
            app::domain::form::mask_personal("13800138000"),
            "138****8000"
        );
        assert_eq!(
            app::domain::form::mask_personal("li@school.example"),
            "l***@school.example"
        );
    }
}
