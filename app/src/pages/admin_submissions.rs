//! Administrators' view of a form's submissions: paging, search, a filter by
//! payment status, the detail of each row, and the CSV export.

use crate::i18n::use_lang;
use leptos::prelude::*;
use leptos_router::components::Redirect;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

pub const PAGE_SIZE: i64 = 20;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubmissionRow {
    pub id: String,
    pub created_at: String,
    pub answers: Vec<(String, String)>,
    pub amount: Option<String>,
    pub order_status: Option<crate::domain::OrderStatus>,
    pub out_trade_no: Option<String>,
    pub transaction_id: Option<String>,
    /// Its answers were erased (retention rule or the payer's request).
    #[serde(default)]
    pub erased: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubmissionPage {
    pub form_title: String,
    pub columns: Vec<String>,
    pub rows: Vec<SubmissionRow>,
    pub total: i64,
    pub page: i64,
}

#[server(endpoint = "admin_submissions")]
pub async fn admin_submissions(
    form_id: String,
    page: i64,
    search: String,
    status: String,
) -> Result<Option<SubmissionPage>, ServerFnError> {
    use crate::domain::form::Answer;
    use crate::ssr::{forms, submissions, AppState};
    use std::collections::BTreeMap;
    crate::ssr::auth::require_admin().await?;
    let state = AppState::from_context()?;
    let fail = crate::errors::Failure::Read("the submissions").log::<anyhow::Error>();
    let Some(form) = forms::form_by_id(&state.db, &form_id).await.map_err(fail)? else {
        return Ok(None);
    };
    let filter = submissions::Filter {
        search: Some(search).filter(|s| !s.trim().is_empty()),
        status: submissions::StatusFilter::parse(&status),
    };
    let page = page.clamp(1, super::MAX_PAGE);
    let (total, list) = submissions::page(
        &state.db,
        &form_id,
        &filter,
        PAGE_SIZE,
        (page - 1) * PAGE_SIZE,
    )
    .await
    .map_err(fail)?;
    let rows = list
        .into_iter()
        .map(|s| {
            let answers: BTreeMap<String, Answer> =
                serde_json::from_str(&s.answers_json).unwrap_or_default();
            SubmissionRow {
                id: s.id,
                created_at: forms::beijing_time(s.created_at),
                answers: super::form_page::answers_for_display(&form.def.fields, &answers),
                amount: s
                    .amount_fen
                    .and_then(|f| crate::domain::Money::from_fen(f).ok())
                    .map(|m| m.to_string()),
                order_status: s.order_status,
                out_trade_no: s.out_trade_no,
                transaction_id: s.transaction_id,
                erased: s.erased_at.is_some(),
            }
        })
        .collect();
    Ok(Some(SubmissionPage {
        form_title: form.def.title.clone(),
        columns: form.def.fields.iter().map(|f| f.label.clone()).collect(),
        rows,
        total,
        page,
    }))
}

/// What became of a request to erase a submission's personal data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum EraseOutcome {
    Erased,
    AlreadyErased,
    /// Not erased, and why (no such submission; money in motion).
    Refused(String),
}

/// Erases one submission's answers on its payer's request (PIPL); the order
/// and amount are kept. Audited.
#[server(endpoint = "admin_erase_submission")]
pub async fn admin_erase_submission(id: String) -> Result<EraseOutcome, ServerFnError> {
    use crate::ssr::retention::{erase_submission, EraseError};
    use crate::ssr::AppState;
    let admin = crate::ssr::auth::require_admin().await?;
    let state = AppState::from_context()?;
    match erase_submission(&state.db, &admin, &id).await {
        Ok(true) => Ok(EraseOutcome::Erased),
        Ok(false) => Ok(EraseOutcome::AlreadyErased),
        Err(e @ (EraseError::NotFound | EraseError::MoneyInMotion(_))) => {
            Ok(EraseOutcome::Refused(e.to_string()))
        }
        Err(EraseError::Unexpected(e)) => {
            Err(crate::errors::Failure::Save("the erasure").because(e))
        }
    }
}

/// The button that erases one submission's personal data, after a confirmation.
#[component]
fn EraseButton(id: String) -> impl IntoView {
    let erase = ServerAction::<AdminEraseSubmission>::new();
    let said = move || match erase.value().get() {
        Some(Ok(EraseOutcome::Erased | EraseOutcome::AlreadyErased)) => {
            "已删除个人信息 Personal data erased".to_owned()
        }
        Some(Ok(EraseOutcome::Refused(why))) => why,
        Some(Err(e)) => e.to_string(),
        None => String::new(),
    };
    let on_click = move |_| {
        let sure = window()
            .confirm_with_message(
                "删除此提交的全部回答？金额与订单保留，无法恢复。\nErase all answers of this submission? The amount and order are kept. This cannot be undone.",
            )
            .unwrap_or(false);
        if sure {
            erase.dispatch(AdminEraseSubmission { id: id.clone() });
        }
    };
    view! {
        <button class="button danger" type="button" data-testid="erase-submission" on:click=on_click disabled=move || erase.pending().get()>
            "删除个人信息 Erase personal data"
        </button>
        <span role="status">{said}</span>
    }
}

