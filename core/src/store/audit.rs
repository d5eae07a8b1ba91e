//! The audit log: who did what to which account, order or refund, and when.
//! Written in the same transaction as the change it describes where there is one.

use crate::auth::Admin;
use crate::{now_ms, random_token, Db};
use anyhow::Context;
pub use domain::AuditAction;

/// Writes one audit row inside an open transaction.
pub async fn record_in(
    tx: &mut sqlx::AnyConnection,
    admin: &Admin,
    action: AuditAction,
    target: &str,
    detail: &str,
) -> anyhow::Result<()> {
    sqlx::query("INSERT INTO audit_log (id, created_at, admin_id, admin_email, action, target, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(random_token().to_string())
        .bind(now_ms())
        .bind(&admin.id)
        .bind(&admin.email)
        .bind(action)
        .bind(target)
        .bind(detail)
        .execute(&mut *tx)
        .await
        .context("cannot write the audit log")?;
    Ok(())
}

/// Writes one audit row on its own.
pub async fn record(
    db: &Db,
    admin: &Admin,
    action: AuditAction,
    target: &str,
    detail: &str,
) -> anyhow::Result<()> {
    let mut tx = db
        .pool
        .begin()
        .await
        .context("cannot start a transaction")?;
    record_in(&mut tx, admin, action, target, detail).await?;
    tx.commit().await.context("cannot commit the audit row")?;
    Ok(())
}

/// Notes a refused login: no administrator is signed in, so the row names
/// the email that was tried (cut short, control characters dropped) and why.
pub async fn record_login_failure(
    db: &Db,
    admin_id: Option<&str>,
    email_tried: &str,
    why: &str,
    client: &str,
) -> anyhow::Result<()> {
    let email: String = email_tried
        .chars()
        .filter(|c| !c.is_control())
        .take(120)
        .collect();
    sqlx::query("INSERT INTO audit_log (id, created_at, admin_id, admin_email, action, target, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(random_token().to_string())
        .bind(now_ms())
        .bind(admin_id.unwrap_or(""))
        .bind(&email)
        .bind(AuditAction::LoginFailed)
        .bind(&email)
        .bind(format!("{why} from {client}"))
        .execute(&db.pool)
        .await
        .context("cannot write the audit log")?;
    Ok(())
}

#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct AuditEntry {
    pub created_at: i64,
    pub admin_email: String,
    pub action: AuditAction,
    pub target: String,
    pub detail: String,
}

/// The newest entries first, `limit` per page, with the total count.
pub async fn page(db: &Db, limit: i64, offset: i64) -> anyhow::Result<(i64, Vec<AuditEntry>)> {
    let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) AS n FROM audit_log")
        .fetch_one(&db.pool)
        .await
        .context("cannot count the audit log")?;
    let entries = sqlx::query_as("SELECT created_at, admin_email, action, target, detail FROM audit_log ORDER BY created_at DESC, id LIMIT $1 OFFSET $2")
        .bind(limit)
        .bind(offset)
        .fetch_all(&db.pool)
        .await
        .context("cannot read the audit log")?;
    Ok((total, entries))
}
