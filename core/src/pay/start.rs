//! Starting a payment: one provider order (a payment attempt) per channel,
//! serialised per order; the previous attempt is closed at its provider first.

use super::*;
use crate::provider::*;
use crate::store::attempts::{self, Attempt, AttemptState};
use crate::store::orders::{self, OrderRecord};
use crate::{now_ms, Core};
use domain::{Channel, OrderEventKind, OrderStatus};
use std::sync::Arc;

/// Creates (or reuses) the provider order for a channel and tells the payer
/// what to do. One start at a time per order, on every instance.
#[tracing::instrument(name = "start_payment", skip(state, payer), fields(order = %order_id, channel = %channel.as_str(), out_trade_no = tracing::field::Empty))]
pub async fn start_payment(
    state: &Core,
    order_id: &str,
    channel: Channel,
    payer: Payer,
) -> Result<PayStart, PayError> {
    let order = orders::by_id(&state.db, order_id)
        .await?
        .ok_or(PayError::NotFound)?;
    check_payable(&order)?;
    if let Some(id) = &order.account_id {
        if !crate::accounts::is_enabled(&state.db, id).await? {
            return Err(PayError::ChannelUnavailable);
        }
    }
    let providers = providers_of(state, &order).await?;
    let provider = providers
        .for_provider(channel.provider())
        .filter(|p| p.channels().contains(&channel))
        .cloned()
        .ok_or(PayError::ChannelUnavailable)?;
    if channel == Channel::WechatJsapi && payer.openid.is_none() {
        return Err(PayError::NeedsOpenid);
    }
    // An order's first start has no attempt to reuse or close: it takes the
    // lock and begins its attempt in one write. (A WeChat payer in a form
    // that limits payers is counted under the lock first: the usual way.)
    if order.attempt_seq == 0 && channel != Channel::WechatJsapi {
        let lock = now_ms() + PAY_LOCK_MS;
        let next_check_at = now_ms() + state.pay.first_check_ms;
        let begun = attempts::begin(&state.db, &order, channel, next_check_at, Some(lock)).await?;
        if let Some(attempt) = begun {
            let result =
                make_provider_order(state, &order, channel, provider, payer, attempt, lock).await;
            return let_go(state, &order.id, lock, result).await;
        }
        // Another start got there first: wait for it, as below.
    }
    let lock = orders::lock_for_payment(&state.db, &order.id, PAY_LOCK_MS).await?;
    let Some(lock) = lock else {
        return Err(PayError::Busy);
    };
    let result = start_locked(state, order_id, channel, &providers, provider, payer, lock).await;
    let_go(state, &order.id, lock, result).await
}

