//! Provider kinds and their credentials. A receiving account is a kind (WeChat
//! Pay v3, v2, Alipay, …) and credentials shaped by that kind's schema: which
//! fields, which are secret, how they are checked, how a client is built
//! from them. The environment's account is read through the same schemas
//! (each field names its environment variable), so there is one validation
//! for both. The kinds themselves live with their provider, in the
//! `providers` crate; the server registers them here.

use crate::payment_log::PaymentLog;
use crate::provider::{PaymentProvider, PaymentProviders};
use domain::Provider;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// One field of a kind's credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CredentialField {
    /// Its name in stored accounts (`mch_id`).
    pub key: &'static str,
    /// The environment variable of the default account (`WECHAT_MCH_ID`);
    /// a secret may also be given as a file path in `{env}_FILE`.
    pub env: &'static str,
    /// What the administrator reads: Chinese, English.
    pub label: (&'static str, &'static str),
    /// Sealed under the master key, never shown again, never logged.
    pub secret: bool,
    /// A PEM key or certificate: a text area.
    pub multiline: bool,
    /// Only for development (another gateway): refused in production.
    pub development_only: bool,
}

/// A kind's credentials: field key → value (trimmed, empty means unset).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials(BTreeMap<String, String>);

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values may be keys: only the names of the fields that are set.
        f.debug_set()
            .entries(self.0.iter().filter(|(_, v)| !v.is_empty()).map(|(k, _)| k))
            .finish()
    }
}

impl Credentials {
    pub fn new() -> Credentials {
        Credentials::default()
    }

    /// The value of a field, "" when unset.
    pub fn get(&self, key: &str) -> &str {
        self.0.get(key).map(String::as_str).unwrap_or("")
    }

    pub fn has(&self, key: &str) -> bool {
        !self.get(key).is_empty()
    }

    pub fn set(&mut self, key: &str, value: &str) {
        let v = value.trim();
        if v.is_empty() {
            self.0.remove(key);
        } else {
            self.0.insert(key.to_owned(), v.to_owned());
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The fields of `schema` that are (not) secret, as a map.
    pub fn part(&self, schema: &[CredentialField], secret: bool) -> BTreeMap<String, String> {
        schema
            .iter()
            .filter(|f| f.secret == secret && self.has(f.key))
            .map(|f| (f.key.to_owned(), self.get(f.key).to_owned()))
            .collect()
    }

    pub fn from_map(map: BTreeMap<String, String>) -> Credentials {
        let mut c = Credentials::new();
        for (k, v) in map {
            c.set(&k, &v);
        }
        c
    }
}

/// What is wrong with credentials: (field key, problem), every one found.
pub type Problems = Vec<(&'static str, String)>;

/// One kind of receiving account: a provider's module describes itself with
/// this. See `docs/ADDING_A_PROVIDER.md`.
pub trait ProviderKind: Send + Sync {
    /// Its id in stored accounts (`wechat_v3`).
    fn id(&self) -> &'static str;
    /// What the administrator reads: Chinese, English.
    fn name(&self) -> (&'static str, &'static str);
    /// The providers its clients serve.
    fn providers(&self) -> &'static [Provider];
    fn fields(&self) -> &'static [CredentialField];
    /// Whether the environment configures this kind for the default account
    /// (`get` reads a variable).
    fn in_environment(&self, get: &dyn Fn(&str) -> Option<String>) -> bool;
    /// Every problem with these credentials, by field.
    fn check(&self, c: &Credentials) -> Problems;
    /// Whether they are (partly) the public development keys.
    fn uses_development_keys(&self, c: &Credentials) -> bool;
    /// The clients, from credentials that passed [`ProviderKind::check`].
    fn build(
        &self,
        c: &Credentials,
        log: &PaymentLog,
    ) -> Result<Vec<Arc<dyn PaymentProvider>>, String>;
}

/// The kinds this instance knows, by id.
#[derive(Clone, Default)]
pub struct Registry {
    kinds: Vec<Arc<dyn ProviderKind>>,
}

impl Registry {
    pub fn new(kinds: Vec<Arc<dyn ProviderKind>>) -> Registry {
        Registry { kinds }
    }

    pub fn kind(&self, id: &str) -> Option<&Arc<dyn ProviderKind>> {
        self.kinds.iter().find(|k| k.id() == id)
    }

    pub fn kinds(&self) -> impl Iterator<Item = &Arc<dyn ProviderKind>> {
        self.kinds.iter()
    }

    /// Checks credentials of a kind as a stored account: the kind's own
    /// rules, and nothing development-only in production.
    pub fn check(&self, kind: &str, c: &Credentials, production: bool) -> Result<(), String> {
        let k = self
            .kind(kind)
            .ok_or_else(|| format!("unknown account kind {kind}"))?;
        let mut problems = k.check(c);
        if production {
            for f in k.fields() {
                if f.development_only && c.has(f.key) {
                    problems.push((f.key, "is for development only".into()));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems
                .iter()
                .map(|(field, p)| format!("{field} {p}"))
                .collect::<Vec<_>>()
                .join("; "))
        }
    }

    /// The clients of checked credentials.
    pub fn build(
        &self,
        kind: &str,
        c: &Credentials,
        log: &PaymentLog,
    ) -> Result<PaymentProviders, String> {
        let k = self
            .kind(kind)
            .ok_or_else(|| format!("unknown account kind {kind}"))?;
        Ok(k.build(c, log)?.into_iter().collect())
    }
}
