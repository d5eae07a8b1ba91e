//! 对账 Reconciliation: a day's trade bill of a receiving account, read from
//! its provider and matched with our records (`formpay_core::pay::bills`).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// One discrepancy, as the administrators' pages show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiscrepancyRow {
    pub kind: String,
    pub out_trade_no: String,
    pub out_refund_no: Option<String>,
    pub order_id: Option<String>,
    pub ours_fen: Option<i64>,
    pub bill_fen: Option<i64>,
    pub detail: String,
}

/// A day's run of one account and provider.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BillRunView {
    pub bill_date: String,
    pub account: String,
    pub provider: String,
    /// matched | discrepancies | no_bill | not_ready | failed
    pub status: String,
    pub bill_payments: i64,
    pub bill_refunds: i64,
    pub matched: i64,
    pub ours_paid_fen: i64,
    pub ours_refunded_fen: i64,
    pub bill_paid_fen: i64,
    pub bill_refunded_fen: i64,
    pub fee_fen: i64,
    /// What went wrong when the bill could not be read.
    pub error: Option<String>,
    pub discrepancies: Vec<DiscrepancyRow>,
}

/// Reads and reconciles the bill of `date` (`YYYY-MM-DD`, Beijing) for the
/// receiving account `account` (empty: the environment's) at `provider`
/// (`wechat`), now; answers the stored run.
#[server(endpoint = "admin_reconcile_bill")]
pub async fn admin_reconcile_bill(
    date: String,
    account: String,
    provider: String,
) -> Result<BillRunView, ServerFnError> {
    use crate::ssr::pay::bills;
    use crate::ssr::AppState;
    crate::ssr::auth::require(crate::domain::Permission::ManageOrders).await?;
    let state = AppState::from_context()?;
    let date = chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
        .map_err(|_| ServerFnError::new("the date is YYYY-MM-DD"))?;
    let provider = crate::domain::Provider::parse(provider.trim())
        .ok_or_else(|| ServerFnError::new("unknown provider"))?;
    let account = Some(account.trim()).filter(|a| !a.is_empty());
    let fail = crate::errors::Failure::Read("the bill").log::<anyhow::Error>();
    bills::reconcile_day(&state, account, provider, date)
        .await
        .map_err(fail)?;
    let fail = crate::errors::Failure::Read("the bill").log::<anyhow::Error>();
    let (run, found) = bills::run_of(&state, account, provider, date)
        .await
        .map_err(fail)?
        .ok_or_else(|| ServerFnError::new("the run was not stored"))?;
    Ok(BillRunView {
        bill_date: run.bill_date,
        account: run.account_key,
        provider: run.provider,
        status: run.status,
        bill_payments: run.bill_payments,
        bill_refunds: run.bill_refunds,
        matched: run.matched,
        ours_paid_fen: run.ours_paid_fen,
        ours_refunded_fen: run.ours_refunded_fen,
        bill_paid_fen: run.bill_paid_fen,
        bill_refunded_fen: run.bill_refunded_fen,
        fee_fen: run.fee_fen,
        error: run.error,
        discrepancies: found
            .into_iter()
            .map(|d| DiscrepancyRow {
                kind: d.kind.as_str().to_owned(),
                out_trade_no: d.out_trade_no,
                out_refund_no: d.out_refund_no,
                order_id: d.order_id,
                ours_fen: d.ours_fen,
                bill_fen: d.bill_fen,
                detail: d.detail,
            })
            .collect(),
    })
}
