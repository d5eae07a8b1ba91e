//! Daily reconciliation against a provider's trade bill (对账): for one
//! receiving account, provider and Beijing day, every line of the bill is
//! matched with what we recorded, and what does not match is kept as a
//! discrepancy. A payment the bill shows and we did not record is booked on
//! its order for review (money is never ignored). Running a day again
//! replaces its run and finds the same: nothing is booked twice.

use super::settle::{settle_as, SettleOutcome};
use crate::provider::*;
use crate::store::attempts::{self, AttemptState};
use crate::{now_ms, random_token, Core};
use anyhow::Context;
use chrono::NaiveDate;
use domain::{OrderEventKind, OrderStatus, Provider};
use std::collections::{HashMap, HashSet};

/// What a discrepancy is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DiscrepancyKind {
    /// The bill shows a payment of an order number we never made.
    UnknownPayment,
    /// The bill shows a payment we had not recorded: now booked for review.
    NotPaidHere,
    /// Paid on both sides, for different amounts.
    AmountMismatch,
    /// We recorded a payment the bill does not show.
    MissingFromBill,
    /// The bill shows a refund we never asked for.
    UnknownRefund,
    /// A refund of a different amount on each side.
    RefundMismatch,
    /// We asked for a refund the bill does not show.
    RefundMissingFromBill,
    /// The fund flow bill moved another amount for the day's payments and
    /// refunds than the trade bill says (after fees).
    FundFlowMismatch,
}

impl DiscrepancyKind {
    pub const ALL: [DiscrepancyKind; 8] = [
        DiscrepancyKind::UnknownPayment,
        DiscrepancyKind::NotPaidHere,
        DiscrepancyKind::AmountMismatch,
        DiscrepancyKind::MissingFromBill,
        DiscrepancyKind::UnknownRefund,
        DiscrepancyKind::RefundMismatch,
        DiscrepancyKind::RefundMissingFromBill,
        DiscrepancyKind::FundFlowMismatch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DiscrepancyKind::UnknownPayment => "unknown_payment",
            DiscrepancyKind::NotPaidHere => "not_paid_here",
            DiscrepancyKind::AmountMismatch => "amount_mismatch",
            DiscrepancyKind::MissingFromBill => "missing_from_bill",
            DiscrepancyKind::UnknownRefund => "unknown_refund",
            DiscrepancyKind::RefundMismatch => "refund_mismatch",
            DiscrepancyKind::RefundMissingFromBill => "refund_missing_from_bill",
            DiscrepancyKind::FundFlowMismatch => "fund_flow_mismatch",
        }
    }

    pub fn parse(s: &str) -> Option<DiscrepancyKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discrepancy {
    pub kind: DiscrepancyKind,
    pub out_trade_no: String,
    pub out_refund_no: Option<String>,
    pub order_id: Option<String>,
    pub ours_fen: Option<i64>,
    pub bill_fen: Option<i64>,
    pub detail: String,
}

/// A day's run, as stored.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct BillRun {
    pub id: String,
    pub account_key: String,
    pub provider: String,
    pub bill_date: String,
    /// matched | discrepancies | no_bill | not_ready | failed
    pub status: String,
    pub bill_payments: i64,
    pub bill_refunds: i64,
    pub matched: i64,
    pub discrepancies: i64,
    pub ours_paid_fen: i64,
    pub ours_refunded_fen: i64,
    pub bill_paid_fen: i64,
    pub bill_refunded_fen: i64,
    pub fee_fen: i64,
    pub error: Option<String>,
    pub ran_at: i64,
    /// What the fund flow bill moved for the day's payments and refunds.
    pub fund_net_fen: Option<i64>,
}

/// Unix milliseconds of a Beijing day's start and end.
pub fn beijing_day(date: NaiveDate) -> (i64, i64) {
    let start = date
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_millis() - 8 * 3_600_000)
        .unwrap_or_default();
    (start, start + 86_400_000)
}

/// What we recorded: a paid attempt, or a refund.
#[derive(Clone, Debug)]
struct Ours {
    order_id: String,
    amount_fen: i64,
    /// Its order awaits an administrator's review.
    in_review: bool,
}

