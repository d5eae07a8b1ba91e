//! Administrator login, logout and the dashboard shell.

use crate::domain::{Permission, Role};
use crate::i18n::use_lang;
use leptos::prelude::*;
use leptos_router::components::Redirect;
use serde::{Deserialize, Serialize};

/// What the browser may know about the signed-in administrator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdminInfo {
    pub email: String,
    pub role: Role,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum LoginOutcome {
    LoggedIn,
    WrongCredentials,
    RateLimited,
    /// The password is right; the two-factor code is asked for.
    CodeRequired,
    /// The two-factor (or recovery) code is wrong or used.
    WrongCode,
    /// The password is right but an owner has disabled this administrator.
    Disabled,
}

/// Longest password accepted, so that hashing cannot be used to burn CPU.
pub const MAX_PASSWORD_LEN: usize = 256;
/// Shortest password an administrator may set.
pub const MIN_PASSWORD_LEN: usize = 10;

#[server(endpoint = "get_admin")]
pub async fn get_admin() -> Result<Option<AdminInfo>, ServerFnError> {
    let admin = crate::ssr::auth::current_admin().await?;
    Ok(admin.map(|a| AdminInfo {
        email: a.email,
        role: a.role,
    }))
}

#[server(endpoint = "login")]
pub async fn login(
    email: String,
    password: String,
    #[server(default)] code: Option<String>,
) -> Result<LoginOutcome, ServerFnError> {
    use crate::domain::{AuditAction, Email};
    use crate::ssr::{audit, auth, AppState};

    let state = AppState::from_context()?;
    let ip = auth::request_client_ip(&state);
    if let Some(wait) = state.login_limiter.wait(&email, ip) {
        tracing::warn!(wait_secs = wait.as_secs(), "login refused: slowed down");
        let response = expect_context::<leptos_axum::ResponseOptions>();
        if let Ok(v) = http::HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            response.insert_header(http::header::RETRY_AFTER, v);
        }
        return Ok(LoginOutcome::RateLimited);
    }
    let user_agent = use_context::<http::request::Parts>().and_then(|p| {
        p.headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    let parsed = Email::parse(&email)
        .ok()
        .filter(|_| password.len() <= MAX_PASSWORD_LEN);
    let fail = |e: anyhow::Error| {
        tracing::error!(error = ?e, "login failed");
        ServerFnError::new("the login cannot be checked right now; try again")
    };
    let result = match &parsed {
        Some(email) => {
            let attempt = auth::LoginAttempt {
                email,
                password: &password,
                code: code.as_deref(),
                client_ip: ip,
                user_agent: user_agent.as_deref(),
            };
            match auth::login(&state.db, state.accounts.vault.as_ref(), attempt).await {
                Ok(r) => r,
                // A burst of logins fills the hashing queue: wait, like a throttle.
                Err(e) if e.is::<auth::HashingBusy>() => return Ok(LoginOutcome::RateLimited),
                Err(e) => return Err(fail(e)),
            }
        }
        None => auth::LoginResult::WrongCredentials,
    };
    let client = ip
        .map(|i| i.to_string())
        .unwrap_or_else(|| "unknown".into());
    let refused = |admin: Option<&auth::Admin>, why: &'static str| {
        let (db, email) = (state.db.clone(), email.clone());
        let id = admin.map(|a| a.id.clone());
        let client = client.clone();
        async move { audit::record_login_failure(&db, id.as_deref(), &email, why, &client).await }
    };
    match result {
        auth::LoginResult::LoggedIn { admin, token } => {
            state.login_limiter.succeeded(&email, ip);
            audit::record(
                &state.db,
                &admin,
                AuditAction::Login,
                &admin.email,
                &format!("from {client}"),
            )
            .await
            .map_err(fail)?;
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
        // Not a failure: the second step is asked for.
        auth::LoginResult::CodeRequired => Ok(LoginOutcome::CodeRequired),
        auth::LoginResult::WrongCode { admin } => {
            state.login_limiter.failed(&email, ip);
            tracing::info!(admin = %admin.id, "login failed: wrong two-factor code");
            refused(Some(&admin), "wrong two-factor code")
                .await
                .map_err(fail)?;
            Ok(LoginOutcome::WrongCode)
        }
        auth::LoginResult::Disabled { admin } => {
            state.login_limiter.failed(&email, ip);
            tracing::info!(admin = %admin.id, "login failed: disabled");
            refused(Some(&admin), "disabled").await.map_err(fail)?;
            Ok(LoginOutcome::Disabled)
        }
        auth::LoginResult::WrongCredentials => {
            state.login_limiter.failed(&email, ip);
            tracing::info!("login failed: wrong credentials");
            refused(None, "wrong email or password")
                .await
                .map_err(fail)?;
            Ok(LoginOutcome::WrongCredentials)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum PasswordOutcome {
    Changed,
    WrongCurrent,
    BadNew,
}

/// An administrator changes their password; their other sessions end.
#[server(endpoint = "change_password")]
pub async fn change_password(
    current: String,
    new: String,
) -> Result<PasswordOutcome, ServerFnError> {
    use crate::ssr::{audit, auth, AppState};
    let admin = auth::require_admin().await?;
    let state = AppState::from_context()?;
    let token = use_context::<http::request::Parts>()
        .and_then(|p| auth::session_token_from_headers(&p.headers))
        .unwrap_or_default();
    let fail = |e: anyhow::Error| {
        tracing::error!(error = ?e, "password change failed");
        ServerFnError::new("the password cannot be changed right now; try again")
    };
    match auth::change_password(&state.db, &admin, &token, &current, &new)
        .await
        .map_err(fail)?
    {
        Ok(()) => {
            audit::record(
                &state.db,
                &admin,
                crate::domain::AuditAction::ChangePassword,
                &admin.email,
                "other sessions ended",
            )
            .await
            .map_err(fail)?;
            Ok(PasswordOutcome::Changed)
        }
        Err(auth::PasswordChangeError::WrongCurrent) => Ok(PasswordOutcome::WrongCurrent),
        Err(auth::PasswordChangeError::BadNew) => Ok(PasswordOutcome::BadNew),
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
            ServerFnError::new("the session cannot be ended right now; try again")
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
    let ppl = move || lang.get().people();
    let message = move || match action.value().get() {
        Some(Ok(LoginOutcome::WrongCredentials)) => Some(t().login_failed),
        Some(Ok(LoginOutcome::RateLimited)) => Some(t().login_rate_limited),
        Some(Ok(LoginOutcome::CodeRequired)) => Some(ppl().code_required),
        Some(Ok(LoginOutcome::WrongCode)) => Some(ppl().code_wrong),
        Some(Ok(LoginOutcome::Disabled)) => Some(ppl().login_disabled),
        Some(Err(_)) => Some(t().server_error),
        _ => None,
    };
    // Asked for once the password is right, and kept while the code is wrong.
    let asks_code = move || {
        matches!(
            action.value().get(),
            Some(Ok(LoginOutcome::CodeRequired | LoginOutcome::WrongCode))
        )
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
                <Show when=asks_code>
                    <label>
                        {move || ppl().code_label}
                        <input type="text" name="code" autocomplete="one-time-code" autocapitalize="off" spellcheck="false" required data-testid="login-code" />
                    </label>
                </Show>
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
                                <p class="muted" data-testid="signed-in-role">{move || lang.get().people().role_name(info.role)}</p>
                                <super::admin_orders::AdminNav />
                                <Show when=move || info.role.can(Permission::ViewStats)>
                                    <OverviewPanel />
                                </Show>
                                <PasswordPanel />
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

/// Change one's own password (the current one required); other sessions end.
#[component]
fn PasswordPanel() -> impl IntoView {
    let lang = use_lang();
    let adm = move || lang.get().admin();
    let action = ServerAction::<ChangePassword>::new();
    let message = move || {
        action.value().get().map(|r| {
            let a = adm();
            match r {
                Ok(PasswordOutcome::Changed) => a.password_changed,
                Ok(PasswordOutcome::WrongCurrent) => a.password_wrong_current,
                Ok(PasswordOutcome::BadNew) => a.password_bad_new,
                Err(_) => a.password_unavailable,
            }
        })
    };
    view! {
        <details class="password-panel">
            <summary>{move || adm().change_password}</summary>
            <ActionForm action=action attr:class="stack" attr:data-testid="password-form">
                <label>
                    {move || adm().current_password}
                    <input type="password" name="current" autocomplete="current-password" required />
                </label>
                <label>
                    {move || adm().new_password}
                    <input type="password" name="new" autocomplete="new-password" minlength=MIN_PASSWORD_LEN.to_string() required />
                </label>
                <button type="submit" class="button" disabled=move || action.pending().get()>
                    {move || adm().change_password}
                </button>
                <Show when=move || message().is_some()>
                    <p class="notice" role="status" data-testid="password-message">{move || message().unwrap_or_default()}</p>
                </Show>
            </ActionForm>
        </details>
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
    /// Reconciliation discrepancies no administrator resolved yet.
    pub unresolved_discrepancies: i64,
}

#[server(endpoint = "admin_overview")]
pub async fn admin_overview() -> Result<Overview, ServerFnError> {
    use crate::ssr::{forms, stats, AppState};
    crate::ssr::auth::require(crate::domain::Permission::ViewStats).await?;
    let state = AppState::from_context()?;
    let fail = crate::errors::Failure::Read("the overview").log::<anyhow::Error>();
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
        amount: l.amount.to_string(),
        status: l.status,
        review_reason: l.review_reason,
        created_at: forms::beijing_time(l.created_at),
    };
    Ok(Overview {
        unresolved_discrepancies: crate::ssr::pay::bills::unresolved_count(&state)
            .await
            .map_err(fail)?,
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
    let adm = move || lang.get().admin();
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
                                view! { <div class="stat"><p class="muted">{move || adm().income_period(&label)}</p><p class="amount">{amount}</p><p class="muted">{n} {move || adm().orders_suffix}</p></div> }
                            }).collect_view()}
                        </div>
                        {(o.unresolved_discrepancies > 0).then(|| view! {
                            <p class="error" data-testid="open-discrepancies">
                                <a href="/admin/bills">{format!("对账有 {n} 条未处理差异 · {n} open reconciliation discrepancies", n = o.unresolved_discrepancies)}</a>
                            </p>
                        })}
                        <Show when={let empty = o.review.is_empty(); move || !empty}>
                            <h2 class="error">{move || t().status_needs_review}</h2>
                        </Show>
                        {(!o.review.is_empty()).then(|| table(o.review.clone(), "review-orders"))}
                        <h2>{move || adm().recent_orders}</h2>
                        {table(o.recent, "recent-orders")}
                    }.into_any(),
                    Err(_) => view! { <p class="error">{move || t().server_error}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}
