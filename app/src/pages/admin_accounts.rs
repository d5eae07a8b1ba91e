//! Receiving accounts: the environment's default (read only), accounts stored
//! in the database (keys sealed, shown as fingerprints), "test connection",
//! enable/disable, and which account each form takes payments with. The
//! account form is generated from the provider kinds' schemas: a new provider
//! needs nothing here.

use super::admin_orders::AdminNav;
use crate::i18n::use_lang;
use leptos::prelude::*;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the account form sends: the kind's fields by key. Secret fields left
/// empty keep the stored value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountInput {
    /// Empty for a new account.
    pub id: String,
    pub name: String,
    /// A provider kind's id (`wechat_v3`, `alipay`, …).
    pub kind: String,
    pub values: BTreeMap<String, String>,
}

/// One field of a kind's schema, as the page shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldView {
    pub key: String,
    pub label: (String, String),
    pub secret: bool,
    pub multiline: bool,
}

/// A provider kind the administrator can choose.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KindView {
    pub id: String,
    pub name: (String, String),
    pub fields: Vec<FieldView>,
}

/// What the page may know of a stored account: never a secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub settings: BTreeMap<String, String>,
    pub fingerprint: String,
    pub enabled: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountsView {
    /// The environment's account, per provider: (provider, merchant id, app id).
    pub default: Vec<(String, String, String)>,
    pub accounts: Vec<AccountRow>,
    pub kinds: Vec<KindView>,
    /// (form id, title, account id or "").
    pub forms: Vec<(String, String, String)>,
    pub master_key: bool,
}

