//! A provider's callback: verify, dispatch to the payment or refund use case,
//! answer as the provider expects, and log only what was verified.

use super::*;
use crate::provider::*;
use crate::Core;

/// What became of a callback (for metrics: the HTTP status does not say,
/// WeChat Pay's refusals are 500s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyResult {
    /// Verified and recorded (or a duplicate of one recorded).
    Accepted,
    /// Its signature or format did not verify: forged, replayed or damaged.
    Unverified,
    /// Verified, but it does not match its order (amount, merchant, account).
    Mismatch,
    /// Verified, but it could not be stored: the provider will send it again.
    Failed,
}

impl NotifyResult {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyResult::Accepted => "accepted",
            NotifyResult::Unverified => "unverified",
            NotifyResult::Mismatch => "mismatch",
            NotifyResult::Failed => "failed",
        }
    }
}

/// A verified callback: settle it and give the provider the answer it
/// expects. `account` is the receiving account of the route it came to. The
/// answer is sent only after the commit; a database failure asks for a retry.
/// A message that fails verification is counted and kept apart, never
/// attached to an order; a verified one that names another account's order
/// is a security event.
#[tracing::instrument(name = "notify", skip_all, fields(provider = %provider.provider().as_str(), account = account.unwrap_or("default")))]
pub async fn handle_notify(
    state: &Core,
    account: Option<&str>,
    provider: &dyn PaymentProvider,
    headers: &http::HeaderMap,
    body: &[u8],
) -> (NotifyReply, NotifyResult) {
    let started = std::time::Instant::now();
    let event = match provider.parse_notify(headers, body).await {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(provider = provider.log_name(), error = %e, "callback refused");
            state
                .security
                .reject(provider.log_name(), account, &e.to_string(), body);
            return (
                provider.notify_failure("verification failed"),
                NotifyResult::Unverified,
            );
        }
    };
    let (result, out_trade_no) = match &event {
        NotifyEvent::Trade(info) => (
            settle(state, account, provider, info, OrderEventKind::Notify).await,
            info.out_trade_no.clone(),
        ),
        NotifyEvent::Refund(refund) => (
            super::refund::apply_refund_report(
                state,
                account,
                provider,
                refund,
                OrderEventKind::Notify,
            )
            .await,
            refund.out_trade_no.clone(),
        ),
    };
    let (reply, error, verdict) = match result {
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
            return (
                provider.notify_failure("order mismatch"),
                NotifyResult::Mismatch,
            );
        }
        Ok(SettleOutcome::Rejected(why)) => {
            tracing::warn!(out_trade_no = %out_trade_no, %why, "callback does not match its order");
            (
                provider.notify_failure("order mismatch"),
                Some(why),
                NotifyResult::Mismatch,
            )
        }
        Ok(_) => (provider.notify_success(), None, NotifyResult::Accepted),
        Err(e) => {
            tracing::error!(error = ?e, "callback could not be stored");
            (
                provider.notify_failure("temporary failure"),
                Some("temporary failure".into()),
                NotifyResult::Failed,
            )
        }
    };
    // Queued, not waited for: the provider's answer waits only for the
    // settlement's commit.
    state.payment_log.queue(crate::payment_log::LogEntry {
        provider: provider.log_name(),
        operation: "notify",
        direction: domain::Direction::In,
        out_trade_no: Some(out_trade_no),
        status_code: Some(reply.status),
        latency_ms: started.elapsed().as_millis() as i64,
        request: provider.redact_notify(body),
        response: reply.body.clone(),
        error,
    });
    (reply, verdict)
}
