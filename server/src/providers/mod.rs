//! The payment providers' wire protocols. Each provider is one module; the
//! cryptography they share is in `crypto`.

pub mod alipay;
pub mod crypto;
pub mod wechat;
pub mod wechat_v2;
pub mod wechat_v2_client;
pub mod x509;

use crate::config::Config;
use crate::keys::{parse_private_key, parse_public_key};
use crate::payment_log::PaymentLog;
use crate::simulator::dev_keys;
use alipay::client::AlipayClient;
use app::ssr::payment::PaymentProviders;
use crypto::{RsaSigner, RsaVerifier};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use url::Url;
use wechat::client::{PlatformKeys, WechatPayV3};

/// Builds the clients from the settings. In development a provider that is not
/// configured is played by the simulator at `simulator_base` (when given).
pub fn build(
    config: &Config,
    simulator_base: Option<&Url>,
    log: PaymentLog,
) -> anyhow::Result<PaymentProviders> {
    let mut providers = PaymentProviders::default();
    if let Some(w) = &config.wechat {
        if let (None, Some(key)) = (&w.v3, &w.v2_key) {
            providers.wechat = Some(Arc::new(wechat_v2_client::WechatPayV2::new(
                w.api_base.clone(),
                w.app_id.clone(),
                w.mch_id.clone(),
                key.clone(),
                log.clone(),
            )));
        }
        if let Some(v3) = &w.v3 {
            let signer = RsaSigner::new(
                parse_private_key(v3.mch_private_key.expose_secret())
                    .map_err(|e| anyhow::anyhow!("WECHAT_MCH_PRIVATE_KEY {e}"))?,
            );
            let platform = match &v3.platform_public_key {
                Some((id, pem)) => PlatformKeys::PublicKey {
                    id: id.clone(),
                    key: parse_public_key(pem)
                        .map_err(|e| anyhow::anyhow!("WECHAT_PLATFORM_PUBLIC_KEY {e}"))?,
                },
                None => PlatformKeys::Certificates,
            };
            providers.wechat = Some(Arc::new(WechatPayV3::new(
                w.api_base.clone(),
                w.app_id.clone(),
                w.mch_id.clone(),
                v3.mch_serial_no.clone(),
                signer,
                v3.apiv3_key.clone(),
                platform,
                log.clone(),
            )));
        }
    } else if let Some(base) = simulator_base {
        providers.wechat = Some(Arc::new(simulated_wechat(base, true, log.clone())?));
    }
    if let Some(a) = &config.alipay {
        let signer = RsaSigner::new(
            parse_private_key(a.private_key.expose_secret())
                .map_err(|e| anyhow::anyhow!("ALIPAY_PRIVATE_KEY {e}"))?,
        );
        let verifier = RsaVerifier::new(
            parse_public_key(&a.alipay_public_key)
                .map_err(|e| anyhow::anyhow!("ALIPAY_PUBLIC_KEY {e}"))?,
        );
        providers.alipay = Some(Arc::new(AlipayClient::new(
            a.gateway.clone(),
            a.app_id.clone(),
            signer,
            verifier,
            a.seller_id.clone(),
            a.cert_sns.clone(),
            log,
        )));
    } else if let Some(base) = simulator_base {
        providers.alipay = Some(Arc::new(simulated_alipay(base, log)?));
    }
    Ok(providers)
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
