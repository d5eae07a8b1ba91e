//! Stored receiving accounts: rows, saving (checked through the kind's
//! schema, secrets sealed), enabling, and the account of each form.

use super::vault::{aad, Resealed, Vault};
use super::{
    fingerprint, AccountData, AccountError, Accounts, LoadError, SIMULATOR_KIND, SIMULATOR_OFF,
};
use crate::auth::Admin;
use crate::registry::{CredentialField, Credentials};
use crate::store::audit::{self, AuditAction};
use crate::{now_ms, random_token, Core, Db};
use anyhow::Context;
use std::collections::BTreeMap;

/// What lists and forms show of an account: no secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountSummary {
    pub id: String,
    pub name: String,
    pub kind: String,
    /// The non-secret fields.
    pub settings: BTreeMap<String, String>,
    pub fingerprint: String,
    pub enabled: bool,
    pub updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    id: String,
    name: String,
    kind: String,
    settings_json: String,
    secrets_sealed: String,
    fingerprint: String,
    enabled: i64,
    updated_at: i64,
}

impl AccountRow {
    fn split(self) -> anyhow::Result<(AccountSummary, String)> {
        Ok((
            AccountSummary {
                settings: settings_of(&self.settings_json)?,
                id: self.id,
                name: self.name,
                kind: self.kind,
                fingerprint: self.fingerprint,
                enabled: self.enabled != 0,
                updated_at: self.updated_at,
            },
            self.secrets_sealed,
        ))
    }
}

/// Stored settings: a JSON object of strings (older rows may hold empty
/// fields of other kinds: they are dropped).
fn settings_of(json: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let all: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(json).context("unreadable account settings")?;
    Ok(all
        .into_iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) if !s.trim().is_empty() => Some((k, s)),
            _ => None,
        })
        .collect())
}

const SELECT: &str = "SELECT id, name, kind, settings_json, secrets_sealed, fingerprint, enabled, updated_at FROM merchant_accounts";

pub async fn list(db: &Db) -> anyhow::Result<Vec<AccountSummary>> {
    let rows: Vec<AccountRow> = sqlx::query_as(&format!("{SELECT} ORDER BY created_at, id"))
        .fetch_all(&db.pool)
        .await
        .context("cannot list the accounts")?;
    rows.into_iter()
        .map(|r| r.split().map(|(s, _)| s))
        .collect()
}

