#![recursion_limit = "256"]
//! The formpay server as a library: the binary and the black-box tests build
//! the same [`Application`].

mod api;
pub mod cli;
pub mod config;
mod csrf;
mod db_gate;
mod export;
mod guard;
mod headers;
mod health;
mod limits;
mod mail;
mod memory;
pub mod metrics;
mod notify;
mod payer_export;
pub use app::ssr::payment_log;
mod env_providers;
mod plain_form;
mod serve;
mod tasks;
pub mod telemetry;
mod uploads;
mod webhooks;
mod wechat_login;

use anyhow::Context;
use app::ssr::{auth, AppState, Db};
use app::{shell, App, BUNDLE_NAME};
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use config::Config;
use leptos::prelude::*;
use leptos_axum::LeptosRoutes;
use secrecy::ExposeSecret;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Where the built browser bundle and static files are served from.
pub fn site_root() -> String {
    std::env::var("LEPTOS_SITE_ROOT").unwrap_or_else(|_| "target/site".to_owned())
}

pub struct Application {
    reconcile_tick: std::time::Duration,
    /// The daily bills job: its Beijing hour and tick (None: off).
    bills: Option<(u32, std::time::Duration)>,
    webhook_tick: std::time::Duration,
    webhook_retry_scale: f64,
    /// The mail server and sender (`SMTP_URL`, `MAIL_FROM`), when configured.
    mail: Option<(mail::Transport, lettre::message::Mailbox)>,
    /// The Prometheus listener and its router (`METRICS_ADDR`).
    metrics: Option<(TcpListener, Router)>,
    db_gate: db_gate::DbGate,
    listener: TcpListener,
    router: Router,
    state: AppState,
    #[cfg(feature = "simulator")]
    simulator: Option<simulator::Simulator>,
    public_base: url::Url,
}

