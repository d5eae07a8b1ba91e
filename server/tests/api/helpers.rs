use app::ssr::{Backend, Db};
use server::config::Config;
use server::Application;
use sqlx::Connection;
use std::collections::HashMap;
use std::net::SocketAddr;

pub const ADMIN_EMAIL: &str = "admin@test.example";
pub const ADMIN_PASSWORD: &str = "correct horse battery";
/// The master key of test instances (a test changes it to check the error).
pub const TEST_MASTER_KEY: &str =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

pub struct TestApp {
    pub address: String,
    /// Keeps cookies, does not follow redirects.
    pub client: reqwest::Client,
    pub db: Db,
    pub payments: app::ssr::provider::PaymentProviders,
    pub simulator: Option<simulator::Simulator>,
    /// `http://127.0.0.1:PORT/_simulator/`
    pub simulator_base: url::Url,
    /// Where the metrics listener is (`METRICS_ADDR`), if any.
    pub metrics_addr: Option<String>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _database: Option<DatabaseGuard>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Calls a server function the way the browser does (form-encoded POST).
    pub async fn server_fn(&self, name: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/api/{name}")))
            .form(form)
            .send()
            .await
            .expect("server function request")
    }

    /// Calls a server function that must succeed; returns its JSON answer.
    pub async fn call(&self, name: &str, form: &[(&str, &str)]) -> serde_json::Value {
        let resp = self.server_fn(name, form).await;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert_eq!(status, 200, "{name}: {text}");
        serde_json::from_str(&text).expect("json")
    }

    /// The HTML of a page of the app.
    pub async fn page(&self, path: &str) -> String {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("html")
    }

    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.server_fn("login", &[("email", email), ("password", password)])
            .await
    }

    /// Stops the server, finishing requests in flight.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs a test's body with a deadline.
