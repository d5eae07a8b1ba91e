//! Settling what a provider reports: the payment is recorded once, on its
//! attempt, with the order's change, and only through the order's own account.

use super::*;
use crate::commit::Step;
use crate::hub::StatusChange;
use crate::provider::*;
use crate::store::attempts::{self, Attempt};
use crate::store::orders::{self, Changes, PaymentWritten};
use crate::{now_ms, Backend, Core};
use anyhow::Context;
use domain::{OrderEventKind, OrderStatus};

/// What became of a provider's report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SettleOutcome {
    /// This call moved the order to paid.
    Settled,
    /// Nothing to do: already recorded (a duplicate or concurrent report), or not paid.
    NoChange,
    /// Money arrived that an administrator must look at: after a close, or
    /// through an attempt that was no longer current.
    Review,
    /// The report does not match the order: nothing changed.
    Rejected(String),
    /// Verified with the keys of another receiving account than the order's:
    /// nothing changed, recorded as a security event.
    Foreign(String),
}

/// Applies a verified report (callback or query) to its order. `account` is
/// the receiving account whose keys verified it (None: the environment's);
/// only the account that made the order may settle it. Then merchant, app,
/// currency and amount are checked, and the payment is recorded once on its
/// attempt together with the order's change, in one transaction.
pub async fn settle(
    state: &Core,
    account: Option<&str>,
    provider: &dyn PaymentProvider,
    info: &TradeInfo,
    source: OrderEventKind,
) -> anyhow::Result<SettleOutcome> {
    settle_as(state, account, provider, info, source, None).await
}

/// [`settle`], except that a payment that would make the order paid is kept
/// for review with `review` as the reason (a payment known only from a
/// provider's bill: money is never ignored, and an administrator decides).
#[tracing::instrument(name = "settle", skip_all, fields(out_trade_no = %info.out_trade_no, provider = %provider.provider().as_str(), account = account.unwrap_or("default"), %source, order = tracing::field::Empty))]
pub async fn settle_as(
    state: &Core,
    account: Option<&str>,
    provider: &dyn PaymentProvider,
    info: &TradeInfo,
    source: OrderEventKind,
    review: Option<String>,
) -> anyhow::Result<SettleOutcome> {
    let Some((attempt, mut order)) = attempts::with_order(&state.db, &info.out_trade_no).await?
    else {
        return Ok(SettleOutcome::Rejected("unknown out_trade_no".into()));
    };
    tracing::Span::current().record("order", order.id.as_str());
    if order.account_id.as_deref() != account || attempt.provider != provider.provider() {
        return Ok(SettleOutcome::Foreign(format!(
            "{} report for {} verified by account {} but the order belongs to account {}",
            provider.provider().as_str(),
            info.out_trade_no,
            account.unwrap_or("default"),
            order.account_id.as_deref().unwrap_or("default"),
        )));
    }
    if let Some(why) = mismatch(provider, info, &attempt) {
        orders::log_event(
            &state.db,
            &order.id,
            OrderEventKind::RejectedReport,
            &format!("{source}: {why}"),
        )
        .await?;
        return Ok(SettleOutcome::Rejected(why));
    }
    if info.state != TradeState::Paid {
        return Ok(SettleOutcome::NoChange);
    }
    let paid_at = now_ms();
    // At most a few rounds: each lost compare-and-set means someone else moved the order.
    for _ in 0..8 {
        let current = order.attempt_seq == attempt.seq;
        let detail = format!(
            "{source}: paid through {} {}, transaction {}",
            attempt.channel.as_str(),
            attempt.out_trade_no,
            info.transaction_id.as_deref().unwrap_or("-")
        );
        let (to, review) = match (current, order.status) {
            (true, OrderStatus::Created) => {
                // The callback beat our own bookkeeping of the provider order.
                orders::transition(
                    &state.db,
                    &order.id,
                    OrderStatus::Created,
                    OrderStatus::Pending,
                    source,
                    "provider order confirmed by a report",
                    Changes {
                        provider: Some(attempt.provider),
                        channel: Some(attempt.channel),
                        ..Changes::default()
                    },
                )
                .await?;
                order = reload(state, &order.id).await?;
                continue;
            }
            (true, OrderStatus::Pending) => match &review {
                Some(why) => (OrderStatus::NeedsReview, Some(why.clone())),
                None => (OrderStatus::Paid, None),
            },
            (_, OrderStatus::Expired | OrderStatus::Closed) => (
                OrderStatus::NeedsReview,
                Some(format!("paid after the order was {}", order.status)),
            ),
            (false, OrderStatus::Created | OrderStatus::Pending) => (
                OrderStatus::NeedsReview,
                Some(format!(
                    "paid through the earlier attempt {} ({}) while another was open",
                    attempt.out_trade_no,
                    attempt.channel.as_str()
                )),
            ),
            (_, OrderStatus::Paid | OrderStatus::PartiallyRefunded) => (
                OrderStatus::NeedsReview,
                Some(format!(
                    "paid twice: {} ({}) was paid as well; refund one payment",
                    attempt.out_trade_no,
                    attempt.channel.as_str()
                )),
            ),
            // Money on an order already refunded, being refunded or in review:
            // recorded and flagged without a status change.
            (_, s) => (
                s,
                Some(format!(
                    "another payment arrived through {} ({}) while the order was {s}",
                    attempt.out_trade_no,
                    attempt.channel.as_str()
                )),
            ),
        };
        // The order keeps the transaction of the payment it counts as paid by.
        let keeps_payment = to == OrderStatus::Paid || !order.status.is_paid();
        let changes = Changes {
            transaction_id: keeps_payment.then(|| info.transaction_id.clone()).flatten(),
            paid_at: keeps_payment.then_some(paid_at),
            review_reason: review.clone(),
            received_add: attempt.amount.fen(),
            provider: keeps_payment.then_some(attempt.provider),
            channel: keeps_payment.then_some(attempt.channel),
            ..Changes::default()
        };
        let payment = orders::Payment {
            attempt_id: attempt.id.clone(),
            transaction_id: info.transaction_id.clone(),
            paid_at,
            order_id: order.id.clone(),
            from: order.status,
            to,
            kind: if to == order.status {
                OrderEventKind::PaidAgain
            } else {
                source
            },
            detail,
            changes,
        };
        let written = match state.db.backend {
            Backend::Postgres => record_at_once(state, payment).await?,
            Backend::Sqlite => record_in_batch(state, payment).await?,
        };
        match written {
            // A repeated or concurrent report.
            PaymentWritten::AlreadyRecorded => return Ok(SettleOutcome::NoChange),
            PaymentWritten::OrderMoved => {
                order = reload(state, &order.id).await?;
                continue;
            }
            PaymentWritten::Recorded => {}
        }
        let outcome = if review.is_some() {
            SettleOutcome::Review
        } else {
            SettleOutcome::Settled
        };
        tracing::info!(out_trade_no = %attempt.out_trade_no, ?outcome, %source, "payment recorded");
        return Ok(outcome);
    }
    anyhow::bail!("the order kept changing while a payment was recorded")
}