impl Application {
    /// Connects and migrates the database, makes sure an administrator exists,
    /// and binds the listener (port 0 picks a free port).
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let db = Db::connect(&config.database_url).await?;
        tasks::bootstrap_admin(&db, &config).await?;

        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.addr))?;
        let addr = listener.local_addr().context("no local address")?;

        let leptos_options = LeptosOptions::builder()
            .output_name(BUNDLE_NAME)
            .site_root(site_root())
            .site_pkg_dir("pkg")
            .site_addr(addr)
            .env(if config.is_production() {
                leptos::config::Env::PROD
            } else {
                leptos::config::Env::DEV
            })
            .build();

        let public_base = match &config.public_base_url {
            Some(u) => u.clone(),
            None => url::Url::parse(&format!("http://{addr}/"))
                .context("the listening address is not a URL")?,
        };
        let log = payment_log::PaymentLog::new(db.clone());
        let master_key: Option<[u8; 32]> = match &config.master_key {
            Some(k) => Some(*k.0.expose_secret()),
            None if !config.is_production() => Some(tasks::development_master_key()?),
            None => None,
        };
        let previous = config.previous_master_keys();
        let vault = master_key
            .as_ref()
            .map(|k| app::ssr::accounts::Vault::rotating(k, &previous));
        let uploads = config.upload_store()?;
        tracing::info!("uploaded files are kept in {uploads:?}");
        let payer_seal = match &master_key {
            Some(k) => app::ssr::payer::PayerSeal::from_master_key(k),
            None => app::ssr::payer::PayerSeal::random(),
        };
        // The simulator signs with public keys: it "pays" for free. It runs
        // only where that cannot cost anything (see `simulator_decision`).
        let registry = providers::registry(None);
        let payments = env_providers::build(&config, &registry, &log)?;
        let real_env = env_providers::real_in_environment(&config, &registry);
        let real_stored = app::ssr::accounts::any_real(
            &app::ssr::accounts::Accounts::new(vault.clone(), registry, config.is_production()),
            &db,
        )
        .await?;
        let (simulator_on, why) = simulator_decision(&config, addr, &real_env, real_stored);
        let simulator_base = simulator_on
            .then(|| public_base.join("_simulator/"))
            .transpose()
            .context("simulator URL")?;
        #[cfg(feature = "simulator")]
        let simulator = match &simulator_base {
            Some(base) => Some(simulator::Simulator::new(simulator::SimulatorSettings {
                public_base: base.as_str().trim_end_matches('/').to_owned(),
                time_scale: config.simulator_time_scale,
                refund_delay_secs: 5,
            })?),
            None => None,
        };
        let simulated = match &simulator_base {
            Some(base) => providers::simulated(base, log.clone())?,
            None => Default::default(),
        };
        let accounts = app::ssr::accounts::Accounts::new(
            vault,
            providers::registry(simulator_base.as_ref()),
            config.is_production(),
        );
        let state_of = |p: domain::Provider| {
            if payments.for_provider(p).is_some() {
                if real_env.contains(&p.as_str()) {
                    "real"
                } else {
                    "development keys"
                }
            } else if simulator_on {
                "simulated"
            } else {
                "unavailable"
            }
        };
        tracing::info!(
            wechat = state_of(domain::Provider::Wechat),
            alipay = state_of(domain::Provider::Alipay),
            stored_real_accounts = real_stored,
            simulator = if simulator_on { "on" } else { "off" },
            why,
            "payment providers"
        );

        if !config.is_production() {
            app::ssr::forms::ensure_demo_form(&db).await?;
        }
        let hub = app::ssr::hub::StatusHub::start(db.clone())
            .await
            .context("cannot start the status hub")?;
        let base = |u: &Option<url::Url>| {
            u.as_ref()
                .unwrap_or(&public_base)
                .as_str()
                .trim_end_matches('/')
                .to_owned()
        };
        let pay = app::ssr::pay::PaySettings {
            notify_base: base(&config.notify_url),
            return_base: base(&config.return_url),
            order_ttl_ms: (config.order_expire_minutes * 60_000.0) as i64,
            first_check_ms: config.reconcile_first_check_ms,
            max_check_interval_ms: 10 * 60_000,
            abuse: app::ssr::abuse::AbuseSettings {
                daily_submissions: config.payer_daily_submissions,
                daily_amount_fen: config.payer_daily_amount_fen,
            },
        };
        let core = app::ssr::Core {
            db,
            login_limiter: Arc::new(auth::LoginLimiter::default()),
            secure_cookies: config.is_production(),
            payments,
            simulated,
            simulator: app::ssr::SimulatorSwitch::new(simulator_on),
            hub,
            pay,
            accounts,
            payment_log: log,
            security: Default::default(),
            sessions: auth::SessionSettings {
                idle_ms: config.session_idle_ms,
            },
            trusted_proxies: config.trusted_proxies.clone(),
            streams: app::ssr::streams::StreamLimits::new(
                config.sse_max_streams,
                config.sse_max_streams_per_address,
            ),
            payer_seal,
            views: Default::default(),
            pow: Arc::new(app::ssr::pow::PowGuard::new(app::ssr::pow::PowSettings {
                burst_per_minute: config.pow_burst_per_minute,
                bits: config.pow_bits,
            })),
            uploads,
        };
        let state = AppState {
            leptos_options,
            core,
        };
        let settings = RouterSettings {
            production: config.is_production(),
            public_origin: config
                .public_base_url
                .as_ref()
                .and_then(|u| csrf::origin_of(u.as_str())),
            rate_limit_per_minute: config.rate_limit_per_minute,
            db_gate: db_gate::DbGate::new(),
        };
        // Development routes (the simulator, in builds that have it) go
        // under the same layers as everything else.
        #[cfg_attr(not(feature = "simulator"), allow(unused_mut))]
        let mut development = Router::<AppState>::new();
        #[cfg(feature = "simulator")]
        if let Some(sim) = &simulator {
            development = mount_simulator(development, sim, state.simulator.clone());
        }
        let counters = Arc::new(metrics::Metrics::new());
        let router = router(state.clone(), development, &settings)?.layer(
            axum::middleware::from_fn_with_state(counters.clone(), metrics::track),
        );
        let metrics = match config.metrics_addr {
            Some(a) => Some((
                TcpListener::bind(a)
                    .await
                    .with_context(|| format!("cannot listen on METRICS_ADDR {a}"))?,
                metrics::router(counters, state.clone()),
            )),
            None => None,
        };
        let mail = match &config.mail {
            Some(m) => Some((mail::transport(m.smtp_url.expose_secret())?, m.from.clone())),
            None => None,
        };
        Ok(Application {
            mail,
            metrics,
            db_gate: settings.db_gate,
            reconcile_tick: std::time::Duration::from_millis(config.reconcile_tick_ms),
            bills: config
                .bill_hour
                .map(|h| (h, std::time::Duration::from_millis(config.bill_tick_ms))),
            webhook_tick: std::time::Duration::from_millis(config.webhook_tick_ms),
            webhook_retry_scale: config.webhook_retry_scale,
            listener,
            router,
            state,
            #[cfg(feature = "simulator")]
            simulator,
            public_base,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Where Prometheus metrics are served, when `METRICS_ADDR` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The provider simulator, when this instance runs one (development).
    #[cfg(feature = "simulator")]
    pub fn simulator(&self) -> Option<&simulator::Simulator> {
        self.simulator.as_ref()
    }

    /// Where payers and providers reach this instance.
    pub fn public_base(&self) -> &url::Url {
        &self.public_base
    }

    /// Serves until ctrl-c or SIGTERM, then finishes the requests in flight.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let reconciler = tokio::spawn(tasks::reconcile_forever(
            self.state.clone(),
            self.reconcile_tick,
        ));
        let bills = self
            .bills
            .map(|(hour, tick)| tokio::spawn(tasks::bills_forever(self.state.clone(), hour, tick)));
        let watcher = tokio::spawn(self.db_gate.clone().watch(self.state.db.clone()));
        let purger = tokio::spawn(tasks::purge_forever(
            self.state.db.clone(),
            self.state.uploads.clone(),
        ));
        let views = tokio::spawn(tasks::count_views_forever(self.state.clone()));
        let memory = tokio::spawn(memory::give_back_forever(self.state.streams.clone()));
        let alerts = tokio::spawn(tasks::alert_forever(
            self.state.db.clone(),
            self.mail.is_some(),
        ));
        let mail_settings = self
            .mail
            .is_some()
            .then(|| formpay_core::mail::MailSettings {
                public_base: self.public_base.as_str().trim_end_matches('/').to_owned(),
            });
        let webhooks = tokio::spawn(webhooks::deliver_forever(
            self.state.clone(),
            self.webhook_tick,
            self.webhook_retry_scale,
            mail_settings,
        ));
        let mailer = self.mail.map(|(transport, from)| {
            tokio::spawn(mail::send_forever(
                self.state.clone(),
                transport,
                from,
                self.webhook_tick,
                self.webhook_retry_scale,
            ))
        });
        let metrics = self.metrics.map(|(listener, router)| {
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router).await {
                    tracing::warn!(error = %e, "the metrics listener stopped");
                }
            })
        });
        serve::serve(self.listener, self.router, stop).await;
        // The callbacks' log rows still queued.
        self.state.payment_log.flush().await;
        views.abort();
        memory.abort();
        alerts.abort();
        if let Err(e) = self.state.views.flush(&self.state.db).await {
            tracing::warn!(error = ?e, "the last form views were not counted");
        }
        reconciler.abort();
        if let Some(b) = bills {
            b.abort();
        }
        watcher.abort();
        purger.abort();
        webhooks.abort();
        if let Some(m) = mailer {
            m.abort();
        }
        if let Some(m) = metrics {
            m.abort();
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Whether the simulator runs, and why: only in development, and either
/// because `SIMULATOR=on` says so, or because nothing real is configured (in
/// the environment or stored) and the server listens on a loopback address
/// only. Forgetting a setting never turns it on next to a real provider or on
/// a public address.
fn simulator_decision(
    config: &Config,
    addr: SocketAddr,
    real_env: &[&str],
    real_stored: bool,
) -> (bool, &'static str) {
    if config.is_production() {
        return (false, "production");
    }
    if !cfg!(feature = "simulator") {
        return (false, "this build has no simulator");
    }
    match config.simulator {
        Some(true) => (true, "SIMULATOR=on"),
        Some(false) => (false, "SIMULATOR=off"),
        None if !real_env.is_empty() => (false, "a real provider is configured in the environment"),
        None if real_stored => (false, "a real receiving account is stored"),
        None if !addr.ip().is_loopback() => (
            false,
            "the server listens on a non-loopback address (SIMULATOR=on overrides)",
        ),
        None => (true, "development on a loopback address, no real provider"),
    }
}

/// Server functions a stranger can call in a loop: rate limited per address.
const RATE_LIMITED_SERVER_FNS: [&str; 3] =
    ["/api/start_pay", "/api/check_paid", "/api/submit_form"];

struct RouterSettings {
    production: bool,
    public_origin: Option<String>,
    rate_limit_per_minute: u32,
    /// Answers 503 at once while the database is unreachable.
    db_gate: db_gate::DbGate,
}

/// Mounts the simulator (development builds only) at `/_simulator`: it
/// answers while the switch is on, and is gone (404) as soon as a real
/// receiving account appears.
#[cfg(feature = "simulator")]
fn mount_simulator(
    router: Router<AppState>,
    sim: &simulator::Simulator,
    switch: app::ssr::SimulatorSwitch,
) -> Router<AppState> {
    router.nest_service(
        "/_simulator",
        sim.router().layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let on = switch.is_on();
                async move {
                    if on {
                        next.run(req).await
                    } else {
                        axum::http::StatusCode::NOT_FOUND.into_response()
                    }
                }
            },
        )),
    )
}

