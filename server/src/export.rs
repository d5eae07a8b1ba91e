//! CSV exports for administrators: UTF-8 with a byte-order mark (Excel opens
//! it as UTF-8), one column per field plus the payment columns, formula
//! injection neutralised, streamed in batches so that any number of rows
//! exports in constant memory.

use app::domain::form::{answer_text, Answer, Field};
use app::domain::Money;
use app::ssr::{auth, forms, submissions, AppState};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;

const BATCH: i64 = 1000;

/// One CSV cell: quoted when needed; a leading `= + - @` (or tab, CR) gets a
/// `'` so that spreadsheets show it as text instead of running it.
pub fn cell(value: &str) -> String {
    let guarded = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

fn line(cells: impl IntoIterator<Item = String>) -> String {
    let mut l = cells
        .into_iter()
        .map(|c| cell(&c))
        .collect::<Vec<_>>()
        .join(",");
    l.push_str("\r\n");
    l
}

fn row(fields: &[Field], s: &submissions::SubmissionWithOrder) -> String {
    let answers: BTreeMap<String, Answer> =
        serde_json::from_str(&s.answers_json).unwrap_or_default();
    let mut cells = vec![forms::beijing_time(s.created_at)];
    cells.extend(fields.iter().map(|f| {
        answers
            .get(&f.key)
            .map(|a| answer_text(Some(f), a))
            .unwrap_or_default()
    }));
    cells.push(
        s.amount_fen
            .and_then(|f| Money::from_fen(f).ok())
            .map(|m| m.to_yuan_string())
            .unwrap_or_default(),
    );
    cells.push(
        s.order_status
            .map(|st| st.as_str().to_owned())
            .unwrap_or_default(),
    );
    cells.push(s.channel.clone().unwrap_or_default());
    cells.push(s.out_trade_no.clone().unwrap_or_default());
    cells.push(s.transaction_id.clone().unwrap_or_default());
    cells.push(s.paid_at.map(forms::beijing_time).unwrap_or_default());
    line(cells)
}

pub async fn submissions_csv(
    State(state): State<AppState>,
    Path(form_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let signed_in = match auth::session_token_from_headers(&headers) {
        Some(token) => auth::admin_for_token(&state.db, &token)
            .await
            .ok()
            .flatten(),
        None => None,
    };
    let Some(admin) = signed_in else {
        return (StatusCode::UNAUTHORIZED, "log in as an administrator first").into_response();
    };
    let form = match forms::form_by_id(&state.db, &form_id).await {
        Ok(Some(f)) => f,
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::error!(error = ?e, "export");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    tracing::info!(admin = %admin.id, form = %form_id, "submissions exported");
    let fields = form.def.fields.clone();
    let mut head = vec!["提交时间 Submitted".to_owned()];
    head.extend(fields.iter().map(|f| f.label.clone()));
    head.extend(
        [
            "金额 Amount (CNY)",
            "支付状态 Status",
            "支付方式 Method",
            "商户订单号 out_trade_no",
            "支付单号 Transaction",
            "支付时间 Paid at",
        ]
        .map(String::from),
    );
    let db = state.db.clone();
    let stream = async_stream::stream! {
        yield Ok::<_, std::io::Error>(format!("\u{feff}{}", line(head)).into_bytes());
        let mut after = None;
        loop {
            let batch = match submissions::batch_after(&db, &form_id, after.clone(), BATCH).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = ?e, "export stopped");
                    yield Err(std::io::Error::other("export failed"));
                    return;
                }
            };
            if batch.is_empty() {
                return;
            }
            let mut chunk = String::new();
            for s in &batch {
                chunk.push_str(&row(&fields, s));
            }
            after = batch.last().map(|s| (s.created_at, s.id.clone()));
            yield Ok(chunk.into_bytes());
        }
    };
    let name = format!("{}-submissions.csv", form.def.slug);
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn cells_are_quoted_and_formulas_neutralised() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("+1"), "'+1");
        assert_eq!(cell("-2"), "'-2");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("两行\n文字"), "\"两行\n文字\"");
    }
}