impl Ours {
    fn new(order_id: String, amount_fen: i64, status: OrderStatus) -> Ours {
        Ours {
            order_id,
            amount_fen,
            in_review: status == OrderStatus::NeedsReview,
        }
    }
}

/// What we know of a number a bill shows paid.
enum Known {
    /// A payment we recorded.
    Recorded(Ours),
    /// An attempt of ours we never recorded paid.
    Unpaid(attempts::Attempt),
}

/// Our records of a Beijing day by the number the provider knows them by:
/// `sql` selects number, order id, amount and the order's status, with the
/// provider, the day's start and end and the account as `$1`..`$4`.
async fn day_records(
    state: &Core,
    sql: &str,
    provider: Provider,
    (start, end): (i64, i64),
    account_key: &str,
) -> anyhow::Result<HashMap<String, Ours>> {
    let rows: Vec<(String, String, i64, OrderStatus)> = sqlx::query_as(sql)
        .bind(provider.as_str())
        .bind(start)
        .bind(end)
        .bind(account_key)
        .fetch_all(&state.db.pool)
        .await
        .context("cannot read the day's records")?;
    Ok(rows
        .into_iter()
        .map(|(no, order_id, amount, status)| (no, Ours::new(order_id, amount, status)))
        .collect())
}

/// Reconciles one day of one account's bill at one provider, and stores the run.
#[tracing::instrument(name = "reconcile_bill", skip(state), fields(account = account.unwrap_or("default"), provider = %provider.as_str(), %date))]
pub async fn reconcile_day(
    state: &Core,
    account: Option<&str>,
    provider: Provider,
    date: NaiveDate,
) -> anyhow::Result<BillRun> {
    let account_key = account.unwrap_or("").to_owned();
    let mut run = BillRun {
        id: random_token().to_string(),
        account_key,
        provider: provider.as_str().to_owned(),
        bill_date: date.format("%Y-%m-%d").to_string(),
        status: "failed".into(),
        bill_payments: 0,
        bill_refunds: 0,
        matched: 0,
        discrepancies: 0,
        ours_paid_fen: 0,
        ours_refunded_fen: 0,
        bill_paid_fen: 0,
        bill_refunded_fen: 0,
        fee_fen: 0,
        error: None,
        ran_at: now_ms(),
        fund_net_fen: None,
    };
    let client = match crate::accounts::providers(state, account).await {
        Ok(p) => p.for_provider(provider).cloned(),
        Err(e) => {
            run.error = Some(e.to_string());
            None
        }
    };
    let Some(client) = client else {
        run.error
            .get_or_insert_with(|| "the account has no such provider".into());
        store(state, &run, &[], &[]).await?;
        return Ok(run);
    };
    let bill = match client.trade_bill(date).await {
        Ok(BillAnswer::Bill(b)) => b,
        Ok(BillAnswer::NoBill) => {
            run.status = "no_bill".into();
            Bill::default()
        }
        Ok(BillAnswer::NotReady) => {
            run.status = "not_ready".into();
            store(state, &run, &[], &[]).await?;
            return Ok(run);
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the bill");
            run.error = Some(e.to_string());
            store(state, &run, &[], &[]).await?;
            return Ok(run);
        }
    };
    let (mut found, fees) = compare(state, account, client.as_ref(), date, &bill, &mut run).await?;
    fund_flow(client.as_ref(), date, &bill, &mut run, &mut found).await;
    run.discrepancies = found.len() as i64;
    if run.status != "no_bill" || !found.is_empty() {
        run.status = if found.is_empty() {
            "matched"
        } else {
            "discrepancies"
        }
        .into();
    }
    store(state, &run, &found, &fees).await?;
    tracing::info!(status = %run.status, matched = run.matched, discrepancies = run.discrepancies, "bill reconciled");
    Ok(run)
}

