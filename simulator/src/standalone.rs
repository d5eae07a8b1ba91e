//! The simulator outside the server, as a real provider is: on a port of
//! its own, surviving the server's crashes and restarts (crash tests, the
//! soak benchmark).

use super::{dev_keys, Simulator, SimulatorSettings};

/// Serves a simulator under `/_simulator` on a free loopback port; returns
/// it and its base URL (`http://127.0.0.1:PORT/_simulator`).
pub async fn spawn_standalone(time_scale: f64) -> anyhow::Result<(Simulator, String)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/_simulator", listener.local_addr()?);
    let sim = Simulator::new(SimulatorSettings {
        public_base: base.clone(),
        time_scale,
        refund_delay_secs: 5,
    })?;
    let router = axum::Router::new().nest("/_simulator", sim.router());
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok((sim, base))
}

/// The environment of a server whose WeChat Pay (API v3, public-key mode)
/// merchant is the simulator at `base`, with the development keys.
pub fn wechat_merchant_env(base: &str) -> Vec<(&'static str, String)> {
    vec![
        ("WECHAT_APP_ID", dev_keys::WECHAT_APP_ID.into()),
        ("WECHAT_MCH_ID", dev_keys::WECHAT_MCH_ID.into()),
        (
            "WECHAT_MCH_SERIAL_NO",
            dev_keys::WECHAT_MERCHANT_SERIAL.into(),
        ),
        (
            "WECHAT_MCH_PRIVATE_KEY",
            dev_keys::WECHAT_MERCHANT_KEY.into(),
        ),
        ("WECHAT_APIV3_KEY", dev_keys::WECHAT_APIV3_KEY.into()),
        (
            "WECHAT_PLATFORM_PUBLIC_KEY",
            dev_keys::WECHAT_PLATFORM_PUB.into(),
        ),
        (
            "WECHAT_PLATFORM_PUBLIC_KEY_ID",
            dev_keys::WECHAT_PUBLIC_KEY_ID.into(),
        ),
        ("WECHAT_API_BASE", format!("{base}/wechat/")),
    ]
}