async fn load_row(db: &Db, id: &str) -> anyhow::Result<Option<(AccountSummary, String)>> {
    let row: Option<AccountRow> = sqlx::query_as(&format!("{SELECT} WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await
        .context("cannot read the account")?;
    row.map(AccountRow::split).transpose()
}

/// An account without its secrets.
pub async fn load_summary(db: &Db, id: &str) -> anyhow::Result<Option<AccountSummary>> {
    Ok(load_row(db, id).await?.map(|(s, _)| s))
}

/// An account with its secrets opened.
pub async fn load(accounts: &Accounts, db: &Db, id: &str) -> Result<AccountData, LoadError> {
    let (s, sealed) = load_row(db, id).await?.ok_or(AccountError::NotFound)?;
    let vault = accounts.vault.as_ref().ok_or(AccountError::NoMasterKey)?;
    let plain = vault.open(&aad(&s.id, &s.kind), &sealed)?;
    let secrets: BTreeMap<String, String> =
        serde_json::from_slice(&plain).map_err(|_| AccountError::WrongMasterKey)?;
    let mut all = s.settings;
    all.extend(secrets);
    Ok(AccountData {
        id: s.id,
        name: s.name,
        kind: s.kind,
        credentials: Credentials::from_map(all),
        enabled: s.enabled,
        updated_at: s.updated_at,
    })
}

/// The schema of a kind, or why it cannot be used here.
fn schema_of(
    accounts: &Accounts,
    state: &Core,
    kind: &str,
) -> Result<&'static [CredentialField], AccountError> {
    match accounts.registry.kind(kind) {
        Some(k) => Ok(k.fields()),
        None if kind == SIMULATOR_KIND && (accounts.production || !state.simulator.is_on()) => {
            Err(AccountError::Invalid(SIMULATOR_OFF.into()))
        }
        None => Err(AccountError::Invalid(format!(
            "unknown account kind {kind}"
        ))),
    }
}

/// Creates an account (`id` None) or edits one. Secret fields left empty keep
/// the stored value. Everything is checked through the kind's schema, and the
/// clients are built, before anything is stored, so a malformed key is
/// refused with its name. Storing a real account turns the simulator off.
pub async fn save(
    state: &Core,
    admin: &Admin,
    id: Option<&str>,
    name: &str,
    kind: &str,
    given: &Credentials,
) -> Result<String, LoadError> {
    let accounts = &state.accounts;
    let vault = accounts.vault.as_ref().ok_or(AccountError::NoMasterKey)?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 60 {
        return Err(
            AccountError::Invalid("a name of 1 to 60 characters is required".into()).into(),
        );
    }
    let schema = schema_of(accounts, state, kind)?;
    let (id, mut credentials, enabled, existing) = match id {
        Some(id) => {
            let old = load(accounts, &state.db, id).await?;
            if old.kind != kind {
                return Err(
                    AccountError::Invalid("the kind of an account cannot change".into()).into(),
                );
            }
            (old.id.clone(), old.credentials, old.enabled, true)
        }
        None => (random_token().to_string(), Credentials::new(), true, false),
    };
    for f in schema {
        let value = given.get(f.key);
        // A secret left empty keeps the stored one; a setting is replaced.
        if !(f.secret && value.is_empty()) {
            credentials.set(f.key, value);
        }
    }
    accounts
        .registry
        .check(kind, &credentials, accounts.production)
        .map_err(AccountError::Invalid)?;
    accounts
        .registry
        .build(kind, &credentials, &state.payment_log)
        .map_err(AccountError::Invalid)?;
    let data = AccountData {
        id: id.clone(),
        name: name.to_owned(),
        kind: kind.to_owned(),
        credentials: credentials.clone(),
        enabled,
        updated_at: now_ms(),
    };
    let simulated = accounts.is_simulated(&data);
    if simulated && (accounts.production || !state.simulator.is_on()) {
        return Err(AccountError::Invalid(SIMULATOR_OFF.into()).into());
    }
    let secrets = credentials.part(schema, true);
    let plain = serde_json::to_vec(&secrets).context("cannot encode the secrets")?;
    let sealed = vault.seal(&aad(&id, kind), &plain)?;
    let settings_json = serde_json::to_string(&credentials.part(schema, false))
        .context("cannot encode the settings")?;
    let print = fingerprint(schema, &credentials);
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
            .bind(&print)
            .bind(now)
            .bind(&id)
            .execute(&mut *tx)
            .await
            .context("cannot update the account")?;
    } else {
        sqlx::query("INSERT INTO merchant_accounts (id, name, kind, settings_json, secrets_sealed, fingerprint, enabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7)")
            .bind(&id)
            .bind(name)
            .bind(kind)
            .bind(&settings_json)
            .bind(&sealed)
            .bind(&print)
            .bind(now)
            .execute(&mut *tx)
            .await
            .context("cannot store the account")?;
    }
    let action = if existing {
        AuditAction::UpdateAccount
    } else {
        AuditAction::CreateAccount
    };
    audit::record_in(
        &mut tx,
        admin,
        action,
        &id,
        &format!("{name} ({kind}) {print}"),
    )
    .await?;
    tx.commit().await.context("cannot commit the account")?;
    accounts.forget(&id);
    tracing::info!(account = %id, kind, "receiving account saved");
    if !simulated {
        state
            .simulator
            .turn_off("a real receiving account was stored");
    }
    Ok(id)
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
    let action = if enabled {
        AuditAction::EnableAccount
    } else {
        AuditAction::DisableAccount
    };
    audit::record_in(&mut tx, admin, action, id, "").await?;
    tx.commit().await.context("cannot commit")?;
    state.accounts.forget(id);
    if enabled && !super::is_simulated(&state.accounts, &state.db, id).await? {
        state
            .simulator
            .turn_off("a real receiving account was enabled");
    }
    Ok(())
}

/// The account a form takes payments with (None: the default from the environment).
pub async fn set_form_account(
    state: &Core,
    admin: &Admin,
    form_id: &str,
    account_id: Option<&str>,
) -> Result<(), LoadError> {
    if let Some(id) = account_id {
        let s = load_summary(&state.db, id)
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
        AuditAction::FormAccount,
        form_id,
        account_id.unwrap_or("default"),
    )
    .await?;
    tx.commit().await.context("cannot commit")?;
    Ok(())
}

pub async fn form_account(db: &Db, form_id: &str) -> anyhow::Result<Option<String>> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT account_id FROM forms WHERE id = $1")
            .bind(form_id)
            .fetch_optional(&db.pool)
            .await
            .context("cannot read the form")?;
    Ok(row.and_then(|(a,)| a))
}

/// What a master-key rotation did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Accounts whose secrets moved from a previous key to the current one.
    pub moved: usize,
    /// Accounts already under the current key.
    pub current: usize,
    /// Other secrets (administrators' two-factor secrets, webhooks' signing
    /// secrets) moved to the current key.
    pub secrets_moved: usize,
}