/// Checks the day's fund flow bill (where the provider has one) against the
/// trade bill: the money its payments and refunds moved, fees included.
async fn fund_flow(
    client: &dyn PaymentProvider,
    date: NaiveDate,
    bill: &Bill,
    run: &mut BillRun,
    found: &mut Vec<Discrepancy>,
) {
    let expected = bill.paid_fen - bill.refunded_fen - bill.fee_fen;
    let moved = match client.fund_flow_bill(date).await {
        Ok(None) => return,
        Ok(Some(FundFlowAnswer::Flow(f))) => f.trade_net_fen(),
        Ok(Some(FundFlowAnswer::NoBill)) => 0,
        Ok(Some(FundFlowAnswer::NotReady)) => {
            run.error = Some("the fund flow bill is not ready yet: run the day again later".into());
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the fund flow bill");
            run.error = Some(format!("the fund flow bill cannot be read: {e}"));
            return;
        }
    };
    run.fund_net_fen = Some(moved);
    if moved != expected {
        found.push(Discrepancy {
            kind: DiscrepancyKind::FundFlowMismatch,
            out_trade_no: String::new(),
            out_refund_no: None,
            order_id: None,
            ours_fen: Some(expected),
            bill_fen: Some(moved),
            detail: format!(
                "the trade bill nets {expected} fen for the day (payments less refunds and fees), the fund flow bill moved {moved} fen"
            ),
        });
    }
}

/// How many days back the daily job looks for a bill not read yet.
pub const DAYS_BACK: i64 = 3;

/// The daily job's pass at `now` (Unix ms): every receiving account's bill of
/// each of the last [`DAYS_BACK`] Beijing days that was never read, or was not
/// ready or failed, is read; yesterday's only once Beijing's hour reaches
/// `hour` (the providers publish bills in the morning). Run at every tick, it
/// retries what is not read yet. Answers how many days it read.
pub async fn run_due(state: &Core, now: i64, hour: u32) -> anyhow::Result<usize> {
    use chrono::Timelike;
    let Some(local) = chrono::DateTime::from_timestamp_millis(now + 8 * 3_600_000) else {
        return Ok(0);
    };
    let today = local.date_naive();
    let first = if local.hour() >= hour { 1 } else { 2 };
    let days: Vec<NaiveDate> = (first..=DAYS_BACK)
        .map(|n| today - chrono::Duration::days(n))
        .collect();
    let mut keys: Vec<Option<String>> = vec![None];
    keys.extend(
        crate::accounts::list(&state.db)
            .await?
            .into_iter()
            .filter(|a| a.enabled)
            .map(|a| Some(a.id)),
    );
    let mut read = 0;
    for key in keys {
        let Ok(clients) = crate::accounts::providers(state, key.as_deref()).await else {
            continue;
        };
        for provider in [Provider::Wechat, Provider::Alipay] {
            if !clients
                .for_provider(provider)
                .is_some_and(|c| c.reads_bills())
            {
                continue;
            }
            for &date in &days {
                let done: Option<(String,)> = sqlx::query_as(
                    "SELECT status FROM bill_runs WHERE account_key = $1 AND provider = $2 AND bill_date = $3 AND status NOT IN ('not_ready', 'failed')",
                )
                .bind(key.as_deref().unwrap_or(""))
                .bind(provider.as_str())
                .bind(date.format("%Y-%m-%d").to_string())
                .fetch_optional(&state.db.pool)
                .await
                .context("cannot read the runs")?;
                if done.is_none() {
                    reconcile_day(state, key.as_deref(), provider, date).await?;
                    read += 1;
                }
            }
        }
    }
    Ok(read)
}

