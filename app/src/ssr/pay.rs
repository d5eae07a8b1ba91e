//! The payment flow on the server: start a payment at a provider, settle what
//! a verified callback or query reports, and recover late callbacks.

use super::hub::StatusChange;
use super::orders::{self, Changes, OrderRecord};
use super::payment::*;
use super::{now_ms, AppState};
use crate::domain::{Channel, OrderStatus, OutTradeNo};
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
pub async fn providers_of(
    state: &AppState,
    order: &OrderRecord,
) -> Result<PaymentProviders, PayError> {
    super::accounts::providers(state, order.account_id.as_deref())
        .await
        .map_err(|e| match e {
            super::accounts::LoadError::Account(a) => PayError::Account(a.to_string()),
            super::accounts::LoadError::Unexpected(u) => PayError::Unexpected(u),
        })
}

/// The client of an order's account for one provider.
pub async fn provider_of(
    state: &AppState,
    order: &OrderRecord,
    provider: crate::domain::Provider,
) -> Result<Arc<dyn PaymentProvider>, PayError> {
    providers_of(state, order)
        .await?
        .for_provider(provider)
        .cloned()
        .ok_or(PayError::ChannelUnavailable)
}

/// Where a provider calls back about an order: a stored account has its own
/// route, so that the callback is verified with that account's keys.
pub fn notify_url(state: &AppState, order: &OrderRecord, provider: &dyn PaymentProvider) -> String {
    match &order.account_id {
        Some(id) => format!("{}{}/{id}", state.pay.notify_base, provider.notify_path()),
        None => format!("{}{}", state.pay.notify_base, provider.notify_path()),
    }
}

