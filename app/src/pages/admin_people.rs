//! The administrators (owners only): who they are, their roles, invitations
//! (one-time links), disabling, and turning off a lost phone's two-factor
//! login; and the page an invited person joins from.

use super::admin_orders::AdminNav;
use crate::domain::Role;
use crate::i18n::use_lang;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersonView {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub last_login: Option<String>,
    pub disabled: bool,
    pub two_factor: bool,
    pub is_me: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InviteView {
    /// Names the invitation (the hash of its token, never the token).
    pub id: String,
    pub email: String,
    pub role: Role,
    pub expires_at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeopleView {
    pub people: Vec<PersonView>,
    pub invites: Vec<InviteView>,
}

/// What a change to the administrators came to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PeopleOutcome {
    Done,
    /// An invitation: the link to send (shown once).
    Invited {
        link: String,
    },
    Refused {
        message: String,
    },
}

#[cfg(feature = "ssr")]
mod server {
    pub use crate::domain::{AuditAction, Permission};
    pub use crate::ssr::{audit, auth, AppState};
    use leptos::prelude::ServerFnError;

    pub fn fail(e: anyhow::Error) -> ServerFnError {
        crate::errors::Failure::Save("the administrators").because(e)
    }

    pub fn refused(e: auth::PeopleError) -> super::PeopleOutcome {
        super::PeopleOutcome::Refused {
            message: e.to_string(),
        }
    }

    pub fn parse_role(role: &str) -> Result<crate::domain::Role, ServerFnError> {
        crate::domain::Role::parse(role)
            .ok_or_else(|| crate::errors::Failure::Unknown("role").into())
    }
}

#[server(endpoint = "admin_people")]
pub async fn admin_people() -> Result<PeopleView, ServerFnError> {
    use crate::ssr::forms::beijing_time;
    use server::*;
    let me = auth::require(Permission::ManagePeople).await?;
    let state = AppState::from_context()?;
    let read = crate::errors::Failure::Read("the administrators").log::<anyhow::Error>();
    let people = auth::list_admins(&state.db).await.map_err(read)?;
    let invites = auth::pending_invites(&state.db).await.map_err(read)?;
    Ok(PeopleView {
        people: people
            .into_iter()
            .map(|a| PersonView {
                two_factor: a.two_factor(),
                is_me: a.id == me.id,
                last_login: a.last_login_at.map(beijing_time),
                disabled: a.disabled_at.is_some(),
                id: a.id,
                email: a.email,
                role: a.role,
            })
            .collect(),
        invites: invites
            .into_iter()
            .map(|i| InviteView {
                id: i.token_hash,
                email: i.email,
                role: i.role,
                expires_at: beijing_time(i.expires_at),
            })
            .collect(),
    })
}

#[server(endpoint = "admin_invite")]
pub async fn admin_invite(email: String, role: String) -> Result<PeopleOutcome, ServerFnError> {
    use server::*;
    let me = auth::require(Permission::ManagePeople).await?;
    let state = AppState::from_context()?;
    let role = parse_role(&role)?;
    let Ok(email) = crate::domain::Email::parse(&email) else {
        return Ok(PeopleOutcome::Refused {
            message: "this is not an email address".into(),
        });
    };
    match auth::invite(&state.db, &me.id, &email, role)
        .await
        .map_err(fail)?
    {
        Ok(token) => {
            audit::record(
                &state.db,
                &me,
                AuditAction::InviteAdmin,
                email.as_str(),
                role.as_str(),
            )
            .await
            .map_err(fail)?;
            Ok(PeopleOutcome::Invited {
                link: format!("{}/admin/invite/{token}", state.pay.return_base),
            })
        }
        Err(e) => Ok(refused(e)),
    }
}

#[server(endpoint = "admin_revoke_invite")]
pub async fn admin_revoke_invite(id: String) -> Result<PeopleOutcome, ServerFnError> {
    use server::*;
    let me = auth::require(Permission::ManagePeople).await?;
    let state = AppState::from_context()?;
    match auth::revoke_invite(&state.db, &id).await.map_err(fail)? {
        Some(email) => {
            audit::record(&state.db, &me, AuditAction::RevokeInvite, &email, "")
                .await
                .map_err(fail)?;
            Ok(PeopleOutcome::Done)
        }
        None => Ok(refused(auth::PeopleError::BadInvite)),
    }
}

#[server(endpoint = "admin_set_role")]
pub async fn admin_set_role(id: String, role: String) -> Result<PeopleOutcome, ServerFnError> {
    use server::*;
    let me = auth::require(Permission::ManagePeople).await?;
    let state = AppState::from_context()?;
    let role = parse_role(&role)?;
    match auth::set_role(&state.db, &id, role).await.map_err(fail)? {
        Ok(a) => {
            audit::record(
                &state.db,
                &me,
                AuditAction::ChangeRole,
                &a.email,
                role.as_str(),
            )
            .await
            .map_err(fail)?;
            Ok(PeopleOutcome::Done)
        }
        Err(e) => Ok(refused(e)),
    }
}

#[server(endpoint = "admin_set_disabled")]
pub async fn admin_set_disabled(
    id: String,
    disabled: bool,
) -> Result<PeopleOutcome, ServerFnError> {
    use server::*;
    let me = auth::require(Permission::ManagePeople).await?;
    let state = AppState::from_context()?;
    match auth::set_disabled(&state.db, &me.id, &id, disabled)
        .await
        .map_err(fail)?
    {
        Ok(a) => {
            let action = if disabled {
                AuditAction::DisableAdmin
            } else {
                AuditAction::EnableAdmin
            };
            audit::record(&state.db, &me, action, &a.email, "")
                .await
                .map_err(fail)?;
            Ok(PeopleOutcome::Done)
        }
        Err(e) => Ok(refused(e)),
    }
}

/// For someone who lost their phone and their recovery codes.
#[server(endpoint = "admin_reset_two_factor")]
pub async fn admin_reset_two_factor(id: String) -> Result<PeopleOutcome, ServerFnError> {
    use server::*;
    let me = auth::require(Permission::ManagePeople).await?;
    let state = AppState::from_context()?;
    let Some(a) = auth::admin_row(&state.db, &id).await.map_err(fail)? else {
        return Ok(refused(auth::PeopleError::Unknown));
    };
    if auth::clear_two_factor(&state.db, &id).await.map_err(fail)? {
        audit::record(&state.db, &me, AuditAction::ResetTwoFactor, &a.email, "")
            .await
            .map_err(fail)?;
    }
    Ok(PeopleOutcome::Done)
}

/// The email and role an invitation is for (anyone holding the link).
#[server(endpoint = "invite_info")]
pub async fn invite_info(token: String) -> Result<Option<(String, Role)>, ServerFnError> {
    let state = crate::ssr::AppState::from_context()?;
    crate::ssr::auth::invite_for(&state.db, &token)
        .await
        .map_err(crate::errors::Failure::Read("the invitation").log())
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum JoinOutcome {
    Joined,
    BadInvite,
    BadPassword,
}

/// The invitation's holder sets a password and becomes an administrator.
#[server(endpoint = "accept_invite")]
pub async fn accept_invite(token: String, password: String) -> Result<JoinOutcome, ServerFnError> {
    use server::*;
    let state = AppState::from_context()?;
    match auth::accept_invite(&state.db, &token, &password)
        .await
        .map_err(fail)?
    {
        Ok((id, email, role)) => {
            let admin = auth::Admin { id, email, role };
            audit::record(
                &state.db,
                &admin,
                AuditAction::JoinAdmin,
                &admin.email,
                role.as_str(),
            )
            .await
            .map_err(fail)?;
            Ok(JoinOutcome::Joined)
        }
        Err(auth::PeopleError::BadPassword) => Ok(JoinOutcome::BadPassword),
        Err(_) => Ok(JoinOutcome::BadInvite),
    }
}

#[component]
fn RoleSelect(#[prop(optional)] selected: Option<Role>) -> impl IntoView {
    let lang = use_lang();
    let ppl = move || lang.get().people();
    view! {
        <select name="role" data-testid="role-select">
            {Role::ALL.into_iter().map(|r| view! {
                <option value=r.as_str() selected=selected == Some(r)>{move || ppl().role_name(r)}</option>
            }).collect_view()}
        </select>
    }
}

#[component]
pub fn PeoplePage() -> impl IntoView {
    let lang = use_lang();
    let t = move || lang.get().t();
    let ppl = move || lang.get().people();
    let invite = ServerAction::<AdminInvite>::new();
    let revoke = ServerAction::<AdminRevokeInvite>::new();
    let set_role = ServerAction::<AdminSetRole>::new();
    let set_disabled = ServerAction::<AdminSetDisabled>::new();
    let reset = ServerAction::<AdminResetTwoFactor>::new();
    let people = Resource::new(
        move || {
            (
                invite.version().get(),
                revoke.version().get(),
                set_role.version().get(),
                set_disabled.version().get(),
                reset.version().get(),
            )
        },
        |_| admin_people(),
    );
    // The last refusal of any action, shown above the table.
    let refusal = move || {
        [
            set_role.value().get(),
            set_disabled.value().get(),
            revoke.value().get(),
            invite.value().get(),
        ]
        .into_iter()
        .flatten()
        .find_map(|r| match r {
            Ok(PeopleOutcome::Refused { message }) => Some(message),
            Err(e) => Some(e.to_string()),
            _ => None,
        })
    };
    let link = move || match invite.value().get() {
        Some(Ok(PeopleOutcome::Invited { link })) => Some(link),
        _ => None,
    };
    view! {
        <AdminNav />
        <section class="card">
            <h1>{move || ppl().people_title}</h1>
            <Show when=move || refusal().is_some()>
                <p class="error" role="alert" data-testid="people-refused">{move || ppl().refused} ": " {refusal}</p>
            </Show>
            <Suspense fallback=|| view! { <p>"…"</p> }>
                {move || Suspend::new(async move {
                    match people.await {
                        Ok(v) => view! {
                            <div class="table-wrap">
                            <table class="table" data-testid="people">
                                <thead><tr>
                                    <th>{move || ppl().col_email}</th>
                                    <th>{move || ppl().col_role}</th>
                                    <th>{move || ppl().col_last_login}</th>
                                    <th>{move || ppl().col_two_factor}</th>
                                    <th>{move || ppl().col_state}</th>
                                </tr></thead>
                                <tbody>
                                    {v.people.into_iter().map(|p| {
                                        let (id1, id2, id3) = (p.id.clone(), p.id.clone(), p.id.clone());
                                        let disabled = p.disabled;
                                        view! {
                                            <tr data-testid="person" data-email=p.email.clone()>
                                                <td>{p.email.clone()} {p.is_me.then(|| view! { <span class="muted">{move || ppl().you}</span> })}</td>
                                                <td>
                                                    <ActionForm action=set_role attr:class="inline">
                                                        <input type="hidden" name="id" value=id1 />
                                                        <RoleSelect selected=p.role />
                                                        <button type="submit" class="button small">{move || lang.get().admin().save}</button>
                                                    </ActionForm>
                                                </td>
                                                <td>{p.last_login.clone().unwrap_or_else(|| ppl().never.to_owned())}</td>
                                                <td>
                                                    {move || if p.two_factor { ppl().on } else { ppl().off }}
                                                    {p.two_factor.then(|| view! {
                                                        <ActionForm action=reset attr:class="inline">
                                                            <input type="hidden" name="id" value=id3.clone() />
                                                            <button type="submit" class="button small">{move || ppl().reset_two_factor}</button>
                                                        </ActionForm>
                                                    })}
                                                </td>
                                                <td>
                                                    {move || if disabled { ppl().disabled } else { ppl().active }}
                                                    <ActionForm action=set_disabled attr:class="inline">
                                                        <input type="hidden" name="id" value=id2 />
                                                        <input type="hidden" name="disabled" value=(!disabled).to_string() />
                                                        <button type="submit" class="button small" data-testid="toggle-disabled">
                                                            {move || if disabled { ppl().enable } else { ppl().disable }}
                                                        </button>
                                                    </ActionForm>
                                                </td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                            </div>
                            <Show when={let empty = v.invites.is_empty(); move || !empty}>
                                <h2>{move || ppl().pending_invites}</h2>
                            </Show>
                            <ul data-testid="invites">
                                {v.invites.into_iter().map(|i| view! {
                                    <li>
                                        {i.email.clone()} " · " {move || ppl().role_name(i.role)} " · " {move || ppl().expires} " " {i.expires_at.clone()}
                                        <ActionForm action=revoke attr:class="inline">
                                            <input type="hidden" name="id" value=i.id.clone() />
                                            <button type="submit" class="button small">{move || ppl().revoke}</button>
                                        </ActionForm>
                                    </li>
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(_) => view! { <p class="error">{move || t().server_error}</p> }.into_any(),
                    }
                })}
            </Suspense>
            <h2>{move || ppl().invite_title}</h2>
            <ActionForm action=invite attr:class="row" attr:data-testid="invite-form">
                <input type="email" name="email" required placeholder=move || ppl().col_email aria-label=move || ppl().col_email />
                <RoleSelect selected=Role::Editor />
                <button type="submit" class="button primary">{move || ppl().invite_button}</button>
            </ActionForm>
            <Show when=move || link().is_some()>
                <p class="notice" role="status">{move || ppl().invite_link_note}</p>
                <p><code data-testid="invite-link">{move || link().unwrap_or_default()}</code></p>
            </Show>
        </section>
    }
}

/// `/admin/invite/:token`: the invited person sets a password.
#[component]
pub fn JoinPage() -> impl IntoView {
    let lang = use_lang();
    let t = move || lang.get().t();
    let ppl = move || lang.get().people();
    let params = use_params_map();
    let token = move || params.read().get("token").unwrap_or_default();
    let info = Resource::new(token, invite_info);
    let join = ServerAction::<AcceptInvite>::new();
    view! {
        <section class="card narrow">
            <h1>{move || ppl().join_title}</h1>
            <Suspense fallback=|| view! { <p>"…"</p> }>
                {move || Suspend::new(async move {
                    match info.await {
                        Ok(Some((email, role))) => view! {
                            <p data-testid="join-as">{move || ppl().join_as} ": " {email.clone()} " · " {move || ppl().role_name(role)}</p>
                            <Show
                                when=move || !matches!(join.value().get(), Some(Ok(JoinOutcome::Joined)))
                                fallback=move || view! { <p class="success" data-testid="joined">{move || ppl().joined} " " <a href="/admin/login">{move || t().log_in}</a></p> }
                            >
                                <ActionForm action=join attr:class="stack">
                                    <input type="hidden" name="token" value=token() />
                                    <label>
                                        {move || ppl().join_password}
                                        <input type="password" name="password" autocomplete="new-password" minlength="10" required />
                                    </label>
                                    <button type="submit" class="button primary" data-testid="join">{move || ppl().join_button}</button>
                                    <Show when=move || matches!(join.value().get(), Some(Ok(JoinOutcome::BadPassword)))>
                                        <p class="error" role="alert">{move || ppl().bad_password}</p>
                                    </Show>
                                    <Show when=move || matches!(join.value().get(), Some(Ok(JoinOutcome::BadInvite)) | Some(Err(_)))>
                                        <p class="error" role="alert">{move || ppl().bad_invite}</p>
                                    </Show>
                                </ActionForm>
                            </Show>
                        }.into_any(),
                        Ok(None) => view! { <p class="error" data-testid="bad-invite">{move || ppl().bad_invite}</p> }.into_any(),
                        Err(_) => view! { <p class="error">{move || t().server_error}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