/// Matches the bill's lines with our records of the day.
async fn compare(
    state: &Core,
    account: Option<&str>,
    client: &dyn PaymentProvider,
    date: NaiveDate,
    bill: &Bill,
    run: &mut BillRun,
) -> anyhow::Result<(Vec<Discrepancy>, Vec<(String, Option<String>, i64)>)> {
    let provider = client.provider();
    let day = beijing_day(date);
    let account_key = account.unwrap_or("");
    // Our payments of the day, by the attempt's number.
    let ours_paid = day_records(
        state,
        &format!(
            "SELECT a.out_trade_no, a.order_id, a.amount_fen, o.status FROM payment_attempts a JOIN orders o ON o.id = a.order_id \
             WHERE a.provider = $1 AND a.state = '{}' AND a.paid_at >= $2 AND a.paid_at < $3 AND COALESCE(o.account_id, '') = $4",
            AttemptState::Paid.as_str()
        ),
        provider,
        day,
        account_key,
    )
    .await?;
    // Our refunds asked for that day (the bill dates a refund by its request).
    let ours_refunds = day_records(
        state,
        "SELECT r.out_refund_no, r.order_id, r.amount_fen, o.status FROM refunds r JOIN orders o ON o.id = r.order_id \
         WHERE r.provider = $1 AND r.status IN ('processing', 'succeeded') AND r.created_at >= $2 AND r.created_at < $3 AND COALESCE(o.account_id, '') = $4",
        provider,
        day,
        account_key,
    )
    .await?;
    run.ours_paid_fen = ours_paid.values().map(|o| o.amount_fen).sum();
    run.ours_refunded_fen = ours_refunds.values().map(|o| o.amount_fen).sum();
    run.bill_paid_fen = bill.paid_fen;
    run.bill_refunded_fen = bill.refunded_fen;
    run.fee_fen = bill.fee_fen;

    let mut found = Vec::new();
    let mut fees = Vec::new();
    let mut seen_payments = HashSet::new();
    let mut seen_refunds = HashSet::new();
    let yuan = |fen: i64| {
        domain::Money::from_fen(fen)
            .map(|m| m.to_string())
            .unwrap_or_else(|_| fen.to_string())
    };
    for line in &bill.lines {
        match line.kind {
            BillKind::Payment => {
                run.bill_payments += 1;
                seen_payments.insert(line.out_trade_no.clone());
                let d = |kind, order_id: Option<String>, ours: Option<i64>, detail: String| {
                    Discrepancy {
                        kind,
                        out_trade_no: line.out_trade_no.clone(),
                        out_refund_no: None,
                        order_id,
                        ours_fen: ours,
                        bill_fen: Some(line.amount_fen),
                        detail,
                    }
                };
                // Paid here that day, or on another (recorded just across
                // midnight), or not recorded at all, or not ours.
                let known = match ours_paid.get(&line.out_trade_no) {
                    Some(o) => Known::Recorded(o.clone()),
                    None => match attempts::by_out_trade_no(&state.db, &line.out_trade_no).await? {
                        Some(a) if a.state == AttemptState::Paid => {
                            let review = in_review(state, &a.order_id).await?;
                            Known::Recorded(Ours {
                                order_id: a.order_id,
                                amount_fen: a.amount.fen(),
                                in_review: review,
                            })
                        }
                        Some(a) => Known::Unpaid(a),
                        None => {
                            found.push(d(
                                DiscrepancyKind::UnknownPayment,
                                None,
                                None,
                                format!(
                                    "{} paid {} (transaction {}) for an order number we never made",
                                    line.at,
                                    yuan(line.amount_fen),
                                    line.transaction_id
                                ),
                            ));
                            continue;
                        }
                    },
                };
                let attempt = match known {
                    Known::Unpaid(attempt) => attempt,
                    Known::Recorded(o) => {
                        fees.push((
                            line.out_trade_no.clone(),
                            Some(o.order_id.clone()),
                            line.fee_fen,
                        ));
                        if o.amount_fen != line.amount_fen {
                            found.push(d(
                                DiscrepancyKind::AmountMismatch,
                                Some(o.order_id.clone()),
                                Some(o.amount_fen),
                                format!(
                                    "ours {}, the bill's {}",
                                    yuan(o.amount_fen),
                                    yuan(line.amount_fen)
                                ),
                            ));
                        } else if o.in_review {
                            found.push(d(
                                DiscrepancyKind::NotPaidHere,
                                Some(o.order_id.clone()),
                                Some(o.amount_fen),
                                unrecorded(date, line),
                            ));
                        } else {
                            run.matched += 1;
                        }
                        continue;
                    }
                };
                fees.push((
                    line.out_trade_no.clone(),
                    Some(attempt.order_id.clone()),
                    line.fee_fen,
                ));
                let reason = unrecorded(date, line);
                let info = TradeInfo {
                    out_trade_no: line.out_trade_no.clone(),
                    state: TradeState::Paid,
                    transaction_id: Some(line.transaction_id.clone()),
                    amount: domain::Money::from_fen(line.amount_fen).ok(),
                    merchant_id: Some(line.merchant_id.clone()).filter(|m| !m.is_empty()),
                    app_id: Some(line.app_id.clone()).filter(|a| !a.is_empty()),
                    currency: None,
                    paid_at: Some(line.at.clone()),
                };
                match settle_as(
                    state,
                    account,
                    client,
                    &info,
                    OrderEventKind::Bill,
                    Some(reason.clone()),
                )
                .await?
                {
                    SettleOutcome::Rejected(why) | SettleOutcome::Foreign(why) => {
                        found.push(d(
                            DiscrepancyKind::AmountMismatch,
                            Some(attempt.order_id.clone()),
                            Some(attempt.amount.fen()),
                            why,
                        ));
                    }
                    _ => {
                        // Booked now: ours as well from here on (a second run reads it so).
                        run.ours_paid_fen += attempt.amount.fen();
                        found.push(d(
                            DiscrepancyKind::NotPaidHere,
                            Some(attempt.order_id.clone()),
                            Some(attempt.amount.fen()),
                            reason,
                        ));
                    }
                }
            }
            BillKind::Refund => {
                run.bill_refunds += 1;
                let no = line.out_refund_no.clone().unwrap_or_default();
                seen_refunds.insert(no.clone());
                let ours = match ours_refunds.get(&no) {
                    Some(o) => Some(o.clone()),
                    None => sqlx::query_as::<_, (String, i64, OrderStatus)>(
                        "SELECT r.order_id, r.amount_fen, o.status FROM refunds r JOIN orders o ON o.id = r.order_id WHERE r.out_refund_no = $1",
                    )
                    .bind(&no)
                    .fetch_optional(&state.db.pool)
                    .await
                    .context("cannot read the refund")?
                    .map(|(order_id, amount, status)| Ours::new(order_id, amount, status)),
                };
                let d = |kind, ours: Option<&Ours>, detail: String| Discrepancy {
                    kind,
                    out_trade_no: line.out_trade_no.clone(),
                    out_refund_no: Some(no.clone()),
                    order_id: ours.map(|o| o.order_id.clone()),
                    ours_fen: ours.map(|o| o.amount_fen),
                    bill_fen: Some(line.amount_fen),
                    detail,
                };
                match ours {
                    None => found.push(d(
                        DiscrepancyKind::UnknownRefund,
                        None,
                        format!(
                            "{} refunded {} that we never asked for",
                            line.at,
                            yuan(line.amount_fen)
                        ),
                    )),
                    Some(o) => {
                        fees.push((no.clone(), Some(o.order_id.clone()), line.fee_fen));
                        if o.amount_fen == line.amount_fen {
                            run.matched += 1;
                        } else {
                            found.push(d(
                                DiscrepancyKind::RefundMismatch,
                                Some(&o),
                                format!(
                                    "ours {}, the bill's {}",
                                    yuan(o.amount_fen),
                                    yuan(line.amount_fen)
                                ),
                            ));
                        }
                    }
                }
            }
        }
    }
    for (no, o) in &ours_paid {
        if !seen_payments.contains(no) {
            found.push(Discrepancy {
                kind: DiscrepancyKind::MissingFromBill,
                out_trade_no: no.clone(),
                out_refund_no: None,
                order_id: Some(o.order_id.clone()),
                ours_fen: Some(o.amount_fen),
                bill_fen: None,
                detail: "recorded as paid here; the provider's bill does not show it".into(),
            });
        }
    }
    for (no, o) in &ours_refunds {
        if !seen_refunds.contains(no) {
            found.push(Discrepancy {
                kind: DiscrepancyKind::RefundMissingFromBill,
                out_trade_no: String::new(),
                out_refund_no: Some(no.clone()),
                order_id: Some(o.order_id.clone()),
                ours_fen: Some(o.amount_fen),
                bill_fen: None,
                detail: "asked for here; the provider's bill does not show it".into(),
            });
        }
    }
    found.sort_by(|a, b| {
        (a.kind.as_str(), &a.out_trade_no, &a.out_refund_no).cmp(&(
            b.kind.as_str(),
            &b.out_trade_no,
            &b.out_refund_no,
        ))
    });
    Ok((found, fees))
}