/// Tells every listener (SSE, other instances) the order's current status.
pub async fn publish_status(state: &AppState, order_id: &str) {
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

/// Creates (or reuses) the provider order for a channel and tells the payer what to do.
pub async fn start_payment(
    state: &AppState,
    order_id: &str,
    channel: Channel,
    client_ip: Option<String>,
) -> Result<PayStart, PayError> {
    let order = orders::by_id(&state.db, order_id)
        .await?
        .ok_or(PayError::NotFound)?;
    if !matches!(order.status, OrderStatus::Created | OrderStatus::Pending) {
        return Err(PayError::NotPayable(order.status));
    }
    if order.expires_at <= now_ms() {
        return Err(PayError::Expired);
    }
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
    // Same channel again: the same QR code or cashier.
    if order.channel == Some(channel) {
        if let Some(target) = &order.pay_target {
            let action = if channel == Channel::AlipayPage {
                PayAction::Redirect(target.clone())
            } else {
                PayAction::QrCode(target.clone())
            };
            return Ok(PayStart {
                channel,
                action,
                expires_at: order.expires_at,
            });
        }
    }
    let no = OutTradeNo::parse(&order.out_trade_no).map_err(|e| anyhow::anyhow!(e))?;
    // Another provider had this order: close it there first, so the payer cannot pay twice.
    if let Some(previous) = order.provider.filter(|p| *p != channel.provider()) {
        if let Some(old) = providers.for_provider(previous) {
            match old.close(&no).await {
                Ok(()) | Err(ProviderError::NotFound) => {}
                Err(e) => return Err(PayError::Provider(e)),
            }
            if let Ok(info) = old.query(&no).await {
                if info.state == TradeState::Paid {
                    settle(state, old.as_ref(), &info, "query").await?;
                    return Err(PayError::NotPayable(OrderStatus::Paid));
                }
            }
        }
    }
    let form_title = super::forms::form_by_id(&state.db, &order.form_id)
        .await?
        .map(|f| f.def.title)
        .unwrap_or_default();
    let payment = NewPayment {
        out_trade_no: no,
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
            let _ = orders::log_event(
                &state.db,
                &order.id,
                "provider_error",
                &format!("{}: {e}", channel.as_str()),
            )
            .await;
            return Err(e.into());
        }
    };
    let target = match &action {
        PayAction::QrCode(t) | PayAction::Redirect(t) => t.clone(),
    };
    let detail = format!(
        "{} order made at {}",
        channel.as_str(),
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

/// What became of a provider's report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SettleOutcome {
    /// This call moved the order to paid.
    Settled,
    /// Nothing to do: already settled (a duplicate or concurrent report), or not paid.
    NoChange,
    /// Money arrived for a closed or expired order: kept for an administrator.
    Review,
    /// The report does not match the order: nothing changed.
    Rejected(String),
}

/// Applies a verified report (callback or query) to its order: merchant, app
/// and amount checked against the order, then a compare-and-set.
pub async fn settle(
    state: &AppState,
    provider: &dyn PaymentProvider,
    info: &TradeInfo,
    source: &str,
) -> anyhow::Result<SettleOutcome> {
    let Some(order) = orders::by_out_trade_no(&state.db, &info.out_trade_no).await? else {
        return Ok(SettleOutcome::Rejected("unknown out_trade_no".into()));
    };
    let reject = |why: String| async {
        orders::log_event(
            &state.db,
            &order.id,
            "rejected_report",
            &format!("{source}: {why}"),
        )
        .await?;
        anyhow::Ok(SettleOutcome::Rejected(why))
    };
    if order.provider.is_some_and(|p| p != provider.provider()) {
        return reject(format!(
            "reported by {} but the order is at another provider",
            provider.provider().as_str()
        ))
        .await;
    }
    if let Some(m) = &info.merchant_id {
        if !provider.merchant_id().is_empty() && m != provider.merchant_id() {
            return reject(format!("merchant {m} is not ours")).await;
        }
    }
    if let Some(a) = &info.app_id {
        if a != provider.app_id() {
            return reject(format!("app {a} is not ours")).await;
        }
    }
    if info.state != TradeState::Paid {
        return Ok(SettleOutcome::NoChange);
    }
    if info.amount != Some(order.amount) {
        let got = info
            .amount
            .map(|m| m.to_string())
            .unwrap_or_else(|| "none".into());
        return reject(format!("amount {got} does not match {}", order.amount)).await;
    }
    let changes = || Changes {
        transaction_id: info.transaction_id.clone(),
        paid_at: Some(now_ms()),
        ..Changes::default()
    };
    let detail = format!(
        "{source}: paid, transaction {}",
        info.transaction_id.as_deref().unwrap_or("-")
    );
    let outcome = match order.status {
        OrderStatus::Created => {
            // The callback beat our own bookkeeping of the provider order.
            orders::transition(
                &state.db,
                &order.id,
                OrderStatus::Created,
                OrderStatus::Pending,
                source,
                "provider order confirmed by a report",
                Changes {
                    provider: Some(provider.provider()),
                    ..Changes::default()
                },
            )
            .await?;
            // Now pending: settle it as such.
            return Box::pin(settle(state, provider, info, source)).await;
        }
        OrderStatus::Pending => {
            if orders::transition(
                &state.db,
                &order.id,
                OrderStatus::Pending,
                OrderStatus::Paid,
                source,
                &detail,
                changes(),
            )
            .await?
            {
                SettleOutcome::Settled
            } else {
                // Lost a race: whoever won did the work, unless it was a close.
                let now = orders::by_id(&state.db, &order.id).await?.map(|o| o.status);
                if matches!(now, Some(OrderStatus::Expired | OrderStatus::Closed)) {
                    return Box::pin(settle(state, provider, info, source)).await;
                }
                SettleOutcome::NoChange
            }
        }
        OrderStatus::Expired | OrderStatus::Closed => {
            let c = Changes {
                review_reason: Some(format!("paid after the order was {}", order.status)),
                ..changes()
            };
            if orders::transition(
                &state.db,
                &order.id,
                order.status,
                OrderStatus::NeedsReview,
                source,
                &format!("{detail} after close"),
                c,
            )
            .await?
            {
                SettleOutcome::Review
            } else {
                SettleOutcome::NoChange
            }
        }
        _ => SettleOutcome::NoChange,
    };
    if matches!(outcome, SettleOutcome::Settled | SettleOutcome::Review) {
        publish_status(state, &order.id).await;
        tracing::info!(order = %order.id, ?outcome, source, "order settled");
    }
    Ok(outcome)
}

/// A verified callback: settle it and give the provider the answer it expects.
/// The answer is sent only after the commit; a database failure asks for a retry.
pub async fn handle_notify(
    state: &AppState,
    provider: &dyn PaymentProvider,
    headers: &http::HeaderMap,
    body: &[u8],
) -> NotifyReply {
    let event = match provider.parse_notify(headers, body).await {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(provider = provider.provider().as_str(), error = %e, "callback refused");
            return provider.notify_failure("verification failed");
        }
    };
    match event {
        NotifyEvent::Trade(info) => match settle(state, provider, &info, "notify").await {
            Ok(SettleOutcome::Rejected(why)) => {
                tracing::warn!(out_trade_no = %info.out_trade_no, %why, "callback does not match its order");
                provider.notify_failure("order mismatch")
            }
            Ok(_) => provider.notify_success(),
            Err(e) => {
                tracing::error!(error = ?e, "callback could not be stored");
                provider.notify_failure("temporary failure")
            }
        },
        NotifyEvent::Refund(refund) => {
            match super::refunds::apply_refund_report(state, &refund, "notify").await {
                Ok(true) => provider.notify_success(),
                Ok(false) => provider.notify_failure("unknown refund"),
                Err(e) => {
                    tracing::error!(error = ?e, "refund callback could not be stored");
                    provider.notify_failure("temporary failure")
                }
            }
        }
    }
}