/// A start that made its provider order let go of the lock with its last
/// write (the flag); any other lets go of it here.
async fn let_go(
    state: &Core,
    order_id: &str,
    lock: i64,
    result: Result<(PayStart, bool), PayError>,
) -> Result<PayStart, PayError> {
    if !matches!(result, Ok((_, true))) {
        if let Err(e) = orders::unlock_payment(&state.db, order_id, lock).await {
            tracing::warn!(error = ?e, "cannot release the payment lock; it expires by itself");
        }
    }
    result.map(|(start, _)| start)
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

/// In a form that limits payers, the WeChat account paying counts as a payer
/// too (by a digest of its openid, like a phone number or an address), so
/// that one person cannot take more places by typing other numbers.
async fn hold_wechat_payer(
    state: &Core,
    order: &OrderRecord,
    openid: &str,
) -> Result<(), PayError> {
    let Some(form) = crate::store::forms::form_by_id(&state.db, &order.form_id).await? else {
        return Ok(());
    };
    let Some(limit) = form.def.per_payer_limit else {
        return Ok(());
    };
    let key = crate::store::forms::notice_hash(&format!("{}:openid:{openid}", form.id));
    if orders::hold_openid(&state.db, &order.id, &key, limit).await? {
        Ok(())
    } else {
        Err(PayError::PayerLimit(limit))
    }
}

async fn start_locked(
    state: &Core,
    order_id: &str,
    channel: Channel,
    providers: &PaymentProviders,
    provider: Arc<dyn PaymentProvider>,
    payer: Payer,
    lock: i64,
) -> Result<(PayStart, bool), PayError> {
    // Read again under the lock: a payment or another start may have happened.
    let order = orders::by_id(&state.db, order_id)
        .await?
        .ok_or(PayError::NotFound)?;
    check_payable(&order)?;
    if let Some(openid) = payer
        .openid
        .as_deref()
        .filter(|_| channel == Channel::WechatJsapi)
    {
        hold_wechat_payer(state, &order, openid).await?;
    }
    let current = attempts::by_seq(&state.db, &order.id, order.attempt_seq).await?;
    if let Some(a) = current.as_ref().filter(|a| a.state == AttemptState::Open) {
        if a.channel == channel {
            // Same channel again: the same QR code or cashier.
            if let Some(target) = &a.pay_target {
                let start = PayStart {
                    channel,
                    action: action_for(provider.as_ref(), channel, target.clone())?,
                    expires_at: order.expires_at,
                };
                return Ok((start, false));
            }
        }
        // Another channel: close the current attempt first, so the payer cannot pay twice.
        if close_attempt(state, &order, a, providers).await? == Closed::Paid {
            return Err(PayError::NotPayable(OrderStatus::Paid));
        }
        // Closed, or watched: either way a payment through it is never lost.
    }
    let next_check_at = now_ms() + state.pay.first_check_ms;
    let attempt = attempts::begin(&state.db, &order, channel, next_check_at, None)
        .await?
        .ok_or(PayError::Busy)?;
    make_provider_order(state, &order, channel, provider, payer, attempt, lock).await
}

/// With the lock held and the attempt begun: the provider order, then where
/// the payer is sent and the order's change, which let go of the lock.
async fn make_provider_order(
    state: &Core,
    order: &OrderRecord,
    channel: Channel,
    provider: Arc<dyn PaymentProvider>,
    payer: Payer,
    attempt: Attempt,
    lock: i64,
) -> Result<(PayStart, bool), PayError> {
    let form_title = crate::store::forms::form_by_id(&state.db, &order.form_id)
        .await?
        .map(|f| f.def.title)
        .unwrap_or_default();
    tracing::Span::current().record("out_trade_no", attempt.out_trade_no.as_str());
    let profit_sharing =
        super::shares::prepare(state, order, &attempt.out_trade_no, provider.as_ref()).await?;
    let payment = NewPayment {
        out_trade_no: attempt.out_trade_no()?,
        amount: order.amount,
        subject: form_title,
        expires_at_ms: order.expires_at,
        notify_url: notify_url(state, order, provider.as_ref()),
        return_url: format!("{}/pay/{}", state.pay.return_base, order.id),
        quit_url: format!("{}/pay/{}", state.pay.return_base, order.id),
        client_ip: payer.client_ip,
        payer_openid: payer.openid,
        profit_sharing,
    };
    let action = match provider.create(channel, &payment).await {
        Ok(a) => a,
        Err(e) => {
            attempts::set_state(&state.db, &attempt.id, AttemptState::Failed, None).await?;
            orders::log_event(
                &state.db,
                &order.id,
                OrderEventKind::ProviderError,
                &format!("{} {}: {e}", channel.as_str(), attempt.out_trade_no),
            )
            .await?;
            return Err(e.into());
        }
    };
    // What is kept to show again: the QR content or the cashier URL; for the
    // pay sheet its `package` (fresh parameters are signed on each tap).
    let target = match &action {
        PayAction::QrCode(t) | PayAction::Redirect(t) => t.clone(),
        PayAction::Jsapi(p) => p.package.clone(),
    };
    let detail = format!(
        "{} order {} made at {}",
        channel.as_str(),
        attempt.out_trade_no,
        channel.provider().as_str()
    );
    // The attempt's target, the order's change and the lock let go, in one
    // write. An order read as created that is found pending was started
    // by another (its lock had expired): this attempt is then the current
    // one on a pending order.
    let mut from = order.status;
    let recorded = loop {
        let made = orders::StartMade {
            order_id: &order.id,
            from,
            attempt_id: &attempt.id,
            channel,
            target: &target,
            detail: &detail,
            next_check_at: now_ms() + state.pay.first_check_ms,
            lock,
            at: now_ms(),
        };
        let version = made.at;
        if orders::record_start(&state.db, made).await? {
            if from == OrderStatus::Created {
                // Its pages hear of it; the version just written, not read again.
                publish_change(state, order.id.clone(), OrderStatus::Pending, version).await;
            }
            break true;
        }
        if from == OrderStatus::Pending {
            break false;
        }
        from = OrderStatus::Pending;
    };
    if !recorded {
        // Paid (or closed) while the provider was asked: that attempt was current then.
        let now = orders::by_id(&state.db, &order.id)
            .await?
            .ok_or(PayError::NotFound)?;
        return Err(PayError::NotPayable(now.status));
    }
    let start = PayStart {
        channel,
        action,
        expires_at: order.expires_at,
    };
    Ok((start, true))
}

fn action_for(
    provider: &dyn PaymentProvider,
    channel: Channel,
    target: String,
) -> Result<PayAction, PayError> {
    Ok(if channel == Channel::WechatJsapi {
        PayAction::Jsapi(provider.jsapi_params(&target)?)
    } else if channel.redirects() {
        PayAction::Redirect(target)
    } else {
        PayAction::QrCode(target)
    })
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
#[tracing::instrument(name = "close_attempt", skip_all, fields(order = %order.id, out_trade_no = %a.out_trade_no))]
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
                                OrderEventKind::Query,
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
        OrderEventKind::AttemptClosed,
        &format!("{} {}: {note}", a.channel.as_str(), a.out_trade_no),
    )
    .await?;
    Ok(outcome)
}
