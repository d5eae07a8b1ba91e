//! The payment core of formpay, server-side only: the database and its
//! stores, the provider trait, the use cases (submit, start a payment,
//! settle, refund, reconcile), receiving accounts and their vault, the live
//! status hub. It knows no HTTP framework and no page: `app` (server
//! functions) and `server` (routes) call it.

pub mod accounts;
pub mod auth;
pub mod commit;
pub mod db;
pub mod hub;
pub mod mail;
pub mod pay;
pub mod payer;
pub mod payment_log;
pub mod pow;
pub mod provider;
pub mod regions;
pub mod registry;
pub mod security;
pub mod store;
pub mod streams;
pub mod webhooks;

pub use db::{Backend, Db};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Milliseconds since the Unix epoch: the one time representation in the database.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// 128 random bits as 32 lowercase hex digits: the unguessable ids of public links.
pub fn random_token() -> domain::Token {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    domain::Token::parse(&hex::encode(bytes))
        .unwrap_or_else(|_| unreachable!("hex of 16 bytes is a token"))
}

/// An id for a row that is only ever appended (an order's event, a payment
/// log row): 32 hex digits like [`random_token`], the first 12 the time in
/// milliseconds, the other 20 random. Rows written together then sit side
/// by side in the table's B-tree, so a batch of them dirties one or two
/// pages instead of one page each. Not for anything that must be guessed
/// by no one (use [`random_token`]).
pub fn row_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    let ms = u64::try_from(now_ms()).unwrap_or(0).to_be_bytes();
    bytes[..6].copy_from_slice(&ms[2..]);
    rand::thread_rng().fill_bytes(&mut bytes[6..]);
    hex::encode(bytes)
}

/// Everything the use cases work with; cheap to clone.
#[derive(Clone)]
pub struct Core {
    pub db: Db,
    pub login_limiter: Arc<auth::LoginLimiter>,
    /// Mark cookies `Secure` (production, behind HTTPS).
    pub secure_cookies: bool,
    /// The providers configured through the environment (the default account).
    pub payments: provider::PaymentProviders,
    /// The simulator's stand-ins for providers the environment leaves out;
    /// used only while [`SimulatorSwitch::is_on`].
    pub simulated: provider::PaymentProviders,
    pub simulator: SimulatorSwitch,
    pub hub: hub::StatusHub,
    pub pay: pay::PaySettings,
    /// Receiving accounts stored in the database (with the master key).
    pub accounts: accounts::Accounts,
    pub payment_log: payment_log::PaymentLog,
    pub security: security::SecurityLog,
    pub sessions: auth::SessionSettings,
    /// Proxies whose `X-Forwarded-For` names the client (`TRUSTED_PROXIES`).
    pub trusted_proxies: auth::TrustedProxies,
    /// Open server-sent event streams, per address and in all.
    pub streams: streams::StreamLimits,
    /// Signs what payers' browsers carry (the WeChat openid, OAuth state).
    pub payer_seal: payer::PayerSeal,
    /// Form page views not yet written (the funnel's first step).
    pub views: Arc<store::insights::ViewCounter>,
    /// Bursts of submissions and the proofs of work they ask for.
    pub pow: Arc<pow::PowGuard>,
    /// Where uploaded files are kept (`UPLOAD_DIR` or an S3 bucket).
    pub uploads: store::uploads::UploadStore,
}

/// Whether the provider simulator (public keys: it "pays" for free) may stand
/// in for providers. Decided at start-up; turned off for good, on every
/// route at once, as soon as a real receiving account is stored.
#[derive(Clone, Debug, Default)]
pub struct SimulatorSwitch(Arc<AtomicBool>);

impl SimulatorSwitch {
    pub fn new(on: bool) -> SimulatorSwitch {
        SimulatorSwitch(Arc::new(AtomicBool::new(on)))
    }

    pub fn is_on(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Turns the simulator off (it never comes back before a restart).
    pub fn turn_off(&self, why: &str) {
        if self.0.swap(false, Ordering::SeqCst) {
            tracing::warn!(why, "the payment simulator is now off");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn row_ids_are_hex_tokens_in_the_order_they_were_made() {
        let first = super::row_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let ids: Vec<String> = (0..1000).map(|_| super::row_id()).collect();
        for id in ids.iter().chain([&first]) {
            assert_eq!(id.len(), 32, "{id}");
            assert!(domain::Token::parse(id).is_ok(), "{id} is not a token");
        }
        assert!(ids.iter().all(|id| id > &first), "a later id sorts first");
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "two ids alike");
    }
}
