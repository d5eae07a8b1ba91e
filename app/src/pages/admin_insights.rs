//! A form's funnel (page views → submissions → paid) and how each choice
//! question was answered, as bars.

use super::admin_orders::AdminNav;
use crate::i18n::use_lang;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuestionView {
    pub key: String,
    pub label: String,
    pub answered: i64,
    pub options: Vec<(String, i64)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InsightsView {
    pub form_title: String,
    pub views: i64,
    pub submissions: i64,
    pub paid: i64,
    pub questions: Vec<QuestionView>,
}

#[server(endpoint = "admin_form_insights")]
pub async fn admin_form_insights(form_id: String) -> Result<Option<InsightsView>, ServerFnError> {
    use crate::ssr::{forms, AppState};
    crate::ssr::auth::require(crate::domain::Permission::ViewSubmissions).await?;
    let state = AppState::from_context()?;
    let fail = crate::errors::Failure::Read("the statistics").log::<anyhow::Error>();
    let Some(form) = forms::form_by_id(&state.db, &form_id).await.map_err(fail)? else {
        return Ok(None);
    };
    let i = formpay_core::store::insights::form_insights(&state.db, &state.views, &form)
        .await
        .map_err(fail)?;
    Ok(Some(InsightsView {
        form_title: form.def.title,
        views: i.views,
        submissions: i.submissions,
        paid: i.paid,
        questions: i
            .questions
            .into_iter()
            .map(|q| QuestionView {
                key: q.key,
                label: q.label,
                answered: q.answered,
                options: q.options,
            })
            .collect(),
    }))
}

/// A share as a whole percentage of `of` (0 when `of` is 0).
fn percent(n: i64, of: i64) -> i64 {
    if of <= 0 {
        0
    } else {
        (n * 100 + of / 2) / of
    }
}

#[component]
fn Bar(label: String, n: i64, of: i64, testid: String) -> impl IntoView {
    let p = percent(n, of);
    view! {
        <div class="bar-row" data-testid=testid>
            <span class="bar-label">{label}</span>
            <span class="bar" role="img" aria-label=format!("{p}%")><span class="bar-fill" style=format!("width: {}%", p.min(100))></span></span>
            <span class="bar-figure">{format!("{n} · {p}%")}</span>
        </div>
    }
}

#[component]
pub fn InsightsPage() -> impl IntoView {
    let lang = use_lang();
    let t = move || lang.get().t();
    let params = use_params_map();
    let form_id = move || params.read().get("id").unwrap_or_default();
    let data = Resource::new(form_id, admin_form_insights);
    view! {
        <AdminNav />
        <section class="card">
            <h1>"答题统计 Answers and funnel"</h1>
            <Suspense fallback=|| view! { <p>"…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(Some(v)) => view! {
                            <p class="muted">{v.form_title.clone()}</p>
                            <h2>"转化 Funnel"</h2>
                            <div class="bars" data-testid="funnel">
                                <Bar label="访问 Views".into() n=v.views of=v.views testid="funnel-views".into() />
                                <Bar label="提交 Submissions".into() n=v.submissions of=v.views testid="funnel-submissions".into() />
                                <Bar label="已付款 Paid".into() n=v.paid of=v.views testid="funnel-paid".into() />
                            </div>
                            {v.questions.into_iter().map(|q| {
                                let answered = q.answered;
                                view! {
                                    <h2>{q.label.clone()} <span class="muted">{format!(" · {answered}")}</span></h2>
                                    <div class="bars" data-testid=format!("question-{}", q.key)>
                                        {q.options.into_iter().enumerate().map(|(i, (label, n))| view! {
                                            <Bar label n of=answered testid=format!("option-{}-{i}", q.key) />
                                        }).collect_view()}
                                    </div>
                                }
                            }).collect_view()}
                        }.into_any(),
                        Ok(None) => view! { <p>{move || t().form_not_found}</p> }.into_any(),
                        Err(_) => view! { <p class="error">{move || t().server_error}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
