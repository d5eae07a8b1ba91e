//! Receiving accounts: the environment's default (read only), accounts stored
//! in the database (keys sealed, shown as fingerprints), "test connection",
//! enable/disable, and which account each form takes payments with.

use super::admin_orders::AdminNav;
use crate::i18n::{use_lang, Lang};
use leptos::prelude::*;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

/// What the page may know of an account: never a secret.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountInput {
    /// Empty for a new account.
    pub id: String,
    pub name: String,
    pub kind: String,
    pub app_id: String,
    pub mch_id: String,
    pub serial_no: String,
    pub platform_key_id: String,
    pub platform_public_key: String,
    pub alipay_public_key: String,
    pub alipay_app_cert: String,
    pub alipay_root_cert: String,
    pub alipay_public_cert: String,
    pub seller_id: String,
    /// WeChat Pay v2: MD5 or HMAC-SHA256 (empty: HMAC-SHA256).
    #[serde(default)]
    pub v2_sign_type: String,
    pub api_base: String,
    /// Secrets: write-only; empty keeps the stored value.
    pub private_key: String,
    pub apiv3_key: String,
    pub v2_key: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountRow {
    pub input: AccountInput,
    pub fingerprint: String,
    pub enabled: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountsView {
    /// The environment's account, per provider: (provider, merchant id, app id).
    pub default: Vec<(String, String, String)>,
    pub accounts: Vec<AccountRow>,
    /// (form id, title, account id or "").
    pub forms: Vec<(String, String, String)>,
    pub master_key: bool,
}

#[server(endpoint = "admin_accounts")]
pub async fn admin_accounts() -> Result<AccountsView, ServerFnError> {
    use crate::ssr::{accounts, forms, AppState};
    crate::ssr::auth::require_admin().await?;
    let state = AppState::from_context()?;
    let fail = |e: anyhow::Error| {
        tracing::error!(error = ?e, "accounts");
        ServerFnError::new("internal error")
    };
    let default = [state.payments.wechat.clone(), state.payments.alipay.clone()]
        .into_iter()
        .flatten()
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
    Ok(AccountsView {
        default,
        accounts: list
            .into_iter()
            .map(|a| AccountRow {
                input: AccountInput {
                    id: a.id,
                    name: a.name,
                    kind: a.kind.as_str().to_owned(),
                    app_id: a.settings.app_id,
                    mch_id: a.settings.mch_id,
                    serial_no: a.settings.serial_no,
                    platform_key_id: a.settings.platform_key_id,
                    platform_public_key: a.settings.platform_public_key,
                    alipay_public_key: a.settings.alipay_public_key,
                    alipay_app_cert: a.settings.alipay_app_cert,
                    alipay_root_cert: a.settings.alipay_root_cert,
                    alipay_public_cert: a.settings.alipay_public_cert,
                    seller_id: a.settings.seller_id,
                    v2_sign_type: a.settings.v2_sign_type,
                    api_base: a.settings.api_base,
                    ..AccountInput::default()
                },
                fingerprint: a.fingerprint,
                enabled: a.enabled,
            })
            .collect(),
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
            Err(ServerFnError::new("internal error"))
        }
    }
}

#[server(endpoint = "admin_save_account")]
pub async fn admin_save_account(input: AccountInput) -> Result<AccountOutcome, ServerFnError> {
    use crate::ssr::accounts::{self, AccountKind, AccountSecrets, AccountSettings};
    use crate::ssr::AppState;
    let admin = crate::ssr::auth::require_admin().await?;
    let state = AppState::from_context()?;
    let Some(kind) = AccountKind::parse(&input.kind) else {
        return Ok(AccountOutcome::Invalid("unknown kind".into()));
    };
    let settings = AccountSettings {
        app_id: input.app_id.trim().to_owned(),
        mch_id: input.mch_id.trim().to_owned(),
        serial_no: input.serial_no.trim().to_owned(),
        platform_key_id: input.platform_key_id.trim().to_owned(),
        platform_public_key: input.platform_public_key.trim().to_owned(),
        alipay_public_key: input.alipay_public_key.trim().to_owned(),
        alipay_app_cert: input.alipay_app_cert.trim().to_owned(),
        alipay_root_cert: input.alipay_root_cert.trim().to_owned(),
        alipay_public_cert: input.alipay_public_cert.trim().to_owned(),
        seller_id: input.seller_id.trim().to_owned(),
        v2_sign_type: input.v2_sign_type.trim().to_ascii_uppercase(),
        api_base: input.api_base.trim().to_owned(),
    };
    let secrets = AccountSecrets {
        private_key: input.private_key,
        apiv3_key: input.apiv3_key,
        v2_key: input.v2_key,
    };
    let id = Some(input.id.as_str()).filter(|i| !i.is_empty());
    match accounts::save(&state, &admin, id, &input.name, kind, settings, secrets).await {
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
    let admin = crate::ssr::auth::require_admin().await?;
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
    let admin = crate::ssr::auth::require_admin().await?;
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
    crate::ssr::auth::require_admin().await?;
    let state = AppState::from_context()?;
    let id = Some(id.as_str()).filter(|i| !i.is_empty());
    Ok(accounts::test_connection(&state, id)
        .await
        .into_iter()
        .map(|(p, r)| (p, r.err()))
        .collect())
}

const KINDS: [(&str, &str, &str); 4] = [
    ("wechat_v3", "微信支付 APIv3", "WeChat Pay API v3"),
    ("wechat_v2", "微信支付 v2（旧版）", "WeChat Pay v2 (legacy)"),
    ("alipay", "支付宝", "Alipay"),
    (
        "simulator",
        "模拟器（仅开发）",
        "Simulator (development only)",
    ),
];

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
    let zh = move || lang.get() == Lang::Zh;
    let query = use_query_map();
    let editing = query.read_untracked().get("edit").unwrap_or_default();
    let current = v
        .accounts
        .iter()
        .find(|a| a.input.id == editing)
        .map(|a| a.input.clone())
        .unwrap_or_else(|| AccountInput {
            kind: "wechat_v3".into(),
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
            Some(Ok(AccountOutcome::Saved(_))) => Some((
                false,
                if zh() {
                    "已保存".to_owned()
                } else {
                    "Saved".to_owned()
                },
            )),
            Some(Ok(AccountOutcome::Invalid(m))) => Some((true, m)),
            Some(Err(_)) => Some((true, lang.get().t().server_error.to_owned())),
            None => None,
        }
    };
    let options = v
        .accounts
        .iter()
        .filter(|a| a.enabled)
        .map(|a| (a.input.id.clone(), a.input.name.clone()))
        .collect::<Vec<_>>();
    let kind_label = move |k: &str| {
        KINDS
            .iter()
            .find(|(key, _, _)| *key == k)
            .map(|(_, z, e)| if zh() { *z } else { *e })
            .unwrap_or("?")
    };
    view! {
        <section class="card">
            <h1>{move || if zh() { "收款账户" } else { "Receiving accounts" }}</h1>
            {(!v.master_key).then(|| view! { <p class="error" role="alert">{move || if zh() { "未设置 APP_MASTER_KEY：无法保存或使用账户密钥。" } else { "APP_MASTER_KEY is not set: account keys cannot be stored or used." }}</p> })}
            <Show when=move || message().is_some()>
                <p class=move || if message().is_some_and(|m| m.0) { "error" } else { "notice" } role="status" data-testid="account-message">{move || message().map(|m| m.1).unwrap_or_default()}</p>
            </Show>
            <div class="table-wrap">
                <table class="table" data-testid="accounts">
                    <thead><tr>
                        <th>{move || if zh() { "名称" } else { "Name" }}</th>
                        <th>{move || if zh() { "类型" } else { "Kind" }}</th>
                        <th>"App ID / MCH ID"</th>
                        <th>{move || if zh() { "密钥指纹" } else { "Key fingerprints" }}</th>
                        <th></th>
                    </tr></thead>
                    <tbody>
                        {v.default.into_iter().map(|(provider, mch, app)| view! {
                            <tr class="muted">
                                <td>{move || if zh() { "默认（环境变量，只读）" } else { "Default (environment, read only)" }}</td>
                                <td>{provider}</td>
                                <td>{app} " / " {mch}</td>
                                <td>"—"</td>
                                <td><TestButton id=String::new() /></td>
                            </tr>
                        }).collect_view()}
                        {v.accounts.into_iter().map(|a| {
                            let id = a.input.id.clone();
                            let enabled = a.enabled;
                            let kind = a.input.kind.clone();
                            view! {
                                <tr class:muted=!enabled data-testid="account-row">
                                    <td>{a.input.name.clone()} {(!enabled).then(|| view! { <span class="muted">{move || if zh() { "（已停用）" } else { " (disabled)" }}</span> })}</td>
                                    <td>{move || kind_label(&kind)}</td>
                                    <td>{a.input.app_id.clone()} " / " {a.input.mch_id.clone()}</td>
                                    <td><code data-testid="fingerprint">{a.fingerprint.clone()}</code></td>
                                    <td class="row">
                                        <TestButton id=id.clone() />
                                        <a class="button" href=format!("?edit={id}")>{move || if zh() { "编辑" } else { "Edit" }}</a>
                                        <ActionForm action=toggle>
                                            <input type="hidden" name="id" value=id.clone() />
                                            <input type="hidden" name="enabled" value=(!enabled).to_string() />
                                            <button class="button" type="submit">{move || match (enabled, zh()) { (true, true) => "停用", (true, false) => "Disable", (false, true) => "启用", (false, false) => "Enable" }}</button>
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
            <h2>{move || if is_new { if zh() { "新增收款账户" } else { "New receiving account" } } else if zh() { "编辑收款账户" } else { "Edit receiving account" }}</h2>
            <AccountForm current=current.clone() save />
        </section>
        <section class="card">
            <h2>{move || if zh() { "各表单使用的收款账户" } else { "Which account each form uses" }}</h2>
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
                                            <select name="account_id">
                                                <option value="" selected=account.is_empty()>{move || if zh() { "默认账户" } else { "Default account" }}</option>
                                                {options.into_iter().map(|(id, name)| { let sel = id == account; view! { <option value=id selected=sel>{name}</option> } }).collect_view()}
                                            </select>
                                            <button class="button" type="submit">{move || if zh() { "保存" } else { "Save" }}</button>
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
    let zh = move || lang.get() == Lang::Zh;
    let test = ServerAction::<AdminTestAccount>::new();
    let result = move || {
        test.value().get().map(|r| match r {
            Ok(lines) => lines
                .into_iter()
                .map(|(p, e)| match e {
                    None => format!(
                        "{p}: {}",
                        if zh() {
                            "连接正常，签名有效"
                        } else {
                            "OK, signatures verified"
                        }
                    ),
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
            <button class="button" type="submit" data-testid="test-connection">{move || if zh() { "测试连接" } else { "Test connection" }}</button>
        </ActionForm>
        <Show when=move || result().is_some()>
            <span class="muted" data-testid="test-result">{move || result().unwrap_or_default()}</span>
        </Show>
    }
}

#[component]
fn AccountForm(current: AccountInput, save: ServerAction<AdminSaveAccount>) -> impl IntoView {
    let lang = use_lang();
    let zh = move || lang.get() == Lang::Zh;
    let kind = RwSignal::new(current.kind.clone());
    let editing = !current.id.is_empty();
    let field = move |name: &'static str,
                      label: (&'static str, &'static str),
                      value: String,
                      shown: fn(&str) -> bool| {
        view! {
            <label class:hidden=move || !shown(&kind.get())>
                {move || if zh() { label.0 } else { label.1 }}
                <input type="text" name=format!("input[{name}]") value=value data-testid=format!("account-{name}") />
            </label>
        }
    };
    let text = move |name: &'static str,
                     label: (&'static str, &'static str),
                     value: String,
                     shown: fn(&str) -> bool| {
        view! {
            <label class:hidden=move || !shown(&kind.get())>
                {move || if zh() { label.0 } else { label.1 }}
                <textarea name=format!("input[{name}]") rows="3" data-testid=format!("account-{name}")>{value}</textarea>
            </label>
        }
    };
    let secret = move |name: &'static str,
                       label: (&'static str, &'static str),
                       shown: fn(&str) -> bool| {
        view! {
            <label class:hidden=move || !shown(&kind.get())>
                {move || if zh() { label.0 } else { label.1 }}
                <textarea name=format!("input[{name}]") rows="2" autocomplete="off" data-testid=format!("account-{name}")
                    placeholder=move || if editing { if zh() { "留空则保留已保存的值" } else { "Leave empty to keep the stored value" } } else { "" }></textarea>
            </label>
        }
    };
    fn wechat(k: &str) -> bool {
        k == "wechat_v3" || k == "wechat_v2"
    }
    fn v3(k: &str) -> bool {
        k == "wechat_v3"
    }
    fn v2(k: &str) -> bool {
        k == "wechat_v2"
    }
    fn alipay(k: &str) -> bool {
        k == "alipay"
    }
    fn real(k: &str) -> bool {
        k != "simulator"
    }
    fn keyed(k: &str) -> bool {
        k == "wechat_v3" || k == "alipay"
    }
    view! {
        <ActionForm action=save attr:class="stack" attr:data-testid="account-form">
            <input type="hidden" name="input[id]" value=current.id.clone() />
            <label>
                {move || if zh() { "名称" } else { "Name" }}
                <input type="text" name="input[name]" required maxlength="60" value=current.name.clone() data-testid="account-name" />
            </label>
            <label>
                {move || if zh() { "类型" } else { "Kind" }}
                <select name="input[kind]" data-testid="account-kind" disabled=editing on:change=move |ev| kind.set(event_target_value(&ev))>
                    {KINDS.into_iter().map(|(k, z, e)| view! { <option value=k selected=current.kind == k>{move || if zh() { z } else { e }}</option> }).collect_view()}
                </select>
                {editing.then(|| view! { <input type="hidden" name="input[kind]" value=current.kind.clone() /> })}
            </label>
            {field("app_id", ("AppID", "App ID"), current.app_id.clone(), real)}
            {field("mch_id", ("商户号", "Merchant id (mchid)"), current.mch_id.clone(), wechat)}
            {field("serial_no", ("商户 API 证书序列号", "Merchant certificate serial"), current.serial_no.clone(), v3)}
            {field("platform_key_id", ("微信支付公钥 ID（PUB_KEY_ID_…，留空则用平台证书）", "WeChat Pay public key id (PUB_KEY_ID_…; empty: platform certificates)"), current.platform_key_id.clone(), v3)}
            {text("platform_public_key", ("微信支付公钥（PEM）", "WeChat Pay public key (PEM)"), current.platform_public_key.clone(), v3)}
            {text("alipay_public_key", ("支付宝公钥（公钥模式）", "Alipay public key (public-key mode)"), current.alipay_public_key.clone(), alipay)}
            {text("alipay_app_cert", ("应用公钥证书 appCertPublicKey（证书模式）", "App public certificate (certificate mode)"), current.alipay_app_cert.clone(), alipay)}
            {text("alipay_root_cert", ("支付宝根证书 alipayRootCert（证书模式）", "Alipay root certificate (certificate mode)"), current.alipay_root_cert.clone(), alipay)}
            {text("alipay_public_cert", ("支付宝公钥证书 alipayCertPublicKey_RSA2（证书模式）", "Alipay public certificate (certificate mode)"), current.alipay_public_cert.clone(), alipay)}
            {field("seller_id", ("卖家 ID（PID，2088 开头）", "Seller id (PID, 2088…)"), current.seller_id.clone(), alipay)}
            {field("v2_sign_type", ("签名方式（HMAC-SHA256 或 MD5，留空为 HMAC-SHA256）", "Signing (HMAC-SHA256 or MD5; empty: HMAC-SHA256)"), current.v2_sign_type.clone(), v2)}
            {field("api_base", ("接口地址（仅开发，留空为正式地址）", "API base (development only; empty: the real one)"), current.api_base.clone(), real)}
            {secret("private_key", ("私钥（PEM 或 base64）", "Private key (PEM or base64)"), keyed)}
            {secret("apiv3_key", ("APIv3 密钥（32 位）", "APIv3 key (32 characters)"), v3)}
            {secret("v2_key", ("API 密钥（v2，32 位）", "API key (v2, 32 characters)"), v2)}
            <button class="button primary" type="submit" disabled=move || save.pending().get() data-testid="account-save">{move || if zh() { "保存" } else { "Save" }}</button>
        </ActionForm>
    }
}