/// PostgreSQL: the payment in one statement, its page's notification
/// included (sent when it commits).
async fn record_at_once(state: &Core, mut p: orders::Payment) -> anyhow::Result<PaymentWritten> {
    // The order's new version, which its pages follow.
    let version = now_ms();
    p.changes.at = Some(version);
    let change = StatusChange {
        order_id: p.order_id.clone(),
        status: p.to,
        version,
    };
    orders::record_payment_at_once(&state.db, p, change).await
}

/// SQLite: the payment as one write committed with the others waiting
/// (group commit), answered only once it is on disk; rolled back to its
/// savepoint unless recorded. Its pages hear of it after the commit.
async fn record_in_batch(state: &Core, mut p: orders::Payment) -> anyhow::Result<PaymentWritten> {
    let (order_id, to) = (p.order_id.clone(), p.to);
    // The order's new version, which its pages follow.
    let version = now_ms();
    p.changes.at = Some(version);
    let written = state
        .db
        .commits
        .query(orders::payment_query(&p)?, |rows| {
            let written = orders::payment_written(rows)?;
            Ok(Step::keep_if(written == PaymentWritten::Recorded, written))
        })
        .await
        .context("cannot record the payment")?;
    if written == PaymentWritten::Recorded {
        publish_change(state, order_id, to, version).await;
    }
    Ok(written)
}

/// Why a verified report does not describe this attempt, if it does not.
fn mismatch(provider: &dyn PaymentProvider, info: &TradeInfo, attempt: &Attempt) -> Option<String> {
    if let Some(m) = &info.merchant_id {
        if !provider.merchant_id().is_empty() && m != provider.merchant_id() {
            return Some(format!("merchant {m} is not ours"));
        }
    }
    if let Some(a) = &info.app_id {
        if a != provider.app_id() {
            return Some(format!("app {a} is not ours"));
        }
    }
    if let Some(c) = info.currency.as_deref() {
        if c != "CNY" {
            return Some(format!("currency {c} is not CNY"));
        }
    }
    if info.state == TradeState::Paid && info.amount != Some(attempt.amount) {
        let got = info
            .amount
            .map(|m| m.to_string())
            .unwrap_or_else(|| "none".into());
        return Some(format!("amount {got} does not match {}", attempt.amount));
    }
    None
}