/// Asks the provider now (the payer's "I have paid", an administrator, the reconciler).
pub async fn check_now(state: &AppState, order: &OrderRecord) -> Result<OrderStatus, PayError> {
    let Some(provider_kind) = order.provider else {
        return Ok(order.status);
    };
    let provider = provider_of(state, order, provider_kind).await?;
    let no = OutTradeNo::parse(&order.out_trade_no).map_err(|e| anyhow::anyhow!(e))?;
    match provider.query(&no).await {
        Ok(info) => {
            settle(state, provider.as_ref(), &info, "query").await?;
        }
        Err(ProviderError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(orders::by_id(&state.db, &order.id)
        .await?
        .map(|o| o.status)
        .unwrap_or(order.status))
}

/// One pass of recovery: query pending orders whose callback is late (with
/// backoff), close expired ones at the provider. Returns how many it looked at.
pub async fn reconcile_once(state: &AppState) -> anyhow::Result<usize> {
    let now = now_ms();
    let due = orders::due_for_check(&state.db, now, 50).await?;
    let mut looked = super::refunds::reconcile_once(state).await?;
    for order in due {
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
            tracing::warn!(order = %order.id, error = %e, "reconcile failed; will retry");
        }
    }
    Ok(looked)
}

async fn reconcile_order(state: &AppState, order: &OrderRecord) -> anyhow::Result<()> {
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
    if status == OrderStatus::Pending && expired {
        let provider = match order.provider {
            Some(p) => provider_of(state, order, p).await.ok(),
            None => None,
        };
        if let Some(p) = provider {
            let no = OutTradeNo::parse(&order.out_trade_no).map_err(|e| anyhow::anyhow!(e))?;
            match p.close(&no).await {
                Ok(()) | Err(ProviderError::NotFound) => {}
                Err(e) => {
                    // Paid in the last second, or the provider is down: look again later.
                    orders::log_event(&state.db, &order.id, "close_failed", &e.to_string()).await?;
                    return Ok(());
                }
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
    }
    Ok(())
}
