//! A form's webhooks: its endpoints (the signing secret shown once), the log
//! of deliveries with their attempts, and sending one again.

use super::admin_orders::AdminNav;
use crate::i18n::use_lang;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EndpointView {
    pub id: String,
    pub url: String,
    pub created_at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryView {
    pub id: String,
    pub url: String,
    pub event_type: String,
    pub state: String,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: String,
    /// When it was delivered, or when it is tried next.
    pub when: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhooksView {
    pub form_title: String,
    pub endpoints: Vec<EndpointView>,
    pub deliveries: Vec<DeliveryView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum WebhookOutcome {
    /// Added: the signing secret (`whsec_…`), shown once.
    Added {
        id: String,
        secret: String,
    },
    Done,
    Refused {
        message: String,
    },
}

#[server(endpoint = "admin_webhooks")]
pub async fn admin_webhooks(form_id: String) -> Result<Option<WebhooksView>, ServerFnError> {
    use crate::ssr::{forms, AppState};
    use formpay_core::webhooks;
    crate::ssr::auth::require(crate::domain::Permission::EditForms).await?;
    let state = AppState::from_context()?;
    let read = crate::errors::Failure::Read("the webhooks").log::<anyhow::Error>();
    let Some(form) = forms::form_by_id(&state.db, &form_id).await.map_err(read)? else {
        return Ok(None);
    };
    let endpoints = webhooks::endpoints(&state.db, &form_id)
        .await
        .map_err(read)?;
    let deliveries = webhooks::deliveries(&state.db, &form_id, 100)
        .await
        .map_err(read)?;
    Ok(Some(WebhooksView {
        form_title: form.def.title,
        endpoints: endpoints
            .into_iter()
            .map(|e| EndpointView {
                id: e.id,
                url: e.url,
                created_at: forms::beijing_time(e.created_at),
            })
            .collect(),
        deliveries: deliveries
            .into_iter()
            .map(|d| DeliveryView {
                when: forms::beijing_time(d.delivered_at.unwrap_or(d.next_attempt_at)),
                id: d.id,
                url: d.url,
                event_type: d.event_type,
                state: d.state,
                attempts: d.attempts,
                last_status: d.last_status,
                last_error: d.last_error,
                created_at: forms::beijing_time(d.created_at),
            })
            .collect(),
    }))
}

#[server(endpoint = "admin_add_webhook")]
pub async fn admin_add_webhook(
    form_id: String,
    url: String,
) -> Result<WebhookOutcome, ServerFnError> {
    use crate::ssr::{audit, AppState};
    use formpay_core::webhooks;
    let admin = crate::ssr::auth::require(crate::domain::Permission::EditForms).await?;
    let state = AppState::from_context()?;
    let fail = crate::errors::Failure::Save("the webhook").log::<anyhow::Error>();
    match webhooks::add_endpoint(
        &state.db,
        state.accounts.vault.as_ref(),
        &form_id,
        &url,
        state.accounts.production,
    )
    .await
    .map_err(fail)?
    {
        Ok((id, secret)) => {
            audit::record(
                &state.db,
                &admin,
                crate::domain::AuditAction::AddWebhook,
                &form_id,
                url.trim(),
            )
            .await
            .map_err(fail)?;
            Ok(WebhookOutcome::Added { id, secret })
        }
        Err(e) => Ok(WebhookOutcome::Refused {
            message: e.to_string(),
        }),
    }
}

#[server(endpoint = "admin_remove_webhook")]
pub async fn admin_remove_webhook(
    form_id: String,
    id: String,
) -> Result<WebhookOutcome, ServerFnError> {
    use crate::ssr::{audit, AppState};
    let admin = crate::ssr::auth::require(crate::domain::Permission::EditForms).await?;
    let state = AppState::from_context()?;
    let fail = crate::errors::Failure::Save("the webhook").log::<anyhow::Error>();
    match formpay_core::webhooks::remove_endpoint(&state.db, &form_id, &id)
        .await
        .map_err(fail)?
    {
        Some(url) => {
            audit::record(
                &state.db,
                &admin,
                crate::domain::AuditAction::RemoveWebhook,
                &form_id,
                &url,
            )
            .await
            .map_err(fail)?;
            Ok(WebhookOutcome::Done)
        }
        None => Ok(WebhookOutcome::Refused {
            message: "there is no such endpoint".into(),
        }),
    }
}

/// Sends a delivery again (the same message: same id and body).
#[server(endpoint = "admin_resend_webhook")]
pub async fn admin_resend_webhook(
    form_id: String,
    id: String,
) -> Result<WebhookOutcome, ServerFnError> {
    crate::ssr::auth::require(crate::domain::Permission::EditForms).await?;
    let state = crate::ssr::AppState::from_context()?;
    let queued = formpay_core::webhooks::resend(&state.db, &form_id, &id)
        .await
        .map_err(crate::errors::Failure::Save("the webhook").log())?;
    Ok(if queued {
        WebhookOutcome::Done
    } else {
        WebhookOutcome::Refused {
            message: "there is no such delivery".into(),
        }
    })
}

#[component]
pub fn WebhooksPage() -> impl IntoView {
    let lang = use_lang();
    let t = move || lang.get().t();
    let params = use_params_map();
    let form_id = move || params.read().get("id").unwrap_or_default();
    let add = ServerAction::<AdminAddWebhook>::new();
    let remove = ServerAction::<AdminRemoveWebhook>::new();
    let resend = ServerAction::<AdminResendWebhook>::new();
    let view_data = Resource::new(
        move || {
            (
                form_id(),
                add.version().get(),
                remove.version().get(),
                resend.version().get(),
            )
        },
        |(id, ..)| admin_webhooks(id),
    );
    let said = move || {
        [
            add.value().get(),
            remove.value().get(),
            resend.value().get(),
        ]
        .into_iter()
        .flatten()
        .find_map(|r| match r {
            Ok(WebhookOutcome::Refused { message }) => Some(message),
            Err(e) => Some(e.to_string()),
            _ => None,
        })
    };
    let secret = move || match add.value().get() {
        Some(Ok(WebhookOutcome::Added { secret, .. })) => Some(secret),
        _ => None,
    };
    view! {
        <AdminNav />
        <section class="card">
            <h1>"Webhooks"</h1>
            <p class="muted">
                "每次提交、付款和退款时，向下列 HTTPS 地址 POST 一条 JSON 消息，按 Standard Webhooks 签名（webhook-id、webhook-timestamp、webhook-signature）；失败会重试约一天。"
                " · On each submission, payment and refund, a JSON message is POSTed to these HTTPS addresses, signed as Standard Webhooks says; failures are retried for about a day."
            </p>
            <Show when=move || said().is_some()>
                <p class="error" role="alert" data-testid="webhook-refused">{said}</p>
            </Show>
            <Show when=move || secret().is_some()>
                <p class="notice" role="status">"签名密钥（只显示这一次）· Signing secret (shown once): " <code data-testid="webhook-secret">{secret}</code></p>
            </Show>
            <ActionForm action=add attr:class="row" attr:data-testid="webhook-form">
                <input type="hidden" name="form_id" value=form_id />
                <input type="url" name="url" required placeholder="https://example.com/formpay" aria-label="URL" data-testid="webhook-url" />
                <button type="submit" class="button primary">"添加 Add"</button>
            </ActionForm>
            <Suspense fallback=|| view! { <p>"…"</p> }>
                {move || Suspend::new(async move {
                    match view_data.await {
                        Ok(Some(v)) => view! {
                            <p class="muted">{v.form_title.clone()}</p>
                            <ul data-testid="webhook-endpoints">
                                {v.endpoints.into_iter().map(|e| view! {
                                    <li>
                                        <code>{e.url.clone()}</code> " · " {e.created_at.clone()}
                                        <ActionForm action=remove attr:class="inline">
                                            <input type="hidden" name="form_id" value=form_id() />
                                            <input type="hidden" name="id" value=e.id.clone() />
                                            <button type="submit" class="button small">"删除 Remove"</button>
                                        </ActionForm>
                                    </li>
                                }).collect_view()}
                            </ul>
                            <h2>"投递记录 Deliveries"</h2>
                            <div class="table-wrap">
                            <table class="table" data-testid="webhook-deliveries">
                                <thead><tr><th>"时间 Created"</th><th>"事件 Event"</th><th>"地址 URL"</th><th>"状态 State"</th><th>"次数 Attempts"</th><th>"结果 Last answer"</th><th></th></tr></thead>
                                <tbody>
                                    {v.deliveries.into_iter().map(|d| view! {
                                        <tr data-state=d.state.clone()>
                                            <td>{d.created_at.clone()}</td>
                                            <td>{d.event_type.clone()}</td>
                                            <td><code>{d.url.clone()}</code></td>
                                            <td>{d.state.clone()} " · " {d.when.clone()}</td>
                                            <td>{d.attempts}</td>
                                            <td>{d.last_status.map(|s| s.to_string()).or(d.last_error.clone()).unwrap_or_default()}</td>
                                            <td>
                                                <ActionForm action=resend attr:class="inline">
                                                    <input type="hidden" name="form_id" value=form_id() />
                                                    <input type="hidden" name="id" value=d.id.clone() />
                                                    <button type="submit" class="button small">"重发 Resend"</button>
                                                </ActionForm>
                                            </td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                            </div>
                        }.into_any(),
                        Ok(None) => view! { <p>{move || t().form_not_found}</p> }.into_any(),
                        Err(_) => view! { <p class="error">{move || t().server_error}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
