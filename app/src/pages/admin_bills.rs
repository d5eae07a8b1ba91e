//! 对账 Reconciliation: a day's trade bill of a receiving account, read from
//! its provider and matched with our records (`formpay_core::pay::bills`).

use super::admin_orders::{urlencode, AdminNav};
use super::admin_stats::yuan;
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};
use serde::{Deserialize, Serialize};

/// One discrepancy, as the administrators' pages show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiscrepancyRow {
    pub id: String,
    pub kind: String,
    pub out_trade_no: String,
    pub out_refund_no: Option<String>,
    pub order_id: Option<String>,
    pub ours_fen: Option<i64>,
    pub bill_fen: Option<i64>,
    pub detail: String,
    /// Who resolved it, when (Beijing) and why; None while it is open.
    pub resolved: Option<(String, String, String)>,
}

/// A day's run of one account and provider.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BillRunView {
    pub bill_date: String,
    pub account: String,
    /// The account's name ("" for the environment's).
    pub account_name: String,
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
    /// What the bill says was received, less refunds and fees.
    pub net_fen: i64,
    /// What the fund flow bill moved for the day's payments and refunds.
    pub fund_net_fen: Option<i64>,
    pub ran_at: String,
    /// What went wrong when the bill could not be read.
    pub error: Option<String>,
    pub discrepancies: Vec<DiscrepancyRow>,
}

/// The page: the latest runs, the accounts, and the run of the day asked
/// for (`date` `YYYY-MM-DD`, `account` id or empty, `provider`), if any.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BillsView {
    pub runs: Vec<BillRunView>,
    /// (id, name) of each receiving account; the environment's is "".
    pub accounts: Vec<(String, String)>,
    pub selected: Option<BillRunView>,
    /// Yesterday in Beijing: the latest day with a bill.
    pub yesterday: String,
    /// Discrepancies no administrator resolved yet, of every run.
    pub unresolved: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ResolveOutcome {
    Done,
    Refused { message: String },
}

/// The words of a discrepancy kind, Chinese and English.
pub fn kind_label(kind: &str) -> &'static str {
    match kind {
        "unknown_payment" => "未知收款 Unknown payment",
        "not_paid_here" => "账单已付·本系统未记 Paid, not recorded here",
        "amount_mismatch" => "金额不符 Amount mismatch",
        "missing_from_bill" => "账单缺失 Missing from the bill",
        "unknown_refund" => "未知退款 Unknown refund",
        "refund_mismatch" => "退款金额不符 Refund mismatch",
        "refund_missing_from_bill" => "账单缺退款 Refund missing from the bill",
        "fund_flow_mismatch" => "资金流水不符 Fund flow differs",
        _ => "其他 Other",
    }
}

/// The words of a run's status.
pub fn status_label(status: &str) -> &'static str {
    match status {
        "matched" => "一致 Matched",
        "discrepancies" => "有差异 Discrepancies",
        "no_bill" => "无账单 No bill",
        "not_ready" => "账单未生成 Not ready",
        "failed" => "失败 Failed",
        _ => "其他 Other",
    }
}

#[cfg(feature = "ssr")]
fn view_of(
    run: crate::ssr::pay::bills::BillRun,
    found: Vec<crate::ssr::pay::bills::StoredDiscrepancy>,
    names: &std::collections::HashMap<String, String>,
) -> BillRunView {
    use crate::ssr::forms::beijing_time;
    BillRunView {
        account_name: names.get(&run.account_key).cloned().unwrap_or_default(),
        net_fen: run.bill_paid_fen - run.bill_refunded_fen - run.fee_fen,
        fund_net_fen: run.fund_net_fen,
        ran_at: beijing_time(run.ran_at),
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
                id: d.id,
                kind: d.found.kind.as_str().to_owned(),
                out_trade_no: d.found.out_trade_no,
                out_refund_no: d.found.out_refund_no,
                order_id: d.found.order_id,
                ours_fen: d.found.ours_fen,
                bill_fen: d.found.bill_fen,
                detail: d.found.detail,
                resolved: d.resolved.map(|r| (r.by, beijing_time(r.at), r.note)),
            })
            .collect(),
    }
}

/// The receiving accounts' names by id ("" is the environment's).
#[cfg(feature = "ssr")]
pub(crate) async fn account_names(
    state: &crate::ssr::AppState,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut names = vec![(
        String::new(),
        "环境变量配置的账户 The environment's account".to_owned(),
    )];
    names.extend(
        crate::ssr::accounts::list(&state.db)
            .await?
            .into_iter()
            .map(|a| (a.id, format!("{} ({})", a.name, a.kind))),
    );
    Ok(names)
}

