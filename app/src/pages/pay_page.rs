//! The payment page `/pay/{order}`: amount, countdown, WeChat Pay / Alipay,
//! the QR code drawn in the browser, and the status pushed by server-sent
//! events (polling when they are unavailable). Also Alipay's return page:
//! it only shows the status, it never settles anything.

use super::qr::QrCode;
use crate::domain::{Channel, Money, OrderStatus};
use crate::i18n::use_lang;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PayView {
    pub id: String,
    pub status: OrderStatus,
    pub amount: Money,
    pub form_title: String,
    pub expires_at: i64,
    /// The server's clock, so the countdown does not depend on the payer's.
    pub now_ms: i64,
    pub channels: Vec<Channel>,
    pub channel: Option<Channel>,
    pub pay_target: Option<String>,
    pub receipt_token: String,
}

#[server(endpoint = "pay_view")]
pub async fn get_pay_view(id: String) -> Result<Option<PayView>, ServerFnError> {
    use crate::ssr::{forms, now_ms, orders, AppState};
    let state = AppState::from_context()?;
    let fail = crate::errors::Failure::Read("the order").log::<anyhow::Error>();
    let Some(o) = orders::by_id(&state.db, &id).await.map_err(fail)? else {
        return Ok(None);
    };
    let title = forms::form_by_id(&state.db, &o.form_id)
        .await
        .map_err(fail)?
        .map(|f| f.def.title)
        .unwrap_or_default();
    let channels = crate::ssr::pay::providers_of(&state, &o)
        .await
        .map(|p| p.channels())
        .unwrap_or_default();
    Ok(Some(PayView {
        id: o.id,
        status: o.status,
        amount: o.amount,
        form_title: title,
        expires_at: o.expires_at,
        now_ms: now_ms(),
        channels,
        channel: o.channel,
        pay_target: o.pay_target,
        receipt_token: o.receipt_token,
    }))
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum StartOutcome {
    QrCode(String),
    Redirect(String),
    NotPayable(OrderStatus),
    Failed,
}

#[server(endpoint = "start_pay")]
pub async fn start_pay(id: String, channel: String) -> Result<StartOutcome, ServerFnError> {
    use crate::ssr::pay::{start_payment, PayError};
    use crate::ssr::provider::PayAction;
    let state = crate::ssr::AppState::from_context()?;
    let channel = Channel::parse(&channel).ok_or(crate::errors::Failure::Unknown("channel"))?;
    let ip = crate::ssr::auth::request_client_ip(&state).map(|ip| ip.to_string());
    Ok(match start_payment(&state, &id, channel, ip).await {
        Ok(s) => match s.action {
            PayAction::QrCode(q) => StartOutcome::QrCode(q),
            PayAction::Redirect(u) => StartOutcome::Redirect(u),
        },
        Err(PayError::NotPayable(s)) => StartOutcome::NotPayable(s),
        Err(PayError::Expired) => StartOutcome::NotPayable(OrderStatus::Expired),
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the payment");
            StartOutcome::Failed
        }
    })
}

/// "I have paid": asks the provider now.
#[server(endpoint = "check_paid")]
pub async fn check_paid(id: String) -> Result<OrderStatus, ServerFnError> {
    use crate::ssr::{orders, pay, AppState};
    let state = AppState::from_context()?;
    let order = orders::by_id(&state.db, &id)
        .await
        .map_err(crate::errors::Failure::Read("the order").log())?
        .ok_or_else(|| ServerFnError::new("no such order"))?;
    Ok(pay::check_for_payer(&state, &order)
        .await
        .unwrap_or(order.status))
}

