//! The actions on one order (close, check, accept or reject a payment kept
//! for review, refund) and what the page says about each outcome.

use crate::domain::OrderStatus;
use crate::i18n::Lang;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ActionOutcome {
    Done(OrderStatus),
    NotFound,
    WrongStatus(OrderStatus),
    ExceedsRemaining(String),
    BadAmount,
    BadReason,
    KeyReused,
    ProviderFailed(String),
    /// Paid more than once: say which payment to refund.
    ChoosePayment,
    /// Kept for review: decide (accept, or refund from the review) first.
    ReviewFirst,
}

impl ActionOutcome {
    pub fn text(&self, lang: Lang) -> String {
        let t = lang.t();
        let a = lang.admin();
        match self {
            ActionOutcome::Done(s) => format!("{}{}", a.action_done, t.order_status(*s)),
            ActionOutcome::NotFound => a.action_not_found.into(),
            ActionOutcome::WrongStatus(s) => {
                format!("{}{}", a.action_wrong_status, t.order_status(*s))
            }
            ActionOutcome::ExceedsRemaining(left) => {
                format!("{}{left}", a.action_exceeds_remaining)
            }
            ActionOutcome::BadAmount => a.action_bad_amount.into(),
            ActionOutcome::BadReason => a.action_bad_reason.into(),
            ActionOutcome::KeyReused => a.action_key_reused.into(),
            ActionOutcome::ChoosePayment => a.action_choose_payment.into(),
            ActionOutcome::ReviewFirst => a.action_review_first.into(),
            ActionOutcome::ProviderFailed(m) => format!("{}{m}", a.action_provider_failed),
        }
    }
}

#[cfg(feature = "ssr")]
fn action_outcome(
    r: Result<OrderStatus, crate::ssr::pay::admin::ActionError>,
) -> Result<ActionOutcome, ServerFnError> {
    use crate::ssr::pay::admin::ActionError;
    use crate::ssr::pay::PayError;
    match r {
        Ok(s) => Ok(ActionOutcome::Done(s)),
        Err(ActionError::NotFound) => Ok(ActionOutcome::NotFound),
        Err(ActionError::WrongStatus(s)) => Ok(ActionOutcome::WrongStatus(s)),
        Err(ActionError::Pay(PayError::Provider(e))) => {
            Ok(ActionOutcome::ProviderFailed(e.to_string()))
        }
        Err(ActionError::Pay(PayError::ChannelUnavailable)) => Ok(ActionOutcome::ProviderFailed(
            "provider not configured".into(),
        )),
        Err(e) => Err(crate::errors::Failure::Save("the action").because(e)),
    }
}

/// "query" (ask the provider now), "close" (an unpaid order) or "accept" (a payment kept for review).
#[server(endpoint = "admin_order_action")]
pub async fn admin_order_action(
    id: String,
    action: String,
) -> Result<ActionOutcome, ServerFnError> {
    use crate::ssr::{pay, AppState};
    let admin = crate::ssr::auth::require(crate::domain::Permission::ManageOrders).await?;
    let state = AppState::from_context()?;
    let r = match action.as_str() {
        "query" => pay::admin::query_now(&state, &admin, &id).await,
        "close" => pay::admin::close(&state, &admin, &id).await,
        "accept" => pay::admin::accept(&state, &admin, &id).await,
        _ => return Err(crate::errors::Failure::Unknown("action").into()),
    };
    action_outcome(r)
}

#[server(endpoint = "admin_refund")]
pub async fn admin_refund(
    id: String,
    amount: String,
    reason: String,
    request_key: String,
    /// Which payment to refund (its number), when the order was paid more than once.
    #[server(default)]
    payment: String,
    /// Set by the review's refund form: the administrator decides to refund.
    #[server(default)]
    review: bool,
) -> Result<ActionOutcome, ServerFnError> {
    use crate::domain::Money;
    use crate::ssr::pay::refund::{self as refunds, RefundError};
    use crate::ssr::AppState;
    let admin = crate::ssr::auth::require(crate::domain::Permission::ManageOrders).await?;
    let state = AppState::from_context()?;
    let Ok(amount) = Money::parse_yuan(&amount) else {
        return Ok(ActionOutcome::BadAmount);
    };
    let ask = refunds::RefundAsk {
        amount,
        reason: &reason,
        request_key: &request_key,
        payment: Some(payment.trim()).filter(|p| !p.is_empty()),
        review_decision: review,
    };
    match refunds::request(&state, &admin, &id, ask).await {
        Ok(_) => {
            let status = crate::ssr::orders::by_id(&state.db, &id)
                .await
                .ok()
                .flatten()
                .map(|o| o.status)
                .unwrap_or(OrderStatus::Refunding);
            Ok(ActionOutcome::Done(status))
        }
        Err(RefundError::NotFound) => Ok(ActionOutcome::NotFound),
        Err(RefundError::NotRefundable(s)) => Ok(ActionOutcome::WrongStatus(s)),
        Err(RefundError::ZeroAmount) => Ok(ActionOutcome::BadAmount),
        Err(RefundError::ExceedsRemaining { remaining }) => {
            Ok(ActionOutcome::ExceedsRemaining(remaining.to_yuan_string()))
        }
        Err(RefundError::BadReason) => Ok(ActionOutcome::BadReason),
        Err(RefundError::BadRequestKey | RefundError::KeyReused) => Ok(ActionOutcome::KeyReused),
        Err(RefundError::ChoosePayment) => Ok(ActionOutcome::ChoosePayment),
        Err(RefundError::ReviewFirst) => Ok(ActionOutcome::ReviewFirst),
        Err(RefundError::ProviderMissing) => Ok(ActionOutcome::ProviderFailed(
            "provider not configured".into(),
        )),
        Err(RefundError::Shares(why)) => Ok(ActionOutcome::ProviderFailed(why)),
        Err(RefundError::Unexpected(e)) => {
            Err(crate::errors::Failure::Save("the refund").because(e))
        }
    }
}
