//! The environment's receiving account (the default): built by the same
//! registry as stored accounts.

use crate::config::Config;
use formpay_core::payment_log::PaymentLog;
use formpay_core::provider::PaymentProviders;
use formpay_core::registry::Registry;

/// The clients of the providers configured through the environment.
pub fn build(
    config: &Config,
    registry: &Registry,
    log: &PaymentLog,
) -> anyhow::Result<PaymentProviders> {
    let mut all = PaymentProviders::default();
    for (kind, credentials) in &config.default_account {
        let built = registry
            .build(kind, credentials, log)
            .map_err(|e| anyhow::anyhow!("{kind}: {e}"))?;
        for client in built.iter() {
            all.insert(client.clone());
        }
    }
    Ok(all)
}

/// The providers the environment configures with real keys (not the public
/// development keys): their names, for the start-up line and the simulator rule.
pub fn real_in_environment(config: &Config, registry: &Registry) -> Vec<&'static str> {
    config
        .default_account
        .iter()
        .filter(|(kind, c)| {
            registry
                .kind(kind)
                .is_some_and(|k| !k.uses_development_keys(c))
        })
        .flat_map(|(kind, _)| {
            registry
                .kind(kind)
                .map(|k| k.providers().iter().map(|p| p.as_str()).collect::<Vec<_>>())
                .unwrap_or_default()
        })
        .collect()
}
