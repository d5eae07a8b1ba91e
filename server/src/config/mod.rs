//! Settings from the environment (or `.env`, which never overrides the
//! environment). Every problem is collected, so that a refused start names
//! every missing or malformed setting in one message.

use base64::Engine;
use formpay_core::registry::Credentials;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use std::fmt;
use std::net::SocketAddr;
use url::Url;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

/// A 32-byte key that encrypts secrets at rest (AES-256-GCM).
pub struct MasterKey(pub SecretBox<[u8; 32]>);

impl Clone for MasterKey {
    fn clone(&self) -> Self {
        MasterKey(SecretBox::new(Box::new(*self.0.expose_secret())))
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([REDACTED])")
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub env: AppEnv,
    pub addr: SocketAddr,
    /// Where payers reach the application; `None` in development means "the
    /// address the server is listening on".
    pub public_base_url: Option<Url>,
    pub database_url: String,
    pub master_key: Option<MasterKey>,
    /// `APP_MASTER_KEY_PREVIOUS`: keys being rotated out. Stored accounts
    /// sealed under them still open; `formpay rotate-master-key` re-seals
    /// them under `APP_MASTER_KEY`.
    pub master_key_previous: Vec<MasterKey>,
    pub admin_email: Option<String>,
    pub admin_password: Option<SecretString>,
    /// Base URL the providers call back (defaults to the public base URL).
    pub notify_url: Option<Url>,
    /// Base URL the payer's browser returns to (defaults to the public base URL).
    pub return_url: Option<Url>,
    /// How long an order waits for payment (fractions allowed, for tests).
    pub order_expire_minutes: f64,
    /// `PAYER_DAILY_SUBMISSIONS`: submissions one phone number may make per
    /// Beijing day on all forms (None: no limit).
    pub payer_daily_submissions: Option<i64>,
    /// `PAYER_DAILY_AMOUNT` (yuan): what one phone number's orders may come
    /// to per Beijing day (None: no cap).
    pub payer_daily_amount_fen: Option<i64>,
    /// `POW_BURST_PER_MINUTE`: submissions to one form in a minute above
    /// which each must carry a proof of work.
    pub pow_burst_per_minute: u32,
    /// `POW_BITS`: how hard that proof is (leading zero bits of SHA-256).
    pub pow_bits: u32,
    /// `UPLOAD_DIR`: where uploaded files are kept (without a bucket).
    pub upload_dir: std::path::PathBuf,
    /// `UPLOAD_S3_*`: an S3-compatible bucket for uploaded files instead.
    pub upload_s3: Option<formpay_core::store::uploads::S3Settings>,
    /// Real seconds per simulated second in the provider simulator (tests compress time).
    pub simulator_time_scale: f64,
    /// How long after its creation a pending order is first queried at the provider.
    pub reconcile_first_check_ms: i64,
    /// How often the reconciler looks for due orders.
    pub reconcile_tick_ms: u64,
    /// `BILL_HOUR`: the Beijing hour (0–23) from which yesterday's bills are
    /// read and reconciled; None (`off`): no daily job.
    pub bill_hour: Option<u32>,
    /// `BILL_TICK_MS`: how often the daily job looks for bills not read yet
    /// (each look retries those not ready or failed).
    pub bill_tick_ms: u64,
    /// How often new events become webhook deliveries and due ones are sent.
    pub webhook_tick_ms: u64,
    /// The webhooks' retry schedule is multiplied by this (tests shorten it).
    pub webhook_retry_scale: f64,
    /// The environment's receiving account: each provider kind it configures
    /// (`WECHAT_*`, `ALIPAY_*`), read and checked through the kind's schema,
    /// as stored accounts are.
    pub default_account: Vec<(&'static str, Credentials)>,
    /// `SIMULATOR`: Some(true) mounts the simulator whatever else is
    /// configured (development only), Some(false) never; None decides by the
    /// rules (development, no real provider, a loopback address).
    pub simulator: Option<bool>,
    /// `TRUSTED_PROXIES`: peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: app::ssr::auth::TrustedProxies,
    /// `SESSION_IDLE_MINUTES`: an administrator's session unused this long ends.
    pub session_idle_ms: i64,
    /// `SSE_MAX_STREAMS`, `SSE_MAX_STREAMS_PER_ADDRESS`.
    pub sse_max_streams: usize,
    pub sse_max_streams_per_address: usize,
    /// Requests per minute per client address (`RATE_LIMIT_PER_MINUTE`) on
    /// submissions, payment starts and "I have paid".
    pub rate_limit_per_minute: u32,
    /// `METRICS_ADDR`: where Prometheus metrics are served, on a listener of
    /// their own (never on the public one); None: not served.
    pub metrics_addr: Option<SocketAddr>,
    /// `SMTP_URL` and `MAIL_FROM`: where mail is sent and whom it is from;
    /// None: no mail (nothing is queued).
    pub mail: Option<MailConfig>,
}

/// The mail server (`SMTP_URL`, a secret: it may hold a password) and the
/// sender (`MAIL_FROM`).
#[derive(Clone)]
pub struct MailConfig {
    pub smtp_url: SecretString,
    pub from: lettre::message::Mailbox,
}

impl fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailConfig")
            .field("smtp_url", &"[REDACTED]")
            .field("from", &self.from.to_string())
            .finish()
    }
}

