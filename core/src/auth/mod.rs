//! Administrator accounts: argon2id password hashes (computed on the blocking
//! pool, a few at a time, so a burst of logins never stalls callbacks),
//! database-backed sessions carried by an HTTP-only SameSite cookie that end
//! after a lifetime or when idle, and a login throttle that slows a guessing
//! (account, address) pair down instead of locking the account for everyone.

use crate::{now_ms, random_token, Db};
use anyhow::Context;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use domain::Email;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const SESSION_COOKIE: &str = "fp_session";
pub const SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// The shortest and longest password an administrator may set. The longest
/// also bounds what a login makes us hash.
pub const MIN_PASSWORD_LEN: usize = 10;
pub const MAX_PASSWORD_LEN: usize = 256;

/// How long sessions last.
#[derive(Clone, Copy, Debug)]
pub struct SessionSettings {
    /// A session unused for this long ends (default 12 hours).
    pub idle_ms: i64,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            idle_ms: 12 * 3600 * 1000,
        }
    }
}

/// A signed-in administrator. Deliberately not `Serialize`: the wire type is
/// `app::pages::admin::AdminInfo`.
#[derive(Debug, Clone)]
pub struct Admin {
    pub id: String,
    pub email: String,
}

/// Password hashing runs on its own threads at the lowest scheduling
/// priority (nice 19), one on a machine of two cores or fewer, two beyond:
/// argon2 takes tens of milliseconds of CPU and 19 MiB each, so a burst of
/// logins waits there instead of taking the CPU from the requests that serve
/// payments. A full queue refuses the login (it is retried) rather than
/// growing without bound.
struct Hasher {
    jobs: std::sync::mpsc::SyncSender<Box<dyn FnOnce() + Send>>,
}

const HASH_QUEUE: usize = 256;

