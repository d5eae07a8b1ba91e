//! Start-up chores (the development master key, the first administrator)
//! and the tasks that run beside the server (the reconciler, the retention
//! rules).

use crate::config::{self, Config};
use anyhow::Context;
use app::ssr::{auth, AppState, Db};
use secrecy::ExposeSecret;

/// Development without APP_MASTER_KEY: a random key kept in
/// `data/master.key`, so that stored accounts survive restarts.
pub(crate) fn development_master_key() -> anyhow::Result<[u8; 32]> {
    let path = std::path::Path::new("data/master.key");
    if let Ok(text) = std::fs::read_to_string(path) {
        return config::parse_master_key(text.trim())
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()));
    }
    use rand::RngCore;
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    std::fs::create_dir_all("data").context("cannot create data/")?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    use std::io::Write;
    options
        .open(path)
        .and_then(|mut f| f.write_all(hex::encode(key).as_bytes()))
        .with_context(|| format!("cannot write {}", path.display()))?;
    tracing::info!("development master key created at {}", path.display());
    Ok(key)
}

/// Creates the first administrator: from `ADMIN_EMAIL`/`ADMIN_PASSWORD`, or in
/// development with a random password printed once.
pub(crate) async fn bootstrap_admin(db: &Db, config: &Config) -> anyhow::Result<()> {
    if let (Some(email), Some(password)) = (&config.admin_email, &config.admin_password) {
        let email =
            app::domain::Email::parse(email).context("ADMIN_EMAIL is not an email address")?;
        match auth::ensure_admin(db, &email, password.expose_secret()).await? {
            auth::Ensured::Created => {
                tracing::info!(email = %email, "administrator created from ADMIN_EMAIL")
            }
            auth::Ensured::PasswordReset => tracing::warn!(
                email = %email,
                "password reset from ADMIN_PASSWORD; the administrator's sessions were ended"
            ),
            auth::Ensured::Unchanged => {}
        }
        return Ok(());
    }
    if auth::admin_count(db).await? > 0 {
        return Ok(());
    }
    if config.is_production() {
        anyhow::bail!(
            "no administrator exists yet: set ADMIN_EMAIL and ADMIN_PASSWORD for the first start"
        );
    }
    let email = app::domain::Email::parse("admin@example.com").context("built-in email")?;
    let password = app::ssr::random_token().to_string()[..16].to_owned();
    auth::ensure_admin(db, &email, &password).await?;
    println!("Administrator account created (shown once): email {email}  password {password}");
    Ok(())
}

/// The retention rules (PIPL), once a minute after the start, then hourly.
pub(crate) async fn purge_forever(db: Db, uploads: formpay_core::store::uploads::UploadStore) {
    let mut wait = std::time::Duration::from_secs(60);
    loop {
        tokio::time::sleep(wait).await;
        wait = std::time::Duration::from_secs(3600);
        if let Err(e) = formpay_core::store::retention::purge(&db).await {
            tracing::warn!(error = ?e, "cannot apply the retention rules");
        }
        // Erased submissions' files, and uploads never submitted.
        if let Err(e) = formpay_core::store::uploads::sweep(&db, &uploads).await {
            tracing::warn!(error = ?e, "cannot delete old uploads");
        }
    }
}

/// Adds the form page views counted in memory to the database, every 5 s.
pub(crate) async fn count_views_forever(state: AppState) {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        if let Err(e) = state.views.flush(&state.db).await {
            tracing::warn!(error = ?e, "cannot count the form views");
        }
    }
}

/// Looks every 10 minutes for a spike of failed or abandoned payments and
/// raises the alert (a security event, a warning, a mail when mail is set).
pub(crate) async fn alert_forever(db: Db, mail: bool) {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(600)).await;
        if let Err(e) = app::ssr::abuse::alert_on_spike(&db, mail).await {
            tracing::warn!(error = ?e, "cannot look for payment spikes");
        }
    }
}

/// Recovery of late callbacks and expired orders, and the profit-sharing
/// splits, forever. Its state is in the
/// database, so it survives restarts; several instances share the work.
pub(crate) async fn reconcile_forever(state: AppState, tick: std::time::Duration) {
    loop {
        tokio::time::sleep(tick).await;
        match app::ssr::pay::reconcile_once(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(orders = n, "reconciled"),
            Err(e) => tracing::warn!(error = ?e, "reconcile pass failed"),
        }
        // Profit sharing: splits of payments now paid, due splits followed up.
        match app::ssr::pay::shares::advance_once(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(splits = n, "splits moved"),
            Err(e) => tracing::warn!(error = ?e, "profit sharing pass failed"),
        }
    }
}

/// The daily reconciliation against the providers' bills: at every tick,
/// the bills of the last days not read yet (from `hour`, Beijing, for
/// yesterday's), so a bill not ready or a failed download is retried.
pub(crate) async fn bills_forever(state: AppState, hour: u32, tick: std::time::Duration) {
    loop {
        tokio::time::sleep(tick).await;
        match app::ssr::pay::bills::run_due(&state, app::ssr::now_ms(), hour).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(days = n, "bills read"),
            Err(e) => tracing::warn!(error = ?e, "the daily bills pass failed"),
        }
    }
}
