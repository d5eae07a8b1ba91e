//! The server binary: read the settings, build the application, serve.

use server::{config::Config, telemetry, Application};

#[tokio::main]
async fn main() {
    // `.env` fills in what the environment does not set; it never overrides.
    let _ = dotenvy::dotenv();
    let production =
        std::env::var("APP_ENV").is_ok_and(|v| v.trim().eq_ignore_ascii_case("production"));
    telemetry::init(production);
    // Installed first: a SIGTERM during start-up still stops the server cleanly.
    let stop = server::shutdown_signal();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("formpay cannot start: {errors}");
            std::process::exit(2);
        }
    };
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