fn hasher() -> &'static Hasher {
    static HASHER: std::sync::OnceLock<Hasher> = std::sync::OnceLock::new();
    HASHER.get_or_init(|| {
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Box<dyn FnOnce() + Send>>(HASH_QUEUE);
        let queue = std::sync::Arc::new(Mutex::new(queue));
        let threads = if std::thread::available_parallelism().map_or(1, |n| n.get()) <= 2 {
            1
        } else {
            2
        };
        for i in 0..threads {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-hash-{i}"))
                .spawn(move || {
                    if let Err(e) = thread_priority::set_current_thread_priority(
                        thread_priority::ThreadPriority::Min,
                    ) {
                        tracing::warn!(error = ?e, "password hashing runs at normal priority");
                    }
                    loop {
                        let job = match queue.lock() {
                            Ok(q) => q.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        Hasher { jobs }
    })
}

/// The hashing queue is full: try again in a moment (not a wrong password).
#[derive(Debug, thiserror::Error)]
#[error("too many passwords are being checked; try again in a moment")]
pub struct HashingBusy;

async fn on_hashing_pool<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> anyhow::Result<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    hasher()
        .jobs
        .try_send(Box::new(move || {
            let _ = tx.send(work());
        }))
        .map_err(|_| HashingBusy)?;
    rx.await.context("password hashing failed")
}

fn hash_password_now(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))
}

fn verify_password_now(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

pub async fn hash_password(password: &str) -> anyhow::Result<String> {
    let password = password.to_owned();
    on_hashing_pool(move || hash_password_now(&password)).await?
}

/// Whether `password` matches `hash`; an error when it cannot be checked now
/// (the hashing queue is full), which is not a wrong password.
pub async fn verify_password(password: &str, hash: &str) -> anyhow::Result<bool> {
    let (password, hash) = (password.to_owned(), hash.to_owned());
    on_hashing_pool(move || verify_password_now(&password, &hash)).await
}

/// Sessions are stored by the SHA-256 of their token, so a copy of the
/// database does not hand out live sessions.
fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// What start-up did with `ADMIN_EMAIL` / `ADMIN_PASSWORD`.
#[derive(Debug, PartialEq, Eq)]
pub enum Ensured {
    Created,
    /// The administrator existed with another password: it is reset and
    /// their sessions are ended (the documented recovery path).
    PasswordReset,
    Unchanged,
}

/// Makes sure an administrator with this email exists and has this password.
pub async fn ensure_admin(db: &Db, email: &Email, password: &str) -> anyhow::Result<Ensured> {
    let existing: Option<(String, String)> =
        sqlx::query_as("SELECT id, password_hash FROM admins WHERE email = $1")
            .bind(email)
            .fetch_optional(&db.pool)
            .await
            .context("cannot read the administrator")?;
    if let Some((id, hash)) = existing {
        if verify_password(password, &hash).await? {
            return Ok(Ensured::Unchanged);
        }
        set_password(db, &id, password, None).await?;
        return Ok(Ensured::PasswordReset);
    }
    Ok(if create_admin(db, email, password).await? {
        Ensured::Created
    } else {
        Ensured::Unchanged
    })
}

/// Adds an administrator; false (and nothing changes) when one with this
/// email exists.
pub async fn create_admin(db: &Db, email: &Email, password: &str) -> anyhow::Result<bool> {
    let hash = hash_password(password).await?;
    let done = sqlx::query(
        "INSERT INTO admins (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (email) DO NOTHING",
    )
    .bind(random_token().to_string())
    .bind(email.as_str())
    .bind(hash)
    .bind(now_ms())
    .execute(&db.pool)
    .await
    .context("cannot store the administrator")?;
    Ok(done.rows_affected() == 1)
}

/// The id of the administrator with this email.
pub async fn admin_id(db: &Db, email: &Email) -> anyhow::Result<Option<String>> {
    let row: Option<(String,)> = sqlx::query_as("SELECT id FROM admins WHERE email = $1")
        .bind(email.as_str())
        .fetch_optional(&db.pool)
        .await
        .context("cannot read the administrator")?;
    Ok(row.map(|(id,)| id))
}

/// Sets an administrator's password and ends their sessions, all but
/// `keep` (the session that asked, when they change it themselves).
pub async fn set_password(
    db: &Db,
    admin_id: &str,
    password: &str,
    keep: Option<&str>,
) -> anyhow::Result<()> {
    let hash = hash_password(password).await?;
    let mut tx = db
        .pool
        .begin()
        .await
        .context("cannot start a transaction")?;
    sqlx::query("UPDATE admins SET password_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(admin_id)
        .execute(&mut *tx)
        .await
        .context("cannot store the password")?;
    sqlx::query("DELETE FROM admin_sessions WHERE admin_id = $1 AND token_hash <> $2")
        .bind(admin_id)
        .bind(keep.map(token_hash).unwrap_or_default())
        .execute(&mut *tx)
        .await
        .context("cannot end the sessions")?;
    tx.commit().await.context("cannot commit the password")?;
    Ok(())
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordChangeError {
    #[error("the current password is wrong")]
    WrongCurrent,
    #[error("the new password must be {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} characters")]
    BadNew,
}

/// An administrator changes their own password (the current one required);
/// every other session of theirs ends.
pub async fn change_password(
    db: &Db,
    admin: &Admin,
    session_token: &str,
    current: &str,
    new: &str,
) -> anyhow::Result<Result<(), PasswordChangeError>> {
    if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&new.chars().count()) {
        return Ok(Err(PasswordChangeError::BadNew));
    }
    if current.len() > MAX_PASSWORD_LEN {
        return Ok(Err(PasswordChangeError::WrongCurrent));
    }
    let (hash,): (String,) = sqlx::query_as("SELECT password_hash FROM admins WHERE id = $1")
        .bind(&admin.id)
        .fetch_one(&db.pool)
        .await
        .context("cannot read the administrator")?;
    if !verify_password(current, &hash).await? {
        return Ok(Err(PasswordChangeError::WrongCurrent));
    }
    set_password(db, &admin.id, new, Some(session_token)).await?;
    Ok(Ok(()))
}

pub async fn admin_count(db: &Db) -> anyhow::Result<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) AS n FROM admins")
        .fetch_one(&db.pool)
        .await
        .context("cannot count administrators")?;
    Ok(n)
}

/// Checks the credentials; on success returns the administrator and a new session token.
pub async fn login(
    db: &Db,
    email: &Email,
    password: &str,
) -> anyhow::Result<Option<(Admin, String)>> {
    let row: Option<(String, String, String)> =
        sqlx::query_as("SELECT id, email, password_hash FROM admins WHERE email = $1")
            .bind(email)
            .fetch_optional(&db.pool)
            .await
            .context("cannot read the administrator")?;
    let Some((id, email, hash)) = row else {
        // Spend the same time as a real check so that timing does not tell
        // which emails exist.
        let _ = verify_password(password, DUMMY_HASH).await?;
        return Ok(None);
    };
    if !verify_password(password, &hash).await? {
        return Ok(None);
    }
    let admin = Admin { id, email };
    let token = random_token().to_string();
    let now = now_ms();
    sqlx::query("INSERT INTO admin_sessions (token_hash, admin_id, created_at, expires_at, last_seen_at) VALUES ($1, $2, $3, $4, $3)")
        .bind(token_hash(&token))
        .bind(&admin.id)
        .bind(now)
        .bind(now + SESSION_TTL.as_millis() as i64)
        .execute(&db.pool)
        .await
        .context("cannot store the session")?;
    Ok(Some((admin, token)))
}

/// A valid argon2id hash of a random password, verified against when the email is unknown.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$wxaXDZrsjKT5G3tTWUZbr7Mh3MA3FD8D+J1TfLDYZk0";

/// A session's "last seen" is written at most this often.
const TOUCH_EVERY_MS: i64 = 60_000;

/// The administrator of a live session: within its lifetime and used within
/// the idle time. Using it keeps it alive.
pub async fn admin_for_token(
    db: &Db,
    sessions: SessionSettings,
    token: &str,
) -> anyhow::Result<Option<Admin>> {
    let now = now_ms();
    let hash = token_hash(token);
    let row: Option<(String, String, i64)> = sqlx::query_as(
        "SELECT a.id, a.email, s.last_seen_at FROM admin_sessions s JOIN admins a ON a.id = s.admin_id WHERE s.token_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3",
    )
    .bind(&hash)
    .bind(now)
    .bind(now.saturating_sub(sessions.idle_ms))
    .fetch_optional(&db.pool)
    .await
    .context("cannot read the session")?;
    let Some((id, email, last_seen)) = row else {
        return Ok(None);
    };
    if now - last_seen > TOUCH_EVERY_MS {
        sqlx::query("UPDATE admin_sessions SET last_seen_at = $1 WHERE token_hash = $2")
            .bind(now)
            .bind(&hash)
            .execute(&db.pool)
            .await
            .context("cannot touch the session")?;
    }
    Ok(Some(Admin { id, email }))
}

pub async fn logout(db: &Db, token: &str) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM admin_sessions WHERE token_hash = $1 OR expires_at <= $2")
        .bind(token_hash(token))
        .bind(now_ms())
        .execute(&db.pool)
        .await
        .context("cannot delete the session")?;
    Ok(())
}