fn router(
    state: AppState,
    development: Router<AppState>,
    settings: &RouterSettings,
) -> anyhow::Result<Router> {
    // The payer's server functions get their own routes, below, to carry
    // the per-address rate limits; Leptos registers the others.
    let routes = leptos_axum::generate_route_list_with_exclusions(
        App,
        Some(
            RATE_LIMITED_SERVER_FNS
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
        ),
    );
    let leptos_options = state.leptos_options.clone();
    let pkg_route = format!("/{}", leptos_options.site_pkg_dir);
    let pkg_dir =
        std::path::Path::new(&*leptos_options.site_root).join(&*leptos_options.site_pkg_dir);
    let router = development;
    // Small bodies: refused from their length before reading, cut at the limit otherwise.
    let limited = (
        axum::middleware::from_fn(serve::refuse_over_small),
        axum::extract::DefaultBodyLimit::max(serve::SMALL_BODY as usize),
    );
    let per_address = |n: u32| limits::per_address(n, state.trusted_proxies.clone());
    let rate = settings.rate_limit_per_minute;
    let router = router
        .route("/healthz", get(health::healthz))
        .route(
            metrics::CALLBACK_ROUTE,
            post(notify::callback).layer(limited.clone()),
        )
        .route("/pay/{id}/wechat-login", get(wechat_login::start))
        .route(
            wechat_login::CALLBACK_PATH,
            get(wechat_login::callback).layer::<_, std::convert::Infallible>(per_address(rate)?),
        )
        .route("/api/v1/openapi.json", get(api::openapi_json))
        .route("/api/v1/forms/{slug}", get(api::get_form))
        .route(
            "/api/v1/forms/{slug}/submissions",
            post(api::submit)
                .layer::<_, std::convert::Infallible>(per_address(rate)?)
                .layer(limited.clone()),
        )
        .route("/api/v1/orders/{id}", get(api::get_order))
        .route(
            "/api/v1/orders/{id}/pay",
            post(api::start_pay)
                .layer::<_, std::convert::Infallible>(per_address(rate)?)
                .layer(limited.clone()),
        )
        .route(
            "/api/v1/orders/{id}/check",
            post(api::check_order).layer::<_, std::convert::Infallible>(per_address(rate)?),
        )
        .route(
            "/f/{slug}",
            post(plain_form::submit)
                .layer::<_, std::convert::Infallible>(per_address(rate)?)
                .layer((
                    axum::middleware::from_fn(serve::refuse_over_plain_form),
                    axum::extract::DefaultBodyLimit::max(plain_form::MAX_BODY),
                )),
        )
        // The payer's page calls these server functions; same limits.
        .route(
            RATE_LIMITED_SERVER_FNS[0],
            post(leptos_server_fn).layer::<_, std::convert::Infallible>(per_address(rate)?),
        )
        .route(
            RATE_LIMITED_SERVER_FNS[1],
            post(leptos_server_fn).layer::<_, std::convert::Infallible>(per_address(rate)?),
        )
        .route(
            RATE_LIMITED_SERVER_FNS[2],
            post(leptos_server_fn).layer::<_, std::convert::Infallible>(per_address(rate)?),
        )
        .route(
            "/admin/forms/{id}/submissions.csv",
            get(export::submissions_csv),
        )
        .route("/admin/orders.csv", get(export::orders_csv))
        .route("/admin/refunds.csv", get(export::refunds_csv))
        .route("/admin/bills.csv", get(export::bills_csv))
        .route("/admin/payer.json", get(payer_export::payer_json))
        .route("/admin/uploads/{id}", get(uploads::download))
        .route(
            "/api/v1/forms/{slug}/uploads/{field}",
            post(uploads::upload)
                .layer::<_, std::convert::Infallible>(per_address(rate)?)
                .layer(axum::extract::DefaultBodyLimit::max(uploads::MAX_BODY)),
        )
        .route("/readyz", get(health::readyz))
        .leptos_routes_with_context(
            &state,
            routes,
            {
                let state = state.clone();
                move || provide_request_context(&state)
            },
            move || shell(leptos_options.clone()),
        )
        // The browser bundles, sent as the `.br` or `.gz` the build wrote
        // beside each file when the browser accepts it (`Vary: Accept-Encoding`).
        // (`ServeDir` does not say so itself; a cache must not hand brotli to
        // a browser that asked for gzip.)
        .nest_service(
            &pkg_route,
            tower::ServiceBuilder::new()
                .layer(tower_http::set_header::SetResponseHeaderLayer::appending(
                    http::header::VARY,
                    http::HeaderValue::from_static("accept-encoding"),
                ))
                .service(
                    tower_http::services::ServeDir::new(pkg_dir)
                        .precompressed_br()
                        .precompressed_gzip(),
                ),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        // Pages and answers compressed for the browsers that accept it (a
        // payer's page is a third of its size: on a phone network each
        // kilobyte counts). The bundles come precompressed and event
        // streams are never buffered (`DefaultPredicate` leaves them, and
        // images, alone). Administrators' pages go uncompressed: see
        // `headers::uncompressed_admin_pages`.
        .layer(tower_http::compression::CompressionLayer::new())
        // Added after the compression layer, so outside it: a response
        // through it keeps the layer's body wrapper (sized for its largest
        // encoder, even when it passes the body through) for the stream's
        // life, ~6 KiB more per open payment page, measured (issue 14).
        // Streams are never compressed anyway.
        .route("/api/v1/orders/{id}/events", get(api::order_events))
        .layer(axum::middleware::map_request(
            headers::uncompressed_admin_pages,
        ))
        .layer(axum::middleware::from_fn_with_state(
            settings.db_gate.clone(),
            db_gate::gate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            csrf::Origins {
                public: settings.public_origin.clone(),
            },
            csrf::same_origin_writes,
        ))
        .layer(axum::middleware::from_fn_with_state(
            headers::HeaderSettings {
                production: settings.production,
            },
            headers::security_headers,
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(telemetry::request_span))
        .layer(SetRequestIdLayer::x_request_id(telemetry::RandomRequestId))
        .with_state(state);
    Ok(router)
}

/// What every page and server function finds in its context: the state, and
/// the nonce the security headers announced for this request's inline scripts.
fn provide_request_context(state: &AppState) {
    provide_context(state.clone());
    if let Some(nonce) = use_context::<axum::http::request::Parts>()
        .and_then(|p| p.extensions.get::<headers::CspNonce>().cloned())
    {
        provide_context(leptos::nonce::Nonce::from_value(nonce.0));
    }
}

/// A server function behind its own route (so that it can carry a rate
/// limit): handled by Leptos like every other one.
async fn leptos_server_fn(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> axum::response::Response {
    leptos_axum::handle_server_fns_with_context(move || provide_request_context(&state), request)
        .await
        .into_response()
}

/// Resolves on ctrl-c or SIGTERM. The handlers are installed when this is
/// called, not when it is first polled, so call it before start-up work.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let ctrl_c = tokio::signal::ctrl_c();
    async move {
        #[cfg(unix)]
        let term = async {
            match terminate.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {},
            _ = term => {},
        }
        tracing::info!("shutting down: finishing requests in flight");
    }
}
