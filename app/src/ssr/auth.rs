//! Administrator accounts: argon2id password hashes, database-backed sessions
//! carried by an HTTP-only SameSite cookie, and a login rate limit.

use super::{now_ms, random_token, AppState, Db};
use crate::domain::Email;
use anyhow::Context;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use leptos::prelude::ServerFnError;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const SESSION_COOKIE: &str = "fp_session";
pub const SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// A signed-in administrator. Deliberately not `Serialize`: the wire type is
/// `crate::pages::admin::AdminInfo`.
#[derive(Debug, Clone)]
pub struct Admin {
    pub id: String,
    pub email: String,
}

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Sessions are stored by the SHA-256 of their token, so a copy of the
/// database does not hand out live sessions.
fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Creates the administrator if no account has this email. Returns whether one was created.
pub async fn ensure_admin(db: &Db, email: &Email, password: &str) -> anyhow::Result<bool> {
    let hash = hash_password(password)?;
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

pub async fn admin_count(db: &Db) -> anyhow::Result<i64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM admins")
        .fetch_one(&db.pool)
        .await
        .context("cannot count administrators")?;
    Ok(row.try_get::<i64, _>("n")?)
}

/// Checks the credentials; on success returns the administrator and a new session token.
pub async fn login(
    db: &Db,
    email: &Email,
    password: &str,
) -> anyhow::Result<Option<(Admin, String)>> {
    let row = sqlx::query("SELECT id, email, password_hash FROM admins WHERE email = $1")
        .bind(email.as_str())
        .fetch_optional(&db.pool)
        .await
        .context("cannot read the administrator")?;
    let Some(row) = row else {
        // Spend the same time as a real check so that timing does not tell
        // which emails exist.
        let _ = verify_password(password, DUMMY_HASH);
        return Ok(None);
    };
    let hash: String = row.try_get("password_hash")?;
    if !verify_password(password, &hash) {
        return Ok(None);
    }
    let admin = Admin {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
    };
    let token = random_token().to_string();
    let now = now_ms();
    sqlx::query("INSERT INTO admin_sessions (token_hash, admin_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
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

pub async fn admin_for_token(db: &Db, token: &str) -> anyhow::Result<Option<Admin>> {
    let row = sqlx::query(
        "SELECT a.id, a.email FROM admin_sessions s JOIN admins a ON a.id = s.admin_id WHERE s.token_hash = $1 AND s.expires_at > $2",
    )
    .bind(token_hash(token))
    .bind(now_ms())
    .fetch_optional(&db.pool)
    .await
    .context("cannot read the session")?;
    row.map(|r| {
        Ok(Admin {
            id: r.try_get("id")?,
            email: r.try_get("email")?,
        })
    })
    .transpose()
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

/// The administrator behind the current request, or an "unauthorized" error.
/// Every admin server function starts with this.
pub async fn require_admin() -> Result<Admin, ServerFnError> {
    current_admin()
        .await?
        .ok_or_else(|| ServerFnError::new("unauthorized"))
}

/// The administrator behind the current request, if signed in.
pub async fn current_admin() -> Result<Option<Admin>, ServerFnError> {
    let state = AppState::from_context()?;
    let Some(parts) = leptos::prelude::use_context::<http::request::Parts>() else {
        return Ok(None);
    };
    let Some(token) = session_token_from_headers(&parts.headers) else {
        return Ok(None);
    };
    admin_for_token(&state.db, &token).await.map_err(|e| {
        tracing::error!(error = ?e, "session lookup failed");
        ServerFnError::new("internal error")
    })
}

/// Counts failed logins per key (an email, a client address) in a sliding
/// window, and refuses further attempts once the limit is reached.
pub struct LoginLimiter {
    max_failures: u32,
    window: Duration,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginLimiter {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        LoginLimiter {
            max_failures,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    pub fn is_blocked(&self, key: &str) -> bool {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key)
            .is_some_and(|(n, since)| *n >= self.max_failures && since.elapsed() < self.window)
    }

    pub fn record_failure(&self, key: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        // Forget stale entries so the map cannot grow without bound.
        if map.len() > 10_000 {
            let window = self.window;
            map.retain(|_, (_, since)| since.elapsed() < window);
        }
        let entry = map.entry(key.to_owned()).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= self.window {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    pub fn record_success(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter::new(5, Duration::from_secs(15 * 60))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hashes_verify_only_the_right_password() {
        let hash = hash_password("correct horse").expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn limiter_blocks_after_the_limit_and_forgives_success() {
        let l = LoginLimiter::new(3, Duration::from_secs(60));
        for _ in 0..2 {
            l.record_failure("a@b.c");
        }
        assert!(!l.is_blocked("a@b.c"));
        l.record_failure("a@b.c");
        assert!(l.is_blocked("a@b.c"));
        assert!(!l.is_blocked("other@b.c"));
        l.record_success("a@b.c");
        assert!(!l.is_blocked("a@b.c"));
    }

    #[test]
    fn limiter_window_expires() {
        let l = LoginLimiter::new(1, Duration::from_millis(1));
        l.record_failure("k");
        std::thread::sleep(Duration::from_millis(5));
        assert!(!l.is_blocked("k"));
    }

    #[test]
    fn reads_the_session_cookie() {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            http::HeaderValue::from_static("lang=en; fp_session=abc"),
        );
        assert_eq!(session_token_from_headers(&h).as_deref(), Some("abc"));
        assert!(session_cookie("abc", true).contains("HttpOnly; SameSite=Lax"));
        assert!(session_cookie("abc", true).ends_with("; Secure"));
    }
}