#[component]
pub fn SubmissionsPage() -> impl IntoView {
    let lang = use_lang();
    let t = move || lang.get().t();
    let adm = move || lang.get().admin();
    let params = use_params_map();
    let query = use_query_map();
    let form_id = move || params.read().get("id").unwrap_or_default();
    let page = move || {
        query
            .read()
            .get("page")
            .and_then(|p| p.parse::<i64>().ok())
            .unwrap_or(1)
    };
    let search = move || query.read().get("q").unwrap_or_default();
    let status = move || query.read().get("status").unwrap_or_default();
    let data = Resource::new(
        move || (form_id(), page(), search(), status()),
        |(f, p, q, s)| admin_submissions(f, p, q, s),
    );
    view! {
        <section class="card">
            <form method="get" class="row filters">
                <input type="search" name="q" placeholder=move || adm().search_answers aria-label=move || adm().search_answers prop:value=search data-testid="search" />
                <select name="status" aria-label=move || adm().col_status data-testid="status-filter">
                    <option value="">{move || adm().all_statuses}</option>
                    {["paid", "pending", "created", "expired", "closed", "refunded", "partially_refunded", "needs_review", "none"].into_iter().map(|s| {
                        view! { <option value=s selected=move || status() == s>{move || crate::domain::OrderStatus::parse(s).map(|st| t().order_status(st)).unwrap_or(adm().no_payment)}</option> }
                    }).collect_view()}
                </select>
                <button class="button" type="submit">{move || adm().filter}</button>
                <a class="button" href=move || format!("/admin/forms/{}/submissions.csv", form_id()) data-testid="export-csv">{move || adm().export_csv}</a>
            </form>
            <form method="get" action="/admin/payer.json" class="row filters" data-testid="payer-export">
                <input type="search" name="q" required placeholder="付款人手机号或邮箱 Payer's phone or email" aria-label="付款人手机号或邮箱 Payer's phone or email" />
                <button class="button" type="submit">"导出其全部数据 Export all their data"</button>
            </form>
            <Suspense fallback=|| view! { <p>"…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(Some(p)) => view! { <SubmissionTable p /> }.into_any(),
                        Ok(None) => view! { <p>"404"</p> }.into_any(),
                        Err(_) => view! { <Redirect path="/admin/login" /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn SubmissionTable(p: SubmissionPage) -> impl IntoView {
    let lang = use_lang();
    let t = move || lang.get().t();
    let pages = (p.total + PAGE_SIZE - 1) / PAGE_SIZE;
    let page = p.page;
    let query = use_query_map();
    let link = move |n: i64| {
        let q = query.read();
        format!(
            "?page={n}&q={}&status={}",
            q.get("q").unwrap_or_default(),
            q.get("status").unwrap_or_default()
        )
    };
    view! {
        <h1>{p.form_title.clone()}</h1>
        <p class="muted" data-testid="total-count">{p.total} " · " {page} "/" {pages.max(1)}</p>
        <div class="table-wrap">
            <table class="table" data-testid="submissions">
                <thead><tr>
                    <th>"时间 Time"</th>
                    {p.columns.iter().map(|c| view! { <th>{c.clone()}</th> }).collect_view()}
                    <th>{move || t().status}</th>
                </tr></thead>
                <tbody>
                    {p.rows.into_iter().map(|r| {
                        let status = r.order_status;
                        let (id, erased) = (r.id.clone(), r.erased);
                        view! {
                            <tr>
                                <td>
                                    <details>
                                        <summary>{r.created_at.clone()}</summary>
                                        <dl class="facts">
                                            {r.answers.iter().map(|(k, v)| view! { <dt>{k.clone()}</dt><dd>{v.clone()}</dd> }).collect_view()}
                                            <dt>{move || t().amount}</dt><dd>{r.amount.clone().unwrap_or_else(|| "—".into())}</dd>
                                            <dt>{move || t().out_trade_no}</dt><dd>{r.out_trade_no.clone().unwrap_or_else(|| "—".into())}</dd>
                                            <dt>{move || t().transaction_id}</dt><dd>{r.transaction_id.clone().unwrap_or_else(|| "—".into())}</dd>
                                        </dl>
                                        {if erased {
                                            view! { <p class="muted" data-testid="erased">"个人信息已删除 Personal data erased"</p> }.into_any()
                                        } else {
                                            view! { <EraseButton id /> }.into_any()
                                        }}
                                    </details>
                                </td>
                                {r.answers.iter().map(|(_, v)| view! { <td>{v.clone()}</td> }).collect_view()}
                                <td>{move || status.map(|s| t().order_status(s)).unwrap_or("—")}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        <div class="row">
            {(page > 1).then(|| view! { <a class="button" href=link(page - 1)>"←"</a> })}
            {(page < pages).then(|| view! { <a class="button" href=link(page + 1) data-testid="next-page">"→"</a> })}
        </div>
    }
}
