//! Asking a provider about an order now.

use super::*;
use crate::provider::*;
use crate::store::attempts::{self};
use crate::store::orders::{self, OrderRecord};
use crate::Core;
use domain::{OrderEventKind, OrderStatus};

/// Asks the provider about the order's current attempt now (an
/// administrator, the reconciler) and applies the answer.
#[tracing::instrument(name = "check_now", skip_all, fields(order = %order.id, out_trade_no = %order.out_trade_no))]
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
                OrderEventKind::Query,
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
#[tracing::instrument(name = "check_for_payer", skip_all, fields(order = %order.id, out_trade_no = %order.out_trade_no))]
pub async fn check_for_payer(state: &Core, order: &OrderRecord) -> Result<OrderStatus, PayError> {
    if !attempts::awaits_payment(order.status)
        || !orders::claim_public_query(&state.db, &order.id, PUBLIC_QUERY_INTERVAL_MS).await?
    {
        return Ok(order.status);
    }
    check_now(state, order).await
}
