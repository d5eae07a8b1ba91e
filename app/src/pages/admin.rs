//! Administrator login, logout and the dashboard shell.

use crate::i18n::use_lang;
use leptos::prelude::*;
use leptos_router::components::Redirect;
use serde::{Deserialize, Serialize};

/// What the browser may know about the signed-in administrator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdminInfo {
    pub email: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum LoginOutcome {
    LoggedIn,
    WrongCredentials,
    RateLimited,
}

/// Longest password accepted, so that hashing cannot be used to burn CPU.
pub const MAX_PASSWORD_LEN: usize = 256;

#[server(endpoint = "get_admin")]
pub async fn get_admin() -> Result<Option<AdminInfo>, ServerFnError> {
    let admin = crate::ssr::auth::current_admin().await?;
    Ok(admin.map(|a| AdminInfo { email: a.email }))
}

#[server(endpoint = "login")]
pub async fn login(email: String, password: String) -> Result<LoginOutcome, ServerFnError> {
    use crate::domain::Email;
    use crate::ssr::{auth, AppState};

    let state = AppState::from_context()?;
    let parts = use_context::<http::request::Parts>();
    let client = parts
        .as_ref()
        .and_then(|p| {
            p.extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        })
        .map(|ci| format!("ip:{}", ci.0.ip()))
        .unwrap_or_else(|| "ip:unknown".to_owned());
    let email_key = format!("email:{}", email.trim().to_lowercase());
    if state.login_limiter.is_blocked(&email_key) || state.login_limiter.is_blocked(&client) {
        tracing::warn!("login refused: rate limited");
        return Ok(LoginOutcome::RateLimited);
    }
    let parsed = Email::parse(&email)
        .ok()
        .filter(|_| password.len() <= MAX_PASSWORD_LEN);
    let result = match parsed {
        Some(email) => auth::login(&state.db, &email, &password)
            .await
            .map_err(|e| {
                tracing::error!(error = ?e, "login failed");
                ServerFnError::new("internal error")
            })?,
        None => None,
    };
    match result {
        Some((admin, token)) => {
            state.login_limiter.record_success(&email_key);
            let response = expect_context::<leptos_axum::ResponseOptions>();
            if let Ok(cookie) =
                http::HeaderValue::from_str(&auth::session_cookie(&token, state.secure_cookies))
            {
                response.append_header(http::header::SET_COOKIE, cookie);
            }
            tracing::info!(admin = %admin.id, "administrator logged in");
            leptos_axum::redirect("/admin");
            Ok(LoginOutcome::LoggedIn)
        }
        None => {
            state.login_limiter.record_failure(&email_key);
            state.login_limiter.record_failure(&client);
            Ok(LoginOutcome::WrongCredentials)
        }
    }
}

#[server(endpoint = "logout")]
pub async fn logout() -> Result<(), ServerFnError> {
    use crate::ssr::{auth, AppState};
    let state = AppState::from_context()?;
    if let Some(token) = use_context::<http::request::Parts>()
        .and_then(|p| auth::session_token_from_headers(&p.headers))
    {
        auth::logout(&state.db, &token).await.map_err(|e| {
            tracing::error!(error = ?e, "logout failed");
            ServerFnError::new("internal error")
        })?;
    }
    let response = expect_context::<leptos_axum::ResponseOptions>();
    if let Ok(cookie) =
        http::HeaderValue::from_str(&auth::clear_session_cookie(state.secure_cookies))
    {
        response.append_header(http::header::SET_COOKIE, cookie);
    }
    leptos_axum::redirect("/admin/login");
    Ok(())
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let lang = use_lang();
    let t = move || lang.get().t();
    let action = ServerAction::<Login>::new();
    let message = move || match action.value().get() {
        Some(Ok(LoginOutcome::WrongCredentials)) => Some(t().login_failed),
        Some(Ok(LoginOutcome::RateLimited)) => Some(t().login_rate_limited),
        Some(Err(_)) => Some(t().server_error),
        _ => None,
    };
    view! {
        <section class="card narrow">
            <h1>{move || t().admin_login}</h1>
            <ActionForm action=action attr:class="stack">
                <label>
                    {move || t().email}
                    <input type="email" name="email" autocomplete="username" required />
                </label>
                <label>
                    {move || t().password}
                    <input type="password" name="password" autocomplete="current-password" required />
                </label>
                <button type="submit" class="button primary" disabled=move || action.pending().get()>
                    {move || if action.pending().get() { t().logging_in } else { t().log_in }}
                </button>
                <Show when=move || message().is_some()>
                    <p class="error" role="alert" data-testid="login-error">
                        {move || message().unwrap_or_default()}
                    </p>
                </Show>
            </ActionForm>
        </section>
    }
}