/// A day's date, account and provider, checked.
#[cfg(feature = "ssr")]
fn day_of(
    date: &str,
    account: &str,
    provider: &str,
) -> Result<(chrono::NaiveDate, Option<String>, crate::domain::Provider), ServerFnError> {
    let date = chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
        .map_err(|_| ServerFnError::new("the date is YYYY-MM-DD"))?;
    let provider = crate::domain::Provider::parse(provider.trim())
        .ok_or_else(|| ServerFnError::new("unknown provider"))?;
    let account = Some(account.trim().to_owned()).filter(|a| !a.is_empty());
    Ok((date, account, provider))
}

/// The reconciliation page's data.
#[server(endpoint = "admin_bills")]
pub async fn admin_bills(
    date: String,
    account: String,
    provider: String,
) -> Result<BillsView, ServerFnError> {
    use crate::ssr::pay::bills;
    use crate::ssr::AppState;
    crate::ssr::auth::require(crate::domain::Permission::ViewOrders).await?;
    let state = AppState::from_context()?;
    let fail = || crate::errors::Failure::Read("the reconciliation").log::<anyhow::Error>();
    let accounts = account_names(&state).await.map_err(fail())?;
    let names = accounts.iter().cloned().collect();
    let runs = bills::recent_runs(&state, 60)
        .await
        .map_err(fail())?
        .into_iter()
        .map(|r| view_of(r, Vec::new(), &names))
        .collect();
    let selected = if date.trim().is_empty() {
        None
    } else {
        let (date, account, provider) = day_of(&date, &account, &provider)?;
        bills::run_of(&state, account.as_deref(), provider, date)
            .await
            .map_err(fail())?
            .map(|(run, found)| view_of(run, found, &names))
    };
    let today = chrono::Utc::now() + chrono::Duration::hours(8);
    Ok(BillsView {
        runs,
        accounts,
        selected,
        yesterday: (today.date_naive() - chrono::Duration::days(1))
            .format("%Y-%m-%d")
            .to_string(),
        unresolved: bills::unresolved_count(&state).await.map_err(fail())?,
    })
}

/// Reads and reconciles the bill of `date` (`YYYY-MM-DD`, Beijing) for the
/// receiving account `account` (empty: the environment's) at `provider`
/// (`wechat` or `alipay`), now; answers the stored run.
#[server(endpoint = "admin_reconcile_bill")]
pub async fn admin_reconcile_bill(
    date: String,
    account: String,
    provider: String,
) -> Result<BillRunView, ServerFnError> {
    use crate::ssr::pay::bills;
    use crate::ssr::{audit, AppState};
    let admin = crate::ssr::auth::require(crate::domain::Permission::ManageOrders).await?;
    let state = AppState::from_context()?;
    let (date, account, provider) = day_of(&date, &account, &provider)?;
    let fail = || crate::errors::Failure::Read("the bill").log::<anyhow::Error>();
    audit::record(
        &state.db,
        &admin,
        crate::domain::AuditAction::ReconcileBill,
        account.as_deref().unwrap_or(""),
        &format!("{} {date}", provider.as_str()),
    )
    .await
    .map_err(fail())?;
    bills::reconcile_day(&state, account.as_deref(), provider, date)
        .await
        .map_err(fail())?;
    let (run, found) = bills::run_of(&state, account.as_deref(), provider, date)
        .await
        .map_err(fail())?
        .ok_or_else(|| ServerFnError::new("the run was not stored"))?;
    let names = account_names(&state).await.map_err(fail())?;
    Ok(view_of(run, found, &names.into_iter().collect()))
}

/// Marks a discrepancy resolved, with a note saying how (required).
#[server(endpoint = "admin_resolve_discrepancy")]
pub async fn admin_resolve_discrepancy(
    id: String,
    note: String,
) -> Result<ResolveOutcome, ServerFnError> {
    use crate::ssr::pay::bills;
    use crate::ssr::{audit, AppState};
    let admin = crate::ssr::auth::require(crate::domain::Permission::ManageOrders).await?;
    let state = AppState::from_context()?;
    let note: String = note.trim().chars().take(500).collect();
    if note.is_empty() {
        return Ok(ResolveOutcome::Refused {
            message: "写明如何处理 Say how it was resolved".into(),
        });
    }
    let fail = || crate::errors::Failure::Save("the discrepancy").log::<anyhow::Error>();
    if !bills::resolve(&state, &id, &admin.email, &note)
        .await
        .map_err(fail())?
    {
        return Ok(ResolveOutcome::Refused {
            message: "没有这条未处理的差异 No such open discrepancy".into(),
        });
    }
    audit::record(
        &state.db,
        &admin,
        crate::domain::AuditAction::ResolveDiscrepancy,
        &id,
        &note,
    )
    .await
    .map_err(fail())?;
    Ok(ResolveOutcome::Done)
}

