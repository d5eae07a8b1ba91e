//! CSV exports for administrators: UTF-8 with a byte-order mark (Excel opens
//! it as UTF-8), one column per field plus the payment columns, formula
//! injection neutralised, streamed in batches so that any number of rows
//! exports in constant memory.

use crate::guard::{audited, AdminSession};
use app::domain::form::{answer_text, Answer, Field};
use app::domain::Money;
use app::domain::{AuditAction, Permission};
use app::ssr::{forms, order_list, refunds, submissions, AppState};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
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
    cells.extend(fields.iter().filter(|f| f.kind.is_answered()).map(|f| {
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
    cells.push(s.channel.map(|c| c.as_str().to_owned()).unwrap_or_default());
    cells.push(s.out_trade_no.clone().unwrap_or_default());
    cells.push(s.transaction_id.clone().unwrap_or_default());
    cells.push(s.paid_at.map(forms::beijing_time).unwrap_or_default());
    line(cells)
}

/// A streamed CSV download: the BOM and header line, then the batches.
fn csv_response(
    name: &str,
    head: Vec<String>,
    rows: impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + 'static,
) -> Response {
    use futures_util::StreamExt;
    let first = futures_util::stream::once(async move {
        Ok::<_, std::io::Error>(format!("\u{feff}{}", line(head)))
    });
    let body = first.chain(rows).map(|r| r.map(String::into_bytes));
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// Rows in keyset batches as CSV lines: `fetch(after)` gives the next batch
/// (empty at the end), `render` one line, `key` the keyset position of a row.
fn batches<T, F, Fut>(
    mut fetch: F,
    render: impl Fn(&T) -> String + Send + 'static,
    key: impl Fn(&T) -> (i64, String) + Send + 'static,
) -> impl futures_util::Stream<Item = Result<String, std::io::Error>> + Send + 'static
where
    T: Send + 'static,
    F: FnMut(Option<(i64, String)>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<Vec<T>>> + Send,
{
    async_stream::stream! {
        let mut after = None;
        loop {
            let batch = match fetch(after.clone()).await {
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
            for r in &batch {
                chunk.push_str(&render(r));
            }
            after = batch.last().map(&key);
            yield Ok(chunk);
        }
    }
}

/// Fen as yuan, with a minus sign for a negative figure.
fn yuan(fen: i64) -> String {
    let m = Money::from_fen(fen.abs())
        .map(|m| m.to_yuan_string())
        .unwrap_or_default();
    if fen < 0 {
        format!("-{m}")
    } else {
        m
    }
}

/// The orders list as CSV, with the same filters as the page (query string).
pub async fn orders_csv(
    State(state): State<AppState>,
    Query(q): Query<app::pages::admin_orders::OrderQuery>,
    session: AdminSession,
) -> Response {
    let admin = match session.permit(Permission::ExportOrders) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let filter = q.filter();
    if let Err(r) = audited(&state, &admin, AuditAction::ExportOrders, "orders.csv", "").await {
        return r;
    }
    tracing::info!(admin = %admin.id, "orders exported");
    let head = [
        "创建时间 Created",
        "商户订单号 out_trade_no",
        "表单 Form",
        "金额 Amount (CNY)",
        "已退款 Refunded (CNY)",
        "状态 Status",
        "支付方式 Method",
        "支付单号 Transaction",
        "支付时间 Paid at",
        "待处理原因 Review",
        "手续费 Fee (CNY)",
        "分账 Shared (CNY)",
        "净额 Net (CNY)",
    ]
    .map(String::from)
    .to_vec();
    let db = state.db.clone();
    let rows = batches(
        move |after| {
            let (db, filter) = (db.clone(), filter.clone());
            async move { order_list::batch_after(&db, &filter, after, BATCH).await }
        },
        |o: &order_list::OrderListLine| {
            line([
                forms::beijing_time(o.created_at),
                o.out_trade_no.clone(),
                o.form_title.clone(),
                o.amount.to_yuan_string(),
                yuan(o.refunded_fen),
                o.status.as_str().to_owned(),
                o.channel.map(|c| c.as_str().to_owned()).unwrap_or_default(),
                o.transaction_id.clone().unwrap_or_default(),
                o.paid_at.map(forms::beijing_time).unwrap_or_default(),
                o.review_reason.clone().unwrap_or_default(),
                o.fee_fen.map(yuan).unwrap_or_default(),
                o.share_fen.map(yuan).unwrap_or_default(),
                if o.status.is_paid() {
                    yuan(
                        o.amount.fen()
                            - o.refunded_fen
                            - o.fee_fen.unwrap_or(0)
                            - o.share_fen.unwrap_or(0),
                    )
                } else {
                    String::new()
                },
            ])
        },
        |o| (o.created_at, o.id.clone()),
    );
    csv_response("orders.csv", head, rows)
}

/// Every refund as CSV, oldest first.
pub async fn refunds_csv(State(state): State<AppState>, session: AdminSession) -> Response {
    let admin = match session.permit(Permission::ExportOrders) {
        Ok(a) => a,
        Err(r) => return r,
    };
    if let Err(r) = audited(&state, &admin, AuditAction::ExportOrders, "refunds.csv", "").await {
        return r;
    }
    tracing::info!(admin = %admin.id, "refunds exported");
    let head = [
        "申请时间 Asked",
        "退款单号 out_refund_no",
        "商户订单号 out_trade_no",
        "退款金额 Amount (CNY)",
        "状态 Status",
        "原因 Reason",
        "操作人 By",
        "支付机构退款单号 Refund id",
        "完成时间 Settled",
        "失败原因 Failure",
    ]
    .map(String::from)
    .to_vec();
    let db = state.db.clone();
    let rows = batches(
        move |after| {
            let db = db.clone();
            async move { refunds::batch_after(&db, after, BATCH).await }
        },
        |refunds::RefundLine {
             refund: r,
             order_no,
         }: &refunds::RefundLine| {
            line([
                forms::beijing_time(r.created_at),
                r.out_refund_no.clone(),
                order_no.clone(),
                r.amount.to_yuan_string(),
                r.status.as_str().to_owned(),
                r.reason.clone(),
                r.created_by.clone(),
                r.refund_id.clone().unwrap_or_default(),
                r.settled_at.map(forms::beijing_time).unwrap_or_default(),
                r.failure.clone().unwrap_or_default(),
            ])
        },
        |l| (l.refund.created_at, l.refund.id.clone()),
    );
    csv_response("refunds.csv", head, rows)
}

pub async fn submissions_csv(
    State(state): State<AppState>,
    Path(form_id): Path<String>,
    session: AdminSession,
) -> Response {
    let admin = match session.permit(Permission::PersonalData) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let form = match forms::form_by_id(&state.db, &form_id).await {
        Ok(Some(f)) => f,
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::error!(error = ?e, "export");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    if let Err(r) = audited(
        &state,
        &admin,
        AuditAction::ExportSubmissions,
        &form_id,
        &form.def.title,
    )
    .await
    {
        return r;
    }
    tracing::info!(admin = %admin.id, form = %form_id, "submissions exported");
    let fields = form.def.fields.clone();
    let mut head = vec!["提交时间 Submitted".to_owned()];
    head.extend(
        fields
            .iter()
            .filter(|f| f.kind.is_answered())
            .map(|f| f.label.clone()),
    );
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
    let rows = batches(
        move |after| {
            let (db, form_id) = (db.clone(), form_id.clone());
            async move { submissions::batch_after(&db, &form_id, after, BATCH).await }
        },
        move |s| row(&fields, s),
        |s| (s.created_at, s.id.clone()),
    );
    csv_response(&format!("{}-submissions.csv", form.def.slug), head, rows)
}

/// The day a bills export is of: `date` (`YYYY-MM-DD`, Beijing), `account`
/// (id; empty for the environment's) and `provider`.
#[derive(serde::Deserialize)]
pub struct BillDay {
    date: String,
    #[serde(default)]
    account: String,
    provider: String,
}

/// A reconciled day's totals and discrepancies as CSV: one line per
/// discrepancy after a line of totals.
pub async fn bills_csv(
    State(state): State<AppState>,
    session: AdminSession,
    Query(q): Query<BillDay>,
) -> Response {
    use app::pages::admin_bills::{kind_label, status_label};
    use app::ssr::pay::bills;
    let admin = match session.permit(Permission::ExportOrders) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let (Ok(date), Some(provider)) = (
        chrono::NaiveDate::parse_from_str(q.date.trim(), "%Y-%m-%d"),
        app::domain::Provider::parse(q.provider.trim()),
    ) else {
        return (
            StatusCode::BAD_REQUEST,
            "date is YYYY-MM-DD and provider a provider",
        )
            .into_response();
    };
    let account = Some(q.account.trim()).filter(|a| !a.is_empty());
    let (run, found) = match bills::run_of(&state, account, provider, date).await {
        Ok(Some(r)) => r,
        Ok(None) => return (StatusCode::NOT_FOUND, "that day was not reconciled").into_response(),
        Err(e) => {
            tracing::error!(error = ?e, "bills export");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let name = format!(
        "bills-{}-{}-{}.csv",
        run.bill_date,
        run.provider,
        if run.account_key.is_empty() {
            "env"
        } else {
            &run.account_key
        }
    );
    if let Err(r) = audited(&state, &admin, AuditAction::ExportOrders, &name, "").await {
        return r;
    }
    let head = [
        "账单日期 Bill date",
        "渠道 Provider",
        "差异 Kind",
        "商户订单号 out_trade_no",
        "退款单号 out_refund_no",
        "订单 Order",
        "我方 Ours (CNY)",
        "账单 Bill (CNY)",
        "说明 Detail",
        "处理人 Resolved by",
        "处理时间 Resolved at",
        "处理说明 Resolution",
    ]
    .map(String::from)
    .to_vec();
    let amount = |f: Option<i64>| f.map(yuan).unwrap_or_default();
    let mut body = line([
        run.bill_date.clone(),
        run.provider.clone(),
        status_label(&run.status).to_owned(),
        String::new(),
        String::new(),
        String::new(),
        yuan(run.ours_paid_fen - run.ours_refunded_fen),
        yuan(run.bill_paid_fen - run.bill_refunded_fen),
        format!(
            "fees {} · net {} · {} lines, {} matched",
            yuan(run.fee_fen),
            yuan(run.bill_paid_fen - run.bill_refunded_fen - run.fee_fen),
            run.bill_payments + run.bill_refunds,
            run.matched
        ),
        String::new(),
        String::new(),
        String::new(),
    ]);
    for d in found {
        let (by, at, note) = d
            .resolved
            .map(|r| (r.by, forms::beijing_time(r.at), r.note))
            .unwrap_or_default();
        body.push_str(&line([
            run.bill_date.clone(),
            run.provider.clone(),
            kind_label(d.found.kind.as_str()).to_owned(),
            d.found.out_trade_no,
            d.found.out_refund_no.unwrap_or_default(),
            d.found.order_id.unwrap_or_default(),
            amount(d.found.ours_fen),
            amount(d.found.bill_fen),
            d.found.detail,
            by,
            at,
            note,
        ]));
    }
    csv_response(
        &name,
        head,
        futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) }),
    )
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