#[component]
pub fn DashboardPage() -> impl IntoView {
    let lang = use_lang();
    let t = move || lang.get().t();
    let admin = Resource::new(|| (), |_| get_admin());
    let logout = ServerAction::<Logout>::new();
    view! {
        <Suspense fallback=move || view! { <p>{move || t().loading}</p> }>
            {move || Suspend::new(async move {
                match admin.await {
                    Ok(Some(info)) => {
                        view! {
                            <section class="card">
                                <h1>{move || t().dashboard}</h1>
                                <p data-testid="signed-in-as">{move || t().signed_in_as} {info.email.clone()}</p>
                                <super::admin_orders::AdminNav />
                                <OverviewPanel />
                                <ActionForm action=logout>
                                    <button type="submit" class="button">{move || t().log_out}</button>
                                </ActionForm>
                            </section>
                        }
                            .into_any()
                    }
                    Ok(None) => view! { <Redirect path="/admin/login" /> }.into_any(),
                    Err(_) => view! { <p class="error">{move || t().server_error}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderLineView {
    pub id: String,
    pub out_trade_no: String,
    pub form_title: String,
    pub amount: String,
    pub status: crate::domain::OrderStatus,
    pub review_reason: Option<String>,
    pub created_at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    /// (label, income, paid orders) for today, 7 and 30 days.
    pub income: Vec<(String, String, i64)>,
    pub review: Vec<OrderLineView>,
    pub recent: Vec<OrderLineView>,
}

#[server(endpoint = "admin_overview")]
pub async fn admin_overview() -> Result<Overview, ServerFnError> {
    use crate::ssr::{forms, stats, AppState};
    crate::ssr::auth::require_admin().await?;
    let state = AppState::from_context()?;
    let fail = |e: anyhow::Error| {
        tracing::error!(error = ?e, "overview");
        ServerFnError::new("internal error")
    };
    let midnight = stats::beijing_midnight(stats::now());
    let day = 86_400_000;
    let mut income = Vec::new();
    for (label, since) in [
        ("today", midnight),
        ("7d", midnight - 6 * day),
        ("30d", midnight - 29 * day),
    ] {
        let (fen, n) = stats::income_since(&state.db, since).await.map_err(fail)?;
        income.push((
            label.to_owned(),
            crate::domain::Money::from_fen(fen.max(0))
                .map(|m| m.to_string())
                .unwrap_or_default(),
            n,
        ));
    }
    let view = |l: stats::OrderLine| OrderLineView {
        id: l.id,
        out_trade_no: l.out_trade_no,
        form_title: l.form_title,
        amount: crate::domain::Money::from_fen(l.amount_fen)
            .map(|m| m.to_string())
            .unwrap_or_default(),
        status: crate::domain::OrderStatus::parse(&l.status)
            .unwrap_or(crate::domain::OrderStatus::Created),
        review_reason: l.review_reason,
        created_at: forms::beijing_time(l.created_at),
    };
    Ok(Overview {
        income,
        review: stats::orders_needing_review(&state.db, 50)
            .await
            .map_err(fail)?
            .into_iter()
            .map(view)
            .collect(),
        recent: stats::recent_orders(&state.db, 10)
            .await
            .map_err(fail)?
            .into_iter()
            .map(view)
            .collect(),
    })
}

#[component]
fn OverviewPanel() -> impl IntoView {
    let lang = use_lang();
    let t = move || lang.get().t();
    let zh = move || lang.get() == crate::i18n::Lang::Zh;
    let overview = Resource::new(|| (), |_| admin_overview());
    let table = move |rows: Vec<OrderLineView>, testid: &'static str| {
        view! {
            <table class="table" data-testid=testid>
                <tbody>
                    {rows.into_iter().map(|o| {
                        let status = o.status;
                        view! {
                            <tr>
                                <td>{o.created_at.clone()}</td>
                                <td>{o.form_title.clone()}</td>
                                <td>{o.amount.clone()}</td>
                                <td>{move || t().order_status(status)} {o.review_reason.clone().map(|r| format!(" · {r}"))}</td>
                                <td><a href=format!("/admin/orders/{}", o.id)>{o.out_trade_no.clone()}</a></td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        }
    };
    view! {
        <Suspense fallback=|| view! { <p>"…"</p> }>
            {move || Suspend::new(async move {
                match overview.await {
                    Ok(o) => view! {
                        <div class="stats" data-testid="income">
                            {o.income.into_iter().map(|(label, amount, n)| {
                                let name = match label.as_str() { "today" => ("今日", "Today"), "7d" => ("近 7 天", "7 days"), _ => ("近 30 天", "30 days") };
                                view! { <div class="stat"><p class="muted">{move || if zh() { name.0 } else { name.1 }}</p><p class="amount">{amount}</p><p class="muted">{n} {move || if zh() { " 笔" } else { " orders" }}</p></div> }
                            }).collect_view()}
                        </div>
                        <Show when={let empty = o.review.is_empty(); move || !empty}>
                            <h2 class="error">{move || t().status_needs_review}</h2>
                        </Show>
                        {(!o.review.is_empty()).then(|| table(o.review.clone(), "review-orders"))}
                        <h2>{move || if zh() { "最近订单" } else { "Recent orders" }}</h2>
                        {table(o.recent, "recent-orders")}
                    }.into_any(),
                    Err(_) => view! { <p class="error">{move || t().server_error}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}