/// Every problem found in the settings.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<(String, String)>);

impl ConfigErrors {
    fn push(&mut self, var: &str, problem: impl Into<String>) {
        self.0.push((var.to_owned(), problem.into()));
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "the configuration has {} problem(s):", self.0.len())?;
        for (var, problem) in &self.0 {
            writeln!(f, "  - {var}: {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";
/// Requests a minute one address may make to each of the public write routes
/// (submit, pay, "I have paid"), bursts included: generous, because a school
/// or an office puts many payers behind one address.
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 120;
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/formpay.db";

/// A switch's value meaning "on" (`on`, `true`, `1`, `yes`, any case).
fn is_on(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "on" | "true" | "1" | "yes")
}

/// Reads settings through `get`, so tests can pass a map instead of the process environment.
struct Reader<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
    errors: ConfigErrors,
}

impl Reader<'_> {
    /// A non-empty value, trimmed.
    fn opt(&self, var: &str) -> Option<String> {
        (self.get)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// A secret given inline or as a file path in `VAR_FILE`.
    fn secret(&mut self, var: &str) -> Option<String> {
        if let Some(v) = (self.get)(var).filter(|v| !v.trim().is_empty()) {
            return Some(v.trim().to_owned());
        }
        let file_var = format!("{var}_FILE");
        let path = self.opt(&file_var)?;
        match std::fs::read_to_string(&path) {
            Ok(v) if !v.trim().is_empty() => Some(v.trim().to_owned()),
            Ok(_) => {
                self.errors
                    .push(&file_var, format!("the file {path} is empty"));
                None
            }
            Err(e) => {
                self.errors
                    .push(&file_var, format!("cannot read {path}: {e}"));
                None
            }
        }
    }

    /// The bucket for uploads, when `UPLOAD_S3_BUCKET` is set: its keys are
    /// then required (no fallback to the directory: files would land where
    /// nobody looks for them).
    fn upload_s3(&mut self) -> Option<formpay_core::store::uploads::S3Settings> {
        let bucket = self.opt("UPLOAD_S3_BUCKET");
        let Some(bucket) = bucket else {
            for var in ["UPLOAD_S3_ENDPOINT", "UPLOAD_S3_ACCESS_KEY_ID"] {
                if self.opt(var).is_some() {
                    self.errors
                        .push("UPLOAD_S3_BUCKET", format!("is missing while {var} is set"));
                }
            }
            return None;
        };
        let access_key_id = self.opt("UPLOAD_S3_ACCESS_KEY_ID");
        let secret = self.secret("UPLOAD_S3_SECRET_ACCESS_KEY");
        let endpoint = self.url("UPLOAD_S3_ENDPOINT", false).map(|u| u.to_string());
        if access_key_id.is_none() {
            self.errors.push(
                "UPLOAD_S3_ACCESS_KEY_ID",
                "is required with UPLOAD_S3_BUCKET",
            );
        }
        if secret.is_none() {
            self.errors.push(
                "UPLOAD_S3_SECRET_ACCESS_KEY",
                "is required with UPLOAD_S3_BUCKET",
            );
        }
        let settings = formpay_core::store::uploads::S3Settings {
            bucket,
            endpoint,
            region: self
                .opt("UPLOAD_S3_REGION")
                .unwrap_or_else(|| "us-east-1".to_owned()),
            access_key_id: access_key_id?,
            secret_access_key: SecretString::from(secret?),
            prefix: self
                .opt("UPLOAD_S3_PREFIX")
                .unwrap_or_else(|| "uploads".to_owned()),
            allow_http: self.opt("UPLOAD_S3_ALLOW_HTTP").is_some_and(|v| is_on(&v)),
            virtual_hosted: self
                .opt("UPLOAD_S3_VIRTUAL_HOSTED")
                .is_some_and(|v| is_on(&v)),
        };
        // Checked now (scheme, plain HTTP), so a wrong setting stops the start.
        if let Err(e) = settings.checked_endpoint() {
            self.errors.push("UPLOAD_S3_ENDPOINT", format!("{e:#}"));
            return None;
        }
        Some(settings)
    }

    fn url(&mut self, var: &str, must_be_https: bool) -> Option<Url> {
        let raw = self.opt(var)?;
        match Url::parse(&raw) {
            Ok(u) if !matches!(u.scheme(), "http" | "https") => {
                self.errors.push(var, "must be an http(s) URL");
                None
            }
            Ok(u) if must_be_https && u.scheme() != "https" => {
                self.errors
                    .push(var, "must be an https:// URL in production");
                None
            }
            Ok(u) if u.host_str().is_none() => {
                self.errors.push(var, "must name a host");
                None
            }
            Ok(u) => Some(u),
            Err(e) => {
                self.errors.push(var, format!("is not a URL: {e}"));
                None
            }
        }
    }
}

/// Parses a 32-byte key given as 64 hex digits or as base64.
pub fn parse_master_key(raw: &str) -> Result<[u8; 32], String> {
    let raw = raw.trim();
    let bytes = if raw.len() == 64 && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(raw).map_err(|e| e.to_string())?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map_err(|_| "must be 32 bytes as 64 hex digits or as base64".to_owned())?
    };
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| format!("must be 32 bytes, got {}", bytes.len()))
}