pub async fn deadline(name: &str, body: impl std::future::Future<Output = ()>) {
    if tokio::time::timeout(std::time::Duration::from_secs(150), body)
        .await
        .is_err()
    {
        panic!("{name}: still running after 150 s");
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        // A request the server never answers fails, naming its URL.
        .timeout(std::time::Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A browser-like client of one instance: keeps cookies, does not follow
/// redirects, and says where its writes come from (`Origin`), as browsers do.
pub fn client_of(address: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::ORIGIN,
        reqwest::header::HeaderValue::from_str(address).expect("origin"),
    );
    reqwest::Client::builder()
        .cookie_store(true)
        .timeout(std::time::Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .expect("client")
}

/// A fresh directory for one test instance's uploads (under the system's
/// temporary directory). A test may restart its instance on the same
/// directory, so none is removed while its run lasts; the first call of a
/// run removes those of earlier runs whose process is gone.
pub fn upload_dir() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static SWEEP: std::sync::Once = std::sync::Once::new();
    SWEEP.call_once(sweep_upload_dirs);
    std::env::temp_dir()
        .join(format!(
            "formpay-test-uploads-{}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ))
        .display()
        .to_string()
}

/// Removes the upload directories of earlier test runs: their process id
/// (the first number in the name) no longer runs. Only where `/proc` says so.
fn sweep_upload_dirs() {
    let proc_fs = std::path::Path::new("/proc/self");
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    if !proc_fs.exists() {
        return;
    }
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("formpay-test-uploads-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The settings of a test instance: port 0, the given database, a known administrator.
pub fn test_settings(database_url: &str) -> HashMap<String, String> {
    [
        ("APP_ADDR", "127.0.0.1:0"),
        ("DATABASE_URL", database_url),
        ("ADMIN_EMAIL", ADMIN_EMAIL),
        ("ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("APP_MASTER_KEY", TEST_MASTER_KEY),
        // One simulated second lasts a millisecond: retries and refunds happen at once.
        ("SIMULATOR_TIME_SCALE", "0.001"),
        // Late callbacks are looked for quickly.
        ("RECONCILE_FIRST_CHECK_SECS", "0.3"),
        ("RECONCILE_TICK_MS", "50"),
        // Webhooks are sent and retried at once (the day of retries in ~10 s).
        ("WEBHOOK_TICK_MS", "20"),
        // The daily bills job has its own test.
        ("BILL_HOUR", "off"),
        ("WEBHOOK_RETRY_SCALE", "0.0001"),
        // Tests send bursts to one form; the proof of work has its own test.
        ("POW_BURST_PER_MINUTE", "1000000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .chain([("UPLOAD_DIR".to_owned(), upload_dir())])
    .collect()
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[]).await
}

/// A test instance with some settings changed.
pub async fn spawn_app_with(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
    let database = DatabaseGuard::create(backend).await;
    let url = database.url.clone();
    let mut settings = test_settings(&url);
    for (k, v) in extra {
        settings.insert((*k).to_owned(), (*v).to_owned());
    }
    spawn_app_on(Some(database), settings).await
}

pub async fn spawn_app_on(
    database: Option<DatabaseGuard>,
    settings: HashMap<String, String>,
) -> TestApp {
    if std::env::var("TEST_LOG").is_ok() {
        server::telemetry::init(false);
    }
    let config =
        Config::from_lookup(&move |k| settings.get(k).cloned()).expect("test settings are valid");
    let app = Application::build(config)
        .await
        .expect("the application builds");
    let address = format!("http://{}", SocketAddr::from(([127, 0, 0, 1], app.port())));
    let db = app.state().db.clone();
    // The default account: the environment's providers, or the simulator's.
    let payments = app.state().payments.clone().or(&app.state().simulated);
    let simulator = app.simulator().cloned();
    let metrics_addr = app.metrics_addr().map(|a| a.to_string());
    let simulator_base = app
        .public_base()
        .join("_simulator/")
        .expect("simulator URL");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    TestApp {
        client: client_of(&address),
        address,
        db,
        payments,
        simulator,
        simulator_base,
        metrics_addr,
        stop: Some(stop),
        _database: database,
    }
}

/// A fresh database for one test; dropped (PostgreSQL) or deleted (SQLite) afterwards.
pub struct DatabaseGuard {
    pub url: String,
    backend: Backend,
    name: String,
}

fn unique_name() -> String {
    format!("formpay_t_{}", app::ssr::random_token())
}

pub fn postgres_server_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn with_database(server_url: &str, name: &str) -> String {
    let mut url = url::Url::parse(server_url).expect("TEST_POSTGRES_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

impl DatabaseGuard {
    pub async fn create(backend: Backend) -> DatabaseGuard {
        let name = unique_name();
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("{name}.db"));
                DatabaseGuard {
                    url: format!("sqlite://{}", path.display()),
                    backend,
                    name: path.display().to_string(),
                }
            }
            Backend::Postgres => {
                let server = postgres_server_url();
                let mut conn = sqlx::PgConnection::connect(&server).await.unwrap_or_else(|e| {
                    panic!("PostgreSQL at {server} is required for these tests and is unreachable: {e}")
                });
                sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
                    .await
                    .expect("CREATE DATABASE");
                DatabaseGuard {
                    url: with_database(&server, &name),
                    backend,
                    name,
                }
            }
        }
    }
}

impl Drop for DatabaseGuard {
    fn drop(&mut self) {
        match self.backend {
            Backend::Sqlite => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", self.name));
                }
            }
            Backend::Postgres => {
                let name = self.name.clone();
                // Drop runs inside the test's runtime: use a thread with its own.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    rt.block_on(async move {
                        if let Ok(mut conn) =
                            sqlx::PgConnection::connect(&postgres_server_url()).await
                        {
                            let _ = sqlx::Executor::execute(
                                &mut conn,
                                format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
                            )
                            .await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

/// Runs the same test body against SQLite and PostgreSQL.
#[macro_export]
macro_rules! both_backends {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                #[tokio::test]
                async fn sqlite() {
                    #[allow(unused_mut)]
                    let mut $app = $crate::helpers::spawn_app(app::ssr::Backend::Sqlite).await;
                    // A stuck await fails the test with its name instead of
                    // hanging the whole run.
                    $crate::helpers::deadline(stringify!($name), async { $body }).await;
                }

                #[tokio::test]
                async fn postgres() {
                    #[allow(unused_mut)]
                    let mut $app = $crate::helpers::spawn_app(app::ssr::Backend::Postgres).await;
                    // A stuck await fails the test with its name instead of
                    // hanging the whole run.
                    $crate::helpers::deadline(stringify!($name), async { $body }).await;
                }
            }
        )*
    };
}

/// What a payer does on the simulator's page: POST one of its buttons.
pub async fn press(app: &TestApp, payer_url: &str, action: &str) {
    let resp = app
        .client
        .post(format!("{payer_url}/{action}"))
        .send()
        .await
        .expect("payer action");
    assert!(
        resp.status().is_redirection(),
        "{action}: {}",
        resp.status()
    );
}
