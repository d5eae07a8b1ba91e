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
    /// One cell per field of the form, in order (empty when not answered).
    pub answers: Vec<AnswerCell>,
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
    crate::ssr::auth::require(crate::domain::Permission::ViewSubmissions).await?;
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
                answers: answer_cells(&form.def.fields, &answers),
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
        columns: form
            .def
            .fields
            .iter()
            .filter(|f| f.kind.is_answered())
            .map(|f| f.label.clone())
            .collect(),
        rows,
        total,
        page,
    }))
}

/// One answer as the administrators' lists show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnswerCell {
    pub label: String,
    pub text: String,
    /// The field's key when the text is masked (a phone number): a reveal
    /// shows it in full, and is audited.
    pub masked_key: Option<String>,
    /// An upload field's files: their ids (links to `/admin/uploads/{id}`).
    #[serde(default)]
    pub files: Vec<String>,
}

/// Every field's answer (empty when not answered), the personal numbers masked.
pub fn answer_cells(
    fields: &[crate::domain::form::Field],
    answers: &std::collections::BTreeMap<String, crate::domain::form::Answer>,
) -> Vec<AnswerCell> {
    use crate::domain::form::{answer_text, mask_personal, masked_in_lists};
    fields
        .iter()
        .filter(|f| f.kind.is_answered())
        .map(|f| {
            let text = answers
                .get(&f.key)
                .map(|a| answer_text(Some(f), a))
                .unwrap_or_default();
            let masked = masked_in_lists(&f.kind) && !text.is_empty();
            AnswerCell {
                label: f.label.clone(),
                text: if masked { mask_personal(&text) } else { text },
                masked_key: masked.then(|| f.key.clone()),
                files: match (&f.kind, answers.get(&f.key)) {
                    (
                        crate::domain::form::FieldKind::Upload { .. },
                        Some(crate::domain::form::Answer::Choices(ids)),
                    ) => ids.clone(),
                    _ => Vec::new(),
                },
            }
        })
        .collect()
}

/// One masked answer in full (for a payer on the phone, a refund check…);
/// audited with who, which submission and which field.
#[server(endpoint = "admin_reveal")]
pub async fn admin_reveal(
    submission_id: String,
    key: String,
) -> Result<Option<String>, ServerFnError> {
    use crate::domain::form::answer_text;
    use crate::ssr::{audit, forms, AppState};
    let admin = crate::ssr::auth::require(crate::domain::Permission::PersonalData).await?;
    let state = AppState::from_context()?;
    let fail = crate::errors::Failure::Read("the submission").log::<anyhow::Error>();
    let Some((form_id, answers)) = forms::submission_with_form(&state.db, &submission_id)
        .await
        .map_err(fail)?
    else {
        return Ok(None);
    };
    let Some(form) = forms::form_by_id(&state.db, &form_id).await.map_err(fail)? else {
        return Ok(None);
    };
    let Some((field, answer)) = form
        .def
        .fields
        .iter()
        .find(|f| f.key == key)
        .and_then(|f| answers.get(&f.key).map(|a| (f, a)))
    else {
        return Ok(None);
    };
    audit::record(
        &state.db,
        &admin,
        crate::domain::AuditAction::RevealPersonalData,
        &submission_id,
        &field.label,
    )
    .await
    .map_err(crate::errors::Failure::Save("the audit log").log())?;
    Ok(Some(answer_text(Some(field), answer)))
}

/// A masked answer, and the button that shows it in full.
#[component]
pub fn MaskedAnswer(submission_id: String, cell: AnswerCell) -> impl IntoView {
    let reveal = ServerAction::<AdminReveal>::new();
    let shown = move || match reveal.value().get() {
        Some(Ok(Some(full))) => Some(full),
        _ => None,
    };
    let masked = cell.text.clone();
    let submission_id = StoredValue::new(submission_id);
    if !cell.files.is_empty() {
        return view! {
            <span class="files">
                {cell.files.into_iter().enumerate().map(|(i, id)| view! {
                    <a href=format!("/admin/uploads/{id}") rel="external" data-testid="upload-link">{format!("文件 {} ", i + 1)}</a>
                }).collect_view()}
            </span>
        }
        .into_any();
    }
    match cell.masked_key {
        None => view! { <span>{cell.text}</span> }.into_any(),
        Some(key) => {
            let key = StoredValue::new(key);
            view! {
            <span data-testid="masked">{move || shown().unwrap_or_else(|| masked.clone())}</span>
            <Show when=move || shown().is_none()>
                <ActionForm action=reveal attr:class="inline">
                    <input type="hidden" name="submission_id" value=submission_id.get_value() />
                    <input type="hidden" name="key" value=key.get_value() />
                    <button type="submit" class="button small link" data-testid="reveal" title="查看完整号码（记入操作日志）· show in full (audited)">"👁"</button>
                </ActionForm>
            </Show>
            <Show when=move || matches!(reveal.value().get(), Some(Err(_)))>
                <span class="error">"✕"</span>
            </Show>
            }.into_any()
        }
    }
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
    let admin = crate::ssr::auth::require(crate::domain::Permission::PersonalData).await?;
    let state = AppState::from_context()?;
    match erase_submission(&state.db, &admin, &id).await {
        Ok(true) => {
            // Its uploaded files are deleted now, not at the next hourly sweep.
            if let Err(e) = formpay_core::store::uploads::sweep(&state.db, &state.uploads).await {
                tracing::warn!(error = ?e, "cannot delete the erased submission's files yet");
            }
            Ok(EraseOutcome::Erased)
        }
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
                                            {r.answers.iter().filter(|c| !c.text.is_empty()).map(|c| { let (sid, cell) = (r.id.clone(), c.clone()); view! { <dt>{c.label.clone()}</dt><dd><MaskedAnswer submission_id=sid cell /></dd> } }).collect_view()}
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
                                {r.answers.iter().map(|c| { let (sid, cell) = (r.id.clone(), c.clone()); view! { <td><MaskedAnswer submission_id=sid cell /></td> } }).collect_view()}
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