impl Config {
    /// Where uploaded files are kept: the bucket when one is set, else the
    /// directory (created if missing).
    pub fn upload_store(&self) -> anyhow::Result<formpay_core::store::uploads::UploadStore> {
        use formpay_core::store::uploads::UploadStore;
        match &self.upload_s3 {
            Some(bucket) => UploadStore::s3(bucket),
            None => UploadStore::directory(&self.upload_dir),
        }
    }

    /// Reads the process environment (after `.env`).
    pub fn from_env() -> Result<Config, ConfigErrors> {
        Config::from_lookup(&|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigErrors> {
        let mut r = Reader {
            get,
            errors: ConfigErrors::default(),
        };

        let env = match r.opt("APP_ENV").map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("development") | Some("dev") => AppEnv::Development,
            Some("production") | Some("prod") => AppEnv::Production,
            Some(_) => {
                r.errors
                    .push("APP_ENV", "must be development or production");
                AppEnv::Development
            }
        };
        let prod = env == AppEnv::Production;

        let addr_raw = r.opt("APP_ADDR").unwrap_or_else(|| DEFAULT_ADDR.to_owned());
        let addr = match addr_raw.parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => {
                r.errors.push(
                    "APP_ADDR",
                    format!("`{addr_raw}` is not an address such as 127.0.0.1:3000"),
                );
                SocketAddr::from(([127, 0, 0, 1], 3000))
            }
        };

        let public_base_url = if prod {
            if r.opt("PUBLIC_BASE_URL").is_none() {
                r.errors.push(
                    "PUBLIC_BASE_URL",
                    "missing (the https:// address payers and providers reach)",
                );
            }
            r.url("PUBLIC_BASE_URL", true)
        } else {
            r.url("PUBLIC_BASE_URL", false)
        };
        let notify_url = r.url("NOTIFY_URL", prod);
        let return_url = r.url("RETURN_URL", prod);

        let database_url = match r.opt("DATABASE_URL") {
            Some(u)
                if u.starts_with("sqlite:")
                    || u.starts_with("postgres://")
                    || u.starts_with("postgresql://") =>
            {
                u
            }
            Some(_) => {
                r.errors
                    .push("DATABASE_URL", "must start with sqlite: or postgres://");
                String::new()
            }
            None if prod => {
                r.errors
                    .push("DATABASE_URL", "missing (postgres://… or sqlite://…)");
                String::new()
            }
            None => DEFAULT_DATABASE_URL.to_owned(),
        };

        let master_key = match r.secret("APP_MASTER_KEY") {
            Some(raw) => match parse_master_key(&raw) {
                Ok(k) => Some(MasterKey(SecretBox::new(Box::new(k)))),
                Err(e) => {
                    r.errors.push("APP_MASTER_KEY", e);
                    None
                }
            },
            None if prod => {
                r.errors.push(
                    "APP_MASTER_KEY",
                    "missing (32 random bytes as hex or base64, e.g. `openssl rand -hex 32`)",
                );
                None
            }
            None => None,
        };

        let mut master_key_previous = Vec::new();
        if let Some(list) = r.secret("APP_MASTER_KEY_PREVIOUS") {
            for (i, raw) in list.split(',').filter(|k| !k.trim().is_empty()).enumerate() {
                match parse_master_key(raw) {
                    Ok(k)
                        if master_key
                            .as_ref()
                            .is_some_and(|m| *m.0.expose_secret() == k) =>
                    {
                        r.errors.push(
                            "APP_MASTER_KEY_PREVIOUS",
                            format!("key {} is APP_MASTER_KEY itself", i + 1),
                        )
                    }
                    Ok(k) => master_key_previous.push(MasterKey(SecretBox::new(Box::new(k)))),
                    Err(e) => r
                        .errors
                        .push("APP_MASTER_KEY_PREVIOUS", format!("key {}: {e}", i + 1)),
                }
            }
            if master_key.is_none() {
                r.errors.push(
                    "APP_MASTER_KEY_PREVIOUS",
                    "is set without APP_MASTER_KEY (the key to rotate to)",
                );
            }
        }

        let admin_email = r.opt("ADMIN_EMAIL");
        if let Some(e) = &admin_email {
            if app::domain::Email::parse(e).is_err() {
                r.errors.push("ADMIN_EMAIL", "is not an email address");
            }
        }
        let admin_password = r.secret("ADMIN_PASSWORD");
        if let Some(p) = &admin_password {
            if p.chars().count() < 10 {
                r.errors
                    .push("ADMIN_PASSWORD", "must be at least 10 characters");
            }
        }
        if admin_email.is_some() != admin_password.is_some() {
            r.errors
                .push("ADMIN_EMAIL / ADMIN_PASSWORD", "give both or neither");
        }

        let order_expire_minutes = match r.opt("ORDER_EXPIRE_MINUTES") {
            None => 15.0,
            Some(v) => match v.parse::<f64>() {
                Ok(m) if m > 0.0 && m <= 1440.0 => m,
                _ => {
                    r.errors.push(
                        "ORDER_EXPIRE_MINUTES",
                        "must be a number of minutes above 0, at most 1440",
                    );
                    15.0
                }
            },
        };

        let payer_daily_submissions = match r.opt("PAYER_DAILY_SUBMISSIONS") {
            None => None,
            Some(v) => match v.parse::<i64>() {
                Ok(n) if n >= 1 => Some(n),
                _ => {
                    r.errors.push(
                        "PAYER_DAILY_SUBMISSIONS",
                        "must be a whole number from 1 (empty: no limit)",
                    );
                    None
                }
            },
        };
        let payer_daily_amount_fen = match r.opt("PAYER_DAILY_AMOUNT") {
            None => None,
            Some(v) => match domain::Money::parse_yuan(&v) {
                Ok(m) if m.fen() > 0 => Some(m.fen()),
                _ => {
                    r.errors.push(
                        "PAYER_DAILY_AMOUNT",
                        "must be an amount in yuan such as 5000 or 99.50 (empty: no cap)",
                    );
                    None
                }
            },
        };

        let pow_burst_per_minute = match r.opt("POW_BURST_PER_MINUTE") {
            None => 30,
            Some(v) => match v.parse::<u32>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    r.errors.push(
                        "POW_BURST_PER_MINUTE",
                        "must be a whole number of submissions from 1",
                    );
                    30
                }
            },
        };
        let pow_bits = match r.opt("POW_BITS") {
            None => 18,
            Some(v) => match v.parse::<u32>() {
                Ok(n) if (1..=domain::pow::MAX_BITS).contains(&n) => n,
                _ => {
                    r.errors
                        .push("POW_BITS", "must be a whole number from 1 to 24");
                    18
                }
            },
        };

        let upload_dir = std::path::PathBuf::from(
            r.opt("UPLOAD_DIR")
                .unwrap_or_else(|| "data/uploads".to_owned()),
        );

        let upload_s3 = r.upload_s3();

        let simulator_time_scale = match r.opt("SIMULATOR_TIME_SCALE") {
            None => 1.0,
            Some(v) => match v.parse::<f64>() {
                Ok(x) if x > 0.0 && x <= 100.0 => x,
                _ => {
                    r.errors.push(
                        "SIMULATOR_TIME_SCALE",
                        "must be a number above 0 and at most 100",
                    );
                    1.0
                }
            },
        };

        let reconcile_first_check_ms = match r.opt("RECONCILE_FIRST_CHECK_SECS") {
            None => 30_000,
            Some(v) => match v.parse::<f64>() {
                Ok(x) if x > 0.0 && x <= 3600.0 => (x * 1000.0) as i64,
                _ => {
                    r.errors.push(
                        "RECONCILE_FIRST_CHECK_SECS",
                        "must be a number of seconds above 0, at most 3600",
                    );
                    30_000
                }
            },
        };
        let reconcile_tick_ms = match r.opt("RECONCILE_TICK_MS") {
            None => 2_000,
            Some(v) => match v.parse::<u64>() {
                Ok(x) if (10..=600_000).contains(&x) => x,
                _ => {
                    r.errors.push(
                        "RECONCILE_TICK_MS",
                        "must be whole milliseconds from 10 to 600000",
                    );
                    2_000
                }
            },
        };

        let bill_hour = match r.opt("BILL_HOUR").map(|v| v.to_ascii_lowercase()) {
            None => Some(10),
            Some(v) if matches!(v.as_str(), "off" | "false" | "no") => None,
            Some(v) => match v.parse::<u32>() {
                Ok(h) if h < 24 => Some(h),
                _ => {
                    r.errors
                        .push("BILL_HOUR", "must be a Beijing hour from 0 to 23, or off");
                    None
                }
            },
        };
        let bill_tick_ms = match r.opt("BILL_TICK_MS") {
            None => 600_000,
            Some(v) => match v.parse::<u64>() {
                Ok(x) if (10..=3_600_000).contains(&x) => x,
                _ => {
                    r.errors.push(
                        "BILL_TICK_MS",
                        "must be whole milliseconds from 10 to 3600000",
                    );
                    600_000
                }
            },
        };

        let webhook_tick_ms = match r.opt("WEBHOOK_TICK_MS") {
            None => 1_000,
            Some(v) => match v.parse::<u64>() {
                Ok(x) if (10..=600_000).contains(&x) => x,
                _ => {
                    r.errors.push(
                        "WEBHOOK_TICK_MS",
                        "must be whole milliseconds from 10 to 600000",
                    );
                    1_000
                }
            },
        };
        let webhook_retry_scale = match r.opt("WEBHOOK_RETRY_SCALE") {
            None => 1.0,
            Some(v) => match v.parse::<f64>() {
                Ok(x) if x > 0.0 && x <= 100.0 => x,
                _ => {
                    r.errors.push(
                        "WEBHOOK_RETRY_SCALE",
                        "must be a number above 0 and at most 100",
                    );
                    1.0
                }
            },
        };

        let simulator = match r.opt("SIMULATOR").map(|v| v.to_ascii_lowercase()) {
            None => None,
            Some(v) if is_on(&v) => {
                if prod {
                    r.errors.push(
                        "SIMULATOR",
                        "the simulator cannot run in production (anyone could \"pay\" with its public keys)",
                    );
                } else if !cfg!(feature = "simulator") {
                    r.errors.push(
                        "SIMULATOR",
                        "this build has no simulator (a production build); for development run `cargo xtask serve`, or build with `--features simulator`",
                    );
                }
                Some(true)
            }
            Some(v) if matches!(v.as_str(), "off" | "false" | "0" | "no") => Some(false),
            Some(_) => {
                r.errors.push("SIMULATOR", "must be on or off");
                None
            }
        };
        let trusted_proxies = match app::ssr::auth::TrustedProxies::parse(
            &r.opt("TRUSTED_PROXIES").unwrap_or_default(),
        ) {
            Ok(t) => t,
            Err(e) => {
                r.errors.push("TRUSTED_PROXIES", e);
                Default::default()
            }
        };
        let session_idle_ms = match r.opt("SESSION_IDLE_MINUTES") {
            None => 12 * 60 * 60_000,
            Some(v) => match v.parse::<f64>() {
                Ok(m) if m > 0.0 && m <= 7.0 * 24.0 * 60.0 => (m * 60_000.0) as i64,
                _ => {
                    r.errors.push(
                        "SESSION_IDLE_MINUTES",
                        "must be a number of minutes above 0, at most 10080 (7 days)",
                    );
                    12 * 60 * 60_000
                }
            },
        };
        let mut count = |var: &str, default: usize, max: usize| match r.opt(var) {
            None => default,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => n,
                _ => {
                    r.errors
                        .push(var, format!("must be a whole number from 1 to {max}"));
                    default
                }
            },
        };
        let sse_max_streams = count(
            "SSE_MAX_STREAMS",
            app::ssr::streams::DEFAULT_MAX_STREAMS,
            1_000_000,
        );
        let sse_max_streams_per_address = count(
            "SSE_MAX_STREAMS_PER_ADDRESS",
            app::ssr::streams::DEFAULT_MAX_STREAMS_PER_ADDRESS,
            1_000_000,
        );
        let rate_limit_per_minute = count(
            "RATE_LIMIT_PER_MINUTE",
            DEFAULT_RATE_LIMIT_PER_MINUTE as usize,
            1_000_000,
        ) as u32;

        let metrics_addr = match r.opt("METRICS_ADDR") {
            None => None,
            Some(raw) => match raw.parse::<SocketAddr>() {
                Ok(a) if a == addr && a.port() != 0 => {
                    r.errors.push(
                        "METRICS_ADDR",
                        "is APP_ADDR: metrics are served on a listener of their own",
                    );
                    None
                }
                Ok(a) => Some(a),
                Err(_) => {
                    r.errors.push(
                        "METRICS_ADDR",
                        format!("`{raw}` is not an address such as 127.0.0.1:9100"),
                    );
                    None
                }
            },
        };

        let mail = read_mail(&mut r);

        if r.opt("WECHAT_SANDBOX").is_some() {
            r.errors.push(
                "WECHAT_SANDBOX",
                "is no longer supported: WeChat Pay's API v2 sandbox is retired and API v3 has none; try payments with the provider simulator (development) or with small amounts on the real merchant, and point WECHAT_API_BASE at another implementation if you have one",
            );
        }
        let default_account = read_default_account(&mut r, prod);
        if prod && default_account.is_empty() {
            r.errors.push(
                "WECHAT_MCH_ID / ALIPAY_APP_ID",
                "no payment provider is configured; production needs the settings of WeChat Pay, Alipay or both",
            );
        }

        if r.errors.0.is_empty() {
            Ok(Config {
                env,
                addr,
                public_base_url,
                database_url,
                master_key,
                master_key_previous,
                admin_email,
                admin_password: admin_password.map(SecretString::from),
                notify_url,
                return_url,
                order_expire_minutes,
                payer_daily_submissions,
                payer_daily_amount_fen,
                pow_burst_per_minute,
                pow_bits,
                upload_dir,
                upload_s3,
                simulator_time_scale,
                reconcile_first_check_ms,
                reconcile_tick_ms,
                bill_hour,
                bill_tick_ms,
                webhook_tick_ms,
                webhook_retry_scale,
                default_account,
                simulator,
                trusted_proxies,
                session_idle_ms,
                sse_max_streams,
                sse_max_streams_per_address,
                rate_limit_per_minute,
                metrics_addr,
                mail,
            })
        } else {
            Err(r.errors)
        }
    }

    /// The keys of `APP_MASTER_KEY_PREVIOUS`, being rotated out.
    pub fn previous_master_keys(&self) -> Vec<[u8; 32]> {
        self.master_key_previous
            .iter()
            .map(|k| *k.0.expose_secret())
            .collect()
    }

    pub fn is_production(&self) -> bool {
        self.env == AppEnv::Production
    }
}

