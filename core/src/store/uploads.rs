//! Files payers upload for a form's upload field: stored by their id (never
//! by the name they came with) in a directory or an S3-compatible bucket,
//! checked by content, attached to a submission when it is stored, deleted
//! with its answers, and swept a day after upload when never attached.

use crate::{now_ms, random_token, Db};
use anyhow::Context;
use object_store::{path::Path as Key, ObjectStore, PutPayload};
use std::path::Path;
use std::sync::Arc;

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

/// An S3-compatible bucket (AWS S3, MinIO, Aliyun OSS, Tencent COS...).
#[derive(Clone)]
pub struct S3Settings {
    pub bucket: String,
    /// `None`: AWS itself, from the region.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: secrecy::SecretString,
    /// Put before every object's key, e.g. `formpay/uploads`.
    pub prefix: String,
    /// Plain-HTTP endpoints other than loopback (a MinIO on the LAN).
    pub allow_http: bool,
    /// Addressing `https://bucket.endpoint/key` (Aliyun OSS requires it)
    /// rather than `https://endpoint/bucket/key`.
    pub virtual_hosted: bool,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl S3Settings {
    /// Refuses an endpoint that would carry payers' files unencrypted to
    /// another machine; true when it is plain HTTP (allowed).
    pub fn checked_endpoint(&self) -> anyhow::Result<bool> {
        let Some(endpoint) = &self.endpoint else {
            return Ok(false);
        };
        let url = url::Url::parse(endpoint).context("UPLOAD_S3_ENDPOINT is not a URL")?;
        let loopback = match url.host() {
            Some(url::Host::Ipv4(a)) => a.is_loopback(),
            Some(url::Host::Ipv6(a)) => a.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        };
        match url.scheme() {
            "https" => Ok(false),
            "http" if loopback || self.allow_http => Ok(true),
            "http" => anyhow::bail!(
                "UPLOAD_S3_ENDPOINT is plain HTTP to another machine: payers' files would cross the network unencrypted; use https, or set UPLOAD_S3_ALLOW_HTTP=true for a private network"
            ),
            other => anyhow::bail!("UPLOAD_S3_ENDPOINT has the scheme {other}; use https"),
        }
    }
}

/// Where uploads' bytes are kept: a directory (`UPLOAD_DIR`) or a bucket.
#[derive(Clone)]
pub struct UploadStore {
    objects: Arc<dyn ObjectStore>,
    prefix: String,
    shown: String,
}

impl std::fmt::Debug for UploadStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl UploadStore {
    /// Files in `dir` (created if missing), named by their id.
    pub fn directory(dir: &Path) -> anyhow::Result<UploadStore> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the upload directory {}", dir.display()))?;
        let objects = object_store::local::LocalFileSystem::new_with_prefix(dir)
            .with_context(|| format!("cannot use the upload directory {}", dir.display()))?;
        Ok(UploadStore {
            objects: Arc::new(objects),
            prefix: String::new(),
            shown: format!("the directory {}", dir.display()),
        })
    }

    /// Objects in an S3-compatible bucket, under `prefix`. Nothing is
    /// contacted yet.
    pub fn s3(s: &S3Settings) -> anyhow::Result<UploadStore> {
        use secrecy::ExposeSecret;
        let mut b = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&s.bucket)
            .with_region(&s.region)
            .with_access_key_id(&s.access_key_id)
            .with_secret_access_key(s.secret_access_key.expose_secret())
            .with_virtual_hosted_style_request(s.virtual_hosted)
            .with_retry(object_store::RetryConfig {
                max_retries: 3,
                retry_timeout: std::time::Duration::from_secs(30),
                ..Default::default()
            });
        if let Some(endpoint) = &s.endpoint {
            if s.checked_endpoint()? {
                b = b.with_allow_http(true);
            }
            b = b.with_endpoint(endpoint.trim_end_matches('/'));
        }
        let objects = b.build().context("cannot set up the S3 bucket")?;
        let prefix = s.prefix.trim_matches('/').to_owned();
        Ok(UploadStore {
            objects: Arc::new(objects),
            shown: format!(
                "the bucket {} ({})",
                s.bucket,
                s.endpoint.as_deref().unwrap_or("AWS")
            ),
            prefix,
        })
    }

    fn key(&self, id: &str) -> anyhow::Result<Key> {
        // Ids are ours (hex), but a key never comes from outside unchecked.
        anyhow::ensure!(
            !id.is_empty() && id.bytes().all(|c| c.is_ascii_alphanumeric()),
            "not an upload id"
        );
        Ok(if self.prefix.is_empty() {
            Key::from(id)
        } else {
            Key::from(format!("{}/{id}", self.prefix))
        })
    }

    pub async fn put(&self, id: &str, bytes: bytes::Bytes) -> anyhow::Result<()> {
        self.objects
            .put(&self.key(id)?, PutPayload::from(bytes))
            .await
            .with_context(|| format!("cannot write the upload to {self:?}"))?;
        Ok(())
    }

    /// The bytes, or `None` when the object is not there.
    pub async fn get(&self, id: &str) -> anyhow::Result<Option<bytes::Bytes>> {
        match self.objects.get(&self.key(id)?).await {
            Ok(found) => {
                Ok(Some(found.bytes().await.with_context(|| {
                    format!("cannot read the upload from {self:?}")
                })?))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => {
                Err(anyhow::Error::new(e).context(format!("cannot read the upload from {self:?}")))
            }
        }
    }

    /// Deletes the object; one already gone is not an error.
    pub async fn delete(&self, id: &str) -> anyhow::Result<()> {
        match self.objects.delete(&self.key(id)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => {
                Err(anyhow::Error::new(e)
                    .context(format!("cannot delete the upload from {self:?}")))
            }
        }
    }
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
    files: &UploadStore,
    form_id: &str,
    field_key: &str,
    content_type: &str,
    name: &str,
    bytes: bytes::Bytes,
) -> anyhow::Result<String> {
    let id = random_token().to_string();
    let size = bytes.len() as i64;
    files.put(&id, bytes).await?;
    let stored = sqlx::query("INSERT INTO uploads (id, form_id, field_key, content_type, size, name, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(&id)
        .bind(form_id)
        .bind(field_key)
        .bind(content_type)
        .bind(size)
        .bind(clean_name(name))
        .bind(now_ms())
        .execute(&db.pool)
        .await;
    if let Err(e) = stored {
        let _ = files.delete(&id).await;
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
pub async fn sweep(db: &Db, files: &UploadStore) -> anyhow::Result<u64> {
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
        if let Err(e) = files.delete(&id).await {
            tracing::warn!(error = ?e, upload = %id, "cannot delete an upload");
            continue;
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
