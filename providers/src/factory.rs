//! Building clients: for a receiving account stored in the database, and the
//! simulator's stand-ins (development keys) for development and tests.

use crate::alipay::client::AlipayClient;
use crate::crypto::{RsaSigner, RsaVerifier};
use crate::dev_keys::{self, is_development_key};
use crate::keys::{parse_private_key, parse_public_key};
use crate::wechat_v3::client::{PlatformKeys, WechatPayV3};
use crate::{wechat_v2, wechat_v2::client as wechat_v2_client, x509};
use formpay_core::payment_log::PaymentLog;
use formpay_core::provider::PaymentProviders;
use secrecy::SecretString;
use std::sync::Arc;
use url::Url;

/// The simulator's stand-ins for every provider, with the development keys.
pub fn simulated(simulator_base: &Url, log: PaymentLog) -> anyhow::Result<PaymentProviders> {
    Ok(PaymentProviders {
        wechat: Some(Arc::new(simulated_wechat(
            simulator_base,
            true,
            log.clone(),
        )?)),
        alipay: Some(Arc::new(simulated_alipay(simulator_base, log)?)),
    })
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
        log,
    ))
}

/// Alipay certificate mode of a stored account: Alipay's key from its public
/// certificate, and the two serial numbers sent with every request.
fn alipay_cert_mode(
    s: &formpay_core::accounts::AccountSettings,
) -> Result<(RsaVerifier, Option<(String, String)>), String> {
    use x509::{alipay_root_cert_sn, Certificate};
    let app_sn = Certificate::from_pem(&s.alipay_app_cert)
        .and_then(|c| c.alipay_sn())
        .map_err(|e| format!("alipay_app_cert is not a usable certificate: {e}"))?;
    let root_sn = alipay_root_cert_sn(&s.alipay_root_cert)
        .map_err(|e| format!("alipay_root_cert is not a usable certificate chain: {e}"))?;
    let key = Certificate::from_pem(&s.alipay_public_cert)
        .and_then(|c| c.public_key())
        .map_err(|e| format!("alipay_public_cert is not a usable certificate: {e}"))?;
    Ok((RsaVerifier::new(key), Some((app_sn, root_sn))))
}

/// Builds the clients of a receiving account stored in the database.
pub struct AccountFactory {
    pub simulator_base: Option<Url>,
    pub log: PaymentLog,
}

impl formpay_core::accounts::ProviderFactory for AccountFactory {
    fn is_simulated(&self, a: &formpay_core::accounts::AccountData) -> bool {
        use formpay_core::accounts::AccountKind;
        a.kind == AccountKind::Simulator
            || [
                &a.secrets.private_key,
                &a.secrets.apiv3_key,
                &a.secrets.v2_key,
                &a.settings.platform_public_key,
                &a.settings.alipay_public_key,
            ]
            .iter()
            .any(|k| !k.trim().is_empty() && is_development_key(k))
    }