/// The session token from the request's cookies, if any.
pub fn session_token_from_headers(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_owned())
}

pub fn session_cookie(token: &str, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        SESSION_TTL.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

pub fn clear_session_cookie(secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Proxies whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`): single
/// addresses or CIDR blocks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// `10.0.0.1, 192.168.0.0/16, ::1` (empty: trust nobody).
    pub fn parse(list: &str) -> Result<TrustedProxies, String> {
        let mut nets = Vec::new();
        for item in list
            .split([',', ' '])
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let (addr, bits) = match item.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (item, None),
            };
            let ip: IpAddr = addr
                .parse()
                .map_err(|_| format!("`{item}` is not an address or CIDR block"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                Some(b) => b
                    .parse::<u8>()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| format!("`{item}` has a bad prefix length"))?,
                None => max,
            };
            nets.push((ip, bits));
        }
        Ok(TrustedProxies(nets))
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|(net, bits)| in_net(ip, *net, *bits))
    }

    /// The client's address: the peer's, unless the peer is a trusted proxy;
    /// then the last address in `X-Forwarded-For` that is not one.
    pub fn client_ip(&self, peer: IpAddr, headers: &http::HeaderMap) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let hops: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse::<IpAddr>().ok())
            .collect();
        hops.into_iter()
            .rev()
            .find(|ip| !self.contains(*ip))
            .unwrap_or(peer)
    }
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    fn prefix(a: &[u8], b: &[u8], bits: u8) -> bool {
        let full = usize::from(bits / 8);
        let rest = bits % 8;
        a[..full] == b[..full]
            && (rest == 0 || {
                let mask = 0xffu8 << (8 - rest);
                a[full] & mask == b[full] & mask
            })
    }
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => prefix(&a.octets(), &b.octets(), bits),
        (IpAddr::V6(a), IpAddr::V6(b)) => prefix(&a.octets(), &b.octets(), bits),
        (IpAddr::V6(a), IpAddr::V4(_)) => a
            .to_ipv4_mapped()
            .is_some_and(|a| in_net(IpAddr::V4(a), net, bits)),
        _ => false,
    }
}

/// Slows down failed logins. Each key (an (account, address) pair, or an
/// address alone) gets some free failures; after that every further failure
/// doubles the wait before the next try, up to a cap. A success forgives the
/// pair. Nothing locks an account for everyone: another address, or the
/// right password after the wait, still gets in.
pub struct LoginThrottle {
    free: u32,
    first_delay: Duration,
    max_delay: Duration,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

/// Failures of one (account, address) pair before it is slowed down.
pub const PAIR_FREE_FAILURES: u32 = 5;
/// Failures from one address (any account) before it is slowed down.
pub const ADDRESS_FREE_FAILURES: u32 = 20;

impl LoginThrottle {
    pub fn new(free: u32, first_delay: Duration, max_delay: Duration) -> Self {
        LoginThrottle {
            free,
            first_delay,
            max_delay,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// The wait after `n` failures.
    fn delay(&self, n: u32) -> Duration {
        if n < self.free {
            return Duration::ZERO;
        }
        let doublings = (n - self.free).min(20);
        self.first_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay)
    }

    /// None when the key may try now, else how long it must still wait.
    pub fn wait(&self, key: &str) -> Option<Duration> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let (n, last) = map.get(key)?;
        let due = self.delay(*n);
        let waited = last.elapsed();
        (waited < due).then(|| due - waited)
    }

    pub fn record_failure(&self, key: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        // Forget keys idle for longer than the longest wait, so the map
        // cannot grow without bound.
        if map.len() > 10_000 {
            let horizon = self.max_delay * 2;
            map.retain(|_, (_, last)| last.elapsed() < horizon);
        }
        let entry = map.entry(key.to_owned()).or_insert((0, Instant::now()));
        if entry.1.elapsed() > self.max_delay * 2 {
            entry.0 = 0;
        }
        entry.0 = entry.0.saturating_add(1);
        entry.1 = Instant::now();
    }

    pub fn record_success(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// The throttles a login goes through.
pub struct LoginLimiter {
    pub pairs: LoginThrottle,
    pub addresses: LoginThrottle,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter {
            pairs: LoginThrottle::new(
                PAIR_FREE_FAILURES,
                Duration::from_secs(2),
                Duration::from_secs(15 * 60),
            ),
            addresses: LoginThrottle::new(
                ADDRESS_FREE_FAILURES,
                Duration::from_secs(2),
                Duration::from_secs(15 * 60),
            ),
        }
    }
}

impl LoginLimiter {
    fn keys(email: &str, ip: Option<IpAddr>) -> (String, String) {
        let ip = ip
            .map(|i| i.to_string())
            .unwrap_or_else(|| "unknown".into());
        (
            format!("{}|{ip}", email.trim().to_lowercase()),
            format!("ip:{ip}"),
        )
    }

    /// How long this (email, address) must still wait, if at all.
    pub fn wait(&self, email: &str, ip: Option<IpAddr>) -> Option<Duration> {
        let (pair, address) = Self::keys(email, ip);
        match (self.pairs.wait(&pair), self.addresses.wait(&address)) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn failed(&self, email: &str, ip: Option<IpAddr>) {
        let (pair, address) = Self::keys(email, ip);
        self.pairs.record_failure(&pair);
        self.addresses.record_failure(&address);
    }

    pub fn succeeded(&self, email: &str, ip: Option<IpAddr>) {
        let (pair, _) = Self::keys(email, ip);
        self.pairs.record_success(&pair);
    }
}

#[cfg(test)]
mod tests;