/// Re-seals every stored account's secrets under the vault's current key,
/// in one transaction: all move, or (when an account opens under none of
/// the vault's keys) none does, and the accounts that no key opens are
/// named. The rows are locked for the transaction, so an account edited
/// meanwhile waits for it (and is then sealed under the current key by a
/// server that has it).
pub async fn reseal_all(db: &Db, vault: &Vault) -> anyhow::Result<Rotation> {
    // On SQLite a read transaction that then writes fails (busy) when another
    // writer committed in between: the whole transaction is tried again.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match reseal_all_once(db, vault).await {
            Err(Resealing::Busy(e)) if attempt < 20 => {
                tracing::debug!(error = %e, attempt, "re-sealing raced a writer; again");
                tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
            }
            Err(Resealing::Busy(e)) | Err(Resealing::Refused(e)) => return Err(e),
            Ok(done) => return Ok(done),
        }
    }
}

enum Resealing {
    /// A database error: worth another try.
    Busy(anyhow::Error),
    /// No key opens some account: trying again changes nothing.
    Refused(anyhow::Error),
}

async fn reseal_all_once(db: &Db, vault: &Vault) -> Result<Rotation, Resealing> {
    let busy = |what: &'static str| {
        move |e: sqlx::Error| Resealing::Busy(anyhow::Error::new(e).context(what))
    };
    let mut tx = db
        .pool
        .begin()
        .await
        .map_err(busy("cannot start a transaction"))?;
    let select = match db.backend {
        crate::db::Backend::Sqlite => {
            "SELECT id, kind, secrets_sealed FROM merchant_accounts ORDER BY id"
        }
        // Locked until the commit: an edit meanwhile waits, then seals anew.
        crate::db::Backend::Postgres => {
            "SELECT id, kind, secrets_sealed FROM merchant_accounts ORDER BY id FOR UPDATE"
        }
    };
    let rows: Vec<(String, String, String)> = sqlx::query_as(select)
        .fetch_all(&mut *tx)
        .await
        .map_err(busy("cannot read the accounts"))?;
    let mut done = Rotation::default();
    let mut done_secrets = 0;
    let mut unopened = Vec::new();
    let mut moved = Vec::new();
    for (id, kind, sealed) in rows {
        match vault.reseal(&aad(&id, &kind), &sealed) {
            Ok(Resealed::Current) => done.current += 1,
            Ok(Resealed::Moved(new)) => moved.push((id, sealed, new)),
            Err(_) => unopened.push(format!("{id} ({kind})")),
        }
    }
    if !unopened.is_empty() {
        return Err(Resealing::Refused(anyhow::anyhow!(
            "no key given opens these accounts: {}; nothing was changed (is the key they were saved with in APP_MASTER_KEY_PREVIOUS?)",
            unopened.join(", ")
        )));
    }
    for (id, old, new) in &moved {
        // Compare-and-set: an account saved meanwhile is read again.
        let done = sqlx::query(
            "UPDATE merchant_accounts SET secrets_sealed = $1 WHERE id = $2 AND secrets_sealed = $3",
        )
        .bind(new)
        .bind(id)
        .bind(old)
        .execute(&mut *tx)
        .await
        .map_err(busy("cannot store a re-sealed account"))?;
        if done.rows_affected() != 1 {
            return Err(Resealing::Busy(anyhow::anyhow!(
                "account {id} changed during the rotation"
            )));
        }
    }
    // The administrators' two-factor secrets and the webhooks' signing
    // secrets are sealed the same way, with their row's id as associated data.
    for (table, column, kind) in [
        ("admins", "totp_sealed", "admin-totp"),
        ("webhook_endpoints", "secret_sealed", "webhook"),
    ] {
        let lock = match db.backend {
            crate::db::Backend::Sqlite => "",
            crate::db::Backend::Postgres => " FOR UPDATE",
        };
        let secrets: Vec<(String, String)> = sqlx::query_as(&format!(
            "SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL ORDER BY id{lock}"
        ))
        .fetch_all(&mut *tx)
        .await
        .map_err(busy("cannot read the sealed secrets"))?;
        for (id, sealed) in secrets {
            match vault.reseal(&aad(&id, kind), &sealed) {
                Ok(Resealed::Current) => {}
                Ok(Resealed::Moved(new)) => {
                    let done = sqlx::query(&format!(
                        "UPDATE {table} SET {column} = $1 WHERE id = $2 AND {column} = $3"
                    ))
                    .bind(new)
                    .bind(&id)
                    .bind(&sealed)
                    .execute(&mut *tx)
                    .await
                    .map_err(busy("cannot store a re-sealed secret"))?;
                    if done.rows_affected() != 1 {
                        return Err(Resealing::Busy(anyhow::anyhow!(
                            "{table} {id} changed during the rotation"
                        )));
                    }
                    done_secrets += 1;
                }
                Err(_) => {
                    return Err(Resealing::Refused(anyhow::anyhow!(
                        "no key given opens the {kind} secret of {id}; nothing was changed"
                    )))
                }
            }
        }
    }
    tx.commit()
        .await
        .map_err(busy("cannot commit the re-sealed accounts"))?;
    done.moved = moved.len();
    done.secrets_moved = done_secrets;
    Ok(done)
}