/// The query string of a run's day.
fn day_query(date: &str, account: &str, provider: &str) -> String {
    format!(
        "date={}&account={}&provider={}",
        urlencode(date),
        urlencode(account),
        urlencode(provider)
    )
}

#[component]
pub fn BillsPage() -> impl IntoView {
    let query = use_query_map();
    let get = move |k: &str| query.read().get(k).unwrap_or_default();
    let reconcile = ServerAction::<AdminReconcileBill>::new();
    let resolve = ServerAction::<AdminResolveDiscrepancy>::new();
    let data = Resource::new(
        move || {
            (
                get("date"),
                get("account"),
                get("provider"),
                reconcile.version().get(),
                resolve.version().get(),
            )
        },
        |(d, a, p, _, _)| admin_bills(d, a, p),
    );
    // A day reconciled here is the day shown.
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(run)) = reconcile.value().get() {
            navigate(
                &format!(
                    "?{}",
                    day_query(&run.bill_date, &run.account, &run.provider)
                ),
                Default::default(),
            );
        }
    });
    let said = move || match (reconcile.value().get(), resolve.value().get()) {
        (Some(Err(e)), _) => Some(e.to_string()),
        (_, Some(Ok(ResolveOutcome::Refused { message }))) => Some(message),
        (_, Some(Err(e))) => Some(e.to_string()),
        _ => None,
    };
    view! {
        <AdminNav />
        <section class="card">
            <h1>"对账 Reconciliation"</h1>
            <p class="muted">
                "每天的支付账单与本系统记录逐笔核对；差异需处理并写明原因。"
                " · Each day's provider bill is matched line by line with our records; each discrepancy is resolved with a note."
            </p>
            <Show when=move || said().is_some()>
                <p class="error" role="alert" data-testid="bills-error">{said}</p>
            </Show>
            <Suspense fallback=|| view! { <p>"…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(v) => view! { <BillsBody v reconcile resolve /> }.into_any(),
                        Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn BillsBody(
    v: BillsView,
    reconcile: ServerAction<AdminReconcileBill>,
    resolve: ServerAction<AdminResolveDiscrepancy>,
) -> impl IntoView {
    let chosen_date = v
        .selected
        .as_ref()
        .map_or_else(|| v.yesterday.clone(), |s| s.bill_date.clone());
    let chosen_account = v
        .selected
        .as_ref()
        .map(|s| s.account.clone())
        .unwrap_or_default();
    let chosen_provider = v
        .selected
        .as_ref()
        .map_or_else(|| "wechat".to_owned(), |s| s.provider.clone());
    view! {
        <p class="muted" data-testid="bills-unresolved">
            "未处理差异 Open discrepancies: " <strong>{v.unresolved}</strong>
        </p>
        <ActionForm action=reconcile attr:class="row" attr:data-testid="reconcile-form">
            <label>"账单日期 Bill date"
                <input type="date" name="date" required value=chosen_date data-testid="reconcile-date" />
            </label>
            <label>"收款账户 Account"
                <select name="account" data-testid="reconcile-account">
                    {v.accounts.iter().map(|(id, name)| {
                        let selected = *id == chosen_account;
                        view! { <option value=id.clone() selected=selected>{name.clone()}</option> }
                    }).collect_view()}
                </select>
            </label>
            <label>"渠道 Provider"
                <select name="provider" data-testid="reconcile-provider">
                    <option value="wechat" selected=chosen_provider == "wechat">"微信支付 WeChat Pay"</option>
                    <option value="alipay" selected=chosen_provider == "alipay">"支付宝 Alipay"</option>
                </select>
            </label>
            <button type="submit" class="button primary" disabled=move || reconcile.pending().get() data-testid="reconcile-run">
                "对账 Reconcile"
            </button>
        </ActionForm>
        {v.selected.map(|run| view! { <RunDetail run resolve /> })}
        <h2>"最近对账 Recent runs"</h2>
        <div class="table-wrap">
        <table class="table" data-testid="bill-runs">
            <thead><tr>
                <th>"日期 Date"</th><th>"账户 Account"</th><th>"渠道 Provider"</th><th>"状态 Status"</th>
                <th>"账单笔数 Lines"</th><th>"一致 Matched"</th><th>"手续费 Fees"</th><th>"净额 Net"</th><th></th>
            </tr></thead>
            <tbody>
                {v.runs.into_iter().map(|r| {
                    let href = format!("/admin/bills?{}", day_query(&r.bill_date, &r.account, &r.provider));
                    view! {
                        <tr>
                            <td>{r.bill_date.clone()}</td>
                            <td>{r.account_name.clone()}</td>
                            <td>{r.provider.clone()}</td>
                            <td>{status_label(&r.status)}</td>
                            <td>{r.bill_payments + r.bill_refunds}</td>
                            <td>{r.matched}</td>
                            <td>{yuan(r.fee_fen)}</td>
                            <td>{yuan(r.net_fen)}</td>
                            <td><a href=href>"查看 Open"</a></td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        </div>
    }
}

#[component]
fn RunDetail(run: BillRunView, resolve: ServerAction<AdminResolveDiscrepancy>) -> impl IntoView {
    let csv = format!(
        "/admin/bills.csv?{}",
        day_query(&run.bill_date, &run.account, &run.provider)
    );
    let stat = |label: &'static str, value: String, testid: &'static str| {
        view! { <div class="stat"><p class="muted">{label}</p><p class="amount" data-testid=testid>{value}</p></div> }
    };
    view! {
        <h2 data-testid="bill-run-title">
            {format!("{} · {} · {}", run.bill_date, run.account_name, run.provider)}
        </h2>
        <p data-testid="bill-run-status">
            <strong>{status_label(&run.status)}</strong>
            {format!(" · 账单 {} 笔收款、{} 笔退款，{} 笔一致 · {} payments and {} refunds in the bill, {} matched · {}",
                run.bill_payments, run.bill_refunds, run.matched,
                run.bill_payments, run.bill_refunds, run.matched, run.ran_at)}
            {run.error.clone().map(|e| view! { <span class="error">" · " {e}</span> })}
        </p>
        <div class="stats" data-testid="bill-totals">
            {stat("我方收款 Ours, paid", yuan(run.ours_paid_fen), "ours-paid")}
            {stat("账单收款 Bill, paid", yuan(run.bill_paid_fen), "bill-paid")}
            {stat("我方退款 Ours, refunded", yuan(run.ours_refunded_fen), "ours-refunded")}
            {stat("账单退款 Bill, refunded", yuan(run.bill_refunded_fen), "bill-refunded")}
            {stat("手续费 Fees", yuan(run.fee_fen), "bill-fees")}
            {stat("净额 Net", yuan(run.net_fen), "bill-net")}
            {run.fund_net_fen.map(|f| stat("资金流水 Fund flow", yuan(f), "bill-fund-flow"))}
        </div>
        <p><a class="button" href=csv data-testid="bills-csv">"导出 CSV Export"</a></p>
        <div class="table-wrap">
        <table class="table" data-testid="discrepancies">
            <thead><tr>
                <th>"差异 Kind"</th><th>"商户订单号 out_trade_no"</th><th>"我方 Ours"</th><th>"账单 Bill"</th>
                <th>"说明 Detail"</th><th>"订单 Order"</th><th>"处理 Resolution"</th>
            </tr></thead>
            <tbody>
                {run.discrepancies.into_iter().map(|d| {
                    let amount = |f: Option<i64>| f.map(yuan).unwrap_or_else(|| "—".to_owned());
                    let number = match &d.out_refund_no {
                        Some(r) => format!("{} / {r}", d.out_trade_no),
                        None => d.out_trade_no.clone(),
                    };
                    view! {
                        <tr data-kind=d.kind.clone()>
                            <td>{kind_label(&d.kind)}</td>
                            <td><code>{number}</code></td>
                            <td>{amount(d.ours_fen)}</td>
                            <td>{amount(d.bill_fen)}</td>
                            <td>{d.detail.clone()}</td>
                            <td>{d.order_id.clone().map(|id| view! {
                                <a href=format!("/admin/orders/{id}") data-testid="discrepancy-order">"订单 Order"</a>
                            })}</td>
                            <td>{match d.resolved.clone() {
                                Some((by, at, note)) => view! {
                                    <span data-testid="discrepancy-resolved">{format!("已处理 Resolved · {note} · {by} · {at}")}</span>
                                }.into_any(),
                                None => view! {
                                    <ActionForm action=resolve attr:class="inline" attr:data-testid="resolve-form">
                                        <input type="hidden" name="id" value=d.id.clone() />
                                        <input type="text" name="note" required aria-label="处理说明 How it was resolved" placeholder="处理说明 Note" />
                                        <button type="submit" class="button small">"已处理 Resolve"</button>
                                    </ActionForm>
                                }.into_any(),
                            }}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        </div>
    }
}
