//! Administrator accounts: argon2id password hashes (computed on the blocking
//! pool, a few at a time, so a burst of logins never stalls callbacks),
//! database-backed sessions carried by an HTTP-only SameSite cookie that end
//! after a lifetime or when idle, and a login throttle that slows a guessing
//! (account, address) pair down instead of locking the account for everyone.

use crate::accounts::Vault;
use crate::{now_ms, random_token, Db};
use anyhow::Context;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use domain::{Email, Permission, Role};
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

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
    pub role: Role,
}

impl Admin {
    pub fn can(&self, p: Permission) -> bool {
        self.role.can(p)
    }
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
    Ok(if create_admin(db, email, password, Role::Owner).await? {
        Ensured::Created
    } else {
        Ensured::Unchanged
    })
}

/// Adds an administrator; false (and nothing changes) when one with this
/// email exists.
pub async fn create_admin(
    db: &Db,
    email: &Email,
    password: &str,
    role: Role,
) -> anyhow::Result<bool> {
    let hash = hash_password(password).await?;
    let done = sqlx::query(
        "INSERT INTO admins (id, email, password_hash, created_at, role) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (email) DO NOTHING",
    )
    .bind(random_token().to_string())
    .bind(email.as_str())
    .bind(hash)
    .bind(now_ms())
    .bind(role)
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

/// One login attempt.
pub struct LoginAttempt<'a> {
    pub email: &'a Email,
    pub password: &'a str,
    /// A two-factor code or a recovery code, when the form had one.
    pub code: Option<&'a str>,
    pub client_ip: Option<IpAddr>,
    pub user_agent: Option<&'a str>,
}

/// What a login attempt came to.
#[derive(Debug)]
pub enum LoginResult {
    LoggedIn {
        admin: Admin,
        token: String,
    },
    /// Wrong email or password (which one is not said).
    WrongCredentials,
    /// The password is right but the administrator is disabled.
    Disabled {
        admin: Admin,
    },
    /// The password is right; a two-factor code is needed.
    CodeRequired,
    /// The password is right and the two-factor code is not.
    WrongCode {
        admin: Admin,
    },
}

/// Checks the credentials (and the two-factor code of an administrator who
/// has one); on success opens a session.
pub async fn login(
    db: &Db,
    vault: Option<&Vault>,
    attempt: LoginAttempt<'_>,
) -> anyhow::Result<LoginResult> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: String,
        email: String,
        password_hash: String,
        role: Role,
        disabled_at: Option<i64>,
        totp_sealed: Option<String>,
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, email, password_hash, role, disabled_at, totp_sealed FROM admins WHERE email = $1",
    )
    .bind(attempt.email)
    .fetch_optional(&db.pool)
    .await
    .context("cannot read the administrator")?;
    let Some(Row {
        id,
        email,
        password_hash: hash,
        role,
        disabled_at,
        totp_sealed,
    }) = row
    else {
        // Spend the same time as a real check so that timing does not tell
        // which emails exist.
        let _ = verify_password(attempt.password, DUMMY_HASH).await?;
        return Ok(LoginResult::WrongCredentials);
    };
    if !verify_password(attempt.password, &hash).await? {
        return Ok(LoginResult::WrongCredentials);
    }
    let admin = Admin { id, email, role };
    if disabled_at.is_some() {
        return Ok(LoginResult::Disabled { admin });
    }
    if let Some(sealed) = totp_sealed {
        let Some(code) = attempt.code.map(str::trim).filter(|c| !c.is_empty()) else {
            return Ok(LoginResult::CodeRequired);
        };
        if !totp::check_login_code(db, vault, &admin.id, &sealed, code).await? {
            return Ok(LoginResult::WrongCode { admin });
        }
    }
    let token = random_token().to_string();
    let now = now_ms();
    let user_agent: Option<String> = attempt
        .user_agent
        .map(|ua| ua.chars().filter(|c| !c.is_control()).take(200).collect());
    sqlx::query("INSERT INTO admin_sessions (token_hash, admin_id, created_at, expires_at, last_seen_at, client_ip, user_agent) VALUES ($1, $2, $3, $4, $3, $5, $6)")
        .bind(token_hash(&token))
        .bind(&admin.id)
        .bind(now)
        .bind(now + SESSION_TTL.as_millis() as i64)
        .bind(attempt.client_ip.map(|ip| ip.to_string()))
        .bind(user_agent)
        .execute(&db.pool)
        .await
        .context("cannot store the session")?;
    sqlx::query("UPDATE admins SET last_login_at = $1 WHERE id = $2")
        .bind(now)
        .bind(&admin.id)
        .execute(&db.pool)
        .await
        .context("cannot note the login")?;
    Ok(LoginResult::LoggedIn { admin, token })
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
    let row: Option<(String, String, Role, i64)> = sqlx::query_as(
        "SELECT a.id, a.email, a.role, s.last_seen_at FROM admin_sessions s JOIN admins a ON a.id = s.admin_id WHERE s.token_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3 AND a.disabled_at IS NULL",
    )
    .bind(&hash)
    .bind(now)
    .bind(now.saturating_sub(sessions.idle_ms))
    .fetch_optional(&db.pool)
    .await
    .context("cannot read the session")?;
    let Some((id, email, role, last_seen)) = row else {
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
    Ok(Some(Admin { id, email, role }))
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

mod people;
mod proxies;
mod throttle;
mod totp;

pub use people::*;
pub use proxies::TrustedProxies;
pub use throttle::*;
pub use totp::*;

#[cfg(test)]
mod tests;