#[server(endpoint = "admin_accounts")]
pub async fn admin_accounts() -> Result<AccountsView, ServerFnError> {
    use crate::ssr::{accounts, forms, AppState};
    crate::ssr::auth::require(crate::domain::Permission::ManageAccounts).await?;
    let state = AppState::from_context()?;
    let fail = crate::errors::Failure::Read("the accounts").log::<anyhow::Error>();
    let default = state
        .payments
        .iter()
        .map(|p| {
            (
                p.provider().as_str().to_owned(),
                p.merchant_id().to_owned(),
                p.app_id().to_owned(),
            )
        })
        .collect();
    let list = accounts::list(&state.db).await.map_err(fail)?;
    let mut form_rows = Vec::new();
    for f in forms::list_forms(&state.db).await.map_err(fail)? {
        let account = accounts::form_account(&state.db, &f.id)
            .await
            .map_err(fail)?
            .unwrap_or_default();
        form_rows.push((f.id, f.def.title, account));
    }
    let own = |(z, e): (&str, &str)| (z.to_owned(), e.to_owned());
    let kinds = state
        .accounts
        .registry
        .kinds()
        .map(|k| KindView {
            id: k.id().to_owned(),
            name: own(k.name()),
            fields: k
                .fields()
                .iter()
                .filter(|f| !(f.development_only && state.accounts.production))
                .map(|f| FieldView {
                    key: f.key.to_owned(),
                    label: own(f.label),
                    secret: f.secret,
                    multiline: f.multiline,
                })
                .collect(),
        })
        .collect();
    Ok(AccountsView {
        default,
        accounts: list
            .into_iter()
            .map(|a| AccountRow {
                id: a.id,
                name: a.name,
                kind: a.kind,
                settings: a.settings,
                fingerprint: a.fingerprint,
                enabled: a.enabled,
            })
            .collect(),
        kinds,
        forms: form_rows,
        master_key: state.accounts.vault.is_some(),
    })
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AccountOutcome {
    Saved(String),
    Invalid(String),
}

#[cfg(feature = "ssr")]
fn account_outcome(
    r: Result<(), crate::ssr::accounts::LoadError>,
    ok: String,
) -> Result<AccountOutcome, ServerFnError> {
    use crate::ssr::accounts::LoadError;
    match r {
        Ok(()) => Ok(AccountOutcome::Saved(ok)),
        Err(LoadError::Account(e)) => Ok(AccountOutcome::Invalid(e.to_string())),
        Err(LoadError::Unexpected(e)) => {
            tracing::error!(error = ?e, "account");
            Err(ServerFnError::new(
                "the account cannot be changed right now; try again",
            ))
        }
    }
}

#[server(endpoint = "admin_save_account")]
pub async fn admin_save_account(input: AccountInput) -> Result<AccountOutcome, ServerFnError> {
    use crate::ssr::registry::Credentials;
    use crate::ssr::{accounts, AppState};
    let admin = crate::ssr::auth::require(crate::domain::Permission::ManageAccounts).await?;
    let state = AppState::from_context()?;
    let id = Some(input.id.as_str()).filter(|i| !i.is_empty());
    let given = Credentials::from_map(input.values);
    match accounts::save(&state, &admin, id, &input.name, input.kind.trim(), &given).await {
        Ok(id) => Ok(AccountOutcome::Saved(id)),
        Err(e) => account_outcome(Err(e), String::new()),
    }
}

#[server(endpoint = "admin_account_enabled")]
pub async fn admin_account_enabled(
    id: String,
    enabled: bool,
) -> Result<AccountOutcome, ServerFnError> {
    use crate::ssr::{accounts, AppState};
    let admin = crate::ssr::auth::require(crate::domain::Permission::ManageAccounts).await?;
    let state = AppState::from_context()?;
    account_outcome(
        accounts::set_enabled(&state, &admin, &id, enabled).await,
        id,
    )
}

#[server(endpoint = "admin_form_account")]
pub async fn admin_form_account(
    form_id: String,
    account_id: String,
) -> Result<AccountOutcome, ServerFnError> {
    use crate::ssr::{accounts, AppState};
    let admin = crate::ssr::auth::require(crate::domain::Permission::ManageAccounts).await?;
    let state = AppState::from_context()?;
    let account = Some(account_id.as_str()).filter(|a| !a.is_empty());
    account_outcome(
        accounts::set_form_account(&state, &admin, &form_id, account).await,
        form_id,
    )
}

/// One line per provider of the account: None when the signed call worked.
#[server(endpoint = "admin_test_account")]
pub async fn admin_test_account(
    id: String,
) -> Result<Vec<(String, Option<String>)>, ServerFnError> {
    use crate::ssr::{accounts, AppState};
    crate::ssr::auth::require(crate::domain::Permission::ManageAccounts).await?;
    let state = AppState::from_context()?;
    let id = Some(id.as_str()).filter(|i| !i.is_empty());
    Ok(accounts::test_connection(&state, id)
        .await
        .into_iter()
        .map(|(p, r)| (p, r.err()))
        .collect())
}

#[component]
pub fn AccountsPage() -> impl IntoView {
    let save = ServerAction::<AdminSaveAccount>::new();
    let toggle = ServerAction::<AdminAccountEnabled>::new();
    let assign = ServerAction::<AdminFormAccount>::new();
    let data = Resource::new(
        move || {
            (
                save.version().get(),
                toggle.version().get(),
                assign.version().get(),
            )
        },
        |_| admin_accounts(),
    );
    view! {
        <AdminNav />
        <Suspense fallback=|| view! { <p>"…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => view! { <AccountsBody v save toggle assign /> }.into_any(),
                    Err(_) => view! { <Redirect path="/admin/login" /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn AccountsBody(
    v: AccountsView,
    save: ServerAction<AdminSaveAccount>,
    toggle: ServerAction<AdminAccountEnabled>,
    assign: ServerAction<AdminFormAccount>,
) -> impl IntoView {
    let lang = use_lang();
    let adm = move || lang.get().admin();
    let query = use_query_map();
    let editing = query.read_untracked().get("edit").unwrap_or_default();
    let current = v
        .accounts
        .iter()
        .find(|a| a.id == editing)
        .map(|a| AccountInput {
            id: a.id.clone(),
            name: a.name.clone(),
            kind: a.kind.clone(),
            values: a.settings.clone(),
        })
        .unwrap_or_else(|| AccountInput {
            kind: v.kinds.first().map(|k| k.id.clone()).unwrap_or_default(),
            ..AccountInput::default()
        });
    let is_new = current.id.is_empty();
    let message = move || {
        let outcome = save
            .value()
            .get()
            .or_else(|| toggle.value().get())
            .or_else(|| assign.value().get());
        match outcome {
            Some(Ok(AccountOutcome::Saved(_))) => Some((false, adm().saved.to_owned())),
            Some(Ok(AccountOutcome::Invalid(m))) => Some((true, m)),
            Some(Err(_)) => Some((true, lang.get().t().server_error.to_owned())),
            None => None,
        }
    };
    let options = v
        .accounts
        .iter()
        .filter(|a| a.enabled)
        .map(|a| (a.id.clone(), a.name.clone()))
        .collect::<Vec<_>>();
    let names: BTreeMap<String, (String, String)> = v
        .kinds
        .iter()
        .map(|k| (k.id.clone(), k.name.clone()))
        .collect();
    let kind_label = move |k: &str| {
        names
            .get(k)
            .map(|(z, e)| lang.get().pick(z, e).to_owned())
            .unwrap_or_else(|| k.to_owned())
    };
    let kinds = v.kinds.clone();
    view! {
        <section class="card">
            <h1>{move || adm().accounts_title}</h1>
            {(!v.master_key).then(|| view! { <p class="error" role="alert">{move || adm().master_key_missing}</p> })}
            <Show when=move || message().is_some()>
                <p class=move || if message().is_some_and(|m| m.0) { "error" } else { "notice" } role="status" data-testid="account-message">{move || message().map(|m| m.1).unwrap_or_default()}</p>
            </Show>
            <div class="table-wrap">
                <table class="table" data-testid="accounts">
                    <thead><tr>
                        <th>{move || adm().account_name}</th>
                        <th>{move || adm().account_kind}</th>
                        <th>"App ID / MCH ID"</th>
                        <th>{move || adm().key_fingerprints}</th>
                        <th></th>
                    </tr></thead>
                    <tbody>
                        {v.default.into_iter().map(|(provider, mch, app)| view! {
                            <tr class="muted">
                                <td>{move || adm().default_account_row}</td>
                                <td>{provider}</td>
                                <td>{app} " / " {mch}</td>
                                <td>"—"</td>
                                <td><TestButton id=String::new() /></td>
                            </tr>
                        }).collect_view()}
                        {v.accounts.into_iter().map(|a| {
                            let id = a.id.clone();
                            let enabled = a.enabled;
                            let kind = a.kind.clone();
                            let kind_label = kind_label.clone();
                            let ids = format!("{} / {}", a.settings.get("app_id").cloned().unwrap_or_default(), a.settings.get("mch_id").or(a.settings.get("seller_id")).cloned().unwrap_or_default());
                            view! {
                                <tr class:muted=!enabled data-testid="account-row">
                                    <td>{a.name.clone()} {(!enabled).then(|| view! { <span class="muted">{move || adm().account_disabled}</span> })}</td>
                                    <td>{move || kind_label(&kind)}</td>
                                    <td>{ids}</td>
                                    <td><code data-testid="fingerprint">{a.fingerprint.clone()}</code></td>
                                    <td class="row">
                                        <TestButton id=id.clone() />
                                        <a class="button" href=format!("?edit={id}")>{move || adm().edit}</a>
                                        <ActionForm action=toggle>
                                            <input type="hidden" name="id" value=id.clone() />
                                            <input type="hidden" name="enabled" value=(!enabled).to_string() />
                                            <button class="button" type="submit">{move || if enabled { adm().disable } else { adm().enable }}</button>
                                        </ActionForm>
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
        <section class="card">
            <h2>{move || if is_new { adm().new_account } else { adm().edit_account }}</h2>
            <AccountForm current=current.clone() kinds save />
        </section>
        <section class="card">
            <h2>{move || adm().form_accounts_title}</h2>
            <div class="table-wrap">
                <table class="table" data-testid="form-accounts">
                    <tbody>
                        {v.forms.into_iter().map(|(form_id, title, account)| {
                            let options = options.clone();
                            view! {
                                <tr>
                                    <td>{title}</td>
                                    <td>
                                        <ActionForm action=assign attr:class="row">
                                            <input type="hidden" name="form_id" value=form_id />
                                            <select name="account_id" aria-label=move || adm().nav_accounts>
                                                <option value="" selected=account.is_empty()>{move || adm().default_account}</option>
                                                {options.into_iter().map(|(id, name)| { let sel = id == account; view! { <option value=id selected=sel>{name}</option> } }).collect_view()}
                                            </select>
                                            <button class="button" type="submit">{move || adm().save}</button>
                                        </ActionForm>
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}

#[component]
fn TestButton(id: String) -> impl IntoView {
    let lang = use_lang();
    let adm = move || lang.get().admin();
    let test = ServerAction::<AdminTestAccount>::new();
    let result = move || {
        test.value().get().map(|r| match r {
            Ok(lines) => lines
                .into_iter()
                .map(|(p, e)| match e {
                    None => format!("{p}: {}", adm().connection_ok),
                    Some(e) => format!("{p}: {e}"),
                })
                .collect::<Vec<_>>()
                .join("; "),
            Err(_) => lang.get().t().server_error.to_owned(),
        })
    };
    view! {
        <ActionForm action=test>
            <input type="hidden" name="id" value=id />
            <button class="button" type="submit" data-testid="test-connection">{move || adm().test_connection}</button>
        </ActionForm>
        <Show when=move || result().is_some()>
            <span class="muted" data-testid="test-result">{move || result().unwrap_or_default()}</span>
        </Show>
    }
}

#[component]
fn AccountForm(
    current: AccountInput,
    kinds: Vec<KindView>,
    save: ServerAction<AdminSaveAccount>,
) -> impl IntoView {
    let lang = use_lang();
    let adm = move || lang.get().admin();
    let kind = RwSignal::new(current.kind.clone());
    let editing = !current.id.is_empty();
    let label = move |l: &(String, String)| lang.get().pick(&l.0, &l.1).to_owned();
    // Every kind's fields, each kind in a fieldset that is disabled (so not
    // submitted) unless it is the kind chosen.
    let fieldsets = kinds
        .iter()
        .map(|k| {
            let id = k.id.clone();
            let inputs = k
                .fields
                .iter()
                .map(|f| {
                    let l = f.label.clone();
                    let name = format!("input[values][{}]", f.key);
                    let testid = format!("account-{}", f.key);
                    let value = if f.secret {
                        String::new()
                    } else {
                        current.values.get(&f.key).cloned().unwrap_or_default()
                    };
                    let keep = move || {
                        if editing {
                            adm().keep_stored_value
                        } else {
                            ""
                        }
                    };
                    let control = match (f.secret, f.multiline) {
                        (true, _) => view! {
                            <textarea name=name rows="2" autocomplete="off" data-testid=testid placeholder=keep></textarea>
                        }
                        .into_any(),
                        (false, true) => view! {
                            <textarea name=name rows="3" data-testid=testid>{value}</textarea>
                        }
                        .into_any(),
                        (false, false) => view! {
                            <input type="text" name=name value=value data-testid=testid />
                        }
                        .into_any(),
                    };
                    view! { <label>{move || label(&l)} {control}</label> }
                })
                .collect_view();
            let shown = id.clone();
            view! {
                <fieldset class="plain" class:hidden=move || kind.get() != shown disabled=move || kind.get() != id>
                    {inputs}
                </fieldset>
            }
        })
        .collect_view();
    view! {
        <ActionForm action=save attr:class="stack" attr:data-testid="account-form">
            <input type="hidden" name="input[id]" value=current.id.clone() />
            <label>
                {move || adm().account_name}
                <input type="text" name="input[name]" required maxlength="60" value=current.name.clone() data-testid="account-name" />
            </label>
            <label>
                {move || adm().account_kind}
                <select name="input[kind]" data-testid="account-kind" disabled=editing on:change=move |ev| kind.set(event_target_value(&ev))>
                    {kinds.iter().map(|k| {
                        let n = k.name.clone();
                        view! { <option value=k.id.clone() selected=current.kind == k.id>{move || label(&n)}</option> }
                    }).collect_view()}
                </select>
                {editing.then(|| view! { <input type="hidden" name="input[kind]" value=current.kind.clone() /> })}
            </label>
            {fieldsets}
            <button class="button primary" type="submit" disabled=move || save.pending().get() data-testid="account-save">{move || adm().save}</button>
        </ActionForm>
    }
}
