//! A WeChat Pay API v3 merchant: what it takes, how it is checked, how its
//! client is built.

use super::client::{PlatformKeys, WechatPayV3};
use crate::credentials::{
    any_development_key, base_url, check_wechat_phone, flag, gateway, secret, setting, text,
    wechat_oauth, Checks, WECHAT_PHONE_FIELDS,
};
use crate::crypto::RsaSigner;
use crate::keys::{parse_private_key, parse_public_key};
use domain::Provider;
use formpay_core::payment_log::PaymentLog;
use formpay_core::provider::PaymentProvider;
use formpay_core::registry::{CredentialField, Credentials, Problems, ProviderKind};
use secrecy::SecretString;
use std::sync::Arc;

pub struct WechatV3;

const FIELDS: &[CredentialField] = &[
    setting("app_id", "WECHAT_APP_ID", ("AppID", "App ID")),
    setting("mch_id", "WECHAT_MCH_ID", ("商户号", "Merchant id (mchid)")),
    setting(
        "serial_no",
        "WECHAT_MCH_SERIAL_NO",
        ("商户 API 证书序列号", "Merchant certificate serial"),
    ),
    secret(
        "private_key",
        "WECHAT_MCH_PRIVATE_KEY",
        (
            "商户 API 私钥（PEM 或 base64）",
            "Merchant API private key (PEM or base64)",
        ),
        true,
    ),
    secret(
        "apiv3_key",
        "WECHAT_APIV3_KEY",
        ("APIv3 密钥（32 位）", "APIv3 key (32 characters)"),
        false,
    ),
    setting(
        "platform_key_id",
        "WECHAT_PLATFORM_PUBLIC_KEY_ID",
        (
            "微信支付公钥 ID（PUB_KEY_ID_…，留空则用平台证书）",
            "WeChat Pay public key id (PUB_KEY_ID_…; empty: platform certificates)",
        ),
    ),
    text(
        "platform_public_key",
        "WECHAT_PLATFORM_PUBLIC_KEY",
        ("微信支付公钥（PEM）", "WeChat Pay public key (PEM)"),
    ),
    gateway("WECHAT_API_BASE"),
    WECHAT_PHONE_FIELDS[0],
    WECHAT_PHONE_FIELDS[1],
    WECHAT_PHONE_FIELDS[2],
    WECHAT_PHONE_FIELDS[3],
];

impl ProviderKind for WechatV3 {
    fn id(&self) -> &'static str {
        "wechat_v3"
    }

    fn name(&self) -> (&'static str, &'static str) {
        ("微信支付 API v3", "WeChat Pay API v3")
    }

    fn providers(&self) -> &'static [Provider] {
        &[Provider::Wechat]
    }

    fn fields(&self) -> &'static [CredentialField] {
        FIELDS
    }

    /// `WECHAT_MCH_ID`, and v3 keys (or no v2 key: then v3's are missing).
    fn in_environment(&self, get: &dyn Fn(&str) -> Option<String>) -> bool {
        let set = |v: &str| get(v).is_some() || get(&format!("{v}_FILE")).is_some();
        set("WECHAT_MCH_ID")
            && (set("WECHAT_MCH_PRIVATE_KEY")
                || set("WECHAT_APIV3_KEY")
                || set("WECHAT_MCH_SERIAL_NO")
                || !set("WECHAT_MCH_KEY"))
    }

    fn check(&self, c: &Credentials) -> Problems {
        let mut k = Checks::new(c);
        for f in ["app_id", "mch_id", "serial_no", "private_key", "apiv3_key"] {
            k.required(f);
        }
        k.digits("mch_id");
        k.private_key("private_key");
        k.length("apiv3_key", 32);
        match (c.has("platform_key_id"), c.has("platform_public_key")) {
            (true, false) => k.problem(
                "platform_public_key",
                "is missing (the key platform_key_id names)",
            ),
            (false, true) => k.problem(
                "platform_key_id",
                "is missing (the id of platform_public_key)",
            ),
            _ => {}
        }
        if c.has("platform_key_id") && !c.get("platform_key_id").starts_with("PUB_KEY_ID_") {
            k.problem("platform_key_id", "must start with PUB_KEY_ID_");
        }
        k.public_key("platform_public_key");
        k.api_base();
        check_wechat_phone(&mut k);
        k.done()
    }

    fn uses_development_keys(&self, c: &Credentials) -> bool {
        any_development_key(
            c,
            &[
                "private_key",
                "apiv3_key",
                "platform_public_key",
                "app_secret",
            ],
        )
    }

    fn build(
        &self,
        c: &Credentials,
        log: &PaymentLog,
    ) -> Result<Vec<Arc<dyn PaymentProvider>>, String> {
        let signer = parse_private_key(c.get("private_key"))
            .map(RsaSigner::new)
            .map_err(|e| format!("private_key {e}"))?;
        let platform = if c.has("platform_key_id") {
            PlatformKeys::PublicKey {
                id: c.get("platform_key_id").to_owned(),
                key: parse_public_key(c.get("platform_public_key"))
                    .map_err(|e| format!("platform_public_key {e}"))?,
            }
        } else {
            PlatformKeys::Certificates
        };
        let mut client = WechatPayV3::new(
            base_url(c, super::API_BASE, true)?,
            c.get("app_id").to_owned(),
            c.get("mch_id").to_owned(),
            c.get("serial_no").to_owned(),
            signer,
            SecretString::from(c.get("apiv3_key").to_owned()),
            platform,
            log.clone(),
        )
        .with_h5(flag(c, "h5") == Some(true));
        if let Some(oauth) = wechat_oauth(c, log)? {
            client = client.with_oauth(oauth);
        }
        Ok(vec![Arc::new(client)])
    }
}
