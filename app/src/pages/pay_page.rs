//! The payment page `/pay/{order}`: amount, countdown, WeChat Pay / Alipay,
//! the QR code drawn in the browser, and the status pushed by server-sent
//! events (polling when they are unavailable). Also Alipay's return page:
//! it only shows the status, it never settles anything.

use super::qr::{QrPicture, Scan};
use crate::domain::{Channel, JsapiParams, Money, OrderStatus, PayerBrowser};
use crate::i18n::use_lang;
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
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
    /// Where the page runs (from the user agent, on the server).
    pub browser: PayerBrowser,
    /// The ways to pay that fit this browser, best first.
    pub offer: Vec<Channel>,
    /// The other ways the account serves, one tap further.
    pub others: Vec<Channel>,
    pub channel: Option<Channel>,
    /// The code to scan, drawn on the server, when the order is being paid
    /// by one (not a redirect or WeChat's pay sheet).
    pub pay_target: Option<Scan>,
    pub receipt_token: String,
    /// The simulator's stand-in for WeChat's bridge (development only).
    pub bridge_script: Option<String>,
}

/// The user agent of the request being served.
#[cfg(feature = "ssr")]
fn request_browser() -> PayerBrowser {
    let ua = use_context::<http::request::Parts>()
        .and_then(|p| {
            p.headers
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    PayerBrowser::from_user_agent(&ua)
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
    let available = crate::ssr::pay::providers_of(&state, &o)
        .await
        .map(|p| p.channels())
        .unwrap_or_default();
    let browser = request_browser();
    let offer = browser.offer(&available);
    let bridge_script = (state.simulator.is_on()
        && browser == PayerBrowser::Wechat
        && offer.contains(&Channel::WechatJsapi))
    .then(|| "/_simulator/wechat/jsbridge.js".to_owned());
    Ok(Some(PayView {
        id: o.id,
        status: o.status,
        amount: o.amount,
        form_title: title,
        expires_at: o.expires_at,
        now_ms: now_ms(),
        browser,
        others: browser.others(&available),
        offer,
        channel: o.channel,
        pay_target: match (o.channel, o.pay_target) {
            (Some(c), Some(target)) if !c.redirects() && c != Channel::WechatJsapi => {
                Some(Scan::new(target))
            }
            _ => None,
        },
        receipt_token: o.receipt_token,
        bridge_script,
    }))
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum StartOutcome {
    /// A code to scan, drawn on the server.
    QrCode(Scan),
    Redirect(String),
    /// Open WeChat's pay sheet with these parameters.
    Jsapi(JsapiParams),
    /// Inside WeChat without the payer's openid: go through WeChat's login first.
    WechatLogin(String),
    NotPayable(OrderStatus),
    /// The WeChat account paying has used all the places the form allows one payer.
    PayerLimit,
    Failed,
}

#[server(endpoint = "start_pay")]
pub async fn start_pay(id: String, channel: String) -> Result<StartOutcome, ServerFnError> {
    use crate::ssr::pay::{remembered_openid, start_payment, PayError, Payer};
    use crate::ssr::payer::{cookie, OPENID_COOKIE};
    use crate::ssr::provider::PayAction;
    let state = crate::ssr::AppState::from_context()?;
    let channel = Channel::parse(&channel).ok_or(crate::errors::Failure::Unknown("channel"))?;
    let client_ip = crate::ssr::auth::request_client_ip(&state).map(|ip| ip.to_string());
    let openid = if channel == Channel::WechatJsapi {
        let parts = use_context::<http::request::Parts>();
        let value = parts
            .as_ref()
            .and_then(|p| cookie(&p.headers, OPENID_COOKIE));
        remembered_openid(&state, &id, value).await
    } else {
        None
    };
    Ok(
        match start_payment(&state, &id, channel, Payer { client_ip, openid }).await {
            Ok(s) => match s.action {
                PayAction::QrCode(q) => StartOutcome::QrCode(Scan::new(q)),
                PayAction::Redirect(u) => StartOutcome::Redirect(u),
                PayAction::Jsapi(p) => StartOutcome::Jsapi(p),
            },
            Err(PayError::NeedsOpenid) => {
                StartOutcome::WechatLogin(format!("/pay/{id}/wechat-login"))
            }
            Err(PayError::NotPayable(s)) => StartOutcome::NotPayable(s),
            Err(PayError::PayerLimit(_)) => StartOutcome::PayerLimit,
            Err(PayError::Expired) => StartOutcome::NotPayable(OrderStatus::Expired),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the payment");
                StartOutcome::Failed
            }
        },
    )
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
    let query = use_query_map();
    let lang = use_lang();
    let t = move || lang.get().t();
    view! {
        <Suspense fallback=move || view! { <p>{move || t().loading}</p> }>
            {move || Suspend::new(async move {
                match view.await {
                    Ok(Some(v)) => {
                        // What the link's query says, read here: the island
                        // below has no router in the browser.
                        let (login_failed, method) = query.with_untracked(|q| {
                            (q.get("wechat_login").as_deref() == Some("failed"), q.get("method"))
                        });
                        view! { <PayView view=v login_failed method /> }.into_any()
                    }
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

/// The payment panel: an island, hydrated on its own in the payers' bundle.
/// `login_failed` and `method` come from the link back from WeChat's login.
#[cfg_attr(feature = "pay-page", island)]
#[cfg_attr(not(feature = "pay-page"), component)]
fn PayView(view: PayView, login_failed: bool, method: Option<String>) -> impl IntoView {
    let lang = use_lang();
    let t = move || lang.get().t();
    let id = view.id.clone();
    let browser = view.browser;
    let status = RwSignal::new(view.status);
    let target = RwSignal::new(view.channel.zip(view.pay_target.clone()));
    let remaining = RwSignal::new((view.expires_at - view.now_ms) / 1000);
    let start = ServerAction::<StartPay>::new();
    let check = ServerAction::<CheckPaid>::new();
    let failed = RwSignal::new(false);
    let over_limit = RwSignal::new(false);
    let chosen = RwSignal::new(None::<Channel>);
    let guide = RwSignal::new(false);
    let cancelled = RwSignal::new(false);
    let show_others = RwSignal::new(false);

    let id_for_sheet = id.clone();
    Effect::new(move |_| match start.value().get() {
        Some(Ok(StartOutcome::QrCode(q))) => {
            failed.set(false);
            if let Some(c) = chosen.get_untracked() {
                target.set(Some((c, q)));
            }
        }
        Some(Ok(StartOutcome::Redirect(url))) | Some(Ok(StartOutcome::WechatLogin(url))) => {
            super::go_to(&url)
        }
        Some(Ok(StartOutcome::Jsapi(params))) => {
            failed.set(false);
            cancelled.set(false);
            #[cfg(feature = "hydrate")]
            {
                let id = id_for_sheet.clone();
                open_pay_sheet(&params, move |outcome: String| {
                    if outcome.ends_with(":ok") {
                        // WeChat's word is not proof: ask the provider, and the
                        // callback turns the page by itself anyway.
                        check.dispatch(CheckPaid { id: id.clone() });
                    } else if outcome.ends_with(":cancel") {
                        cancelled.set(true);
                    } else {
                        failed.set(true);
                    }
                });
            }
            #[cfg(not(feature = "hydrate"))]
            let _ = (params, &id_for_sheet);
        }
        Some(Ok(StartOutcome::NotPayable(s))) => status.set(s),
        Some(Ok(StartOutcome::PayerLimit)) => over_limit.set(true),
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
        let live_id = id.clone();
        Effect::new(move |_| live_status(live_id.clone(), status));
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
        // Back from WeChat's login: open the pay sheet at once (the tap was
        // before the hop).
        let auto = method.as_deref().and_then(Channel::parse);
        if auto == Some(Channel::WechatJsapi)
            && view.offer.contains(&Channel::WechatJsapi)
            && matches!(view.status, OrderStatus::Created | OrderStatus::Pending)
        {
            let id = id.clone();
            Effect::new(move |_| {
                chosen.set(Some(Channel::WechatJsapi));
                start.dispatch(StartPay {
                    id: id.clone(),
                    channel: Channel::WechatJsapi.as_str().to_owned(),
                });
            });
        }
    }

    #[cfg(not(feature = "hydrate"))]
    let _ = &method;

    let receipt = format!("/r/{}", view.receipt_token);
    let payable = move || {
        matches!(status.get(), OrderStatus::Created | OrderStatus::Pending) && remaining.get() > 0
    };
    let button = {
        let id = id.clone();
        move |c: Channel, other: bool| {
            let id = id.clone();
            view! {
                <button
                    class=format!("button method {}", c.as_str())
                    data-testid=format!("pay-{}", c.as_str())
                    class:selected=move || target.get().is_some_and(|(tc, _)| tc == c)
                    disabled=move || start.pending().get()
                    on:click=move |_| {
                        if browser.blocks(c) {
                            // WeChat blocks Alipay's pages: say how to get out.
                            guide.set(true);
                            return;
                        }
                        guide.set(false);
                        chosen.set(Some(c));
                        start.dispatch(StartPay { id: id.clone(), channel: c.as_str().to_owned() });
                    }
                >
                    {move || if other { t().channel_other(c) } else { t().channel(c) }}
                </button>
            }
        }
    };
    let offer = view.offer.clone();
    let others = view.others.clone();
    let has_others = !others.is_empty();
    let id_for_check = id.clone();
    let amount = StoredValue::new(view.amount.to_string());
    view! {
        <section class="card pay-card">
            {view.bridge_script.clone().map(|src| view! { <script src=src></script> })}
            <p class="muted">{view.form_title.clone()}</p>
            <h1 class="amount" data-testid="pay-amount">{view.amount.to_string()}</h1>
            // Announced politely when it changes (pending → paid, expired…);
            // the countdown below is outside it, so it is not read every second.
            <div role="status" aria-live="polite" aria-atomic="true">
                <p class="status" data-testid="pay-status" data-status=move || status.get().as_str()>
                    {move || t().status} ": " <strong>{move || t().order_status(status.get())}</strong>
                </p>
            </div>
            <Show when=move || status.get() == OrderStatus::Paid>
                <p class="success">{move || t().paid_thanks}</p>
                <a class="button primary wide" href=receipt.clone() data-testid="receipt-link">{move || t().view_receipt}</a>
            </Show>
            <Show when=payable>
                <p class="countdown">{move || t().time_left} " " <span data-testid="countdown">{move || format_countdown(remaining.get())}</span></p>
                {login_failed.then(|| view! { <p class="error" data-testid="wechat-login-failed">{move || t().wechat_login_failed}</p> })}
                <h2>{move || t().choose_method}</h2>
                <div class="methods" data-testid="methods">{offer.iter().map(|c| button(*c, false)).collect_view()}</div>
                {has_others.then(|| view! {
                    <button class="link-button" data-testid="other-methods" aria-controls="other-method-list" aria-expanded=move || show_others.get().to_string() on:click=move |_| show_others.update(|s| *s = !*s)>
                        {move || t().other_methods}
                    </button>
                })}
                <div class="methods others" id="other-method-list" data-testid="other-method-list" hidden=move || !show_others.get()>
                    {others.iter().map(|c| button(*c, true)).collect_view()}
                </div>
                <Show when=move || guide.get()>
                    <p class="guide" data-testid="open-in-browser">{move || t().open_in_browser}</p>
                </Show>
                <Show when=move || start.pending().get() && chosen.get() == Some(Channel::WechatJsapi)>
                    <p class="muted">{move || t().opening_wechat}</p>
                </Show>
                <Show when=move || cancelled.get()>
                    <p class="muted" data-testid="jsapi-cancelled">{move || t().jsapi_cancelled}</p>
                </Show>
                <Show when=move || over_limit.get()>
                    <p class="error" data-testid="payer-limit">{move || t().wechat_payer_limit}</p>
                </Show>
                <Show when=move || failed.get()>
                    <p class="error">{move || t().pay_failed}</p>
                </Show>
                {move || target.get().map(|(c, Scan { url: q, svg })| {
                    let is_link = q.starts_with("http://") || q.starts_with("https://");
                    let caption = match (c.provider(), browser) {
                        (_, PayerBrowser::Wechat | PayerBrowser::Phone) => t().qr_on_phone,
                        (crate::domain::Provider::Wechat, _) => t().scan_with_wechat,
                        (crate::domain::Provider::Alipay, _) => t().scan_with_alipay,
                    };
                    let link = q.clone();
                    view! {
                        <div class="qr-box">
                            <QrPicture svg testid="qr-code".to_string() label=format!("{} · {}", amount.get_value(), caption) />
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

/// Opens WeChat's pay sheet (`getBrandWCPayRequest`) with the server's
/// parameters; `done` gets WeChat's `err_msg` (`…:ok`, `…:cancel`, `…:fail`).
/// Waits for `WeixinJSBridgeReady` when the bridge is not there yet.
#[cfg(feature = "hydrate")]
fn open_pay_sheet(params: &JsapiParams, done: impl Fn(String) + 'static) {
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::{JsCast, JsValue};
    let done = std::rc::Rc::new(done);
    let Some(js_params) = serde_json::to_string(params)
        .ok()
        .and_then(|j| js_sys::JSON::parse(&j).ok())
    else {
        done("get_brand_wcpay_request:fail".into());
        return;
    };
    let invoke = {
        let done = done.clone();
        move || -> bool {
            let Some(window) = web_sys::window() else {
                return false;
            };
            let Ok(bridge) = js_sys::Reflect::get(&window, &JsValue::from_str("WeixinJSBridge"))
            else {
                return false;
            };
            if bridge.is_undefined() || bridge.is_null() {
                return false;
            }
            let Some(invoke) = js_sys::Reflect::get(&bridge, &JsValue::from_str("invoke"))
                .ok()
                .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
            else {
                return false;
            };
            let done = done.clone();
            let callback = Closure::once_into_js(move |res: JsValue| {
                let msg = js_sys::Reflect::get(&res, &JsValue::from_str("err_msg"))
                    .ok()
                    .and_then(|v| v.as_string())
                    .unwrap_or_default();
                done(msg);
            });
            invoke
                .call3(
                    &bridge,
                    &JsValue::from_str("getBrandWCPayRequest"),
                    &js_params,
                    &callback,
                )
                .is_ok()
        }
    };
    if !invoke() {
        let pending = std::cell::RefCell::new(Some(invoke));
        let listener = Closure::once_into_js(move |_: JsValue| {
            if let Some(f) = pending.borrow_mut().take() {
                f();
            }
        });
        if let Some(doc) = web_sys::window().and_then(|w| w.document()) {
            let _ = doc
                .add_event_listener_with_callback("WeixinJSBridgeReady", listener.unchecked_ref());
        }
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
