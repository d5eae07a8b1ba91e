//! Receiving (merchant) accounts kept in the database. Identifiers are stored
//! in clear; private keys and API keys are sealed with AES-256-GCM under
//! `APP_MASTER_KEY`, bound to their row, never sent back to a browser (a
//! fingerprint is shown instead) and never logged. The account configured
//! through the environment stays the read-only default.

use crate::auth::Admin;
use crate::provider::{PaymentProviders, ProviderError};
use crate::store::audit;
use crate::{now_ms, random_token, Core, Db};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::Context;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use sqlx::Row;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    WechatV3,
    WechatV2,
    Alipay,
    /// The built-in simulator with the public development keys (development only).
    Simulator,
}

impl AccountKind {
    pub const ALL: [AccountKind; 4] = [
        AccountKind::WechatV3,
        AccountKind::WechatV2,
        AccountKind::Alipay,
        AccountKind::Simulator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::WechatV3 => "wechat_v3",
            AccountKind::WechatV2 => "wechat_v2",
            AccountKind::Alipay => "alipay",
            AccountKind::Simulator => "simulator",
        }
    }

    pub fn parse(s: &str) -> Option<AccountKind> {
        AccountKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The parts of an account that are not secret.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountSettings {
    pub app_id: String,
    /// WeChat Pay merchant id (`mchid`).
    pub mch_id: String,
    /// WeChat Pay v3: serial number of the merchant API certificate.
    pub serial_no: String,
    /// WeChat Pay v3 public-key mode: `PUB_KEY_ID_…` and the key (PEM). Both
    /// empty means platform-certificate mode.
    pub platform_key_id: String,
    pub platform_public_key: String,
    /// Alipay's public key (PEM or bare base64).
    pub alipay_public_key: String,
    /// Alipay certificate mode instead of `alipay_public_key`: the application's
    /// public certificate, Alipay's root certificate and Alipay's public certificate.
    pub alipay_app_cert: String,
    pub alipay_root_cert: String,
    pub alipay_public_cert: String,
    pub seller_id: String,
    /// WeChat Pay v2: `MD5` when the merchant signs so; HMAC-SHA256 otherwise.
    pub v2_sign_type: String,
    /// Development only: another gateway (e.g. the simulator). Refused in production.
    pub api_base: String,
}

/// The secret parts: sealed in the database, never shown again.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountSecrets {
    /// WeChat v3 merchant private key, or Alipay application private key.
    pub private_key: String,
    pub apiv3_key: String,
    pub v2_key: String,
}

impl fmt::Debug for AccountSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccountSecrets([REDACTED])")
    }
}

impl AccountSecrets {
    /// Short SHA-256 prefixes of each secret that is set: enough to tell two
    /// keys apart, nothing to rebuild them from.
    pub fn fingerprint(&self) -> String {
        let short = |s: &str| hex::encode(&sha2::Sha256::digest(s.trim().as_bytes())[..6]);
        [
            ("key", &self.private_key),
            ("apiv3", &self.apiv3_key),
            ("v2", &self.v2_key),
        ]
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| format!("{k}:{}", short(v)))
        .collect::<Vec<_>>()
        .join(" ")
    }
}

/// One account, with its secrets opened: only ever held in memory.
#[derive(Clone, Debug)]
pub struct AccountData {
    pub id: String,
    pub name: String,
    pub kind: AccountKind,
    pub settings: AccountSettings,
    pub secrets: AccountSecrets,
    pub enabled: bool,
    pub updated_at: i64,
}

/// Builds provider clients from an account; the implementation lives with the
/// clients, in the server crate.
pub trait ProviderFactory: Send + Sync {
    fn build(&self, account: &AccountData) -> Result<PaymentProviders, String>;
    /// Whether the account is played by the simulator: its kind, or keys that
    /// are the public development keys (anyone can sign with them).
    fn is_simulated(&self, account: &AccountData) -> bool;
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AccountError {
    #[error("no such receiving account")]
    NotFound,
    #[error("the receiving account is disabled")]
    Disabled,
    #[error("APP_MASTER_KEY is not set: stored keys cannot be used")]
    NoMasterKey,
    #[error(
        "the stored keys cannot be decrypted: APP_MASTER_KEY is not the key they were saved with"
    )]
    WrongMasterKey,
    #[error("invalid account: {0}")]
    Invalid(String),
}