/// `SMTP_URL` (`smtp://` upgrades with STARTTLS, except to this machine;
/// `smtps://` is TLS from the start) and `MAIL_FROM`, both or neither.
fn read_mail(r: &mut Reader<'_>) -> Option<MailConfig> {
    let url = r.secret("SMTP_URL");
    let from = r.opt("MAIL_FROM");
    let (url, from) = match (url, from) {
        (None, None) => return None,
        (Some(_), None) => {
            r.errors.push(
                "MAIL_FROM",
                "is needed with SMTP_URL (e.g. FormPay <noreply@example.com>)",
            );
            return None;
        }
        (None, Some(_)) => {
            r.errors.push("SMTP_URL", "is needed with MAIL_FROM");
            return None;
        }
        (Some(u), Some(f)) => (u, f),
    };
    // The URL may hold a password: never repeat it in an error.
    let ok_url = match Url::parse(&url) {
        Ok(u) if !matches!(u.scheme(), "smtp" | "smtps") => {
            r.errors
                .push("SMTP_URL", "must be an smtp:// or smtps:// URL");
            false
        }
        Ok(u) if u.host_str().is_none_or(str::is_empty) => {
            r.errors.push("SMTP_URL", "names no mail server");
            false
        }
        Ok(_) => true,
        Err(_) => {
            r.errors.push(
                "SMTP_URL",
                "is not a URL such as smtps://user:password@smtp.example.com:465",
            );
            false
        }
    };
    let from = match from.parse::<lettre::message::Mailbox>() {
        Ok(m) => Some(m),
        Err(_) => {
            r.errors.push(
                "MAIL_FROM",
                format!("`{from}` is not an address such as FormPay <noreply@example.com>"),
            );
            None
        }
    };
    Some(MailConfig {
        smtp_url: SecretString::from(url),
        from: from?,
    })
    .filter(|_| ok_url)
}

