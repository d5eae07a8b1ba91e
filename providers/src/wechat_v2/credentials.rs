//! A WeChat Pay API v2 merchant (the legacy key): what it takes, how it is
//! checked, how its client is built.

use super::client::WechatPayV2;
use super::SignType;
use crate::credentials::{
    any_development_key, base_url, check_wechat_phone, flag, gateway, secret, setting,
    wechat_oauth, Checks, WECHAT_PHONE_FIELDS,
};
use domain::Provider;
use formpay_core::payment_log::PaymentLog;
use formpay_core::provider::PaymentProvider;
use formpay_core::registry::{CredentialField, Credentials, Problems, ProviderKind};
use secrecy::SecretString;
use std::sync::Arc;

pub struct WechatV2;

const FIELDS: &[CredentialField] = &[
    setting("app_id", "WECHAT_APP_ID", ("AppID", "App ID")),
    setting("mch_id", "WECHAT_MCH_ID", ("商户号", "Merchant id (mchid)")),
    secret(
        "v2_key",
        "WECHAT_MCH_KEY",
        ("API 密钥（v2，32 位）", "API key (v2, 32 characters)"),
        false,
    ),
    setting(
        "v2_sign_type",
        "WECHAT_V2_SIGN_TYPE",
        (
            "签名方式（HMAC-SHA256 或 MD5，留空为 HMAC-SHA256）",
            "Signing (HMAC-SHA256 or MD5; empty: HMAC-SHA256)",
        ),
    ),
    gateway("WECHAT_API_BASE"),
    WECHAT_PHONE_FIELDS[0],
    WECHAT_PHONE_FIELDS[1],
    WECHAT_PHONE_FIELDS[2],
    WECHAT_PHONE_FIELDS[3],
];

impl ProviderKind for WechatV2 {
    fn id(&self) -> &'static str {
        "wechat_v2"
    }

    fn name(&self) -> (&'static str, &'static str) {
        (
            "微信支付 API v2（旧版密钥）",
            "WeChat Pay API v2 (legacy key)",
        )
    }

    fn providers(&self) -> &'static [Provider] {
        &[Provider::Wechat]
    }

    fn fields(&self) -> &'static [CredentialField] {
        FIELDS
    }

    /// `WECHAT_MCH_ID` with the v2 key and none of the v3 keys.
    fn in_environment(&self, get: &dyn Fn(&str) -> Option<String>) -> bool {
        let set = |v: &str| get(v).is_some() || get(&format!("{v}_FILE")).is_some();
        set("WECHAT_MCH_ID")
            && set("WECHAT_MCH_KEY")
            && !(set("WECHAT_MCH_PRIVATE_KEY")
                || set("WECHAT_APIV3_KEY")
                || set("WECHAT_MCH_SERIAL_NO"))
    }

    fn check(&self, c: &Credentials) -> Problems {
        let mut k = Checks::new(c);
        for f in ["app_id", "mch_id", "v2_key"] {
            k.required(f);
        }
        k.digits("mch_id");
        k.length("v2_key", 32);
        if !matches!(
            c.get("v2_sign_type").to_ascii_uppercase().as_str(),
            "" | "HMAC-SHA256" | "MD5"
        ) {
            k.problem("v2_sign_type", "must be HMAC-SHA256 or MD5");
        }
        k.api_base();
        check_wechat_phone(&mut k);
        k.done()
    }

    fn uses_development_keys(&self, c: &Credentials) -> bool {
        any_development_key(c, &["v2_key", "app_secret"])
    }

    fn build(
        &self,
        c: &Credentials,
        log: &PaymentLog,
    ) -> Result<Vec<Arc<dyn PaymentProvider>>, String> {
        let client = WechatPayV2::new(
            base_url(c, crate::wechat_v3::API_BASE, true)?,
            c.get("app_id").to_owned(),
            c.get("mch_id").to_owned(),
            SecretString::from(c.get("v2_key").to_owned()),
            log.clone(),
        );
        let mut client = if c.get("v2_sign_type").eq_ignore_ascii_case("MD5") {
            client.with_sign_type(SignType::Md5)
        } else {
            client
        }
        .with_h5(flag(c, "h5") == Some(true));
        if let Some(oauth) = wechat_oauth(c, log)? {
            client = client.with_oauth(oauth);
        }
        Ok(vec![Arc::new(client)])
    }
}