/// AES-256-GCM under the master key; the row id and kind are the associated
/// data, so a sealed value cannot be moved to another account.
#[derive(Clone)]
pub struct Vault {
    cipher: Aes256Gcm,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Vault([REDACTED])")
    }
}

impl Vault {
    pub fn new(key: &[u8; 32]) -> Vault {
        Vault {
            cipher: Aes256Gcm::new(key.into()),
        }
    }

    /// base64(nonce ‖ ciphertext ‖ tag), with a fresh random nonce.
    pub fn seal(&self, aad: &str, plaintext: &[u8]) -> anyhow::Result<String> {
        use rand::RngCore;
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("cannot encrypt"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(base64::engine::general_purpose::STANDARD.encode(out))
    }

    pub fn open(&self, aad: &str, sealed: &str) -> Result<Vec<u8>, AccountError> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(sealed.trim())
            .map_err(|_| AccountError::WrongMasterKey)?;
        if raw.len() < 12 + 16 {
            return Err(AccountError::WrongMasterKey);
        }
        let (nonce, ct) = raw.split_at(12);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| AccountError::WrongMasterKey)
    }
}

fn aad(id: &str, kind: AccountKind) -> String {
    format!("formpay-account:{id}:{}", kind.as_str())
}

/// The database accounts, the vault and a cache of built clients.
#[derive(Clone)]
pub struct Accounts {
    pub vault: Option<Vault>,
    pub factory: Option<Arc<dyn ProviderFactory>>,
    /// Production refuses `api_base` overrides and the simulator kind.
    pub production: bool,
    /// Built clients by account id.
    cache: Arc<Mutex<HashMap<String, Built>>>,
}

/// An account's clients as built for its `updated_at`, and whether the
/// simulator plays it.
type Built = (i64, PaymentProviders, bool);

impl Accounts {
    pub fn new(
        vault: Option<Vault>,
        factory: Option<Arc<dyn ProviderFactory>>,
        production: bool,
    ) -> Accounts {
        Accounts {
            vault,
            factory,
            production,
            cache: Arc::default(),
        }
    }
}

/// What lists and forms show of an account (no secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountSummary {
    pub id: String,
    pub name: String,
    pub kind: AccountKind,
    pub settings: AccountSettings,
    pub fingerprint: String,
    pub enabled: bool,
    pub updated_at: i64,
}

fn summary_from(r: &sqlx::any::AnyRow) -> anyhow::Result<(AccountSummary, String)> {
    let kind: String = r.try_get("kind")?;
    let settings: String = r.try_get("settings_json")?;
    Ok((
        AccountSummary {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            kind: AccountKind::parse(&kind).context("unknown account kind")?,
            settings: serde_json::from_str(&settings).context("unreadable account settings")?,
            fingerprint: r.try_get("fingerprint")?,
            enabled: r.try_get::<i64, _>("enabled")? != 0,
            updated_at: r.try_get("updated_at")?,
        },
        r.try_get("secrets_sealed")?,
    ))
}

const COLUMNS: &str =
    "id, name, kind, settings_json, secrets_sealed, fingerprint, enabled, updated_at";

pub async fn list(db: &Db) -> anyhow::Result<Vec<AccountSummary>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM merchant_accounts ORDER BY created_at, id"
    ))
    .fetch_all(&db.pool)
    .await
    .context("cannot list the accounts")?;
    rows.iter()
        .map(|r| summary_from(r).map(|(s, _)| s))
        .collect()
}

async fn load_row(db: &Db, id: &str) -> anyhow::Result<Option<(AccountSummary, String)>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM merchant_accounts WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&db.pool)
    .await
    .context("cannot read the account")?;
    row.as_ref().map(summary_from).transpose()
}

