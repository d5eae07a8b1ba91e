//! The payment flow on the server: start a payment at a provider, settle what
//! a verified callback or query reports, and recover late callbacks.
//!
//! Every provider order is a payment attempt with its own number
//! (`attempts.rs`); starting a payment is serialised per order and closes the
//! previous attempt first. A payment is recorded once, on its attempt, in the
//! transaction that books it on the order; it is accepted only from the
//! receiving account that made the order, and money that arrives through an
//! attempt that is no longer current is kept for an administrator, never refused.

use super::attempts::{self, Attempt, AttemptState};
use super::hub::StatusChange;
use super::orders::{self, Changes, OrderRecord};
use super::payment::*;
use super::{now_ms, Core};
use anyhow::Context;
use domain::{Channel, OrderStatus, Provider};
use std::sync::Arc;

/// Where providers and payers reach this instance, and the recovery timing.
#[derive(Clone, Debug)]
pub struct PaySettings {
    /// Base of the callback URLs, without a trailing slash.
    pub notify_base: String,
    /// Base of the payer's return URL, without a trailing slash.
    pub return_base: String,
    pub order_ttl_ms: i64,
    /// How long after creation a pending order is first queried.
    pub first_check_ms: i64,
    /// The longest wait between two queries of one order.
    pub max_check_interval_ms: i64,
}

/// A provider is queried for an order at most this often on behalf of payers
/// ("I have paid"), whatever their number.
pub const PUBLIC_QUERY_INTERVAL_MS: i64 = 5_000;
/// How long one start of a payment may hold its order.
const PAY_LOCK_MS: i64 = 30_000;
/// After an order expires, how long an attempt whose close was not confirmed
/// is still watched (providers refuse payment after `time_expire`).
const CLOSING_GRACE_MS: i64 = 10 * 60_000;

