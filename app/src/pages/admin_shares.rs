//! 分账 Profit sharing: the receivers of each receiving account, each
//! form's rule (a share of every payment to each receiver), and the splits
//! made (`formpay_core::pay::shares`).

use super::admin_orders::AdminNav;
use super::admin_stats::yuan;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReceiverView {
    pub id: String,
    pub account_name: String,
    pub kind: String,
    pub account: String,
    pub name: String,
    pub relation: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleView {
    pub form_id: String,
    pub form_title: String,
    pub receiver_id: String,
    pub receiver: String,
    /// "10.00 %" or "¥5.00".
    pub share: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitLineView {
    pub kind: String,
    pub account: String,
    pub amount_fen: i64,
    /// PENDING | SUCCESS | CLOSED
    pub result: String,
    pub returned_fen: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitView {
    pub order_id: String,
    pub out_trade_no: String,
    pub out_order_no: String,
    /// pending | processing | finished | failed
    pub state: String,
    pub amount_fen: i64,
    pub error: Option<String>,
    pub created_at: String,
    pub lines: Vec<SplitLineView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SharesView {
    pub receivers: Vec<ReceiverView>,
    pub rules: Vec<RuleView>,
    pub splits: Vec<SplitView>,
    /// (id, title) of each form.
    pub forms: Vec<(String, String)>,
    /// (id, name) of each receiving account; the environment's is "".
    pub accounts: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ShareOutcome {
    Done,
    Refused { message: String },
}

#[cfg(feature = "ssr")]
fn refused(message: impl Into<String>) -> ShareOutcome {
    ShareOutcome::Refused {
        message: message.into(),
    }
}

#[server(endpoint = "admin_shares")]
pub async fn admin_shares() -> Result<SharesView, ServerFnError> {
    use crate::ssr::pay::shares;
    use crate::ssr::{forms, AppState};
    crate::ssr::auth::require(crate::domain::Permission::ViewOrders).await?;
    let state = AppState::from_context()?;
    let fail = || crate::errors::Failure::Read("the profit sharing").log::<anyhow::Error>();
    let accounts = super::admin_bills::account_names(&state)
        .await
        .map_err(fail())?;
    let names: std::collections::HashMap<String, String> = accounts.iter().cloned().collect();
    let forms: Vec<(String, String)> = forms::list_forms(&state.db)
        .await
        .map_err(fail())?
        .into_iter()
        .map(|f| (f.id, f.def.title))
        .collect();
    let titles: std::collections::HashMap<&str, &str> = forms
        .iter()
        .map(|(i, t)| (i.as_str(), t.as_str()))
        .collect();
    let receivers = shares::receivers(&state).await.map_err(fail())?;
    let rules = shares::all_rules(&state)
        .await
        .map_err(fail())?
        .into_iter()
        .map(|(form_id, p)| RuleView {
            form_title: titles
                .get(form_id.as_str())
                .copied()
                .unwrap_or_default()
                .to_owned(),
            receiver: format!("{} {}", p.name, p.account),
            share: p.describe(),
            receiver_id: p.receiver_id,
            form_id,
        })
        .collect();
    let splits = shares::recent(&state, 100)
        .await
        .map_err(fail())?
        .into_iter()
        .map(|(s, lines)| SplitView {
            created_at: forms::beijing_time(s.created_at),
            order_id: s.order_id,
            out_trade_no: s.out_trade_no,
            out_order_no: s.out_order_no,
            state: s.state,
            amount_fen: s.amount_fen,
            error: s.error,
            lines: lines
                .into_iter()
                .map(|l| SplitLineView {
                    kind: l.kind,
                    account: l.account,
                    amount_fen: l.amount_fen,
                    result: l.result,
                    returned_fen: l.returned_fen,
                })
                .collect(),
        })
        .collect();
    Ok(SharesView {
        receivers: receivers
            .into_iter()
            .map(|r| ReceiverView {
                account_name: names.get(&r.account_key).cloned().unwrap_or_default(),
                id: r.id,
                kind: r.kind,
                account: r.account,
                name: r.name,
                relation: r.relation,
            })
            .collect(),
        rules,
        splits,
        forms,
        accounts,
    })
}

/// Registers a receiver of the receiving account `account` (empty: the
/// environment's): `kind` MERCHANT_ID or PERSONAL_OPENID, its merchant id
/// or openid, its registered name (required for a merchant), the relation.
#[server(endpoint = "admin_add_receiver")]
pub async fn admin_add_receiver(
    account: String,
    kind: String,
    receiver: String,
    name: String,
    relation: String,
) -> Result<ShareOutcome, ServerFnError> {
    use crate::ssr::pay::shares;
    use crate::ssr::{audit, AppState};
    let admin = crate::ssr::auth::require(crate::domain::Permission::ManageAccounts).await?;
    let state = AppState::from_context()?;
    let fail = || crate::errors::Failure::Save("the receiver").log::<anyhow::Error>();
    let added = shares::add_receiver(
        &state,
        account.trim(),
        kind.trim(),
        receiver.trim(),
        name.trim(),
        relation.trim(),
    )
    .await
    .map_err(fail())?;
    if let Err(message) = added {
        return Ok(refused(message));
    }
    audit::record(
        &state.db,
        &admin,
        crate::domain::AuditAction::AddShareReceiver,
        receiver.trim(),
        kind.trim(),
    )
    .await
    .map_err(fail())?;
    Ok(ShareOutcome::Done)
}

#[server(endpoint = "admin_remove_receiver")]
pub async fn admin_remove_receiver(id: String) -> Result<ShareOutcome, ServerFnError> {
    use crate::ssr::pay::shares;
    use crate::ssr::{audit, AppState};
    let admin = crate::ssr::auth::require(crate::domain::Permission::ManageAccounts).await?;
    let state = AppState::from_context()?;
    let fail = || crate::errors::Failure::Save("the receiver").log::<anyhow::Error>();
    if !shares::remove_receiver(&state, &id).await.map_err(fail())? {
        return Ok(refused("no such receiver"));
    }
    audit::record(
        &state.db,
        &admin,
        crate::domain::AuditAction::RemoveShareReceiver,
        &id,
        "",
    )
    .await
    .map_err(fail())?;
    Ok(ShareOutcome::Done)
}

/// Gives a receiver a share of each payment to a form: `percent` (such as
/// `10` or `12.5`, at most 30 in all) or `fixed` (yuan), one of them.
#[server(endpoint = "admin_set_share")]
pub async fn admin_set_share(
    form_id: String,
    receiver_id: String,
    percent: String,
    fixed: String,
) -> Result<ShareOutcome, ServerFnError> {
    use crate::domain::Money;
    use crate::ssr::pay::shares;
    use crate::ssr::{audit, AppState};
    let admin = crate::ssr::auth::require(crate::domain::Permission::ManageAccounts).await?;
    let state = AppState::from_context()?;
    // A percentage with two decimals reads like an amount in yuan: 12.5 %
    // is 1250 basis points as ¥12.50 is 1250 fen.
    let read = |s: &str| -> Result<Option<i64>, ()> {
        let s = s.trim().trim_end_matches('%').trim();
        if s.is_empty() {
            Ok(None)
        } else {
            Money::parse_yuan(s).map(|m| Some(m.fen())).map_err(|_| ())
        }
    };
    let (Ok(basis_points), Ok(fixed_fen)) = (read(&percent), read(&fixed)) else {
        return Ok(refused(
            "a percentage such as 10 or 12.5, or an amount such as 5.00",
        ));
    };
    let fail = || crate::errors::Failure::Save("the share").log::<anyhow::Error>();
    let set = shares::set_rule(
        &state,
        form_id.trim(),
        receiver_id.trim(),
        basis_points,
        fixed_fen,
    )
    .await
    .map_err(fail())?;
    if let Err(message) = set {
        return Ok(refused(message));
    }
    audit::record(
        &state.db,
        &admin,
        crate::domain::AuditAction::SetShare,
        form_id.trim(),
        &format!("{receiver_id} {} {}", percent.trim(), fixed.trim()),
    )
    .await
    .map_err(fail())?;
    Ok(ShareOutcome::Done)
}

#[server(endpoint = "admin_remove_share")]
pub async fn admin_remove_share(
    form_id: String,
    receiver_id: String,
) -> Result<ShareOutcome, ServerFnError> {
    use crate::ssr::pay::shares;
    use crate::ssr::{audit, AppState};
    let admin = crate::ssr::auth::require(crate::domain::Permission::ManageAccounts).await?;
    let state = AppState::from_context()?;
    let fail = || crate::errors::Failure::Save("the share").log::<anyhow::Error>();
    if !shares::remove_rule(&state, &form_id, &receiver_id)
        .await
        .map_err(fail())?
    {
        return Ok(refused("no such share"));
    }
    audit::record(
        &state.db,
        &admin,
        crate::domain::AuditAction::SetShare,
        &form_id,
        &format!("{receiver_id} removed"),
    )
    .await
    .map_err(fail())?;
    Ok(ShareOutcome::Done)
}

/// The words of a split's state.
fn split_state(state: &str) -> &'static str {
    match state {
        "pending" => "待分账 Pending",
        "processing" => "分账中 Processing",
        "finished" => "已完成 Finished",
        "failed" => "失败 Failed",
        _ => "其他 Other",
    }
}

#[component]
pub fn SharesPage() -> impl IntoView {
    let add = ServerAction::<AdminAddReceiver>::new();
    let remove = ServerAction::<AdminRemoveReceiver>::new();
    let set = ServerAction::<AdminSetShare>::new();
    let unset = ServerAction::<AdminRemoveShare>::new();
    let data = Resource::new(
        move || {
            (
                add.version().get(),
                remove.version().get(),
                set.version().get(),
                unset.version().get(),
            )
        },
        |_| admin_shares(),
    );
    let said = move || {
        [
            add.value().get(),
            remove.value().get(),
            set.value().get(),
            unset.value().get(),
        ]
        .into_iter()
        .flatten()
        .find_map(|r| match r {
            Ok(ShareOutcome::Refused { message }) => Some(message),
            Err(e) => Some(e.to_string()),
            _ => None,
        })
    };
    view! {
        <AdminNav />
        <section class="card">
            <h1>"分账 Profit sharing"</h1>
            <p class="muted">
                "表单的每笔微信支付可按比例或固定金额分给接收方（合计不超过 30%）；支付成功后自动分账，退款前先回退分账。"
                " · Each WeChat payment to a form can be split with receivers (a percentage or a fixed amount, at most 30 % in all); the split is made once the payment settles, and returned before a refund that needs it."
            </p>
            <Show when=move || said().is_some()>
                <p class="error" role="alert" data-testid="shares-refused">{said}</p>
            </Show>
            <Suspense fallback=|| view! { <p>"…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(v) => view! { <SharesBody v add remove set unset /> }.into_any(),
                        Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn SharesBody(
    v: SharesView,
    add: ServerAction<AdminAddReceiver>,
    remove: ServerAction<AdminRemoveReceiver>,
    set: ServerAction<AdminSetShare>,
    unset: ServerAction<AdminRemoveShare>,
) -> impl IntoView {
    let receiver_options = v.receivers.clone();
    view! {
        <h2>"接收方 Receivers"</h2>
        <ActionForm action=add attr:class="row" attr:data-testid="receiver-form">
            <select name="account" aria-label="收款账户 Account">
                {v.accounts.iter().map(|(id, name)| view! { <option value=id.clone()>{name.clone()}</option> }).collect_view()}
            </select>
            <select name="kind" aria-label="类型 Kind" data-testid="receiver-kind">
                <option value="MERCHANT_ID">"商户 Merchant (MERCHANT_ID)"</option>
                <option value="PERSONAL_OPENID">"个人 Person (PERSONAL_OPENID)"</option>
                <option value="userId">"支付宝用户 Alipay user id (2088…)"</option>
                <option value="loginName">"支付宝账号 Alipay login (email / phone)"</option>
            </select>
            <input type="text" name="receiver" required aria-label="商户号或 openid · Merchant id or openid" placeholder="1900000109" data-testid="receiver-account" />
            <input type="text" name="name" aria-label="全称 Registered name" placeholder="全称 Registered name" data-testid="receiver-name" />
            <select name="relation" aria-label="关系 Relation">
                {crate::domain::SHARE_RELATIONS.iter().map(|r| view! { <option value=*r>{*r}</option> }).collect_view()}
            </select>
            <button type="submit" class="button primary">"添加 Add"</button>
        </ActionForm>
        <div class="table-wrap">
        <table class="table" data-testid="receivers">
            <thead><tr><th>"账户 Account"</th><th>"类型 Kind"</th><th>"接收方 Receiver"</th><th>"全称 Name"</th><th>"关系 Relation"</th><th></th></tr></thead>
            <tbody>
                {v.receivers.into_iter().map(|r| view! {
                    <tr>
                        <td>{r.account_name.clone()}</td>
                        <td>{r.kind.clone()}</td>
                        <td><code>{r.account.clone()}</code></td>
                        <td>{r.name.clone()}</td>
                        <td>{r.relation.clone()}</td>
                        <td>
                            <ActionForm action=remove attr:class="inline">
                                <input type="hidden" name="id" value=r.id.clone() />
                                <button type="submit" class="button small">"移除 Remove"</button>
                            </ActionForm>
                        </td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
        </div>
        <h2>"表单分账规则 Each form's shares"</h2>
        <ActionForm action=set attr:class="row" attr:data-testid="share-form">
            <select name="form_id" aria-label="表单 Form" data-testid="share-form-id">
                {v.forms.iter().map(|(id, title)| view! { <option value=id.clone()>{title.clone()}</option> }).collect_view()}
            </select>
            <select name="receiver_id" aria-label="接收方 Receiver" data-testid="share-receiver">
                {receiver_options.into_iter().map(|r| view! { <option value=r.id.clone()>{format!("{} {}", r.name, r.account)}</option> }).collect_view()}
            </select>
            <input type="text" inputmode="decimal" name="percent" aria-label="比例 % Percentage" placeholder="10 (%)" data-testid="share-percent" />
            <input type="text" inputmode="decimal" name="fixed" aria-label="固定金额 Fixed amount (CNY)" placeholder="或固定金额 or ¥ 5.00" />
            <button type="submit" class="button primary">"保存 Save"</button>
        </ActionForm>
        <div class="table-wrap">
        <table class="table" data-testid="share-rules">
            <thead><tr><th>"表单 Form"</th><th>"接收方 Receiver"</th><th>"份额 Share"</th><th></th></tr></thead>
            <tbody>
                {v.rules.into_iter().map(|r| view! {
                    <tr>
                        <td>{r.form_title.clone()}</td>
                        <td>{r.receiver.clone()}</td>
                        <td>{r.share.clone()}</td>
                        <td>
                            <ActionForm action=unset attr:class="inline">
                                <input type="hidden" name="form_id" value=r.form_id.clone() />
                                <input type="hidden" name="receiver_id" value=r.receiver_id.clone() />
                                <button type="submit" class="button small">"移除 Remove"</button>
                            </ActionForm>
                        </td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
        </div>
        <h2>"分账记录 Splits"</h2>
        <div class="table-wrap">
        <table class="table" data-testid="splits">
            <thead><tr><th>"时间 Created"</th><th>"订单 Order"</th><th>"状态 State"</th><th>"分出 Shared"</th><th>"明细 Lines"</th></tr></thead>
            <tbody>
                {v.splits.into_iter().map(|s| view! {
                    <tr data-state=s.state.clone()>
                        <td>{s.created_at.clone()}</td>
                        <td><a href=format!("/admin/orders/{}", s.order_id)>{s.out_trade_no.clone()}</a></td>
                        <td>{split_state(&s.state)} {s.error.clone().map(|e| format!(" · {e}"))}</td>
                        <td>{yuan(s.amount_fen)}</td>
                        <td>{s.lines.iter().map(|l| format!(
                            "{} {} {}{}",
                            l.account,
                            yuan(l.amount_fen),
                            l.result,
                            if l.returned_fen > 0 { format!(" (回退 returned {})", yuan(l.returned_fen)) } else { String::new() }
                        )).collect::<Vec<_>>().join("; ")}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
        </div>
    }
}