    fn build(&self, a: &formpay_core::accounts::AccountData) -> Result<PaymentProviders, String> {
        use formpay_core::accounts::AccountKind;
        let s = &a.settings;
        let base = |default: &str, slash: bool| -> Result<Url, String> {
            let raw = match s.api_base.trim() {
                "" => default.to_owned(),
                other => other.to_owned(),
            };
            let raw = if slash && !raw.ends_with('/') {
                format!("{raw}/")
            } else {
                raw
            };
            Url::parse(&raw).map_err(|e| format!("api_base: {e}"))
        };
        let signer = || {
            parse_private_key(&a.secrets.private_key)
                .map(RsaSigner::new)
                .map_err(|e| format!("private_key {e}"))
        };
        let mut p = PaymentProviders::default();
        match a.kind {
            AccountKind::WechatV3 => {
                let platform = if s.platform_key_id.trim().is_empty() {
                    PlatformKeys::Certificates
                } else {
                    PlatformKeys::PublicKey {
                        id: s.platform_key_id.trim().to_owned(),
                        key: parse_public_key(&s.platform_public_key)
                            .map_err(|e| format!("platform_public_key {e}"))?,
                    }
                };
                p.wechat = Some(Arc::new(WechatPayV3::new(
                    base(crate::wechat_v3::API_BASE, true)?,
                    s.app_id.trim().to_owned(),
                    s.mch_id.trim().to_owned(),
                    s.serial_no.trim().to_owned(),
                    signer()?,
                    SecretString::from(a.secrets.apiv3_key.trim().to_owned()),
                    platform,
                    self.log.clone(),
                )));
            }
            AccountKind::WechatV2 => {
                let client = wechat_v2_client::WechatPayV2::new(
                    base(crate::wechat_v3::API_BASE, true)?,
                    s.app_id.trim().to_owned(),
                    s.mch_id.trim().to_owned(),
                    SecretString::from(a.secrets.v2_key.trim().to_owned()),
                    self.log.clone(),
                );
                p.wechat = Some(Arc::new(if s.v2_sign_type.trim() == "MD5" {
                    client.with_sign_type(wechat_v2::SignType::Md5)
                } else {
                    client
                }));
            }
            AccountKind::Alipay => {
                let (verifier, sns) = if s.alipay_app_cert.trim().is_empty() {
                    let key = parse_public_key(&s.alipay_public_key)
                        .map_err(|e| format!("alipay_public_key {e}"))?;
                    (RsaVerifier::new(key), None)
                } else {
                    alipay_cert_mode(s)?
                };
                p.alipay = Some(Arc::new(AlipayClient::new(
                    base(crate::alipay::GATEWAY, false)?,
                    s.app_id.trim().to_owned(),
                    signer()?,
                    verifier,
                    Some(s.seller_id.trim().to_owned()).filter(|v| !v.is_empty()),
                    sns,
                    self.log.clone(),
                )));
            }
            AccountKind::Simulator => {
                let sim = self
                    .simulator_base
                    .as_ref()
                    .ok_or("the simulator is not running (development only)")?;
                p.wechat = Some(Arc::new(
                    simulated_wechat(sim, true, self.log.clone()).map_err(|e| e.to_string())?,
                ));
                p.alipay = Some(Arc::new(
                    simulated_alipay(sim, self.log.clone()).map_err(|e| e.to_string())?,
                ));
            }
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use formpay_core::accounts::{
        AccountData, AccountKind, AccountSecrets, AccountSettings, ProviderFactory,
    };

    use crate::test_vectors::read as vector;

    fn alipay(settings: AccountSettings) -> AccountData {
        AccountData {
            id: "a".into(),
            name: "支付宝".into(),
            kind: AccountKind::Alipay,
            settings,
            secrets: AccountSecrets {
                private_key: dev_keys::ALIPAY_APP_KEY.into(),
                ..AccountSecrets::default()
            },
            enabled: true,
            updated_at: 0,
        }
    }

    #[test]
    fn stored_alipay_accounts_work_in_certificate_mode() {
        let factory = AccountFactory {
            simulator_base: None,
            log: PaymentLog::disabled(),
        };
        let certs = AccountSettings {
            app_id: dev_keys::ALIPAY_APP_ID.into(),
            alipay_app_cert: vector("yansongda-alipayAppPublicCert.crt"),
            alipay_root_cert: vector("yansongda-alipayRootCert.crt"),
            alipay_public_cert: vector("yansongda-alipayPublicCert.crt"),
            ..AccountSettings::default()
        };
        let built = factory
            .build(&alipay(certs.clone()))
            .expect("certificate mode builds");
        assert!(built.alipay.is_some() && built.wechat.is_none());
        let broken = AccountSettings {
            alipay_root_cert: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----".into(),
            ..certs
        };
        let err = factory.build(&alipay(broken)).err().expect("refused");
        assert!(err.contains("alipay_root_cert"), "{err}");
        // The simulator kind needs the simulator.
        let sim = AccountData {
            kind: AccountKind::Simulator,
            ..alipay(AccountSettings::default())
        };
        assert!(factory.build(&sim).is_err());
    }
}