/// Why an order paid only according to the bill awaits review (its review
/// reason, and the discrepancy's detail on every run).
fn unrecorded(date: NaiveDate, line: &BillLine) -> String {
    let paid = domain::Money::from_fen(line.amount_fen)
        .map(|m| m.to_string())
        .unwrap_or_else(|_| line.amount_fen.to_string());
    format!(
        "对账单 bill of {date}: paid {paid} at {} (transaction {}), never recorded here; the order awaits review",
        line.at, line.transaction_id
    )
}

async fn in_review(state: &Core, order_id: &str) -> anyhow::Result<bool> {
    let status: Option<(OrderStatus,)> = sqlx::query_as("SELECT status FROM orders WHERE id = $1")
        .bind(order_id)
        .fetch_optional(&state.db.pool)
        .await
        .context("cannot read the order")?;
    Ok(status.is_some_and(|(s,)| s == OrderStatus::NeedsReview))
}

/// Replaces the day's run (same id as before, if there was one) with `run`,
/// its discrepancies and its fees, in one transaction.
async fn store(
    state: &Core,
    run: &BillRun,
    found: &[Discrepancy],
    fees: &[(String, Option<String>, i64)],
) -> anyhow::Result<()> {
    let mut tx = state.db.pool.begin().await.context("cannot begin")?;
    // A write first: on SQLite the transaction then holds the write lock
    // (waiting for it under the busy timeout) before it reads, instead of
    // failing when another writer commits between its read and its write.
    sqlx::query(
        "UPDATE bill_runs SET ran_at = ran_at WHERE account_key = $1 AND provider = $2 AND bill_date = $3",
    )
    .bind(&run.account_key)
    .bind(&run.provider)
    .bind(&run.bill_date)
    .execute(&mut *tx)
    .await
    .context("cannot lock the day's run")?;
    let previous: Option<(String, String)> = sqlx::query_as(
        "SELECT id, status FROM bill_runs WHERE account_key = $1 AND provider = $2 AND bill_date = $3",
    )
    .bind(&run.account_key)
    .bind(&run.provider)
    .bind(&run.bill_date)
    .fetch_optional(&mut *tx)
    .await
    .context("cannot read the earlier run")?;
    // A bill that cannot be read now does not undo a day read before: the
    // earlier run (its discrepancies and their marks) stays, with the error.
    let unread = matches!(run.status.as_str(), "failed" | "not_ready");
    if let Some((id, _)) = previous
        .as_ref()
        .filter(|(_, status)| unread && !matches!(status.as_str(), "failed" | "not_ready"))
    {
        let error = match run.status.as_str() {
            "not_ready" => {
                "the bill was not ready at the last run; these are the earlier run's results"
                    .to_owned()
            }
            _ => format!(
                "the last run could not read the bill ({}); these are the earlier run's results",
                run.error.as_deref().unwrap_or("unknown error")
            ),
        };
        sqlx::query("UPDATE bill_runs SET error = $1 WHERE id = $2")
            .bind(error)
            .bind(id)
            .execute(&mut *tx)
            .await
            .context("cannot note the error")?;
        tx.commit().await.context("cannot commit the run")?;
        return Ok(());
    }
    let id = previous.map(|(id, _)| id).unwrap_or_else(|| run.id.clone());
    // A discrepancy found again keeps its id and an administrator's mark.
    let kept: Vec<KeptRow> = sqlx::query_as(
        "SELECT id, kind, out_trade_no, COALESCE(out_refund_no, ''), COALESCE(ours_fen, -1), COALESCE(bill_fen, -1), resolved_at, resolved_by, resolution FROM bill_discrepancies WHERE run_id = $1",
    )
    .bind(&id)
    .fetch_all(&mut *tx)
    .await
    .context("cannot read the earlier discrepancies")?;
    let kept: HashMap<DiscrepancyKey, Kept> = kept
        .into_iter()
        .map(|(did, kind, no, refund_no, ours, bill, at, by, note)| {
            ((kind, no, refund_no, ours, bill), (did, at, by, note))
        })
        .collect();
    for table in ["bill_discrepancies", "bill_fees"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE run_id = $1"))
            .bind(&id)
            .execute(&mut *tx)
            .await
            .context("cannot replace the earlier run")?;
    }
    sqlx::query("DELETE FROM bill_runs WHERE id = $1")
        .bind(&id)
        .execute(&mut *tx)
        .await
        .context("cannot replace the earlier run")?;
    sqlx::query(
        "INSERT INTO bill_runs (id, account_key, provider, bill_date, status, bill_payments, bill_refunds, matched, discrepancies, ours_paid_fen, ours_refunded_fen, bill_paid_fen, bill_refunded_fen, fee_fen, error, ran_at, fund_net_fen) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(&id)
    .bind(&run.account_key)
    .bind(&run.provider)
    .bind(&run.bill_date)
    .bind(&run.status)
    .bind(run.bill_payments)
    .bind(run.bill_refunds)
    .bind(run.matched)
    .bind(run.discrepancies)
    .bind(run.ours_paid_fen)
    .bind(run.ours_refunded_fen)
    .bind(run.bill_paid_fen)
    .bind(run.bill_refunded_fen)
    .bind(run.fee_fen)
    .bind(run.error.as_deref())
    .bind(run.ran_at)
    .bind(run.fund_net_fen)
    .execute(&mut *tx)
    .await
    .context("cannot store the run")?;
    for d in found {
        let (did, at, by, note) = kept
            .get(&d.key())
            .cloned()
            .unwrap_or_else(|| (random_token().to_string(), None, None, None));
        sqlx::query(
            "INSERT INTO bill_discrepancies (id, run_id, kind, out_trade_no, out_refund_no, order_id, ours_fen, bill_fen, detail, resolved_at, resolved_by, resolution) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(did)
        .bind(&id)
        .bind(d.kind.as_str())
        .bind(&d.out_trade_no)
        .bind(d.out_refund_no.as_deref())
        .bind(d.order_id.as_deref())
        .bind(d.ours_fen)
        .bind(d.bill_fen)
        .bind(&d.detail)
        .bind(at)
        .bind(by)
        .bind(note)
        .execute(&mut *tx)
        .await
        .context("cannot store a discrepancy")?;
    }
    // Fees in batches of rows per statement (a day may have 100,000 lines).
    for chunk in fees.chunks(200) {
        let mut q = crate::store::sql::Sql::new(
            "INSERT INTO bill_fees (run_id, line_key, order_id, fee_fen) VALUES ",
        );
        for (i, (key, order, fee)) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push("(")
                .bind(id.clone())
                .push(", ")
                .bind(key.clone())
                .push(", ")
                .bind(order.clone())
                .push(", ")
                .bind(*fee)
                .push(")");
        }
        q.push(" ON CONFLICT (run_id, line_key) DO NOTHING");
        q.execute(&mut *tx).await.context("cannot store the fees")?;
    }
    tx.commit().await.context("cannot commit the run")?;
    Ok(())
}

/// What identifies a discrepancy found again: kind, out_trade_no,
/// out_refund_no (or ''), ours and the bill's amounts (or -1).
type DiscrepancyKey = (String, String, String, i64, i64);
/// What a discrepancy found again keeps: id, resolved at, by, note.
type Kept = (String, Option<i64>, Option<String>, Option<String>);
/// A stored discrepancy's key and what it keeps, as read.
type KeptRow = (
    String,
    String,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
);

impl Discrepancy {
    fn key(&self) -> DiscrepancyKey {
        (
            self.kind.as_str().to_owned(),
            self.out_trade_no.clone(),
            self.out_refund_no.clone().unwrap_or_default(),
            self.ours_fen.unwrap_or(-1),
            self.bill_fen.unwrap_or(-1),
        )
    }
}

/// A discrepancy as stored: its id, and whether an administrator resolved it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredDiscrepancy {
    pub id: String,
    pub found: Discrepancy,
    pub resolved: Option<Resolution>,
}