impl PaySettings {
    /// How long to wait before looking again at something checked `attempts`
    /// times already: doubling from the first check, capped.
    pub fn backoff_ms(&self, attempts: i64) -> i64 {
        (self.first_check_ms.max(1000) << attempts.clamp(0, 10)).min(self.max_check_interval_ms)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PayError {
    #[error("no such order")]
    NotFound,
    #[error("the order can no longer be paid ({0})")]
    NotPayable(OrderStatus),
    #[error("the order has expired")]
    Expired,
    #[error("this payment method is not available")]
    ChannelUnavailable,
    #[error("a payment of this order is being started; try again in a moment")]
    Busy,
    #[error("the receiving account cannot be used: {0}")]
    Account(String),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayStart {
    pub channel: Channel,
    pub action: PayAction,
    pub expires_at: i64,
}

/// The clients of an order's receiving account.
pub async fn providers_of(state: &Core, order: &OrderRecord) -> Result<PaymentProviders, PayError> {
    super::accounts::providers(state, order.account_id.as_deref())
        .await
        .map_err(|e| match e {
            super::accounts::LoadError::Account(a) => PayError::Account(a.to_string()),
            super::accounts::LoadError::Unexpected(u) => PayError::Unexpected(u),
        })
}

/// The client of an order's account for one provider.
pub async fn provider_of(
    state: &Core,
    order: &OrderRecord,
    provider: Provider,
) -> Result<Arc<dyn PaymentProvider>, PayError> {
    providers_of(state, order)
        .await?
        .for_provider(provider)
        .cloned()
        .ok_or(PayError::ChannelUnavailable)
}

/// Where a provider calls back about an order: a stored account has its own
/// route, so that the callback is verified with that account's keys.
pub fn notify_url(state: &Core, order: &OrderRecord, provider: &dyn PaymentProvider) -> String {
    match &order.account_id {
        Some(id) => format!("{}{}/{id}", state.pay.notify_base, provider.notify_path()),
        None => format!("{}{}", state.pay.notify_base, provider.notify_path()),
    }
}

/// Tells every listener (SSE, other instances) the order's current status.
pub async fn publish_status(state: &Core, order_id: &str) {
    if let Ok(Some(o)) = orders::by_id(&state.db, order_id).await {
        state
            .hub
            .publish(StatusChange {
                order_id: o.id,
                status: o.status,
                version: o.updated_at,
            })
            .await;
    }
}

/// Creates (or reuses) the provider order for a channel and tells the payer
/// what to do. One start at a time per order, on every instance.
pub async fn start_payment(
    state: &Core,
    order_id: &str,
    channel: Channel,
    client_ip: Option<String>,
) -> Result<PayStart, PayError> {
    let order = orders::by_id(&state.db, order_id)
        .await?
        .ok_or(PayError::NotFound)?;
    check_payable(&order)?;
    if let Some(id) = &order.account_id {
        if !super::accounts::is_enabled(&state.db, id).await? {
            return Err(PayError::ChannelUnavailable);
        }
    }
    let providers = providers_of(state, &order).await?;
    let provider = providers
        .for_provider(channel.provider())
        .cloned()
        .ok_or(PayError::ChannelUnavailable)?;
    let lock = orders::lock_for_payment(&state.db, &order.id, PAY_LOCK_MS).await?;
    let Some(lock) = lock else {
        return Err(PayError::Busy);
    };
    let result = start_locked(state, order_id, channel, &providers, provider, client_ip).await;
    if let Err(e) = orders::unlock_payment(&state.db, &order.id, lock).await {
        tracing::warn!(error = ?e, "cannot release the payment lock; it expires by itself");
    }
    result
}

fn check_payable(order: &OrderRecord) -> Result<(), PayError> {
    if !attempts::awaits_payment(order.status) {
        return Err(PayError::NotPayable(order.status));
    }
    if order.expires_at <= now_ms() {
        return Err(PayError::Expired);
    }
    Ok(())
}

async fn start_locked(
    state: &Core,
    order_id: &str,
    channel: Channel,
    providers: &PaymentProviders,
    provider: Arc<dyn PaymentProvider>,
    client_ip: Option<String>,
) -> Result<PayStart, PayError> {
    // Read again under the lock: a payment or another start may have happened.
    let order = orders::by_id(&state.db, order_id)
        .await?
        .ok_or(PayError::NotFound)?;
    check_payable(&order)?;
    let current = attempts::by_seq(&state.db, &order.id, order.attempt_seq).await?;
    if let Some(a) = current.as_ref().filter(|a| a.state == AttemptState::Open) {
        if a.channel == channel {
            // Same channel again: the same QR code or cashier.
            if let Some(target) = &a.pay_target {
                return Ok(PayStart {
                    channel,
                    action: action_for(channel, target.clone()),
                    expires_at: order.expires_at,
                });
            }
        }
        // Another channel: close the current attempt first, so the payer cannot pay twice.
        if close_attempt(state, &order, a, providers).await? == Closed::Paid {
            return Err(PayError::NotPayable(OrderStatus::Paid));
        }
        // Closed, or watched: either way a payment through it is never lost.
    }
    let form_title = super::forms::form_by_id(&state.db, &order.form_id)
        .await?
        .map(|f| f.def.title)
        .unwrap_or_default();
    let attempt = attempts::begin(
        &state.db,
        &order.id,
        &order.out_trade_no,
        order.attempt_seq,
        channel,
        order.amount,
        now_ms() + state.pay.first_check_ms,
    )
    .await?
    .ok_or(PayError::Busy)?;
    let payment = NewPayment {
        out_trade_no: attempt.out_trade_no()?,
        amount: order.amount,
        subject: form_title,
        expires_at_ms: order.expires_at,
        notify_url: notify_url(state, &order, provider.as_ref()),
        return_url: format!("{}/pay/{}", state.pay.return_base, order.id),
        client_ip,
    };
    let action = match provider.create(channel, &payment).await {
        Ok(a) => a,
        Err(e) => {
            attempts::set_state(&state.db, &attempt.id, AttemptState::Failed, None).await?;
            orders::log_event(
                &state.db,
                &order.id,
                "provider_error",
                &format!("{} {}: {e}", channel.as_str(), attempt.out_trade_no),
            )
            .await?;
            return Err(e.into());
        }
    };
    let target = match &action {
        PayAction::QrCode(t) | PayAction::Redirect(t) => t.clone(),
    };
    attempts::set_target(&state.db, &attempt.id, &target).await?;
    let detail = format!(
        "{} order {} made at {}",
        channel.as_str(),
        attempt.out_trade_no,
        channel.provider().as_str()
    );
    let moved = match order.status {
        OrderStatus::Created => {
            orders::transition(
                &state.db,
                &order.id,
                OrderStatus::Created,
                OrderStatus::Pending,
                "provider_order",
                &detail,
                Changes {
                    channel: Some(channel),
                    provider: Some(channel.provider()),
                    pay_target: Some(target.clone()),
                    next_check_at: Some(now_ms() + state.pay.first_check_ms),
                    ..Changes::default()
                },
            )
            .await?
        }
        _ => false,
    };
    if !moved
        && !orders::update_pay_target(
            &state.db,
            &order.id,
            channel,
            channel.provider(),
            &target,
            &detail,
        )
        .await?
    {
        // Paid (or closed) while the provider was asked: that attempt was current then.
        let now = orders::by_id(&state.db, &order.id)
            .await?
            .ok_or(PayError::NotFound)?;
        return Err(PayError::NotPayable(now.status));
    }
    if moved {
        publish_status(state, &order.id).await;
    }
    Ok(PayStart {
        channel,
        action,
        expires_at: order.expires_at,
    })
}

fn action_for(channel: Channel, target: String) -> PayAction {
    if channel.redirects() {
        PayAction::Redirect(target)
    } else {
        PayAction::QrCode(target)
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Closed {
    /// The provider confirmed it can no longer be paid.
    Yes,
    /// The provider does not know it yet (a cashier not opened): it could
    /// still be created from its signed link until it expires. Watched.
    NotYetCreated,
    /// The provider refused or could not be reached. Watched.
    Failed(String),
    /// It was paid meanwhile, and is now settled.
    Paid,
}

/// Closes an attempt at its provider. A provider that does not know the
/// attempt confirms nothing for the channels whose provider order is made
/// only when the payer opens the cashier (Alipay page and WAP pay): the
/// signed cashier link could still create it. Whatever is not confirmed is
/// watched by the reconciler until it can no longer be paid.
pub async fn close_attempt(
    state: &Core,
    order: &OrderRecord,
    a: &Attempt,
    providers: &PaymentProviders,
) -> Result<Closed, PayError> {
    let outcome = match providers.for_provider(a.provider) {
        None => Closed::Failed("the provider is not available".into()),
        Some(p) => {
            let no = a.out_trade_no()?;
            match p.close(&no).await {
                Ok(()) => Closed::Yes,
                Err(ProviderError::NotFound) if !a.channel.made_when_opened() => Closed::Yes,
                Err(ProviderError::NotFound) => Closed::NotYetCreated,
                Err(e) => {
                    // Perhaps paid a moment ago: look.
                    match p.query(&no).await {
                        Ok(info) if info.state == TradeState::Paid => {
                            settle(
                                state,
                                order.account_id.as_deref(),
                                p.as_ref(),
                                &info,
                                "query",
                            )
                            .await?;
                            return Ok(Closed::Paid);
                        }
                        Ok(info) if info.state == TradeState::Closed => Closed::Yes,
                        _ => Closed::Failed(e.to_string()),
                    }
                }
            }
        }
    };
    let note = match &outcome {
        Closed::Yes => {
            attempts::set_state(&state.db, &a.id, AttemptState::Closed, None).await?;
            "closed at the provider".to_owned()
        }
        Closed::NotYetCreated | Closed::Failed(_) => {
            attempts::set_state(
                &state.db,
                &a.id,
                AttemptState::Closing,
                Some(now_ms() + state.pay.first_check_ms),
            )
            .await?;
            match &outcome {
                Closed::Failed(e) => {
                    format!("close failed ({e}); watched until it can no longer be paid")
                }
                _ => {
                    "not opened yet at the provider; watched until it can no longer be paid".into()
                }
            }
        }
        Closed::Paid => unreachable!("returned above"),
    };
    orders::log_event(
        &state.db,
        &order.id,
        "attempt_closed",
        &format!("{} {}: {note}", a.channel.as_str(), a.out_trade_no),
    )
    .await?;
    Ok(outcome)
}

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
    source: &str,
) -> anyhow::Result<SettleOutcome> {
    let Some(attempt) = attempts::by_out_trade_no(&state.db, &info.out_trade_no).await? else {
        return Ok(SettleOutcome::Rejected("unknown out_trade_no".into()));
    };
    let Some(mut order) = orders::by_id(&state.db, &attempt.order_id).await? else {
        return Ok(SettleOutcome::Rejected("unknown out_trade_no".into()));
    };
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
            "rejected_report",
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
            (true, OrderStatus::Pending) => (OrderStatus::Paid, None),
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
        let mut tx = state
            .db
            .pool
            .begin()
            .await
            .context("cannot start a transaction")?;
        if !attempts::record_paid_in(
            &mut tx,
            &attempt.id,
            info.transaction_id.as_deref(),
            paid_at,
        )
        .await?
        {
            // Recorded already: a repeated or concurrent report.
            tx.rollback().await.context("cannot roll back")?;
            return Ok(SettleOutcome::NoChange);
        }
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
        let moved = if to == order.status {
            orders::annotate_in(
                &mut tx,
                &order.id,
                order.status,
                "paid_again",
                &detail,
                changes,
            )
            .await?
        } else {
            orders::transition_in(
                &mut tx,
                &order.id,
                order.status,
                to,
                source,
                &detail,
                changes,
            )
            .await?
        };
        if !moved {
            tx.rollback().await.context("cannot roll back")?;
            order = reload(state, &order.id).await?;
            continue;
        }
        tx.commit().await.context("cannot commit the payment")?;
        publish_status(state, &order.id).await;
        let outcome = if review.is_some() {
            SettleOutcome::Review
        } else {
            SettleOutcome::Settled
        };
        tracing::info!(out_trade_no = %attempt.out_trade_no, ?outcome, source, "payment recorded");
        return Ok(outcome);
    }
    anyhow::bail!("the order kept changing while a payment was recorded")
}

async fn reload(state: &Core, id: &str) -> anyhow::Result<OrderRecord> {
    orders::by_id(&state.db, id)
        .await?
        .context("the order disappeared")
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

/// A verified callback: settle it and give the provider the answer it
/// expects. `account` is the receiving account of the route it came to. The
/// answer is sent only after the commit; a database failure asks for a retry.
/// A message that fails verification is counted and kept apart, never
/// attached to an order; a verified one that names another account's order
/// is a security event.
pub async fn handle_notify(
    state: &Core,
    account: Option<&str>,
    provider: &dyn PaymentProvider,
    headers: &http::HeaderMap,
    body: &[u8],
) -> NotifyReply {
    let started = std::time::Instant::now();
    let event = match provider.parse_notify(headers, body).await {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(provider = provider.log_name(), error = %e, "callback refused");
            state
                .security
                .reject(provider.log_name(), account, &e.to_string(), body);
            return provider.notify_failure("verification failed");
        }
    };
    let (result, out_trade_no) = match &event {
        NotifyEvent::Trade(info) => (
            settle(state, account, provider, info, "notify").await,
            info.out_trade_no.clone(),
        ),
        NotifyEvent::Refund(refund) => (
            super::refunds::apply_refund_report(state, account, provider, refund, "notify").await,
            refund.out_trade_no.clone(),
        ),
    };
    let (reply, error) = match result {
        Ok(SettleOutcome::Foreign(why)) => {
            tracing::warn!(provider = provider.log_name(), %why, "callback for another account's order");
            if let Err(e) = state
                .security
                .record_event(
                    &state.db,
                    "foreign_account_callback",
                    provider.log_name(),
                    account,
                    &why,
                )
                .await
            {
                tracing::error!(error = ?e, "cannot record the security event");
            }
            return provider.notify_failure("order mismatch");
        }
        Ok(SettleOutcome::Rejected(why)) => {
            tracing::warn!(out_trade_no = %out_trade_no, %why, "callback does not match its order");
            (provider.notify_failure("order mismatch"), Some(why))
        }
        Ok(_) => (provider.notify_success(), None),
        Err(e) => {
            tracing::error!(error = ?e, "callback could not be stored");
            (
                provider.notify_failure("temporary failure"),
                Some("temporary failure".into()),
            )
        }
    };
    state
        .payment_log
        .write(super::payment_log::LogEntry {
            provider: provider.log_name(),
            operation: "notify",
            direction: "in",
            out_trade_no: Some(out_trade_no),
            status_code: Some(reply.status),
            latency_ms: started.elapsed().as_millis() as i64,
            request: provider.redact_notify(body),
            response: reply.body.clone(),
            error,
        })
        .await;
    reply
}

/// Asks the provider about the order's current attempt now (an
/// administrator, the reconciler) and applies the answer.
pub async fn check_now(state: &Core, order: &OrderRecord) -> Result<OrderStatus, PayError> {
    let Some(a) = attempts::by_seq(&state.db, &order.id, order.attempt_seq).await? else {
        return Ok(order.status);
    };
    let provider = provider_of(state, order, a.provider).await?;
    match provider.query(&a.out_trade_no()?).await {
        Ok(info) => {
            settle(
                state,
                order.account_id.as_deref(),
                provider.as_ref(),
                &info,
                "query",
            )
            .await?;
        }
        Err(ProviderError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(orders::by_id(&state.db, &order.id)
        .await?
        .map(|o| o.status)
        .unwrap_or(order.status))
}

/// "I have paid", from a payer: the provider is asked at most once every
/// [`PUBLIC_QUERY_INTERVAL_MS`] per order, whatever the number of callers;
/// the others get the stored status.
pub async fn check_for_payer(state: &Core, order: &OrderRecord) -> Result<OrderStatus, PayError> {
    if !attempts::awaits_payment(order.status)
        || !orders::claim_public_query(&state.db, &order.id, PUBLIC_QUERY_INTERVAL_MS).await?
    {
        return Ok(order.status);
    }
    check_now(state, order).await
}

/// One pass of recovery: query pending orders whose callback is late (with
/// backoff), close expired ones at the provider, watch attempts whose close
/// was not confirmed, and settle late refunds. Returns how many it looked at.
#[tracing::instrument(skip_all, name = "reconcile")]
pub async fn reconcile_once(state: &Core) -> anyhow::Result<usize> {
    let now = now_ms();
    let mut looked = super::refunds::reconcile_once(state).await?;
    for order in orders::due_for_check(&state.db, now, 50).await? {
        let backoff = state.pay.backoff_ms(order.check_attempts);
        // Look again at expiry at the latest, so an expired order is closed promptly.
        let mut next = now + backoff;
        if order.expires_at > now {
            next = next.min(order.expires_at + 100);
        }
        if !orders::claim_check(&state.db, &order, next).await? {
            continue; // another instance has it
        }
        looked += 1;
        if let Err(e) = reconcile_order(state, &order).await {
            tracing::warn!(out_trade_no = %order.out_trade_no, error = %e, "reconcile failed; will retry");
        }
    }
    for a in attempts::due_closing(&state.db, now, 50).await? {
        if !attempts::claim_check(&state.db, &a, now + state.pay.backoff_ms(a.check_attempts))
            .await?
        {
            continue;
        }
        looked += 1;
        if let Err(e) = reconcile_attempt(state, &a).await {
            tracing::warn!(out_trade_no = %a.out_trade_no, error = %e, "watching an attempt failed; will retry");
        }
    }
    Ok(looked)
}

async fn reconcile_order(state: &Core, order: &OrderRecord) -> anyhow::Result<()> {
    let expired = order.expires_at <= now_ms();
    if order.status == OrderStatus::Created {
        if expired {
            orders::transition(
                &state.db,
                &order.id,
                OrderStatus::Created,
                OrderStatus::Expired,
                "expired",
                "no payment was started in time",
                Changes::default(),
            )
            .await?;
            publish_status(state, &order.id).await;
        }
        return Ok(());
    }
    let status = match check_now(state, order).await {
        Ok(s) => s,
        Err(PayError::Provider(e)) => {
            orders::log_event(&state.db, &order.id, "query_failed", &e.to_string()).await?;
            return Ok(());
        }
        Err(e) => return Err(anyhow::anyhow!(e)),
    };
    if status != OrderStatus::Pending || !expired {
        return Ok(());
    }
    let order = reload(state, &order.id).await?;
    if let Some(a) = attempts::by_seq(&state.db, &order.id, order.attempt_seq)
        .await?
        .filter(|a| a.state == AttemptState::Open)
    {
        let providers = providers_of(state, &order)
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        match close_attempt(state, &order, &a, &providers)
            .await
            .map_err(|e| anyhow::anyhow!(e))?
        {
            Closed::Paid => return Ok(()),
            // Paid in the last second, or the provider is down: look again later.
            Closed::Failed(_) => return Ok(()),
            Closed::Yes | Closed::NotYetCreated => {}
        }
    }
    if orders::transition(
        &state.db,
        &order.id,
        OrderStatus::Pending,
        OrderStatus::Expired,
        "expired",
        "closed at the provider after expiry",
        Changes::default(),
    )
    .await?
    {
        publish_status(state, &order.id).await;
    }
    Ok(())
}

/// An attempt whose close was not confirmed: paid (settled, for review), or
/// closed at last, or past the time it could be paid.
async fn reconcile_attempt(state: &Core, a: &Attempt) -> anyhow::Result<()> {
    let order = reload(state, &a.order_id).await?;
    let provider = provider_of(state, &order, a.provider)
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let no = a.out_trade_no()?;
    let past = now_ms() > order.expires_at + CLOSING_GRACE_MS;
    match provider.query(&no).await {
        Ok(info) if info.state == TradeState::Paid => {
            settle(
                state,
                order.account_id.as_deref(),
                provider.as_ref(),
                &info,
                "query",
            )
            .await?;
            return Ok(());
        }
        Ok(info) if info.state == TradeState::Closed => {}
        Ok(_) | Err(ProviderError::NotFound) => match provider.close(&no).await {
            Ok(()) => {}
            Err(ProviderError::NotFound) if !a.channel.made_when_opened() || past => {}
            Err(_) if past => {}
            Err(_) => return Ok(()),
        },
        Err(e) => {
            orders::log_event(
                &state.db,
                &order.id,
                "query_failed",
                &format!("{}: {e}", a.out_trade_no),
            )
            .await?;
            return Ok(());
        }
    }
    if attempts::set_state(&state.db, &a.id, AttemptState::Closed, None).await? {
        orders::log_event(
            &state.db,
            &order.id,
            "attempt_closed",
            &format!("{} {}: closed", a.channel.as_str(), a.out_trade_no),
        )
        .await?;
    }
    Ok(())
}
