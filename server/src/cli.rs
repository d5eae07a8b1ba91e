//! The `formpay` command: `serve` (the default) and the operator's
//! subcommands. Each reads the same environment (and `.env`) as the server;
//! each exits 0 when done, 1 when it failed (nothing half-done), 2 when it
//! was asked something it cannot do here.

use crate::config::{Config, DEFAULT_DATABASE_URL};
use anyhow::Context;
use app::domain::Email;
use clap::{Parser, Subcommand};
use formpay_core::{accounts, auth, Backend, Db};
use secrecy::ExposeSecret;
use std::io::BufRead;
use std::path::{Path, PathBuf};

#[derive(Debug, Parser)]
#[command(
    name = "formpay",
    version,
    about = "Forms with WeChat Pay and Alipay payments: the server and its operator's tools",
    after_help = "Settings come from the environment and .env (see the README's Configuration)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the application (what `formpay` alone does).
    Serve,
    /// Apply the pending database migrations and exit.
    Migrate,
    /// Read the settings as production would and name every problem (exit 2 if any).
    CheckConfig,
    /// Add an administrator. The password is read from FORMPAY_PASSWORD, or
    /// else from the first line of standard input.
    CreateAdmin {
        #[arg(long)]
        email: String,
        /// owner, finance, editor or viewer.
        #[arg(long, default_value = "owner")]
        role: String,
    },
    /// Set an administrator's password (from FORMPAY_PASSWORD or standard
    /// input) and end their sessions: the way back in for a locked-out owner.
    ResetPassword {
        #[arg(long)]
        email: String,
        /// Also turn off their two-factor login (a lost phone and recovery codes).
        #[arg(long)]
        clear_two_factor: bool,
        /// Also make them an active owner (enabled again if disabled).
        #[arg(long)]
        make_owner: bool,
    },
    /// Copy the SQLite database into FILE, consistent while the server runs
    /// (VACUUM INTO). For PostgreSQL it prints the pg_dump command to use.
    Backup { file: PathBuf },
    /// Put an SQLite backup in place of DATABASE_URL's file (stop the server
    /// first). The backup is checked before anything moves; an existing
    /// database is kept beside it as `<file>.before-restore-<time>`.
    Restore {
        file: PathBuf,
        /// Replace an existing database (kept beside it, not deleted).
        #[arg(long)]
        replace: bool,
    },
    /// Re-seal every stored receiving account under APP_MASTER_KEY, opening
    /// them with the keys in APP_MASTER_KEY_PREVIOUS; all or nothing.
    RotateMasterKey,
    /// Erase the answers past their form's retention period (the server also
    /// does it every hour); orders and amounts stay.
    Purge,
    /// Ask the server at APP_ADDR for /healthz: exit 0 when it is healthy
    /// (the container image's HEALTHCHECK; the image has no curl).
    Healthcheck,
}

/// Runs a subcommand other than `serve`; the process's exit code.
pub async fn run(command: Command) -> i32 {
    let result = match command {
        Command::Serve => Err(Refused::Usage("serve is not a subcommand of run".into())),
        Command::Migrate => migrate().await,
        Command::CheckConfig => return check_config(),
        Command::CreateAdmin { email, role } => create_admin(&email, &role).await,
        Command::ResetPassword {
            email,
            clear_two_factor,
            make_owner,
        } => reset_password(&email, clear_two_factor, make_owner).await,
        Command::Backup { file } => backup(&file).await,
        Command::Restore { file, replace } => restore(&file, replace).await,
        Command::RotateMasterKey => rotate_master_key().await,
        Command::Healthcheck => healthcheck().await,
        Command::Purge => purge().await,
    };
    match result {
        Ok(()) => 0,
        Err(Refused::Usage(message)) => {
            eprintln!("formpay: {message}");
            2
        }
        Err(Refused::Failed(e)) => {
            eprintln!("formpay: {e:#}");
            1
        }
    }
}