/// The environment's account: every provider kind the environment
/// configures, read through its schema (each field names its variable; any
/// of them may be given as a file path in `{VAR}_FILE`) and checked by the
/// same code as stored accounts. In production: no public development key,
/// no gateway that is not https or that is the simulator.
fn read_default_account(r: &mut Reader<'_>, prod: bool) -> Vec<(&'static str, Credentials)> {
    let mut account = Vec::new();
    for kind in providers::kinds() {
        if !kind.in_environment(r.get) {
            continue;
        }
        let mut c = Credentials::new();
        for f in kind.fields() {
            if let Some(v) = r.secret(f.env) {
                c.set(f.key, &v);
            }
        }
        let var = |key: &str| {
            kind.fields()
                .iter()
                .find(|f| f.key == key)
                .map_or("", |f| f.env)
        };
        for (key, problem) in kind.check(&c) {
            r.errors.push(var(key), problem);
        }
        for f in kind.fields() {
            let value = c.get(f.key);
            if value.is_empty() {
                continue;
            }
            refuse_development_key(r, prod, f.env, value);
            if f.key == "api_base" {
                if let Some(url) = r.url(f.env, prod) {
                    refuse_simulator(r, prod, f.env, &url);
                }
            }
        }
        account.push((kind.id(), c));
    }
    // A provider setting no configured provider reads would be ignored in
    // silence (a sign type for v2 beside v3 keys): refuse it instead.
    let used: Vec<&str> = providers::kinds()
        .iter()
        .filter(|k| account.iter().any(|(id, _)| *id == k.id()))
        .flat_map(|k| k.fields().iter().map(|f| f.env))
        .collect();
    let mut unused: Vec<(&'static str, &'static str)> = Vec::new();
    for kind in providers::kinds() {
        for f in kind.fields() {
            let set = r.opt(f.env).is_some() || r.opt(&format!("{}_FILE", f.env)).is_some();
            if set && !used.contains(&f.env) && !unused.iter().any(|(v, _)| *v == f.env) {
                unused.push((f.env, kind.name().1));
            }
        }
    }
    for (var, kind) in unused {
        r.errors.push(
            var,
            format!("is set, but only {kind} reads it and these settings do not configure it (see the README for the settings it needs)"),
        );
    }
    account
}

/// Production never runs on the public development keys.
fn refuse_development_key(r: &mut Reader<'_>, prod: bool, var: &str, value: &str) {
    if prod && providers::dev_keys::is_development_key(value) {
        r.errors.push(var, "is one of the public development keys of the simulator; use the key issued by the provider");
    }
}

/// Production never talks to the simulator.
fn refuse_simulator(r: &mut Reader<'_>, prod: bool, var: &str, url: &Url) {
    if prod && url.path().contains("/_simulator") {
        r.errors.push(
            var,
            "points at the payment simulator, which production refuses",
        );
    }
}

#[cfg(test)]
mod tests;