/// An administrator's mark on a discrepancy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    pub at: i64,
    pub by: String,
    pub note: String,
}

#[derive(sqlx::FromRow)]
struct DiscrepancyRow {
    id: String,
    kind: String,
    out_trade_no: String,
    out_refund_no: Option<String>,
    order_id: Option<String>,
    ours_fen: Option<i64>,
    bill_fen: Option<i64>,
    detail: String,
    resolved_at: Option<i64>,
    resolved_by: Option<String>,
    resolution: Option<String>,
}

impl DiscrepancyRow {
    fn stored(self) -> Option<StoredDiscrepancy> {
        Some(StoredDiscrepancy {
            id: self.id,
            found: Discrepancy {
                kind: DiscrepancyKind::parse(&self.kind)?,
                out_trade_no: self.out_trade_no,
                out_refund_no: self.out_refund_no,
                order_id: self.order_id,
                ours_fen: self.ours_fen,
                bill_fen: self.bill_fen,
                detail: self.detail,
            },
            resolved: self.resolved_at.map(|at| Resolution {
                at,
                by: self.resolved_by.unwrap_or_default(),
                note: self.resolution.unwrap_or_default(),
            }),
        })
    }
}

const RUN_COLUMNS: &str = "id, account_key, provider, bill_date, status, bill_payments, bill_refunds, matched, discrepancies, ours_paid_fen, ours_refunded_fen, bill_paid_fen, bill_refunded_fen, fee_fen, error, ran_at, fund_net_fen";

