//! Files payers upload for a form's upload field: stored under the upload
//! directory by their id (never by the name they came with), checked by
//! content, attached to a submission when it is stored, deleted with its
//! answers, and swept a day after upload when never attached.

use crate::{now_ms, random_token, Db};
use anyhow::Context;
use std::path::{Path, PathBuf};

/// A day: how long an upload waits for its submission.
pub const ORPHAN_MS: i64 = 24 * 3_600_000;

/// A stored upload.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct UploadRecord {
    pub id: String,
    pub form_id: String,
    pub field_key: String,
    pub content_type: String,
    pub size: i64,
    pub name: String,
    pub submission_id: Option<String>,
}

/// Where an upload's bytes are.
pub fn path_of(dir: &Path, id: &str) -> PathBuf {
    dir.join(id)
}

/// A file's name as shown: no path, no control characters, at most 100 characters.
pub fn clean_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base.chars().filter(|c| !c.is_control()).take(100).collect();
    if clean.trim().is_empty() {
        "file".to_owned()
    } else {
        clean
    }
}

/// Stores a checked file; returns its id.
pub async fn store(
    db: &Db,
    dir: &Path,
    form_id: &str,
    field_key: &str,
    content_type: &str,
    name: &str,
    bytes: &[u8],
) -> anyhow::Result<String> {
    let id = random_token().to_string();
    tokio::fs::create_dir_all(dir)
        .await
        .with_context(|| format!("cannot create the upload directory {}", dir.display()))?;
    let path = path_of(dir, &id);
    tokio::fs::write(&path, bytes)
        .await
        .context("cannot write the upload")?;
    let stored = sqlx::query("INSERT INTO uploads (id, form_id, field_key, content_type, size, name, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(&id)
        .bind(form_id)
        .bind(field_key)
        .bind(content_type)
        .bind(bytes.len() as i64)
        .bind(clean_name(name))
        .bind(now_ms())
        .execute(&db.pool)
        .await;
    if let Err(e) = stored {
        let _ = tokio::fs::remove_file(&path).await;
        return Err(anyhow::Error::new(e).context("cannot record the upload"));
    }
    Ok(id)
}

/// Attaches uploads to a submission, inside its transaction: each must be
/// this form's and field's, not gone, and not attached yet. False if one is not.
pub async fn attach_in(
    tx: &mut sqlx::AnyConnection,
    form_id: &str,
    field_key: &str,
    ids: &[String],
    submission_id: &str,
) -> anyhow::Result<bool> {
    for id in ids {
        let done = sqlx::query(
            "UPDATE uploads SET submission_id = $1 WHERE id = $2 AND form_id = $3 AND field_key = $4 AND submission_id IS NULL AND gone = 0",
        )
        .bind(submission_id)
        .bind(id)
        .bind(form_id)
        .bind(field_key)
        .execute(&mut *tx)
        .await
        .context("cannot attach the upload")?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
    }
    Ok(true)
}

pub async fn by_id(db: &Db, id: &str) -> anyhow::Result<Option<UploadRecord>> {
    sqlx::query_as("SELECT id, form_id, field_key, content_type, size, name, submission_id FROM uploads WHERE id = $1 AND gone = 0")
        .bind(id)
        .fetch_optional(&db.pool)
        .await
        .context("cannot read the upload")
}

/// The names of uploads, by id (for the submissions list).
pub async fn names(db: &Db, submission_id: &str) -> anyhow::Result<Vec<(String, String)>> {
    sqlx::query_as("SELECT id, name FROM uploads WHERE submission_id = $1 AND gone = 0 ORDER BY created_at, id")
        .bind(submission_id)
        .fetch_all(&db.pool)
        .await
        .context("cannot read the uploads")
}

/// Marks gone, inside an erasure's transaction, the uploads of the
/// submissions erased at `erased_at`.
pub async fn mark_erased_in(tx: &mut sqlx::AnyConnection, erased_at: i64) -> anyhow::Result<()> {
    sqlx::query("UPDATE uploads SET gone = 1 WHERE submission_id IN (SELECT id FROM submissions WHERE erased_at = $1)")
        .bind(erased_at)
        .execute(&mut *tx)
        .await
        .context("cannot erase the uploads")?;
    Ok(())
}

/// Deletes the files of uploads that are gone or were never attached within
/// a day, then their rows. Returns how many.
pub async fn sweep(db: &Db, dir: &Path) -> anyhow::Result<u64> {
    let cutoff = now_ms() - ORPHAN_MS;
    let ids: Vec<(String,)> = sqlx::query_as(
        "SELECT id FROM uploads WHERE gone = 1 OR (submission_id IS NULL AND created_at < $1)",
    )
    .bind(cutoff)
    .fetch_all(&db.pool)
    .await
    .context("cannot read the uploads to delete")?;
    let mut n = 0;
    for (id,) in ids {
        match tokio::fs::remove_file(path_of(dir, &id)).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(error = %e, upload = %id, "cannot delete an upload");
                continue;
            }
        }
        sqlx::query("DELETE FROM uploads WHERE id = $1")
            .bind(&id)
            .execute(&db.pool)
            .await
            .context("cannot delete the upload's row")?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::clean_name;

    #[test]
    fn names_lose_their_path_and_control_characters() {
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("C:\\Users\\a\\学生证.jpg"), "学生证.jpg");
        assert_eq!(clean_name("a\u{0}b\nc.png"), "abc.png");
        assert_eq!(clean_name(""), "file");
        assert_eq!(clean_name(&"x".repeat(300)).len(), 100);
    }
}
