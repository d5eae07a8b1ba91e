//! What an administrator does to an order: close it, accept a payment kept
//! for review, ask the provider now.

use super::PayError;
use crate::auth::Admin;
use crate::provider::ProviderError;
use crate::store::audit;
use crate::store::orders::{self, Changes};
use crate::{Core, Db};
use domain::{AuditAction, OrderEventKind, OrderStatus};

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("no such order")]
    NotFound,
    #[error("the order is {0}: this action does not apply")]
    WrongStatus(OrderStatus),
    #[error(transparent)]
    Pay(#[from] PayError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

async fn load(db: &Db, id: &str) -> Result<orders::OrderRecord, ActionError> {
    orders::by_id(db, id).await?.ok_or(ActionError::NotFound)
}

/// Closes an unpaid order, at the provider first so that it cannot be paid
/// afterwards. A payment that arrived meanwhile is settled instead.
#[tracing::instrument(name = "admin_close", skip(state, admin), fields(order = %id, admin = %admin.email))]
pub async fn close(state: &Core, admin: &Admin, id: &str) -> Result<OrderStatus, ActionError> {
    let order = load(&state.db, id).await?;
    if !matches!(order.status, OrderStatus::Created | OrderStatus::Pending) {
        return Err(ActionError::WrongStatus(order.status));
    }
    let current = crate::store::attempts::by_seq(&state.db, &order.id, order.attempt_seq)
        .await?
        .filter(|a| a.state == crate::store::attempts::AttemptState::Open);
    if let Some(a) = current {
        let providers = super::providers_of(state, &order).await?;
        match super::close_attempt(state, &order, &a, &providers).await? {
            super::Closed::Yes | super::Closed::NotYetCreated => {}
            super::Closed::Paid => {
                // Paid a moment ago: report what we found.
                return Err(ActionError::WrongStatus(load(&state.db, id).await?.status));
            }
            super::Closed::Failed(e) => {
                return Err(ActionError::Pay(PayError::Provider(
                    ProviderError::Transport(e),
                )));
            }
        }
    }
    let moved = orders::transition(
        &state.db,
        &order.id,
        order.status,
        OrderStatus::Closed,
        OrderEventKind::Closed,
        &format!("closed by {}", admin.email),
        Changes::default(),
    )
    .await?;
    if !moved {
        let now = load(&state.db, id).await?;
        return Err(ActionError::WrongStatus(now.status));
    }
    audit::record(
        &state.db,
        admin,
        AuditAction::CloseOrder,
        &order.out_trade_no,
        "closed",
    )
    .await?;
    super::publish_status(state, &order.id).await;
    Ok(OrderStatus::Closed)
}

/// Keeps a payment that arrived after the order was closed: the order counts as paid.
#[tracing::instrument(name = "admin_accept", skip(state, admin), fields(order = %id, admin = %admin.email))]
pub async fn accept(state: &Core, admin: &Admin, id: &str) -> Result<OrderStatus, ActionError> {
    let order = load(&state.db, id).await?;
    if order.status != OrderStatus::NeedsReview {
        return Err(ActionError::WrongStatus(order.status));
    }
    let moved = orders::transition(
        &state.db,
        &order.id,
        OrderStatus::NeedsReview,
        OrderStatus::Paid,
        OrderEventKind::ReviewAccepted,
        &format!("late payment accepted by {}", admin.email),
        Changes::default(),
    )
    .await?;
    if !moved {
        let now = load(&state.db, id).await?;
        return Err(ActionError::WrongStatus(now.status));
    }
    audit::record(
        &state.db,
        admin,
        AuditAction::AcceptPayment,
        &order.out_trade_no,
        order.review_reason.as_deref().unwrap_or("kept for review"),
    )
    .await?;
    super::publish_status(state, &order.id).await;
    Ok(OrderStatus::Paid)
}

/// "Query the provider now", by an administrator.
#[tracing::instrument(name = "admin_query_now", skip(state, admin), fields(order = %id, admin = %admin.email))]
pub async fn query_now(state: &Core, admin: &Admin, id: &str) -> Result<OrderStatus, ActionError> {
    let order = load(&state.db, id).await?;
    let status = super::check_now(state, &order).await?;
    for r in crate::store::refunds::for_order(&state.db, id).await? {
        if let Err(e) = super::refund::check(state, &r).await {
            tracing::warn!(refund = %r.out_refund_no, error = %e, "refund query failed");
        }
    }
    orders::log_event(
        &state.db,
        id,
        OrderEventKind::Queried,
        &format!("queried by {}", admin.email),
    )
    .await?;
    Ok(load(&state.db, id)
        .await
        .map(|o| o.status)
        .unwrap_or(status))
}