/// An account with its secrets opened.
pub async fn load(accounts: &Accounts, db: &Db, id: &str) -> Result<AccountData, LoadError> {
    let (s, sealed) = load_row(db, id).await?.ok_or(AccountError::NotFound)?;
    let vault = accounts.vault.as_ref().ok_or(AccountError::NoMasterKey)?;
    let plain = vault.open(&aad(&s.id, s.kind), &sealed)?;
    let secrets: AccountSecrets =
        serde_json::from_slice(&plain).map_err(|_| AccountError::WrongMasterKey)?;
    Ok(AccountData {
        id: s.id,
        name: s.name,
        kind: s.kind,
        settings: s.settings,
        secrets,
        enabled: s.enabled,
        updated_at: s.updated_at,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// What each kind needs, checked before anything is stored.
pub fn validate(
    kind: AccountKind,
    s: &AccountSettings,
    k: &AccountSecrets,
    production: bool,
) -> Result<(), AccountError> {
    let mut missing = Vec::new();
    let need = |missing: &mut Vec<&'static str>, v: &str, name: &'static str| {
        if v.trim().is_empty() {
            missing.push(name);
        }
    };
    match kind {
        AccountKind::WechatV3 => {
            need(&mut missing, &s.app_id, "app_id");
            need(&mut missing, &s.mch_id, "mch_id");
            need(&mut missing, &s.serial_no, "serial_no");
            need(&mut missing, &k.private_key, "private_key");
            need(&mut missing, &k.apiv3_key, "apiv3_key");
            if s.platform_key_id.trim().is_empty() != s.platform_public_key.trim().is_empty() {
                missing.push("platform_key_id and platform_public_key (both, or neither for certificate mode)");
            }
            if !k.apiv3_key.trim().is_empty() && k.apiv3_key.trim().len() != 32 {
                return Err(AccountError::Invalid(
                    "apiv3_key must be 32 characters".into(),
                ));
            }
        }
        AccountKind::WechatV2 => {
            need(&mut missing, &s.app_id, "app_id");
            need(&mut missing, &s.mch_id, "mch_id");
            need(&mut missing, &k.v2_key, "v2_key");
            if !k.v2_key.trim().is_empty() && k.v2_key.trim().len() != 32 {
                return Err(AccountError::Invalid("v2_key must be 32 characters".into()));
            }
            if !matches!(s.v2_sign_type.trim(), "" | "HMAC-SHA256" | "MD5") {
                return Err(AccountError::Invalid(
                    "v2_sign_type must be HMAC-SHA256 or MD5".into(),
                ));
            }
        }
        AccountKind::Alipay => {
            need(&mut missing, &s.app_id, "app_id");
            need(&mut missing, &k.private_key, "private_key");
            // Notifications name the seller: without it, another merchant's
            // (same app) notification could not be told apart.
            need(&mut missing, &s.seller_id, "seller_id");
            if s.alipay_app_cert.trim().is_empty() {
                need(
                    &mut missing,
                    &s.alipay_public_key,
                    "alipay_public_key (or the three certificates)",
                );
            } else {
                need(&mut missing, &s.alipay_root_cert, "alipay_root_cert");
                need(&mut missing, &s.alipay_public_cert, "alipay_public_cert");
            }
        }
        AccountKind::Simulator if production => {
            return Err(AccountError::Invalid(
                "the simulator is for development only".into(),
            ));
        }
        AccountKind::Simulator => {}
    }
    if production && !s.api_base.trim().is_empty() {
        return Err(AccountError::Invalid(
            "api_base is for development only".into(),
        ));
    }
    check_api_base(s.api_base.trim())?;
    if !missing.is_empty() {
        return Err(AccountError::Invalid(format!(
            "missing {}",
            missing.join(", ")
        )));
    }
    Ok(())
}

/// Another gateway than the provider's own must be https, or in development
/// plain http on this machine (the simulator).
fn check_api_base(base: &str) -> Result<(), AccountError> {
    if base.is_empty() {
        return Ok(());
    }
    let bad = || {
        AccountError::Invalid(
            "api_base must be an https:// URL (or http:// on 127.0.0.1 or localhost in development)"
                .into(),
        )
    };
    let url = url::Url::parse(base).map_err(|_| bad())?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(bad()),
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(bad()),
    }
}

/// Creates an account (`id` None) or edits one. Secret fields left empty keep
/// the stored value. The keys are parsed (by building the clients) before
/// anything is stored, so a malformed key is refused with its name.
pub async fn save(
    state: &Core,
    admin: &Admin,
    id: Option<&str>,
    name: &str,
    kind: AccountKind,
    settings: AccountSettings,
    new_secrets: AccountSecrets,
) -> Result<String, LoadError> {
    let accounts = &state.accounts;
    let vault = accounts.vault.as_ref().ok_or(AccountError::NoMasterKey)?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 60 {
        return Err(
            AccountError::Invalid("a name of 1 to 60 characters is required".into()).into(),
        );
    }
    let (id, mut secrets, enabled, existing) = match id {
        Some(id) => {
            let old = load(accounts, &state.db, id).await?;
            if old.kind != kind {
                return Err(
                    AccountError::Invalid("the kind of an account cannot change".into()).into(),
                );
            }
            (old.id.clone(), old.secrets.clone(), old.enabled, true)
        }
        None => (
            random_token().to_string(),
            AccountSecrets::default(),
            true,
            false,
        ),
    };
    for (slot, new) in [
        (&mut secrets.private_key, new_secrets.private_key),
        (&mut secrets.apiv3_key, new_secrets.apiv3_key),
        (&mut secrets.v2_key, new_secrets.v2_key),
    ] {
        if !new.trim().is_empty() {
            *slot = new.trim().to_owned();
        }
    }
    validate(kind, &settings, &secrets, accounts.production)?;
    let data = AccountData {
        id: id.clone(),
        name: name.to_owned(),
        kind,
        settings: settings.clone(),
        secrets: secrets.clone(),
        enabled,
        updated_at: now_ms(),
    };
    let simulated = match &accounts.factory {
        Some(f) => {
            f.build(&data).map_err(AccountError::Invalid)?;
            f.is_simulated(&data)
        }
        None => false,
    };
    if simulated && !state.simulator.is_on() {
        return Err(AccountError::Invalid(SIMULATOR_OFF.into()).into());
    }
    let plain = serde_json::to_vec(&secrets).context("cannot encode the secrets")?;
    let sealed = vault.seal(&aad(&id, kind), &plain)?;
    let settings_json = serde_json::to_string(&settings).context("cannot encode the settings")?;
    let now = now_ms();
    let mut tx = state
        .db
        .pool
        .begin()
        .await
        .context("cannot start a transaction")?;
    if existing {
        sqlx::query("UPDATE merchant_accounts SET name = $1, settings_json = $2, secrets_sealed = $3, fingerprint = $4, updated_at = $5 WHERE id = $6")
            .bind(name)
            .bind(&settings_json)
            .bind(&sealed)
            .bind(secrets.fingerprint())
            .bind(now)
            .bind(&id)
            .execute(&mut *tx)
            .await
            .context("cannot update the account")?;
    } else {
        sqlx::query("INSERT INTO merchant_accounts (id, name, kind, settings_json, secrets_sealed, fingerprint, enabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7)")
            .bind(&id)
            .bind(name)
            .bind(kind.as_str())
            .bind(&settings_json)
            .bind(&sealed)
            .bind(secrets.fingerprint())
            .bind(now)
            .execute(&mut *tx)
            .await
            .context("cannot store the account")?;
    }
    let what = if existing {
        "update_account"
    } else {
        "create_account"
    };
    audit::record_in(
        &mut tx,
        admin,
        what,
        &id,
        &format!("{} ({}) {}", name, kind.as_str(), secrets.fingerprint()),
    )
    .await?;
    tx.commit().await.context("cannot commit the account")?;
    forget(accounts, &id);
    tracing::info!(account = %id, kind = kind.as_str(), "receiving account saved");
    if !simulated {
        state
            .simulator
            .turn_off("a real receiving account was stored");
    }
    Ok(id)
}

/// Why an account played by the simulator cannot be used.
pub const SIMULATOR_OFF: &str = "this account uses the simulator or the public development keys, and the simulator is off (it runs only in development, on a loopback address, with no real provider)";

fn forget(accounts: &Accounts, id: &str) {
    if let Ok(mut c) = accounts.cache.lock() {
        c.remove(id);
    }
}

pub async fn set_enabled(
    state: &Core,
    admin: &Admin,
    id: &str,
    enabled: bool,
) -> Result<(), LoadError> {
    let mut tx = state
        .db
        .pool
        .begin()
        .await
        .context("cannot start a transaction")?;
    let done =
        sqlx::query("UPDATE merchant_accounts SET enabled = $1, updated_at = $2 WHERE id = $3")
            .bind(i64::from(enabled))
            .bind(now_ms())
            .bind(id)
            .execute(&mut *tx)
            .await
            .context("cannot change the account")?;
    if done.rows_affected() != 1 {
        return Err(AccountError::NotFound.into());
    }
    audit::record_in(
        &mut tx,
        admin,
        if enabled {
            "enable_account"
        } else {
            "disable_account"
        },
        id,
        "",
    )
    .await?;
    tx.commit().await.context("cannot commit")?;
    forget(&state.accounts, id);
    if enabled && !is_simulated(&state.accounts, &state.db, id).await? {
        state
            .simulator
            .turn_off("a real receiving account was enabled");
    }
    Ok(())
}

/// Whether a stored account is played by the simulator (an account that
/// cannot be opened counts as real: the simulator then stays off).
pub async fn is_simulated(accounts: &Accounts, db: &Db, id: &str) -> anyhow::Result<bool> {
    let Some(factory) = &accounts.factory else {
        return Ok(false);
    };
    Ok(match load(accounts, db, id).await {
        Ok(data) => factory.is_simulated(&data),
        Err(LoadError::Account(_)) => false,
        Err(LoadError::Unexpected(e)) => return Err(e),
    })
}

/// Whether any enabled stored account is real (start-up decides the simulator with it).
pub async fn any_real(accounts: &Accounts, db: &Db) -> anyhow::Result<bool> {
    for a in list(db).await? {
        if a.enabled && !is_simulated(accounts, db, &a.id).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The account a form takes payments with (None: the default from the environment).
pub async fn set_form_account(
    state: &Core,
    admin: &Admin,
    form_id: &str,
    account_id: Option<&str>,
) -> Result<(), LoadError> {
    if let Some(id) = account_id {
        let (s, _) = load_row(&state.db, id)
            .await?
            .ok_or(AccountError::NotFound)?;
        if !s.enabled {
            return Err(AccountError::Disabled.into());
        }
    }
    let mut tx = state
        .db
        .pool
        .begin()
        .await
        .context("cannot start a transaction")?;
    let done = sqlx::query("UPDATE forms SET account_id = $1 WHERE id = $2")
        .bind(account_id)
        .bind(form_id)
        .execute(&mut *tx)
        .await
        .context("cannot change the form")?;
    if done.rows_affected() != 1 {
        return Err(AccountError::Invalid("no such form".into()).into());
    }
    audit::record_in(
        &mut tx,
        admin,
        "form_account",
        form_id,
        account_id.unwrap_or("default"),
    )
    .await?;
    tx.commit().await.context("cannot commit")?;
    Ok(())
}

pub async fn form_account(db: &Db, form_id: &str) -> anyhow::Result<Option<String>> {
    Ok(sqlx::query("SELECT account_id FROM forms WHERE id = $1")
        .bind(form_id)
        .fetch_optional(&db.pool)
        .await
        .context("cannot read the form")?
        .and_then(|r| r.try_get::<Option<String>, _>("account_id").ok().flatten()))
}

/// The clients to use for an order or a form: the environment's default when
/// `account_id` is None, else the stored account's (built once, then cached
/// until the account changes).
pub async fn providers(
    state: &Core,
    account_id: Option<&str>,
) -> Result<PaymentProviders, LoadError> {
    let Some(id) = account_id else {
        // The environment's account; the simulator stands in for what it
        // leaves out, only while the simulator is on.
        let mut p = state.payments.clone();
        if state.simulator.is_on() {
            p.wechat = p.wechat.or_else(|| state.simulated.wechat.clone());
            p.alipay = p.alipay.or_else(|| state.simulated.alipay.clone());
        }
        return Ok(p);
    };
    let accounts = &state.accounts;
    let (summary, _) = load_row(&state.db, id)
        .await?
        .ok_or(AccountError::NotFound)?;
    let usable = |p: PaymentProviders, simulated: bool| {
        if simulated && !state.simulator.is_on() {
            Err(LoadError::from(AccountError::Invalid(SIMULATOR_OFF.into())))
        } else {
            Ok(p)
        }
    };
    if let Ok(c) = accounts.cache.lock() {
        if let Some((at, p, simulated)) = c.get(id) {
            if *at == summary.updated_at {
                return usable(p.clone(), *simulated);
            }
        }
    }
    let data = load(accounts, &state.db, id).await?;
    let factory = accounts
        .factory
        .as_ref()
        .ok_or_else(|| AccountError::Invalid("no provider factory".into()))?;
    let built = factory.build(&data).map_err(AccountError::Invalid)?;
    let simulated = factory.is_simulated(&data);
    if let Ok(mut c) = accounts.cache.lock() {
        c.insert(id.to_owned(), (data.updated_at, built.clone(), simulated));
    }
    usable(built, simulated)
}

/// Whether an account may take new payments.
pub async fn is_enabled(db: &Db, id: &str) -> anyhow::Result<bool> {
    Ok(load_row(db, id).await?.is_some_and(|(s, _)| s.enabled))
}

/// "Test connection": a harmless signed query for an order that does not
/// exist, at every provider of the account. Returns one line per provider.
pub async fn test_connection(
    state: &Core,
    account_id: Option<&str>,
) -> Vec<(String, Result<(), String>)> {
    let providers = match providers(state, account_id).await {
        Ok(p) => p,
        Err(e) => return vec![("account".into(), Err(e.to_string()))],
    };
    let probe = match domain::OutTradeNo::parse(&format!("FPTEST{}", now_ms())) {
        Ok(p) => p,
        Err(e) => return vec![("account".into(), Err(format!("probe number: {e}")))],
    };
    let mut out = Vec::new();
    for p in [providers.wechat, providers.alipay].into_iter().flatten() {
        let result = match p.query(&probe).await {
            // The provider answered, signed, that it does not know the order: keys work.
            Ok(_) | Err(ProviderError::NotFound) => Ok(()),
            Err(e) => Err(e.to_string()),
        };
        out.push((p.provider().as_str().to_owned(), result));
    }
    if out.is_empty() {
        out.push(("account".into(), Err("no provider in this account".into())));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_the_same_key_and_row() {
        let v = Vault::new(&[7u8; 32]);
        let sealed = v.seal("formpay-account:a:alipay", b"secret").expect("seal");
        assert!(!sealed.contains("secret"));
        assert_eq!(
            v.open("formpay-account:a:alipay", &sealed).expect("open"),
            b"secret"
        );
        assert_eq!(
            v.open("formpay-account:b:alipay", &sealed),
            Err(AccountError::WrongMasterKey)
        );
        let other = Vault::new(&[8u8; 32]);
        assert_eq!(
            other.open("formpay-account:a:alipay", &sealed),
            Err(AccountError::WrongMasterKey)
        );
        assert_eq!(
            v.open("formpay-account:a:alipay", "not base64!"),
            Err(AccountError::WrongMasterKey)
        );
        // A fresh nonce each time.
        assert_ne!(
            v.seal("x", b"same").expect("seal"),
            v.seal("x", b"same").expect("seal")
        );
    }

    #[test]
    fn fingerprints_name_each_secret_without_revealing_it() {
        let s = AccountSecrets {
            private_key: "-----BEGIN PRIVATE KEY-----abc".into(),
            apiv3_key: "0123456789abcdef0123456789abcdef".into(),
            v2_key: String::new(),
        };
        let f = s.fingerprint();
        assert!(
            f.starts_with("key:") && f.contains(" apiv3:") && !f.contains("v2:"),
            "{f}"
        );
        assert!(!f.contains("0123456789"));
        assert!(!format!("{s:?}").contains("abc"));
    }

    #[test]
    fn each_kind_names_what_it_is_missing() {
        let e = validate(
            AccountKind::WechatV3,
            &AccountSettings::default(),
            &AccountSecrets::default(),
            false,
        );
        let Err(AccountError::Invalid(m)) = e else {
            panic!("{e:?}")
        };
        assert!(
            m.contains("mch_id") && m.contains("private_key") && m.contains("apiv3_key"),
            "{m}"
        );
        assert!(validate(
            AccountKind::Simulator,
            &AccountSettings::default(),
            &AccountSecrets::default(),
            true
        )
        .is_err());
        assert!(validate(
            AccountKind::Simulator,
            &AccountSettings::default(),
            &AccountSecrets::default(),
            false
        )
        .is_ok());
    }
}