/// The stored run of a day, and its discrepancies.
pub async fn run_of(
    state: &Core,
    account: Option<&str>,
    provider: Provider,
    date: NaiveDate,
) -> anyhow::Result<Option<(BillRun, Vec<StoredDiscrepancy>)>> {
    let run: Option<BillRun> = sqlx::query_as(&format!(
        "SELECT {RUN_COLUMNS} FROM bill_runs WHERE account_key = $1 AND provider = $2 AND bill_date = $3"
    ))
    .bind(account.unwrap_or(""))
    .bind(provider.as_str())
    .bind(date.format("%Y-%m-%d").to_string())
    .fetch_optional(&state.db.pool)
    .await
    .context("cannot read the run")?;
    let Some(run) = run else {
        return Ok(None);
    };
    let rows: Vec<DiscrepancyRow> = sqlx::query_as(
        "SELECT id, kind, out_trade_no, out_refund_no, order_id, ours_fen, bill_fen, detail, resolved_at, resolved_by, resolution \
         FROM bill_discrepancies WHERE run_id = $1 ORDER BY kind, out_trade_no, out_refund_no",
    )
    .bind(&run.id)
    .fetch_all(&state.db.pool)
    .await
    .context("cannot read the discrepancies")?;
    Ok(Some((
        run,
        rows.into_iter()
            .filter_map(DiscrepancyRow::stored)
            .collect(),
    )))
}

