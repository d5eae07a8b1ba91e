//! Recovery: late callbacks, expired orders, attempts whose close was not
//! confirmed, late refunds. Its state is in the database; instances share it.

use super::*;
use crate::provider::*;
use crate::store::attempts::{self, Attempt, AttemptState};
use crate::store::orders::{self, Changes, OrderRecord};
use crate::{now_ms, Core};
use domain::{OrderEventKind, OrderStatus};

/// One pass of recovery: query pending orders whose callback is late (with
/// backoff), close expired ones at the provider, watch attempts whose close
/// was not confirmed, and settle late refunds. Returns how many it looked at.
#[tracing::instrument(skip_all, name = "reconcile")]
pub async fn reconcile_once(state: &Core) -> anyhow::Result<usize> {
    let now = now_ms();
    let mut looked = super::refund::reconcile_once(state).await?;
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
                OrderEventKind::Expired,
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
            orders::log_event(
                &state.db,
                &order.id,
                OrderEventKind::QueryFailed,
                &e.to_string(),
            )
            .await?;
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
        OrderEventKind::Expired,
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
                OrderEventKind::Query,
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
                OrderEventKind::QueryFailed,
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
            OrderEventKind::AttemptClosed,
            &format!("{} {}: closed", a.channel.as_str(), a.out_trade_no),
        )
        .await?;
    }
    Ok(())
}
