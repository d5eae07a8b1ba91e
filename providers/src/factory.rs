//! The registry of provider kinds: one line per provider. And the simulator's
//! kind and clients (its public development keys), for development and tests.

use crate::alipay::client::AlipayClient;
use crate::crypto::{RsaSigner, RsaVerifier};
use crate::dev_keys;
use crate::keys::{parse_private_key, parse_public_key};
use crate::wechat_v2::client as wechat_v2_client;
use crate::wechat_v3::client::{PlatformKeys, WechatPayV3};
use domain::Provider;
use formpay_core::accounts::SIMULATOR_KIND;
use formpay_core::payment_log::PaymentLog;
use formpay_core::provider::{PaymentProvider, PaymentProviders};
use formpay_core::registry::{CredentialField, Credentials, Problems, ProviderKind, Registry};
use secrecy::SecretString;
use std::sync::Arc;
use url::Url;

/// Every provider kind this build knows. Adding a provider is one line here
/// (and its folder): see `docs/ADDING_A_PROVIDER.md`.
pub fn kinds() -> Vec<Arc<dyn ProviderKind>> {
    vec![
        Arc::new(crate::wechat_v3::credentials::WechatV3),
        Arc::new(crate::wechat_v2::credentials::WechatV2),
        Arc::new(crate::alipay::credentials::Alipay),
    ]
}

/// The registry of this instance: every kind, and the simulator's while the
/// simulator runs (at `simulator_base`).
pub fn registry(simulator_base: Option<&Url>) -> Registry {
    let mut all = kinds();
    if let Some(base) = simulator_base {
        all.push(Arc::new(SimulatorKind { base: base.clone() }));
    }
    Registry::new(all)
}

/// Accounts played by the simulator (development only): WeChat Pay v3 and
/// Alipay with the public development keys, nothing to fill in.
pub struct SimulatorKind {
    pub base: Url,
}

impl ProviderKind for SimulatorKind {
    fn id(&self) -> &'static str {
        SIMULATOR_KIND
    }

    fn name(&self) -> (&'static str, &'static str) {
        ("模拟器（仅开发）", "Simulator (development only)")
    }

    fn providers(&self) -> &'static [Provider] {
        &[Provider::Wechat, Provider::Alipay]
    }

    fn fields(&self) -> &'static [CredentialField] {
        &[]
    }

    fn in_environment(&self, _get: &dyn Fn(&str) -> Option<String>) -> bool {
        false
    }

    fn check(&self, _c: &Credentials) -> Problems {
        Vec::new()
    }

    fn uses_development_keys(&self, _c: &Credentials) -> bool {
        true
    }

    fn build(
        &self,
        _c: &Credentials,
        log: &PaymentLog,
    ) -> Result<Vec<Arc<dyn PaymentProvider>>, String> {
        Ok(simulated(&self.base, log.clone())
            .map_err(|e| e.to_string())?
            .iter()
            .cloned()
            .collect())
    }
}

/// The simulator's stand-ins for every provider, with the development keys.
pub fn simulated(simulator_base: &Url, log: PaymentLog) -> anyhow::Result<PaymentProviders> {
    let wechat: Arc<dyn PaymentProvider> =
        Arc::new(simulated_wechat(simulator_base, true, log.clone())?);
    let alipay: Arc<dyn PaymentProvider> = Arc::new(simulated_alipay(simulator_base, log)?);
    Ok([wechat, alipay].into_iter().collect())
}

/// A WeChat Pay v3 client for the simulator, with the development keys, in
/// public-key mode or platform-certificate mode.
pub fn simulated_wechat(
    simulator_base: &Url,
    public_key_mode: bool,
    log: PaymentLog,
) -> anyhow::Result<WechatPayV3> {
    let base = simulator_base.join("wechat/")?;
    let signer = RsaSigner::new(
        parse_private_key(dev_keys::WECHAT_MERCHANT_KEY).map_err(anyhow::Error::msg)?,
    );
    let platform = if public_key_mode {
        PlatformKeys::PublicKey {
            id: dev_keys::WECHAT_PUBLIC_KEY_ID.into(),
            key: parse_public_key(dev_keys::WECHAT_PLATFORM_PUB).map_err(anyhow::Error::msg)?,
        }
    } else {
        PlatformKeys::Certificates
    };
    Ok(WechatPayV3::new(
        base,
        dev_keys::WECHAT_APP_ID.into(),
        dev_keys::WECHAT_MCH_ID.into(),
        dev_keys::WECHAT_MERCHANT_SERIAL.into(),
        signer,
        SecretString::from(dev_keys::WECHAT_APIV3_KEY),
        platform,
        log.clone(),
    )
    .with_h5(true)
    .with_oauth(simulated_oauth(simulator_base, log)?))
}

