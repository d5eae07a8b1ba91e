//! One's own account: two-factor login (an authenticator app's codes, with
//! recovery codes) and the list of one's sessions, each of which can be ended.

use super::admin_orders::AdminNav;
use crate::i18n::use_lang;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionView {
    pub id: String,
    pub started: String,
    pub last_seen: String,
    pub address: String,
    pub device: String,
    pub current: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeView {
    pub email: String,
    pub two_factor: bool,
    pub recovery_left: i64,
    /// Whether the server can keep a two-factor secret (a master key is set).
    pub can_two_factor: bool,
    pub sessions: Vec<SessionView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TwoFactorOutcome {
    /// Scan this (otpauth URI) or type the secret, then confirm with a code.
    Setup {
        uri: String,
        secret: String,
    },
    /// On; the recovery codes, shown once.
    On {
        recovery_codes: Vec<String>,
    },
    Off,
    WrongCode,
    WrongPassword,
    NotStarted,
    NoMasterKey,
}

#[cfg(feature = "ssr")]
fn fail(e: anyhow::Error) -> ServerFnError {
    crate::errors::Failure::Save("the account").because(e)
}

#[cfg(feature = "ssr")]
fn current_token() -> String {
    use_context::<http::request::Parts>()
        .and_then(|p| crate::ssr::auth::session_token_from_headers(&p.headers))
        .unwrap_or_default()
}

#[server(endpoint = "my_account")]
pub async fn my_account() -> Result<MeView, ServerFnError> {
    use crate::ssr::{auth, forms::beijing_time, AppState};
    let me = auth::require_admin().await?;
    let state = AppState::from_context()?;
    let read = crate::errors::Failure::Read("the account").log::<anyhow::Error>();
    let (two_factor, recovery_left) = auth::two_factor_status(&state.db, &me.id)
        .await
        .map_err(read)?;
    let token = current_token();
    let sessions = auth::sessions_of(&state.db, &me.id).await.map_err(read)?;
    Ok(MeView {
        email: me.email,
        two_factor,
        recovery_left,
        can_two_factor: state.accounts.vault.is_some(),
        sessions: sessions
            .into_iter()
            .map(|s| SessionView {
                current: s.is(&token),
                started: beijing_time(s.created_at),
                last_seen: beijing_time(s.last_seen_at),
                address: s.client_ip.clone().unwrap_or_default(),
                device: s.user_agent.clone().unwrap_or_default(),
                id: s.token_hash,
            })
            .collect(),
    })
}

#[cfg(feature = "ssr")]
fn two_factor_error(e: crate::ssr::auth::TwoFactorError) -> TwoFactorOutcome {
    use crate::ssr::auth::TwoFactorError;
    match e {
        TwoFactorError::NoMasterKey => TwoFactorOutcome::NoMasterKey,
        TwoFactorError::WrongCode => TwoFactorOutcome::WrongCode,
        TwoFactorError::NotStarted => TwoFactorOutcome::NotStarted,
    }
}

#[server(endpoint = "two_factor_begin")]
pub async fn two_factor_begin() -> Result<TwoFactorOutcome, ServerFnError> {
    use crate::ssr::{auth, AppState};
    let me = auth::require_admin().await?;
    let state = AppState::from_context()?;
    Ok(
        match auth::begin_two_factor(&state.db, state.accounts.vault.as_ref(), &me.id, &me.email)
            .await
            .map_err(fail)?
        {
            Ok(s) => TwoFactorOutcome::Setup {
                uri: s.uri,
                secret: s.secret_base32,
            },
            Err(e) => two_factor_error(e),
        },
    )
}

#[server(endpoint = "two_factor_confirm")]
pub async fn two_factor_confirm(code: String) -> Result<TwoFactorOutcome, ServerFnError> {
    use crate::ssr::{audit, auth, AppState};
    let me = auth::require_admin().await?;
    let state = AppState::from_context()?;
    match auth::confirm_two_factor(
        &state.db,
        state.accounts.vault.as_ref(),
        &me.id,
        &me.email,
        &code,
    )
    .await
    .map_err(fail)?
    {
        Ok(recovery_codes) => {
            audit::record(
                &state.db,
                &me,
                crate::domain::AuditAction::EnableTwoFactor,
                &me.email,
                "",
            )
            .await
            .map_err(fail)?;
            Ok(TwoFactorOutcome::On { recovery_codes })
        }
        Err(e) => Ok(two_factor_error(e)),
    }
}

/// Turning two-factor login off asks for the password again.
#[server(endpoint = "two_factor_disable")]
pub async fn two_factor_disable(password: String) -> Result<TwoFactorOutcome, ServerFnError> {
    use crate::ssr::{audit, auth, AppState};
    let me = auth::require_admin().await?;
    let state = AppState::from_context()?;
    if !auth::password_matches(&state.db, &me.id, &password)
        .await
        .map_err(fail)?
    {
        return Ok(TwoFactorOutcome::WrongPassword);
    }
    if auth::clear_two_factor(&state.db, &me.id)
        .await
        .map_err(fail)?
    {
        audit::record(
            &state.db,
            &me,
            crate::domain::AuditAction::DisableTwoFactor,
            &me.email,
            "",
        )
        .await
        .map_err(fail)?;
    }
    Ok(TwoFactorOutcome::Off)
}

/// Ends one of one's own sessions (another device, or this one).
#[server(endpoint = "revoke_session")]
pub async fn revoke_session(id: String) -> Result<bool, ServerFnError> {
    use crate::ssr::{audit, auth, AppState};
    let me = auth::require_admin().await?;
    let state = AppState::from_context()?;
    let done = auth::revoke_session(&state.db, &me.id, &id)
        .await
        .map_err(fail)?;
    if done {
        let short: String = id.chars().take(8).collect();
        audit::record(
            &state.db,
            &me,
            crate::domain::AuditAction::RevokeSession,
            &me.email,
            &short,
        )
        .await
        .map_err(fail)?;
    }
    Ok(done)
}

#[component]
pub fn MePage() -> impl IntoView {
    let lang = use_lang();
    let t = move || lang.get().t();
    let ppl = move || lang.get().people();
    let begin = ServerAction::<TwoFactorBegin>::new();
    let confirm = ServerAction::<TwoFactorConfirm>::new();
    let disable = ServerAction::<TwoFactorDisable>::new();
    let revoke = ServerAction::<RevokeSession>::new();
    let me = Resource::new(
        move || {
            (
                confirm.version().get(),
                disable.version().get(),
                revoke.version().get(),
            )
        },
        |_| my_account(),
    );
    let outcome = move || {
        [
            confirm.value().get(),
            disable.value().get(),
            begin.value().get(),
        ]
        .into_iter()
        .flatten()
        .find_map(Result::ok)
    };
    let message = move || {
        let p = ppl();
        match outcome() {
            Some(TwoFactorOutcome::WrongCode) => Some(p.code_wrong),
            Some(TwoFactorOutcome::WrongPassword) => Some(p.wrong_password),
            Some(TwoFactorOutcome::NoMasterKey) => Some(p.two_factor_no_key),
            Some(TwoFactorOutcome::NotStarted) => Some(p.code_wrong),
            _ => None,
        }
    };
    let setup = move || match begin.value().get() {
        Some(Ok(TwoFactorOutcome::Setup { uri, secret })) => Some((uri, secret)),
        _ => None,
    };
    let codes = move || match confirm.value().get() {
        Some(Ok(TwoFactorOutcome::On { recovery_codes })) => Some(recovery_codes),
        _ => None,
    };
    view! {
        <AdminNav />
        <section class="card">
            <h1>{move || ppl().me_title}</h1>
            <h2>{move || ppl().two_factor_title}</h2>
            <Show when=move || message().is_some()>
                <p class="error" role="alert" data-testid="two-factor-error">{move || message().unwrap_or_default()}</p>
            </Show>
            <Suspense fallback=|| view! { <p>"…"</p> }>
                {move || Suspend::new(async move {
                    match me.await {
                        Ok(m) if m.two_factor => view! {
                            <p data-testid="two-factor-on">{move || ppl().two_factor_is_on} " · " {move || ppl().recovery_left} ": " {m.recovery_left}</p>
                            <ActionForm action=disable attr:class="row">
                                <input type="password" name="password" autocomplete="current-password" required placeholder=move || ppl().two_factor_password aria-label=move || ppl().two_factor_password />
                                <button type="submit" class="button">{move || ppl().two_factor_disable}</button>
                            </ActionForm>
                        }.into_any(),
                        Ok(m) => view! {
                            <p data-testid="two-factor-off">{move || ppl().two_factor_is_off}</p>
                            <Show when=move || m.can_two_factor fallback=move || view! { <p class="muted">{move || ppl().two_factor_no_key}</p> }>
                                <ActionForm action=begin>
                                    <button type="submit" class="button primary" data-testid="two-factor-start">{move || ppl().two_factor_start}</button>
                                </ActionForm>
                            </Show>
                        }.into_any(),
                        Err(_) => view! { <p class="error">{move || t().server_error}</p> }.into_any(),
                    }
                })}
            </Suspense>
            <Show when=move || setup().is_some() && codes().is_none()>
                <p>{move || ppl().two_factor_scan}</p>
                <super::qr::QrCode data=Signal::derive(move || setup().map(|s| s.0).unwrap_or_default()) label=ppl().two_factor_title testid="two-factor-qr" />
                <p>{move || ppl().two_factor_secret} ": " <code data-testid="two-factor-secret">{move || setup().map(|s| s.1).unwrap_or_default()}</code></p>
                <ActionForm action=confirm attr:class="row">
                    <input type="text" name="code" inputmode="numeric" autocomplete="one-time-code" required aria-label=move || ppl().code_label data-testid="two-factor-code" />
                    <button type="submit" class="button primary" data-testid="two-factor-confirm">{move || ppl().two_factor_confirm}</button>
                </ActionForm>
            </Show>
            <Show when=move || codes().is_some()>
                <p class="notice" role="status">{move || ppl().two_factor_codes}</p>
                <ul class="codes" data-testid="recovery-codes">
                    {move || codes().unwrap_or_default().into_iter().map(|c| view! { <li><code>{c}</code></li> }).collect_view()}
                </ul>
            </Show>
            <h2>{move || ppl().sessions_title}</h2>
            <Suspense fallback=|| view! { <p>"…"</p> }>
                {move || Suspend::new(async move {
                    me.await.map(|m| view! {
                        <div class="table-wrap">
                        <table class="table" data-testid="sessions">
                            <thead><tr>
                                <th>{move || ppl().col_started}</th>
                                <th>{move || ppl().col_last_seen}</th>
                                <th>{move || ppl().col_address}</th>
                                <th>{move || ppl().col_device}</th>
                                <th></th>
                            </tr></thead>
                            <tbody>
                                {m.sessions.into_iter().map(|s| view! {
                                    <tr data-testid="session">
                                        <td>{s.started.clone()}</td>
                                        <td>{s.last_seen.clone()}</td>
                                        <td>{s.address.clone()}</td>
                                        <td class="muted">{s.device.clone()}</td>
                                        <td>
                                            {s.current.then(|| view! { <span class="muted">{move || ppl().session_current}</span> })}
                                            <ActionForm action=revoke attr:class="inline">
                                                <input type="hidden" name="id" value=s.id.clone() />
                                                <button type="submit" class="button small">{move || ppl().revoke}</button>
                                            </ActionForm>
                                        </td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                        </div>
                    }).ok()
                })}
            </Suspense>
        </section>
    }
}
