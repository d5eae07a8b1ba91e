//! Receiving (merchant) accounts. An account is a kind (a provider's module,
//! see `crate::registry`) and credentials shaped by the kind's schema. The
//! environment's account is read through the same schemas at start-up and is
//! read-only; stored accounts keep their non-secret fields in clear and their
//! secrets sealed under `APP_MASTER_KEY` (`vault`), never sent back to a
//! browser (a fingerprint is shown instead) and never logged.

pub mod store;
pub mod vault;

pub use store::*;
pub use vault::Vault;

use crate::provider::{PaymentProviders, ProviderError};
use crate::registry::{CredentialField, Credentials, Registry};
use crate::{now_ms, Core, Db};
use sha2::Digest;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The kind id of the simulator's accounts (development only): its keys are
/// public, so it is usable only while the simulator runs.
pub const SIMULATOR_KIND: &str = "simulator";

/// Why an account played by the simulator cannot be used.
pub const SIMULATOR_OFF: &str = "this account uses the simulator or the public development keys, and the simulator is off (it runs only in development, on a loopback address, with no real provider)";

/// One stored account, with its secrets opened: only ever held in memory.
#[derive(Clone, Debug)]
pub struct AccountData {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub credentials: Credentials,
    pub enabled: bool,
    pub updated_at: i64,
}

/// Short SHA-256 prefixes of each secret that is set, in the schema's order:
/// enough to tell two keys apart, nothing to rebuild them from.
pub fn fingerprint(schema: &[CredentialField], c: &Credentials) -> String {
    let short = |s: &str| hex::encode(&sha2::Sha256::digest(s.trim().as_bytes())[..6]);
    schema
        .iter()
        .filter(|f| f.secret && c.has(f.key))
        .map(|f| format!("{}:{}", fingerprint_name(f.key), short(c.get(f.key))))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The names fingerprints have always used for the secrets.
fn fingerprint_name(key: &str) -> &str {
    match key {
        "private_key" => "key",
        "apiv3_key" => "apiv3",
        "v2_key" => "v2",
        other => other,
    }
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

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// The stored accounts' vault, the registry of kinds, and a cache of built clients.
#[derive(Clone)]
pub struct Accounts {
    pub vault: Option<Vault>,
    pub registry: Registry,
    /// Production refuses development-only fields and the simulator.
    pub production: bool,
    /// Built clients by account id.
    cache: Arc<Mutex<HashMap<String, Built>>>,
}

/// An account's clients as built for its `updated_at`, and whether the
/// simulator plays it.
type Built = (i64, PaymentProviders, bool);

impl Accounts {
    pub fn new(vault: Option<Vault>, registry: Registry, production: bool) -> Accounts {
        Accounts {
            vault,
            registry,
            production,
            cache: Arc::default(),
        }
    }

    /// Whether the simulator plays this account: its kind, or the public
    /// development keys in its credentials.
    pub fn is_simulated(&self, a: &AccountData) -> bool {
        a.kind == SIMULATOR_KIND
            || self
                .registry
                .kind(&a.kind)
                .is_some_and(|k| k.uses_development_keys(&a.credentials))
    }

    fn forget(&self, id: &str) {
        if let Ok(mut c) = self.cache.lock() {
            c.remove(id);
        }
    }
}

/// The clients to use for an order or a form: the environment's default when
/// `account_id` is None, else the stored account's (built once, then cached
/// until the account changes). An account played by the simulator is usable
/// only while the simulator is on.
pub async fn providers(
    state: &Core,
    account_id: Option<&str>,
) -> Result<PaymentProviders, LoadError> {
    let Some(id) = account_id else {
        // The environment's account; the simulator stands in for what it
        // leaves out, only while the simulator is on.
        return Ok(if state.simulator.is_on() {
            state.payments.clone().or(&state.simulated)
        } else {
            state.payments.clone()
        });
    };
    let accounts = &state.accounts;
    let summary = load_summary(&state.db, id)
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
    let simulated = accounts.is_simulated(&data);
    if simulated && !state.simulator.is_on() {
        return Err(AccountError::Invalid(SIMULATOR_OFF.into()).into());
    }
    let built = accounts
        .registry
        .build(&data.kind, &data.credentials, &state.payment_log)
        .map_err(AccountError::Invalid)?;
    if let Ok(mut c) = accounts.cache.lock() {
        c.insert(id.to_owned(), (data.updated_at, built.clone(), simulated));
    }
    usable(built, simulated)
}

/// Whether a stored account is played by the simulator (an account that
/// cannot be opened counts as real: the simulator then stays off).
pub async fn is_simulated(accounts: &Accounts, db: &Db, id: &str) -> anyhow::Result<bool> {
    Ok(match load(accounts, db, id).await {
        Ok(data) => accounts.is_simulated(&data),
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

/// Whether an account may take new payments.
pub async fn is_enabled(db: &Db, id: &str) -> anyhow::Result<bool> {
    Ok(load_summary(db, id).await?.is_some_and(|s| s.enabled))
}

/// "Test connection": a harmless signed query for an order that does not
/// exist, at every provider of the account, and the check of the official
/// account's secret where JSAPI is set up. Returns one line per check.
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
    for p in providers.iter() {
        let result = match p.query(&probe).await {
            // The provider answered, signed, that it does not know the order: keys work.
            Ok(_) | Err(ProviderError::NotFound) => Ok(()),
            Err(e) => Err(e.to_string()),
        };
        out.push((p.provider().as_str().to_owned(), result));
        // The official account's secret, which JSAPI's OAuth needs.
        if let Some(identity) = p.payer_identity() {
            let result = identity.check().await.map_err(|e| e.to_string());
            out.push((format!("{}_oauth", p.provider().as_str()), result));
        }
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
    fn fingerprints_name_each_secret_without_revealing_it() {
        let field = |key, secret| CredentialField {
            key,
            env: "",
            label: ("", ""),
            secret,
            multiline: false,
            development_only: false,
        };
        let schema = [
            field("mch_id", false),
            field("private_key", true),
            field("apiv3_key", true),
            field("v2_key", true),
        ];
        let mut c = Credentials::new();
        c.set("mch_id", "1900000001");
        c.set("private_key", "-----BEGIN PRIVATE KEY-----abc");
        c.set("apiv3_key", "0123456789abcdef0123456789abcdef");
        let f = fingerprint(&schema, &c);
        assert!(
            f.starts_with("key:") && f.contains(" apiv3:") && !f.contains("v2:"),
            "{f}"
        );
        assert!(!f.contains("0123456789") && !f.contains("1900000001"));
        assert!(!format!("{c:?}").contains("abc"));
    }
}