/// WeChat OAuth played by the simulator (the development app secret).
pub fn simulated_oauth(
    simulator_base: &Url,
    log: PaymentLog,
) -> anyhow::Result<crate::wechat_oauth::WechatOauth> {
    let base = simulator_base.join("wechat/")?;
    Ok(crate::wechat_oauth::WechatOauth::new(
        base.clone(),
        base,
        dev_keys::WECHAT_APP_ID.into(),
        SecretString::from(dev_keys::WECHAT_APP_SECRET),
        log,
    ))
}

/// An Alipay client for the simulator, with the development keys.
pub fn simulated_alipay(simulator_base: &Url, log: PaymentLog) -> anyhow::Result<AlipayClient> {
    let gateway = simulator_base.join("alipay/gateway.do")?;
    let signer =
        RsaSigner::new(parse_private_key(dev_keys::ALIPAY_APP_KEY).map_err(anyhow::Error::msg)?);
    let verifier = RsaVerifier::new(
        parse_public_key(dev_keys::ALIPAY_PLATFORM_PUB).map_err(anyhow::Error::msg)?,
    );
    Ok(AlipayClient::new(
        gateway,
        dev_keys::ALIPAY_APP_ID.into(),
        signer,
        verifier,
        Some(dev_keys::ALIPAY_SELLER_ID.into()),
        None,
        log,
    ))
}

/// A WeChat Pay API v2 client for the simulator, with the development key.
pub fn simulated_wechat_v2(
    simulator_base: &Url,
    log: PaymentLog,
) -> anyhow::Result<wechat_v2_client::WechatPayV2> {
    Ok(wechat_v2_client::WechatPayV2::new(
        simulator_base.join("wechat/")?,
        dev_keys::WECHAT_APP_ID.into(),
        dev_keys::WECHAT_MCH_ID.into(),
        SecretString::from(dev_keys::WECHAT_V2_KEY),
        log.clone(),
    )
    .with_h5(true)
    .with_oauth(simulated_oauth(simulator_base, log)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_vectors::read as vector;

    fn alipay_certs() -> Credentials {
        let mut c = Credentials::new();
        c.set("app_id", dev_keys::ALIPAY_APP_ID);
        c.set("seller_id", dev_keys::ALIPAY_SELLER_ID);
        c.set("private_key", dev_keys::ALIPAY_APP_KEY);
        c.set(
            "alipay_app_cert",
            &vector("yansongda-alipayAppPublicCert.crt"),
        );
        c.set("alipay_root_cert", &vector("yansongda-alipayRootCert.crt"));
        c.set(
            "alipay_public_cert",
            &vector("yansongda-alipayPublicCert.crt"),
        );
        c
    }

    #[test]
    fn stored_alipay_accounts_work_in_certificate_mode() {
        let registry = registry(None);
        let log = PaymentLog::disabled();
        let certs = alipay_certs();
        assert_eq!(registry.check("alipay", &certs, false), Ok(()));
        let built = registry
            .build("alipay", &certs, &log)
            .expect("certificate mode builds");
        assert!(
            built.for_provider(Provider::Alipay).is_some()
                && built.for_provider(Provider::Wechat).is_none()
        );
        let mut broken = certs.clone();
        broken.set(
            "alipay_root_cert",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
        );
        let err = registry
            .check("alipay", &broken, false)
            .expect_err("refused");
        assert!(err.contains("alipay_root_cert"), "{err}");
        // The simulator kind exists only while the simulator runs.
        assert!(registry.kind(SIMULATOR_KIND).is_none());
        let base = Url::parse("http://127.0.0.1:9/_simulator/").expect("url");
        assert!(super::registry(Some(&base)).kind(SIMULATOR_KIND).is_some());
    }

    #[test]
    fn each_kind_names_what_it_is_missing() {
        let registry = registry(None);
        let err = registry
            .check("wechat_v3", &Credentials::new(), false)
            .expect_err("empty");
        for field in ["mch_id", "private_key", "apiv3_key"] {
            assert!(err.contains(field), "{err}");
        }
        let err = registry
            .check("alipay", &Credentials::new(), false)
            .expect_err("empty");
        assert!(err.contains("seller_id"), "{err}");
        // Another gateway is for development only.
        let mut c = alipay_certs();
        c.set("api_base", "https://example.com/gateway.do");
        assert!(registry.check("alipay", &c, true).is_err());
        assert!(registry.check("alipay", &c, false).is_ok());
        c.set("api_base", "http://example.com/gateway.do");
        assert!(
            registry.check("alipay", &c, false).is_err(),
            "plain http elsewhere"
        );
    }
}
