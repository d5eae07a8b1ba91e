//! Refund reports from providers (callbacks and queries).

use super::payment::RefundInfo;
use super::{orders, AppState};

/// Records a provider's refund report against its order. Returns false when
/// no such order exists.
pub async fn apply_refund_report(
    state: &AppState,
    refund: &RefundInfo,
    source: &str,
) -> anyhow::Result<bool> {
    let Some(order) = orders::by_out_trade_no(&state.db, &refund.out_trade_no).await? else {
        return Ok(false);
    };
    let detail = format!(
        "{source}: refund {} {:?}{}",
        refund.out_refund_no,
        refund.state,
        refund.amount.map(|a| format!(" {a}")).unwrap_or_default()
    );
    orders::log_event(&state.db, &order.id, "refund_report", &detail).await?;
    Ok(true)
}
