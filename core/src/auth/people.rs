//! The administrators: invitations (one-time links), roles, disabling, and
//! each one's list of sessions. An owner always remains: the last active
//! owner can be neither demoted nor disabled.

use super::{
    hash_password, now_ms, random_token, token_hash, Db, MAX_PASSWORD_LEN, MIN_PASSWORD_LEN,
};
use anyhow::Context;
use domain::{Email, Role};

/// How long an invitation link works.
pub const INVITE_TTL_MS: i64 = 72 * 3600 * 1000;

/// One administrator, as the people page lists them.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AdminRow {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
    pub disabled_at: Option<i64>,
    pub totp_sealed: Option<String>,
}

impl AdminRow {
    pub fn two_factor(&self) -> bool {
        self.totp_sealed.is_some()
    }
}

pub async fn list_admins(db: &Db) -> anyhow::Result<Vec<AdminRow>> {
    sqlx::query_as("SELECT id, email, role, created_at, last_login_at, disabled_at, totp_sealed FROM admins ORDER BY created_at, email")
        .fetch_all(&db.pool)
        .await
        .context("cannot read the administrators")
}

pub async fn admin_row(db: &Db, id: &str) -> anyhow::Result<Option<AdminRow>> {
    sqlx::query_as("SELECT id, email, role, created_at, last_login_at, disabled_at, totp_sealed FROM admins WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await
        .context("cannot read the administrator")
}

/// Why a change to the administrators was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PeopleError {
    #[error("there is no such administrator")]
    Unknown,
    #[error("an administrator with this email exists")]
    Exists,
    #[error("the last owner must stay an active owner")]
    LastOwner,
    #[error("you cannot disable yourself")]
    Yourself,
    #[error("this invitation is unknown, used or expired")]
    BadInvite,
    #[error("the password must be {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} characters")]
    BadPassword,
}

/// A pending invitation, as listed.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct InviteRow {
    pub token_hash: String,
    pub email: String,
    pub role: Role,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Makes a one-time link for `email` to join with `role`; returns its token
/// (shown once; only its hash is stored).
pub async fn invite(
    db: &Db,
    invited_by: &str,
    email: &Email,
    role: Role,
) -> anyhow::Result<Result<String, PeopleError>> {
    if super::admin_id(db, email).await?.is_some() {
        return Ok(Err(PeopleError::Exists));
    }
    let token = random_token().to_string();
    let now = now_ms();
    sqlx::query("INSERT INTO admin_invites (token_hash, email, role, invited_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(token_hash(&token))
        .bind(email.as_str())
        .bind(role)
        .bind(invited_by)
        .bind(now)
        .bind(now + INVITE_TTL_MS)
        .execute(&db.pool)
        .await
        .context("cannot store the invitation")?;
    Ok(Ok(token))
}

pub async fn pending_invites(db: &Db) -> anyhow::Result<Vec<InviteRow>> {
    sqlx::query_as("SELECT token_hash, email, role, created_at, expires_at FROM admin_invites WHERE used_at IS NULL AND expires_at > $1 ORDER BY created_at")
        .bind(now_ms())
        .fetch_all(&db.pool)
        .await
        .context("cannot read the invitations")
}

/// Withdraws an invitation (by the hash the list shows); its email, if any.
pub async fn revoke_invite(db: &Db, hash: &str) -> anyhow::Result<Option<String>> {
    let row: Option<(String,)> = sqlx::query_as(
        "DELETE FROM admin_invites WHERE token_hash = $1 AND used_at IS NULL RETURNING email",
    )
    .bind(hash)
    .fetch_optional(&db.pool)
    .await
    .context("cannot withdraw the invitation")?;
    Ok(row.map(|(e,)| e))
}

/// The email and role an unused, unexpired invitation is for.
pub async fn invite_for(db: &Db, token: &str) -> anyhow::Result<Option<(String, Role)>> {
    sqlx::query_as("SELECT email, role FROM admin_invites WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2")
        .bind(token_hash(token))
        .bind(now_ms())
        .fetch_optional(&db.pool)
        .await
        .context("cannot read the invitation")
}

/// The invitation's holder sets a password and becomes an administrator;
/// the link is used up. Returns the new administrator's id and email.
pub async fn accept_invite(
    db: &Db,
    token: &str,
    password: &str,
) -> anyhow::Result<Result<(String, String, Role), PeopleError>> {
    if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&password.chars().count()) {
        return Ok(Err(PeopleError::BadPassword));
    }
    let Some((email, role)) = invite_for(db, token).await? else {
        return Ok(Err(PeopleError::BadInvite));
    };
    let hash = hash_password(password).await?;
    let id = random_token().to_string();
    let now = now_ms();
    let mut tx = db
        .pool
        .begin()
        .await
        .context("cannot start a transaction")?;
    // Compare-and-set: the link works once, even when used twice at once.
    let used = sqlx::query("UPDATE admin_invites SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1")
        .bind(now)
        .bind(token_hash(token))
        .execute(&mut *tx)
        .await
        .context("cannot use the invitation")?;
    if used.rows_affected() != 1 {
        return Ok(Err(PeopleError::BadInvite));
    }
    let made = sqlx::query("INSERT INTO admins (id, email, password_hash, created_at, role) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (email) DO NOTHING")
        .bind(&id)
        .bind(&email)
        .bind(hash)
        .bind(now)
        .bind(role)
        .execute(&mut *tx)
        .await
        .context("cannot store the administrator")?;
    if made.rows_affected() != 1 {
        return Ok(Err(PeopleError::Exists));
    }
    tx.commit()
        .await
        .context("cannot commit the new administrator")?;
    Ok(Ok((id, email, role)))
}