/// The latest runs, newest day first.
pub async fn recent_runs(state: &Core, limit: i64) -> anyhow::Result<Vec<BillRun>> {
    sqlx::query_as(&format!(
        "SELECT {RUN_COLUMNS} FROM bill_runs ORDER BY bill_date DESC, provider, account_key LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(&state.db.pool)
    .await
    .context("cannot read the runs")
}

/// How many discrepancies no administrator has resolved yet.
pub async fn unresolved_count(state: &Core) -> anyhow::Result<i64> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM bill_discrepancies WHERE resolved_at IS NULL")
            .fetch_one(&state.db.pool)
            .await
            .context("cannot count the discrepancies")?;
    Ok(n)
}

/// Marks discrepancy `id` resolved by `by`, with `note`. False when there is
/// no such discrepancy or it was resolved already.
pub async fn resolve(state: &Core, id: &str, by: &str, note: &str) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE bill_discrepancies SET resolved_at = $1, resolved_by = $2, resolution = $3 WHERE id = $4 AND resolved_at IS NULL",
    )
    .bind(now_ms())
    .bind(by)
    .bind(note)
    .bind(id)
    .execute(&state.db.pool)
    .await
    .context("cannot resolve the discrepancy")?;
    Ok(done.rows_affected() == 1)
}
