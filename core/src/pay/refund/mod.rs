//! Refunds: an administrator asks, the amount is reserved on the order with a
//! compare-and-set (so the refunds of an order never exceed what was paid,
//! even when asked at once), then the provider is asked with an
//! `out_refund_no` that is reused on every retry. Each refund then moves
//! once, from `processing` to `succeeded`, `closed` or `abnormal`, driven by
//! the provider's synchronous answer, its callbacks or our queries, whichever
//! comes first; later reports of the same outcome change nothing.

use super::SettleOutcome;
use crate::auth::Admin;
use crate::commit::Step;
use crate::provider::{PaymentProvider, ProviderError, RefundInfo, RefundOrder, RefundState};
use crate::store::refunds::*;
use crate::store::{audit, orders};
use crate::{now_ms, random_token, Core};
use anyhow::Context;
use domain::{AuditAction, Money, OrderEventKind, OrderStatus, OutTradeNo};

#[derive(Debug, thiserror::Error)]
pub enum RefundError {
    #[error("no such order")]
    NotFound,
    #[error("the order is {0}: only a paid order can be refunded")]
    NotRefundable(OrderStatus),
    #[error("a refund must be at least 0.01 yuan")]
    ZeroAmount,
    #[error("only {remaining} yuan can still be refunded")]
    ExceedsRemaining { remaining: Money },
    #[error("a reason is required, at most {MAX_REASON_CHARS} characters")]
    BadReason,
    #[error("the request key is missing or malformed")]
    BadRequestKey,
    #[error("this request key was already used for a different refund")]
    KeyReused,
    #[error("the order's payment provider is not configured on this instance")]
    ProviderMissing,
    #[error("the order was paid more than once: choose which payment to refund")]
    ChoosePayment,
    #[error("this order is kept for review: accept the payment, or refund it from the review")]
    ReviewFirst,
    /// Profit sharing: the split is in flight, or its shares cannot come back.
    #[error("{0}")]
    Shares(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

fn valid_request_key(key: &str) -> bool {
    (8..=64).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What an administrator asks to refund.
#[derive(Clone, Debug)]
pub struct RefundAsk<'a> {
    pub amount: Money,
    pub reason: &'a str,
    /// Makes a double submit one refund.
    pub request_key: &'a str,
    /// The payment to refund (its `out_trade_no`); needed only when the
    /// order was paid more than once.
    pub payment: Option<&'a str>,
    /// The administrator's decision on an order kept for review: refund it.
    pub review_decision: bool,
}

/// Asks for a refund of part or all of an order. The same `request_key`
/// again (a double click, a retried request) answers the refund it made the
/// first time.
#[tracing::instrument(name = "refund", skip(state, admin, ask), fields(order = %order_id, admin = %admin.email, amount = %ask.amount))]
pub async fn request(
    state: &Core,
    admin: &Admin,
    order_id: &str,
    ask: RefundAsk<'_>,
) -> Result<RefundRecord, RefundError> {
    let amount = ask.amount;
    let reason = ask.reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(RefundError::BadReason);
    }
    if !valid_request_key(ask.request_key) {
        return Err(RefundError::BadRequestKey);
    }
    if amount == Money::ZERO {
        return Err(RefundError::ZeroAmount);
    }
    if let Some(existing) = by_request_key(&state.db, ask.request_key).await? {
        return same_request(existing, order_id, amount);
    }
    let order = orders::by_id(&state.db, order_id)
        .await?
        .ok_or(RefundError::NotFound)?;
    if order.status == OrderStatus::NeedsReview && !ask.review_decision {
        return Err(RefundError::ReviewFirst);
    }
    if !refundable(order.status) {
        return Err(RefundError::NotRefundable(order.status));
    }
    let providers = super::providers_of(state, &order)
        .await
        .map_err(|_| RefundError::ProviderMissing)?;
    if order.refundable_fen() < amount.fen() {
        return Err(RefundError::ExceedsRemaining {
            remaining: Money::from_fen(order.refundable_fen()).unwrap_or(Money::ZERO),
        });
    }
    // Shared money the refund needs comes back from the receivers first.
    match super::shares::return_for_refund(state, &order, amount.fen()).await {
        Ok(()) => {}
        Err(super::shares::ShareBlock::Unexpected(e)) => return Err(RefundError::Unexpected(e)),
        Err(e) => return Err(RefundError::Shares(e.to_string())),
    }
    let now = now_ms();
    let mut tx = state
        .db
        .pool
        .begin()
        .await
        .context("cannot start a transaction")?;
    // The order, locked for this transaction: two refunds asked at once are
    // reserved one after the other, each seeing the other's reservation.
    let locked = orders::lock_in(&mut tx, &order.id)
        .await?
        .ok_or(RefundError::NotFound)?;
    let refused = if locked.status == OrderStatus::NeedsReview && !ask.review_decision {
        Some(RefundError::ReviewFirst)
    } else if !refundable(locked.status) {
        Some(RefundError::NotRefundable(locked.status))
    } else if locked.refundable_fen() < amount.fen() {
        Some(RefundError::ExceedsRemaining {
            remaining: Money::from_fen(locked.refundable_fen()).unwrap_or(Money::ZERO),
        })
    } else {
        None
    };
    if let Some(e) = refused {
        tx.rollback().await.context("cannot roll back")?;
        return Err(e);
    }
    // Which payment the money goes back through (one, unless paid twice).
    let payments = crate::store::attempts::refundable_in(&mut tx, &order.id).await?;
    let chosen = match ask.payment {
        Some(no) => payments.iter().find(|(n, _, _)| n == no),
        None => {
            let open: Vec<_> = payments.iter().filter(|(_, _, left)| *left > 0).collect();
            if open.len() > 1 {
                tx.rollback().await.context("cannot roll back")?;
                return Err(RefundError::ChoosePayment);
            }
            open.first().copied()
        }
    };
    let Some((out_trade_no, kind, left)) = chosen.cloned() else {
        tx.rollback().await.context("cannot roll back")?;
        return Err(RefundError::ExceedsRemaining {
            remaining: Money::ZERO,
        });
    };
    if left < amount.fen() {
        tx.rollback().await.context("cannot roll back")?;
        return Err(RefundError::ExceedsRemaining {
            remaining: Money::from_fen(left.max(0)).unwrap_or(Money::ZERO),
        });
    }
    let Some(provider) = providers.for_provider(kind).cloned() else {
        tx.rollback().await.context("cannot roll back")?;
        return Err(RefundError::ProviderMissing);
    };
    let record = RefundRecord {
        id: random_token().to_string(),
        order_id: order.id.clone(),
        out_trade_no,
        out_refund_no: new_out_refund_no(),
        request_key: ask.request_key.to_owned(),
        provider: kind,
        amount,
        reason: reason.to_owned(),
        status: RefundState::Processing,
        refund_id: None,
        failure: None,
        created_by: admin.email.clone(),
        next_check_at: now + state.pay.first_check_ms,
        check_attempts: 0,
        created_at: now,
        updated_at: now,
        settled_at: None,
    };
    let detail = format!(
        "refund {} of {amount} (payment {}) asked by {}: {reason}",
        record.out_refund_no, record.out_trade_no, admin.email
    );
    // The reservation, through the state machine: the amount is held on the
    // order, which is now refunding.
    let reserve = orders::Changes {
        reserved_add: amount.fen(),
        ..orders::Changes::default()
    };
    let reserved = if locked.status == OrderStatus::Refunding {
        orders::annotate_in(
            &mut tx,
            &order.id,
            locked.status,
            OrderEventKind::RefundRequested,
            &detail,
            reserve,
        )
        .await?
    } else {
        orders::transition_in(
            &mut tx,
            &order.id,
            locked.status,
            OrderStatus::Refunding,
            OrderEventKind::RefundRequested,
            &detail,
            reserve,
        )
        .await?
    };
    if !reserved {
        tx.rollback().await.context("cannot roll back")?;
        return Err(RefundError::Unexpected(anyhow::anyhow!(
            "the order changed while it was locked"
        )));
    }
    let inserted = sqlx::query("INSERT INTO refunds (id, order_id, out_trade_no, out_refund_no, request_key, provider, amount_fen, reason, status, created_by, next_check_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'processing', $9, $10, $11, $11)")
        .bind(&record.id)
        .bind(&record.order_id)
        .bind(&record.out_trade_no)
        .bind(&record.out_refund_no)
        .bind(&record.request_key)
        .bind(kind)
        .bind(amount)
        .bind(&record.reason)
        .bind(&record.created_by)
        .bind(record.next_check_at)
        .bind(now)
        .execute(&mut *tx)
        .await;
    if inserted.is_err() {
        // The same request key won a moment ago in another request.
        let _ = tx.rollback().await;
        return match by_request_key(&state.db, ask.request_key).await? {
            Some(existing) => same_request(existing, order_id, amount),
            None => Err(RefundError::Unexpected(anyhow::anyhow!(
                "cannot store the refund"
            ))),
        };
    }
    audit::record_in(
        &mut tx,
        admin,
        AuditAction::Refund,
        &order.out_trade_no,
        &detail,
    )
    .await?;
    tx.commit().await.context("cannot commit the refund")?;
    tracing::info!(out_trade_no = %order.out_trade_no, refund = %record.out_refund_no, amount = amount.fen(), "refund requested");
    super::publish_status(state, &order.id).await;
    submit(state, provider.as_ref(), &order, &record).await?;
    Ok(by_id(&state.db, &record.id).await?.unwrap_or(record))
}

/// Whether an order in this status can be (further) refunded.
pub fn refundable(status: OrderStatus) -> bool {
    matches!(
        status,
        OrderStatus::Paid
            | OrderStatus::PartiallyRefunded
            | OrderStatus::Refunding
            | OrderStatus::NeedsReview
    )
}

fn same_request(
    existing: RefundRecord,
    order_id: &str,
    amount: Money,
) -> Result<RefundRecord, RefundError> {
    if existing.order_id == order_id && existing.amount == amount {
        Ok(existing)
    } else {
        Err(RefundError::KeyReused)
    }
}

/// Whether a provider's refusal may go away on a retry (then the refund stays
/// processing and is asked again with the same number).
fn retryable(status: u16, code: &str) -> bool {
    status >= 500
        || matches!(
            code,
            "SYSTEM_ERROR" | "FREQUENCY_LIMITED" | "20000" | "ACQ.SYSTEM_ERROR"
        )
}

/// Sends (or sends again: same `out_refund_no`) a processing refund to its provider.
async fn submit(
    state: &Core,
    provider: &dyn PaymentProvider,
    order: &orders::OrderRecord,
    refund: &RefundRecord,
) -> anyhow::Result<()> {
    let royalty_returns = if provider.returns_shares_in_refund() {
        super::shares::royalty_returns(state, order, &refund.out_trade_no, refund.amount.fen())
            .await?
    } else {
        Vec::new()
    };
    let ask = RefundOrder {
        out_trade_no: OutTradeNo::parse(&refund.out_trade_no).map_err(|e| anyhow::anyhow!(e))?,
        out_refund_no: refund.out_refund_no.clone(),
        amount: refund.amount,
        total: order.amount,
        reason: Some(refund.reason.clone()),
        notify_url: super::notify_url(state, order, provider),
        royalty_returns,
    };
    match provider.refund(&ask).await {
        Ok(info) => {
            apply(state, refund, &info, "refund answer").await?;
        }
        Err(ProviderError::Api {
            status,
            code,
            message,
        }) if !retryable(status, &code) => {
            finish(
                state,
                refund,
                RefundState::Closed,
                None,
                Some(format!("{code} {message}")),
                "refund refused",
            )
            .await?;
        }
        Err(e) => {
            // Unknown outcome: the reconciler asks again with the same number.
            orders::log_event(
                &state.db,
                &refund.order_id,
                OrderEventKind::RefundError,
                &format!("refund {}: {e}", refund.out_refund_no),
            )
            .await?;
        }
    }
    Ok(())
}

/// Applies a provider's verified report about one of our refunds.
async fn apply(
    state: &Core,
    refund: &RefundRecord,
    info: &RefundInfo,
    source: &str,
) -> anyhow::Result<bool> {
    if info.out_refund_no != refund.out_refund_no {
        return Ok(false);
    }
    if let Some(a) = info.amount {
        if a != refund.amount {
            orders::log_event(
                &state.db,
                &refund.order_id,
                OrderEventKind::RejectedRefundReport,
                &format!(
                    "{source}: refund {} reported as {a}, asked {}",
                    refund.out_refund_no, refund.amount
                ),
            )
            .await?;
            return Ok(false);
        }
    }
    match info.state {
        RefundState::Processing => {
            if let Some(id) = &info.refund_id {
                sqlx::query("UPDATE refunds SET refund_id = $1, updated_at = $2 WHERE id = $3 AND refund_id IS NULL")
                    .bind(id)
                    .bind(now_ms())
                    .bind(&refund.id)
                    .execute(&state.db.pool)
                    .await
                    .context("cannot store the refund id")?;
            }
        }
        done => {
            finish(
                state,
                refund,
                done,
                info.refund_id.clone(),
                (done != RefundState::Succeeded)
                    .then(|| format!("the provider reports the refund {done}")),
                source,
            )
            .await?;
        }
    }
    Ok(true)
}

/// Moves a processing refund to its final state and books it on the order,
/// Moves a processing refund to its final state and books it on the order,
/// through the order's state machine, in one transaction; a second report of
/// the same refund changes nothing.
async fn finish(
    state: &Core,
    refund: &RefundRecord,
    to: RefundState,
    refund_id: Option<String>,
    failure: Option<String>,
    source: &str,
) -> anyhow::Result<bool> {
    let now = now_ms();
    let (refund_owned, source_owned) = (refund.clone(), source.to_owned());
    // One write, committed with the others waiting (group commit) and
    // answered once it is on disk.
    let settled = state
        .db
        .commits
        .run(move |conn| {
            Box::pin(async move {
                let (refund, source) = (&refund_owned, source_owned.as_str());
                let tx = conn;
                // The order first, locked: the refunds of one order settle one after the
                // other, so each sees the others' outcome (no write skew on the status).
                let order = orders::lock_in(tx, &refund.order_id)
                    .await?
                    .context("the refund's order is missing")?;
                if !settle_refund_in(tx, refund, to, refund_id, failure.clone(), now).await? {
                    return Ok(Step::Discard(false));
                }
                let still_processing = processing_of_in(tx, &refund.order_id).await? > 0;
                let succeeded = if to == RefundState::Succeeded {
                    refund.amount.fen()
                } else {
                    0
                };
                // An abnormal refund left our account but did not reach the payer: it stays
                // reserved until someone settles it at the provider, so it cannot be paid twice.
                let released = if to == RefundState::Abnormal {
                    0
                } else {
                    refund.amount.fen()
                };
                let next = OrderStatus::after_refunds(
                    still_processing,
                    order.refunded_fen + succeeded,
                    order.received_fen,
                );
                let changes = orders::Changes {
                    refunded_add: succeeded,
                    reserved_add: -released,
                    review_reason: (to == RefundState::Abnormal).then(|| {
                        format!(
                            "refund {} is abnormal: settle it at the provider",
                            refund.out_refund_no
                        )
                    }),
                    ..orders::Changes::default()
                };
                let detail = format!(
                    "{source}: refund {} of {} {}{}",
                    refund.out_refund_no,
                    refund.amount,
                    to,
                    failure.map(|f| format!(" ({f})")).unwrap_or_default()
                );
                let kind = match to {
                    RefundState::Succeeded => OrderEventKind::RefundSucceeded,
                    RefundState::Closed => OrderEventKind::RefundClosed,
                    RefundState::Abnormal => OrderEventKind::RefundAbnormal,
                    RefundState::Processing => OrderEventKind::RefundProcessing,
                };
                let booked = if next == order.status {
                    orders::annotate_in(tx, &order.id, order.status, kind, &detail, changes).await?
                } else {
                    orders::transition_in(tx, &order.id, order.status, next, kind, &detail, changes)
                        .await?
                };
                if !booked {
                    anyhow::bail!("the order changed while it was locked");
                }
                Ok(Step::Keep(true))
            })
        })
        .await?;
    if !settled {
        return Ok(false);
    }
    if to == RefundState::Succeeded && refund.provider == domain::Provider::Alipay {
        // Shares Alipay took back with it.
        super::shares::returned_with_refund(
            state,
            &refund.order_id,
            &refund.out_trade_no,
            refund.amount.fen(),
        )
        .await?;
    }
    tracing::info!(refund = %refund.out_refund_no, state = %to, source, "refund settled");
    super::publish_status(state, &refund.order_id).await;
    Ok(true)
}

/// A verified refund callback from a provider, through the route of
/// `account` (None: the environment's). Only the receiving account that made
/// the order may change its refunds, and the merchant must be ours.
#[tracing::instrument(name = "refund_report", skip_all, fields(out_refund_no = %report.out_refund_no, out_trade_no = %report.out_trade_no, %source))]
pub async fn apply_refund_report(
    state: &Core,
    account: Option<&str>,
    provider: &dyn PaymentProvider,
    report: &RefundInfo,
    source: OrderEventKind,
) -> anyhow::Result<SettleOutcome> {
    let unknown = || Ok(SettleOutcome::Rejected("unknown refund".into()));
    let Some(refund) = by_out_refund_no(&state.db, &report.out_refund_no).await? else {
        return unknown();
    };
    let Some(order) = orders::by_id(&state.db, &refund.order_id).await? else {
        return unknown();
    };
    if order.account_id.as_deref() != account || refund.provider != provider.provider() {
        return Ok(SettleOutcome::Foreign(format!(
            "{} refund report for {} verified by account {} but the order belongs to account {}",
            provider.provider().as_str(),
            report.out_refund_no,
            account.unwrap_or("default"),
            order.account_id.as_deref().unwrap_or("default"),
        )));
    }
    if let Some(m) = &report.merchant_id {
        if m != provider.merchant_id() {
            orders::log_event(
                &state.db,
                &order.id,
                OrderEventKind::RejectedRefundReport,
                &format!(
                    "{source}: refund {} reported by merchant {m}, not ours",
                    refund.out_refund_no
                ),
            )
            .await?;
            return Ok(SettleOutcome::Rejected("merchant mismatch".into()));
        }
    }
    Ok(
        if apply_report(state, &refund, report, source.as_str()).await? {
            SettleOutcome::Settled
        } else {
            SettleOutcome::Rejected("the report does not match the refund".into())
        },
    )
}

/// A verified report (callback or query answer) about one of our refunds.
/// Returns false when it does not match the refund.
async fn apply_report(
    state: &Core,
    refund: &RefundRecord,
    report: &RefundInfo,
    source: &str,
) -> anyhow::Result<bool> {
    let order_id = &refund.order_id;
    if refund.out_trade_no != report.out_trade_no {
        orders::log_event(
            &state.db,
            order_id,
            OrderEventKind::RejectedRefundReport,
            &format!(
                "{source}: refund {} reported for another payment",
                refund.out_refund_no
            ),
        )
        .await?;
        return Ok(false);
    }
    if refund.status != RefundState::Processing {
        // Already final: a repeated callback. Nothing to do, and it is ours.
        return Ok(true);
    }
    apply(state, refund, report, source).await
}

/// Asks the provider about a processing refund now; a refund the provider
/// never received is sent again under the same number.
#[tracing::instrument(name = "refund_check", skip_all, fields(out_refund_no = %refund.out_refund_no))]
pub async fn check(state: &Core, refund: &RefundRecord) -> Result<(), RefundError> {
    if refund.status != RefundState::Processing {
        return Ok(());
    }
    let order = orders::by_id(&state.db, &refund.order_id)
        .await?
        .ok_or(RefundError::NotFound)?;
    let provider = super::provider_of(state, &order, refund.provider)
        .await
        .map_err(|_| RefundError::ProviderMissing)?;
    let no = OutTradeNo::parse(&refund.out_trade_no).map_err(|e| anyhow::anyhow!(e))?;
    match provider.query_refund(&no, &refund.out_refund_no).await {
        Ok(info) => {
            apply_report(state, refund, &info, "refund query").await?;
        }
        Err(ProviderError::NotFound) => submit(state, provider.as_ref(), &order, refund).await?,
        Err(e) => {
            orders::log_event(
                &state.db,
                &refund.order_id,
                OrderEventKind::RefundQueryFailed,
                &format!("refund {}: {e}", refund.out_refund_no),
            )
            .await?;
        }
    }
    Ok(())
}

/// One pass over processing refunds whose outcome is late, with backoff.
#[tracing::instrument(name = "refund_reconcile", skip_all)]
pub async fn reconcile_once(state: &Core) -> anyhow::Result<usize> {
    let now = now_ms();
    let mut looked = 0;
    for refund in due_for_check(&state.db, now, 50).await? {
        let next = now + state.pay.backoff_ms(refund.check_attempts);
        if !claim_check(&state.db, &refund, next).await? {
            continue; // another instance has it
        }
        looked += 1;
        if let Err(e) = check(state, &refund).await {
            tracing::warn!(refund = %refund.out_refund_no, error = %e, "refund check failed; will retry");
        }
    }
    Ok(looked)
}

#[cfg(test)]
mod tests;