/// Whether, after the change, an active owner other than `id` remains.
async fn another_active_owner(tx: &mut sqlx::AnyConnection, id: &str) -> anyhow::Result<bool> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM admins WHERE role = 'owner' AND disabled_at IS NULL AND id <> $1",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await
    .context("cannot count the owners")?;
    Ok(n > 0)
}

/// Gives an administrator another role (their sessions carry it at once).
pub async fn set_role(
    db: &Db,
    id: &str,
    role: Role,
) -> anyhow::Result<Result<AdminRow, PeopleError>> {
    let mut tx = db
        .pool
        .begin()
        .await
        .context("cannot start a transaction")?;
    if role != Role::Owner && !another_active_owner(&mut tx, id).await? {
        return Ok(Err(PeopleError::LastOwner));
    }
    let done = sqlx::query("UPDATE admins SET role = $1 WHERE id = $2")
        .bind(role)
        .bind(id)
        .execute(&mut *tx)
        .await
        .context("cannot change the role")?;
    if done.rows_affected() != 1 {
        return Ok(Err(PeopleError::Unknown));
    }
    tx.commit().await.context("cannot commit the role")?;
    admin_row(db, id)
        .await?
        .map(Ok)
        .ok_or_else(|| anyhow::anyhow!("the administrator vanished"))
}

/// Disables (their sessions end) or enables an administrator.
pub async fn set_disabled(
    db: &Db,
    by: &str,
    id: &str,
    disabled: bool,
) -> anyhow::Result<Result<AdminRow, PeopleError>> {
    if disabled && by == id {
        return Ok(Err(PeopleError::Yourself));
    }
    let mut tx = db
        .pool
        .begin()
        .await
        .context("cannot start a transaction")?;
    if disabled && !another_active_owner(&mut tx, id).await? {
        return Ok(Err(PeopleError::LastOwner));
    }
    let done = sqlx::query("UPDATE admins SET disabled_at = $1 WHERE id = $2")
        .bind(disabled.then(now_ms))
        .bind(id)
        .execute(&mut *tx)
        .await
        .context("cannot change the administrator")?;
    if done.rows_affected() != 1 {
        return Ok(Err(PeopleError::Unknown));
    }
    if disabled {
        sqlx::query("DELETE FROM admin_sessions WHERE admin_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .context("cannot end the sessions")?;
    }
    tx.commit().await.context("cannot commit the change")?;
    admin_row(db, id)
        .await?
        .map(Ok)
        .ok_or_else(|| anyhow::anyhow!("the administrator vanished"))
}

/// One of an administrator's live sessions.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SessionRow {
    /// The SHA-256 of its token: names it without giving it away.
    pub token_hash: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
}

impl SessionRow {
    /// Whether this is the session of the token `current`.
    pub fn is(&self, current: &str) -> bool {
        self.token_hash == token_hash(current)
    }
}

pub async fn sessions_of(db: &Db, admin_id: &str) -> anyhow::Result<Vec<SessionRow>> {
    sqlx::query_as("SELECT token_hash, created_at, last_seen_at, client_ip, user_agent FROM admin_sessions WHERE admin_id = $1 AND expires_at > $2 ORDER BY last_seen_at DESC")
        .bind(admin_id)
        .bind(now_ms())
        .fetch_all(&db.pool)
        .await
        .context("cannot read the sessions")
}

/// Ends one of the administrator's own sessions; false if it is not theirs.
pub async fn revoke_session(db: &Db, admin_id: &str, hash: &str) -> anyhow::Result<bool> {
    let done = sqlx::query("DELETE FROM admin_sessions WHERE admin_id = $1 AND token_hash = $2")
        .bind(admin_id)
        .bind(hash)
        .execute(&db.pool)
        .await
        .context("cannot end the session")?;
    Ok(done.rows_affected() == 1)
}

/// Whether `password` is this administrator's (asked again before turning
/// off two-factor login).
pub async fn password_matches(db: &Db, admin_id: &str, password: &str) -> anyhow::Result<bool> {
    if password.len() > MAX_PASSWORD_LEN {
        return Ok(false);
    }
    let (hash,): (String,) = sqlx::query_as("SELECT password_hash FROM admins WHERE id = $1")
        .bind(admin_id)
        .fetch_one(&db.pool)
        .await
        .context("cannot read the administrator")?;
    super::verify_password(password, &hash).await
}