#[component]
pub fn PayPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let view = Resource::new(id, get_pay_view);
    let lang = use_lang();
    let t = move || lang.get().t();
    view! {
        <Suspense fallback=move || view! { <p>{move || t().loading}</p> }>
            {move || Suspend::new(async move {
                match view.await {
                    Ok(Some(v)) => view! { <PayView view=v /> }.into_any(),
                    Ok(None) => view! { <section class="card narrow"><h1>{move || t().order_not_found}</h1></section> }.into_any(),
                    Err(_) => view! { <p class="error">{move || t().server_error}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

fn format_countdown(secs: i64) -> String {
    let s = secs.max(0);
    format!("{:02}:{:02}", s / 60, s % 60)
}

#[component]
fn PayView(view: PayView) -> impl IntoView {
    let lang = use_lang();
    let t = move || lang.get().t();
    let id = view.id.clone();
    let status = RwSignal::new(view.status);
    let initial_target = match (view.channel, view.pay_target.clone()) {
        (Some(c), Some(target)) if c != Channel::AlipayPage => Some((c, target)),
        _ => None,
    };
    let target = RwSignal::new(initial_target);
    let remaining = RwSignal::new((view.expires_at - view.now_ms) / 1000);
    let start = ServerAction::<StartPay>::new();
    let check = ServerAction::<CheckPaid>::new();
    let failed = RwSignal::new(false);
    let chosen = RwSignal::new(None::<Channel>);

    Effect::new(move |_| match start.value().get() {
        Some(Ok(StartOutcome::QrCode(q))) => {
            failed.set(false);
            if let Some(c) = chosen.get_untracked() {
                target.set(Some((c, q)));
            }
        }
        Some(Ok(StartOutcome::Redirect(url))) => {
            #[cfg(feature = "hydrate")]
            if let Some(w) = web_sys::window() {
                let _ = w.location().set_href(&url);
            }
            #[cfg(not(feature = "hydrate"))]
            let _ = url;
        }
        Some(Ok(StartOutcome::NotPayable(s))) => status.set(s),
        Some(Ok(StartOutcome::Failed)) | Some(Err(_)) => failed.set(true),
        None => {}
    });
    Effect::new(move |_| {
        if let Some(Ok(s)) = check.value().get() {
            status.set(s);
        }
    });

    // Live status: server-sent events, or polling when they fail. Browser only.
    #[cfg(feature = "hydrate")]
    {
        let id = id.clone();
        Effect::new(move |_| live_status(id.clone(), status));
        Effect::new(move |_| {
            let handle = set_interval_with_handle(
                move || remaining.update(|r| *r -= 1),
                std::time::Duration::from_secs(1),
            );
            on_cleanup(move || {
                if let Ok(h) = handle {
                    h.clear();
                }
            });
        });
    }

    let receipt = format!("/r/{}", view.receipt_token);
    let channels = view.channels.clone();
    let payable = move || {
        matches!(status.get(), OrderStatus::Created | OrderStatus::Pending) && remaining.get() > 0
    };
    let id_for_buttons = id.clone();
    let id_for_check = id.clone();
    view! {
        <section class="card pay-card">
            <p class="muted">{view.form_title.clone()}</p>
            <h1 class="amount" data-testid="pay-amount">{view.amount.to_string()}</h1>
            <p class="status" data-testid="pay-status" data-status=move || status.get().as_str()>
                {move || t().status} ": " <strong>{move || t().order_status(status.get())}</strong>
            </p>
            <Show when=move || status.get() == OrderStatus::Paid>
                <p class="success">{move || t().paid_thanks}</p>
                <a class="button primary wide" href=receipt.clone() data-testid="receipt-link">{move || t().view_receipt}</a>
            </Show>
            <Show when=payable>
                <p class="countdown">{move || t().time_left} " " <span data-testid="countdown">{move || format_countdown(remaining.get())}</span></p>
                <h2>{move || t().choose_method}</h2>
                <div class="methods">
                    {channels.iter().map(|c| {
                        let c = *c;
                        let id = id_for_buttons.clone();
                        view! {
                            <button
                                class=format!("button method {}", c.as_str())
                                data-testid=format!("pay-{}", c.as_str())
                                class:selected=move || target.get().is_some_and(|(tc, _)| tc == c)
                                disabled=move || start.pending().get()
                                on:click=move |_| {
                                    chosen.set(Some(c));
                                    start.dispatch(StartPay { id: id.clone(), channel: c.as_str().to_owned() });
                                }
                            >
                                {move || t().channel(c)}
                            </button>
                        }
                    }).collect_view()}
                </div>
                <Show when=move || failed.get()>
                    <p class="error">{move || t().pay_failed}</p>
                </Show>
                {move || target.get().map(|(c, q)| {
                    let is_link = q.starts_with("http://") || q.starts_with("https://");
                    let caption = if c == Channel::WechatNative { t().scan_with_wechat } else { t().scan_with_alipay };
                    let link = q.clone();
                    view! {
                        <div class="qr-box">
                            <QrCode data=q testid="qr-code".to_string() />
                            <p>{caption}</p>
                            {is_link.then(|| view! { <a href=link.clone() target="_blank" data-testid="simulator-link">{move || t().open_simulator}</a> })}
                        </div>
                    }
                })}
                <button class="button wide" data-testid="i-have-paid" disabled=move || check.pending().get()
                    on:click={
                        let id = id_for_check.clone();
                        move |_| {
                            check.dispatch(CheckPaid { id: id.clone() });
                        }
                    }>
                    {move || if check.pending().get() { t().checking } else { t().i_have_paid }}
                </button>
            </Show>
        </section>
    }
}

/// Follows `/api/v1/orders/{id}/events`; on an error falls back to polling.
#[cfg(feature = "hydrate")]
fn live_status(id: String, status: RwSignal<OrderStatus>) {
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    let poll = {
        let id = id.clone();
        move || {
            let id = id.clone();
            let handle = set_interval_with_handle(
                move || {
                    let id = id.clone();
                    leptos::task::spawn_local(async move {
                        if let Ok(Some(v)) = get_pay_view(id).await {
                            status.set(v.status);
                        }
                    });
                },
                std::time::Duration::from_secs(3),
            );
            on_cleanup(move || {
                if let Ok(h) = handle {
                    h.clear();
                }
            });
        }
    };
    let Ok(source) = web_sys::EventSource::new(&format!("/api/v1/orders/{id}/events")) else {
        poll();
        return;
    };
    let status_source = source.clone();
    let on_status =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let data = ev.data().as_string().unwrap_or_default();
            if let Ok(event) = serde_json::from_str::<crate::domain::StatusEvent>(&data) {
                status.set(event.status);
                // The server ends the stream at a final state; do not reconnect.
                if event.status.is_final_for_payer() {
                    status_source.close();
                }
            }
        });
    let _ = source.add_event_listener_with_callback(
        crate::domain::StatusEvent::NAME,
        on_status.as_ref().unchecked_ref(),
    );
    on_status.forget();
    let failed_source = source.clone();
    let polling = std::cell::Cell::new(false);
    let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
        // EventSource retries by itself; once it gives up, poll instead.
        if !status.get_untracked().is_final_for_payer()
            && failed_source.ready_state() == web_sys::EventSource::CLOSED
            && !polling.replace(true)
        {
            poll();
        }
    });
    source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    on_error.forget();
    on_cleanup(move || source.close());
}
