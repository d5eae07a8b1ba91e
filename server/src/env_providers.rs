//! The providers configured through the environment: the default receiving
//! account.

use crate::config::Config;
use formpay_core::payment_log::PaymentLog;
use formpay_core::provider::PaymentProviders;
use providers::alipay::client::AlipayClient;
use providers::crypto::{RsaSigner, RsaVerifier};
use providers::dev_keys::is_development_key;
use providers::keys::{parse_private_key, parse_public_key};
use providers::wechat_v2;
use providers::wechat_v2::client as wechat_v2_client;
use providers::wechat_v3::client::{PlatformKeys, WechatPayV3};
use secrecy::ExposeSecret;
use std::sync::Arc;

/// Builds the clients of the providers configured through the environment
/// (the default receiving account).
pub fn build(config: &Config, log: PaymentLog) -> anyhow::Result<PaymentProviders> {
    let mut providers = PaymentProviders::default();
    if let Some(w) = &config.wechat {
        if let (None, Some(key)) = (&w.v3, &w.v2_key) {
            let client = wechat_v2_client::WechatPayV2::new(
                w.api_base.clone(),
                w.app_id.clone(),
                w.mch_id.clone(),
                key.clone(),
                log.clone(),
            );
            providers.wechat = Some(Arc::new(if w.v2_md5 {
                client.with_sign_type(wechat_v2::SignType::Md5)
            } else {
                client
            }));
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
    }
    Ok(providers)
}

/// The providers the environment configures with real keys (not the public
/// development keys): their names, for the start-up line and the simulator rule.
pub fn real_in_environment(config: &Config) -> Vec<&'static str> {
    use secrecy::ExposeSecret;
    let mut real = Vec::new();
    if let Some(w) = &config.wechat {
        let dev = match (&w.v3, &w.v2_key) {
            (Some(v3), _) => is_development_key(v3.mch_private_key.expose_secret()),
            (None, Some(k)) => is_development_key(k.expose_secret()),
            (None, None) => false,
        };
        if !dev {
            real.push("wechat");
        }
    }
    if let Some(a) = &config.alipay {
        if !is_development_key(a.private_key.expose_secret()) {
            real.push("alipay");
        }
    }
    real
}
