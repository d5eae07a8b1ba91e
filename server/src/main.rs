//! The server binary: read the settings, build the application, serve.

use clap::Parser;
use server::{cli, config::Config, telemetry, Application};

/// jemalloc, built with a background thread that returns freed memory to the
/// system within a second (`.cargo/config.toml`): glibc's allocator kept the
/// pages of 10,000 closed streams in its per-thread arenas (issue 14).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() {
    // `.env` fills in what the environment does not set; it never overrides.
    let _ = dotenvy::dotenv();
    let command = cli::Cli::parse().command;
    let production =
        std::env::var("APP_ENV").is_ok_and(|v| v.trim().eq_ignore_ascii_case("production"));
    telemetry::init(production);
    match command {
        None | Some(cli::Command::Serve) => serve().await,
        Some(other) => std::process::exit(cli::run(other).await),
    }
}

/// `formpay` / `formpay serve`: read the settings, build, serve until a signal.
async fn serve() {
    // Installed first: a SIGTERM during start-up still stops the server cleanly.
    let stop = server::shutdown_signal();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("formpay cannot start: {errors}");
            std::process::exit(2);
        }
    };
    raise_open_files_limit(config.sse_max_streams);
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("formpay cannot start: {e:#}");
            std::process::exit(1);
        }
    };
    println!("formpay is listening on http://{}", app.local_addr());
    if let Err(e) = app.run_until(stop).await {
        eprintln!("formpay stopped with an error: {e:#}");
        std::process::exit(1);
    }
}

/// Each live-status stream is a connection, so a file descriptor: raise the
/// soft limit to the hard one (the most the OS lets a process take by
/// itself) and say so when even that is short of the streams allowed.
fn raise_open_files_limit(max_streams: usize) {
    // Descriptors besides the streams: the database, the listener, logs,
    // provider connections, and ordinary requests.
    const OTHERS: u64 = 1024;
    let wanted = max_streams as u64 + OTHERS;
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < wanted => tracing::warn!(
            open_files = limit,
            sse_max_streams = max_streams,
            "the file descriptor limit is below SSE_MAX_STREAMS + {OTHERS}: raise the hard limit (LimitNOFILE=, ulimit -Hn) or lower SSE_MAX_STREAMS"
        ),
        Ok(limit) => tracing::info!(open_files = limit, "file descriptor limit"),
        Err(e) => tracing::warn!(error = %e, "cannot read or raise the file descriptor limit"),
    }
}
