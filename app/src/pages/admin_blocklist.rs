//! Abuse control (风控): the blocklist of phone numbers and addresses whose
//! submissions are refused, and the daily limits in force.

use super::admin_orders::AdminNav;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockedView {
    pub kind: String,
    pub value: String,
    pub note: String,
    pub created_at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlocklistView {
    pub entries: Vec<BlockedView>,
    /// The daily limits set by the operator (`PAYER_DAILY_SUBMISSIONS`, `PAYER_DAILY_AMOUNT`).
    pub daily_submissions: Option<i64>,
    pub daily_amount: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum BlockOutcome {
    Done,
    Refused { message: String },
}

#[server(endpoint = "admin_blocklist")]
pub async fn admin_blocklist() -> Result<BlocklistView, ServerFnError> {
    use crate::ssr::{abuse, forms, AppState};
    crate::ssr::auth::require(crate::domain::Permission::EditForms).await?;
    let state = AppState::from_context()?;
    let entries = abuse::list(&state.db)
        .await
        .map_err(crate::errors::Failure::Read("the blocklist").log())?;
    Ok(BlocklistView {
        entries: entries
            .into_iter()
            .map(|b| BlockedView {
                created_at: forms::beijing_time(b.created_at),
                kind: b.kind,
                value: b.value,
                note: b.note,
            })
            .collect(),
        daily_submissions: state.pay.abuse.daily_submissions,
        daily_amount: state
            .pay
            .abuse
            .daily_amount_fen
            .and_then(|f| crate::domain::Money::from_fen(f).ok())
            .map(|m| m.to_string()),
    })
}

/// Blocks a phone number or an address (`kind` phone or address; an
/// address may be a CIDR block).
#[server(endpoint = "admin_block")]
pub async fn admin_block(
    kind: String,
    value: String,
    note: String,
) -> Result<BlockOutcome, ServerFnError> {
    use crate::ssr::{abuse, audit, AppState};
    let admin = crate::ssr::auth::require(crate::domain::Permission::EditForms).await?;
    let state = AppState::from_context()?;
    let fail = crate::errors::Failure::Save("the blocklist").log::<anyhow::Error>();
    let value = match abuse::normalise_entry(&kind, &value) {
        Ok(v) => v,
        Err(message) => return Ok(BlockOutcome::Refused { message }),
    };
    let note: String = note.trim().chars().take(200).collect();
    if !abuse::add(&state.db, &kind, &value, &note)
        .await
        .map_err(fail)?
    {
        return Ok(BlockOutcome::Refused {
            message: "it is on the list already".into(),
        });
    }
    // The audit names a blocked phone number masked.
    let shown = if kind == "phone" {
        crate::domain::form::mask_personal(&value)
    } else {
        value.clone()
    };
    audit::record(
        &state.db,
        &admin,
        crate::domain::AuditAction::Block,
        &kind,
        &shown,
    )
    .await
    .map_err(fail)?;
    Ok(BlockOutcome::Done)
}

#[server(endpoint = "admin_unblock")]
pub async fn admin_unblock(kind: String, value: String) -> Result<BlockOutcome, ServerFnError> {
    use crate::ssr::{abuse, audit, AppState};
    let admin = crate::ssr::auth::require(crate::domain::Permission::EditForms).await?;
    let state = AppState::from_context()?;
    let fail = crate::errors::Failure::Save("the blocklist").log::<anyhow::Error>();
    if !abuse::remove(&state.db, &kind, &value)
        .await
        .map_err(fail)?
    {
        return Ok(BlockOutcome::Refused {
            message: "it is not on the list".into(),
        });
    }
    let shown = if kind == "phone" {
        crate::domain::form::mask_personal(&value)
    } else {
        value.clone()
    };
    audit::record(
        &state.db,
        &admin,
        crate::domain::AuditAction::Unblock,
        &kind,
        &shown,
    )
    .await
    .map_err(fail)?;
    Ok(BlockOutcome::Done)
}

#[component]
pub fn BlocklistPage() -> impl IntoView {
    let block = ServerAction::<AdminBlock>::new();
    let unblock = ServerAction::<AdminUnblock>::new();
    let data = Resource::new(
        move || (block.version().get(), unblock.version().get()),
        |_| admin_blocklist(),
    );
    let said = move || {
        [block.value().get(), unblock.value().get()]
            .into_iter()
            .flatten()
            .find_map(|r| match r {
                Ok(BlockOutcome::Refused { message }) => Some(message),
                Err(e) => Some(e.to_string()),
                _ => None,
            })
    };
    view! {
        <AdminNav />
        <section class="card">
            <h1>"风控 Blocklist"</h1>
            <p class="muted">
                "名单上的手机号或地址（IP 或 CIDR 网段）提交任何表单都会被拒绝。"
                " · Submissions from a phone number or address (an IP or a CIDR block) on this list are refused, on every form."
            </p>
            <Show when=move || said().is_some()>
                <p class="error" role="alert" data-testid="block-refused">{said}</p>
            </Show>
            <ActionForm action=block attr:class="row" attr:data-testid="block-form">
                <select name="kind" aria-label="类型 Kind" data-testid="block-kind">
                    <option value="phone">"手机号 Phone"</option>
                    <option value="address">"地址 Address"</option>
                </select>
                <input type="text" name="value" required aria-label="值 Value" placeholder="13800138000 / 203.0.113.0/24" data-testid="block-value" />
                <input type="text" name="note" aria-label="备注 Note" placeholder="备注 Note" />
                <button type="submit" class="button primary">"加入 Block"</button>
            </ActionForm>
            <Suspense fallback=|| view! { <p>"…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(v) => view! {
                            <p class="muted" data-testid="daily-limits">
                                "每日限制 Daily limits: "
                                {v.daily_submissions.map_or_else(|| "提交不限 submissions unlimited".to_owned(), |n| format!("每个手机号每天 {n} 次提交 · {n} submissions per phone"))}
                                " · "
                                {v.daily_amount.clone().map_or_else(|| "金额不限 no amount cap".to_owned(), |a| format!("每个手机号每天最多 {a} · at most {a} per phone"))}
                                " (PAYER_DAILY_SUBMISSIONS, PAYER_DAILY_AMOUNT)"
                            </p>
                            <div class="table-wrap">
                            <table class="table" data-testid="blocklist">
                                <thead><tr><th>"类型 Kind"</th><th>"值 Value"</th><th>"备注 Note"</th><th>"时间 Added"</th><th></th></tr></thead>
                                <tbody>
                                    {v.entries.into_iter().map(|b| view! {
                                        <tr>
                                            <td>{b.kind.clone()}</td>
                                            <td><code>{b.value.clone()}</code></td>
                                            <td>{b.note.clone()}</td>
                                            <td>{b.created_at.clone()}</td>
                                            <td>
                                                <ActionForm action=unblock attr:class="inline">
                                                    <input type="hidden" name="kind" value=b.kind.clone() />
                                                    <input type="hidden" name="value" value=b.value.clone() />
                                                    <button type="submit" class="button small">"移除 Remove"</button>
                                                </ActionForm>
                                            </td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                            </div>
                        }.into_any(),
                        Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
