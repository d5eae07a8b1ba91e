//! The formpay server as a library: the binary and the black-box tests build
//! the same [`Application`].

pub mod config;
mod csrf;
mod health;
pub mod keys;
pub mod payment_log;
pub mod providers;
pub mod simulator;
pub mod telemetry;

use anyhow::Context;
use app::ssr::{auth, AppState, Db};
use app::{shell, App, BUNDLE_NAME};
use axum::routing::get;
use axum::Router;
use config::Config;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
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
    listener: TcpListener,
    router: Router,
    state: AppState,
    simulator: Option<simulator::Simulator>,
    public_base: url::Url,
}

impl Application {
    /// Connects and migrates the database, makes sure an administrator exists,
    /// and binds the listener (port 0 picks a free port).
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let db = Db::connect(&config.database_url).await?;
        bootstrap_admin(&db, &config).await?;

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
        // In development a provider without settings is played by the simulator.
        let simulator_base =
            if !config.is_production() && (config.wechat.is_none() || config.alipay.is_none()) {
                Some(public_base.join("_simulator/").context("simulator URL")?)
            } else {
                None
            };
        let simulator = match &simulator_base {
            Some(base) => Some(simulator::Simulator::new(simulator::SimulatorSettings {
                public_base: base.as_str().trim_end_matches('/').to_owned(),
                time_scale: config.simulator_time_scale,
                refund_delay_secs: 5,
            })?),
            None => None,
        };
        let payments = providers::build(
            &config,
            simulator_base.as_ref(),
            payment_log::PaymentLog::new(db.clone()),
        )?;
        if let Some(base) = &simulator_base {
            tracing::info!("payment simulator at {base} (development only)");
        }

        let state = AppState {
            leptos_options,
            db,
            login_limiter: Arc::new(auth::LoginLimiter::default()),
            secure_cookies: config.is_production(),
            payments,
        };
        let router = router(state.clone(), simulator.as_ref());
        Ok(Application {
            listener,
            router,
            state,
            simulator,
            public_base,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The provider simulator, when this instance runs one (development).
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
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stop)
        .await
        .context("the server failed")?;
        tracing::info!("stopped");
        Ok(())
    }
}

fn router(state: AppState, simulator: Option<&simulator::Simulator>) -> Router {
    let routes = generate_route_list(App);
    let leptos_options = state.leptos_options.clone();
    let mut router = Router::<AppState>::new();
    if let Some(sim) = simulator {
        router = router.nest_service("/_simulator", sim.router());
    }
    router
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .leptos_routes_with_context(
            &state,
            routes,
            {
                let state = state.clone();
                move || provide_context(state.clone())
            },
            move || shell(leptos_options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn(csrf::same_origin_writes))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(telemetry::request_span))
        .layer(SetRequestIdLayer::x_request_id(telemetry::RandomRequestId))
        .with_state(state)
}

/// Creates the first administrator: from `ADMIN_EMAIL`/`ADMIN_PASSWORD`, or in
/// development with a random password printed once.
async fn bootstrap_admin(db: &Db, config: &Config) -> anyhow::Result<()> {
    if let (Some(email), Some(password)) = (&config.admin_email, &config.admin_password) {
        let email =
            app::domain::Email::parse(email).context("ADMIN_EMAIL is not an email address")?;
        if auth::ensure_admin(db, &email, password.expose_secret()).await? {
            tracing::info!(email = %email, "administrator created from ADMIN_EMAIL");
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

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