/// Why a subcommand stopped.
enum Refused {
    /// Not possible with these settings or arguments (exit 2).
    Usage(String),
    /// It tried and failed; nothing was changed (exit 1).
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for Refused {
    fn from(e: anyhow::Error) -> Self {
        Refused::Failed(e)
    }
}

fn production() -> bool {
    std::env::var("APP_ENV").is_ok_and(|v| {
        let v = v.trim().to_ascii_lowercase();
        v == "production" || v == "prod"
    })
}

/// `DATABASE_URL`, or the development default (production names none).
fn database_url() -> Result<String, Refused> {
    match std::env::var("DATABASE_URL") {
        Ok(u) if !u.trim().is_empty() => {
            Backend::from_url(u.trim()).map_err(|e| Refused::Usage(e.to_string()))?;
            Ok(u.trim().to_owned())
        }
        _ if production() => Err(Refused::Usage(
            "DATABASE_URL is not set (production has no default database)".into(),
        )),
        _ => Ok(DEFAULT_DATABASE_URL.to_owned()),
    }
}

async fn migrate() -> Result<(), Refused> {
    let url = database_url()?;
    let db = Db::connect(&url).await?;
    let (n, last): (i64, Option<i64>) =
        sqlx::query_as("SELECT COUNT(*), MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&db.pool)
            .await
            .context("cannot read the applied migrations")?;
    println!(
        "the database is up to date: {n} migrations applied, schema version {}",
        last.unwrap_or_default()
    );
    Ok(())
}

/// Prints every problem production would refuse to start with (exit 2),
/// or what it would run with (exit 0). Secrets are never printed.
fn check_config() -> i32 {
    let lookup = |k: &str| {
        if k == "APP_ENV" {
            Some("production".to_owned())
        } else {
            std::env::var(k).ok()
        }
    };
    match Config::from_lookup(&lookup) {
        Err(errors) => {
            println!("production would refuse to start: {errors}");
            2
        }
        Ok(c) => {
            println!("production would start with these settings:");
            println!("  listening on       {}", c.addr);
            if let Some(u) = &c.public_base_url {
                println!("  public address     {u}");
            }
            let backend = match Backend::from_url(&c.database_url) {
                Ok(Backend::Sqlite) => "SQLite",
                Ok(Backend::Postgres) => "PostgreSQL",
                Err(_) => "?",
            };
            println!("  database           {backend}");
            let kinds: Vec<&str> = c.default_account.iter().map(|(k, _)| *k).collect();
            println!(
                "  default account    {}",
                if kinds.is_empty() {
                    "none (stored accounts only)".to_owned()
                } else {
                    kinds.join(", ")
                }
            );
            if !c.master_key_previous.is_empty() {
                println!(
                    "  note: APP_MASTER_KEY_PREVIOUS holds {} key(s): run `formpay rotate-master-key`, then remove it",
                    c.master_key_previous.len()
                );
            }
            0
        }
    }
}

/// The password from `FORMPAY_PASSWORD`, or the first line of standard input.
fn password() -> Result<String, Refused> {
    let raw = match std::env::var("FORMPAY_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("cannot read the password from standard input")?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let n = raw.chars().count();
    if !(auth::MIN_PASSWORD_LEN..=auth::MAX_PASSWORD_LEN).contains(&n) {
        return Err(Refused::Usage(format!(
            "the password must be {} to {} characters (give it in FORMPAY_PASSWORD or on standard input)",
            auth::MIN_PASSWORD_LEN,
            auth::MAX_PASSWORD_LEN
        )));
    }
    Ok(raw)
}

fn email(raw: &str) -> Result<Email, Refused> {
    Email::parse(raw.trim()).map_err(|_| Refused::Usage(format!("`{raw}` is not an email address")))
}

async fn create_admin(raw_email: &str, role: &str) -> Result<(), Refused> {
    let email = email(raw_email)?;
    let role = app::domain::Role::parse(role).ok_or_else(|| {
        Refused::Usage(format!(
            "`{role}` is not a role: owner, finance, editor or viewer"
        ))
    })?;
    let password = password()?;
    let db = Db::connect(&database_url()?).await?;
    if !auth::create_admin(&db, &email, &password, role).await? {
        return Err(Refused::Failed(anyhow::anyhow!(
            "an administrator with the email {email} exists: use `formpay reset-password`"
        )));
    }
    println!("administrator {email} created ({role})");
    Ok(())
}

async fn reset_password(
    raw_email: &str,
    clear_two_factor: bool,
    make_owner: bool,
) -> Result<(), Refused> {
    let email = email(raw_email)?;
    let password = password()?;
    let db = Db::connect(&database_url()?).await?;
    let id = auth::admin_id(&db, &email)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no administrator has the email {email}"))?;
    auth::set_password(&db, &id, &password, None).await?;
    println!("the password of {email} is set; their sessions were ended");
    if clear_two_factor && auth::clear_two_factor(&db, &id).await? {
        println!("their two-factor login is off");
    }
    if make_owner {
        auth::set_role(&db, &id, app::domain::Role::Owner)
            .await?
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        auth::set_disabled(&db, "", &id, false)
            .await?
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        println!("they are an active owner");
    }
    Ok(())
}

/// The file of an SQLite URL (`sqlite://path?…` or `sqlite:path`).
fn sqlite_path(url: &str) -> Result<PathBuf, Refused> {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Err(Refused::Usage(
            "DATABASE_URL names no database file".to_owned(),
        ));
    }
    Ok(PathBuf::from(path))
}

/// An SQLite connection to a file: read-only, or read-write without creating it.
async fn open_sqlite(path: &Path, read_only: bool) -> anyhow::Result<sqlx::SqliteConnection> {
    use sqlx::ConnectOptions;
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(read_only)
        .create_if_missing(false)
        .busy_timeout(std::time::Duration::from_secs(30))
        .connect()
        .await
        .with_context(|| format!("cannot open {}", path.display()))
}

/// What a database file holds that a restore cares about.
struct Checked {
    orders: i64,
    schema: i64,
}

/// Checks a database file: intact, written by this release or an older one.
async fn check_database_file(path: &Path) -> anyhow::Result<Checked> {
    let mut conn = open_sqlite(path, true).await?;
    let (verdict,): (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .with_context(|| format!("{} is not an SQLite database", path.display()))?;
    anyhow::ensure!(verdict == "ok", "{} is damaged: {verdict}", path.display());
    let versions: Vec<(i64,)> =
        sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .with_context(|| format!("{} is not a formpay database", path.display()))?;
    let known = formpay_core::db::migration_versions();
    if let Some((v,)) = versions.iter().find(|(v,)| !known.contains(v)) {
        anyhow::bail!(
            "{} has schema version {v}, which this release does not know: restore it with the release that wrote it",
            path.display()
        );
    }
    let (orders,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM orders")
        .fetch_one(&mut conn)
        .await
        .with_context(|| format!("{} has no orders table", path.display()))?;
    Ok(Checked {
        orders,
        schema: versions.last().map(|(v,)| *v).unwrap_or_default(),
    })
}

async fn backup(file: &Path) -> Result<(), Refused> {
    let url = database_url()?;
    if Backend::from_url(&url).map_err(Refused::Failed)? == Backend::Postgres {
        return Err(Refused::Usage(
            "for PostgreSQL use its own tools, consistent while serving:\n  pg_dump --format=custom --file=formpay.dump \"$DATABASE_URL\"\nand to restore into an empty database:\n  pg_restore --no-owner --dbname=\"$DATABASE_URL\" formpay.dump".into(),
        ));
    }
    let source = sqlite_path(&url)?;
    if !source.is_file() {
        return Err(Refused::Failed(anyhow::anyhow!(
            "there is no database at {}",
            source.display()
        )));
    }
    if file.exists() {
        return Err(Refused::Usage(format!(
            "{} exists: a backup never overwrites a file",
            file.display()
        )));
    }
    let target = file
        .to_str()
        .ok_or_else(|| Refused::Usage("the backup's path is not UTF-8".into()))?;
    // One read transaction: the copy is the database as of one commit, while
    // the server goes on writing (WAL).
    let mut conn = open_sqlite(&source, true).await?;
    sqlx::query("VACUUM INTO $1")
        .bind(target)
        .execute(&mut conn)
        .await
        .with_context(|| format!("cannot write the backup to {}", file.display()))?;
    drop(conn);
    let checked = check_database_file(file).await?;
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or_default();
    println!(
        "backup written to {}: {} orders, schema version {}, {size} bytes, integrity ok",
        file.display(),
        checked.orders,
        checked.schema
    );
    Ok(())
}

async fn restore(file: &Path, replace: bool) -> Result<(), Refused> {
    let url = database_url()?;
    if Backend::from_url(&url).map_err(Refused::Failed)? == Backend::Postgres {
        return Err(Refused::Usage(
            "for PostgreSQL restore a pg_dump archive into an empty database:\n  pg_restore --no-owner --dbname=\"$DATABASE_URL\" formpay.dump".into(),
        ));
    }
    let target = sqlite_path(&url)?;
    // Everything is checked before anything moves.
    let checked = check_database_file(file).await?;
    if target.exists() && !replace {
        return Err(Refused::Usage(format!(
            "{} exists: stop the server, then run again with --replace (the current database is kept beside it)",
            target.display()
        )));
    }
    if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let staging = with_suffix(&target, ".restoring");
    std::fs::copy(file, &staging)
        .with_context(|| format!("cannot copy the backup to {}", staging.display()))?;
    std::fs::File::open(&staging)
        .and_then(|f| f.sync_all())
        .context("cannot flush the restored copy")?;
    if target.exists() {
        let aside = with_suffix(
            &target,
            &format!(
                ".before-restore-{}",
                chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
            ),
        );
        // The database with its write-ahead log, so the kept copy is whole.
        for suffix in ["-wal", "-shm", ""] {
            let from = with_suffix(&target, suffix);
            if from.exists() {
                std::fs::rename(&from, with_suffix(&aside, suffix))
                    .with_context(|| format!("cannot move {} aside", from.display()))?;
            }
        }
        println!("the previous database is kept as {}", aside.display());
    }
    std::fs::rename(&staging, &target)
        .with_context(|| format!("cannot put the backup at {}", target.display()))?;
    if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .context("cannot flush the folder")?;
    }
    // Brings an older backup up to this release's schema.
    let db = Db::connect(&url).await?;
    let (orders,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM orders")
        .fetch_one(&db.pool)
        .await
        .context("cannot count the restored orders")?;
    println!(
        "restored {} into {}: {orders} orders (schema version {} brought up to date)",
        file.display(),
        target.display(),
        checked.schema
    );
    Ok(())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

async fn rotate_master_key() -> Result<(), Refused> {
    let config = Config::from_env().map_err(|e| Refused::Usage(e.to_string()))?;
    let Some(current) = &config.master_key else {
        return Err(Refused::Usage(
            "APP_MASTER_KEY is not set: set it to the new key, and APP_MASTER_KEY_PREVIOUS to the old one".into(),
        ));
    };
    if config.master_key_previous.is_empty() {
        return Err(Refused::Usage(
            "APP_MASTER_KEY_PREVIOUS is not set: set it to the key the accounts are sealed under (APP_MASTER_KEY is the new one)".into(),
        ));
    }
    let vault =
        accounts::Vault::rotating(current.0.expose_secret(), &config.previous_master_keys());
    let db = Db::connect(&config.database_url).await?;
    let done = accounts::reseal_all(&db, &vault).await?;
    println!(
        "{} account(s) re-sealed under APP_MASTER_KEY, {} already were; {} other secret(s) (two-factor, webhooks) re-sealed: remove APP_MASTER_KEY_PREVIOUS and restart the server",
        done.moved, done.current, done.secrets_moved
    );
    Ok(())
}

async fn healthcheck() -> Result<(), Refused> {
    let raw = std::env::var("APP_ADDR").unwrap_or_else(|_| crate::config::DEFAULT_ADDR.into());
    let mut addr: std::net::SocketAddr = raw
        .trim()
        .parse()
        .map_err(|_| Refused::Usage(format!("APP_ADDR `{raw}` is not an address")))?;
    // A server listening on every address answers on loopback.
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .context("cannot build an HTTP client")?;
    let resp = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .with_context(|| format!("nothing answers at {addr}"))?;
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        return Err(Refused::Failed(anyhow::anyhow!(
            "unhealthy ({status}): {body}"
        )));
    }
    println!("healthy: {body}");
    Ok(())
}

async fn purge() -> Result<(), Refused> {
    let db = Db::connect(&database_url()?).await?;
    let done = formpay_core::store::retention::purge(&db).await?;
    // The files are where the server keeps them: its settings say where.
    let config = Config::from_env().map_err(|e| Refused::Usage(e.to_string()))?;
    let files = formpay_core::store::uploads::sweep(&db, &config.upload_store()?).await?;
    println!(
        "erased the answers of {} submission(s) past their form's retention period ({} provider call bodies, {files} uploaded file(s)); orders and amounts are kept",
        done.submissions, done.log_entries
    );
    Ok(())
}
