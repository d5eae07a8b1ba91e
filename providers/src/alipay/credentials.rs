//! An Alipay application: what it takes (public-key or certificate mode), how
//! it is checked, how its client is built.

use super::client::AlipayClient;
use crate::credentials::{
    any_development_key, base_url, flag, gateway, secret, setting, text, Checks,
};
use crate::crypto::{RsaSigner, RsaVerifier};
use crate::keys::{parse_private_key, parse_public_key};
use crate::x509::{alipay_root_cert_sn, Certificate};
use domain::Provider;
use formpay_core::payment_log::PaymentLog;
use formpay_core::provider::PaymentProvider;
use formpay_core::registry::{CredentialField, Credentials, Problems, ProviderKind};
use std::sync::Arc;

pub struct Alipay;

const FIELDS: &[CredentialField] = &[
    setting("app_id", "ALIPAY_APP_ID", ("AppID", "App ID")),
    setting(
        "seller_id",
        "ALIPAY_SELLER_ID",
        ("卖家 ID（PID，2088 开头）", "Seller id (PID, 2088…)"),
    ),
    secret(
        "private_key",
        "ALIPAY_PRIVATE_KEY",
        (
            "应用私钥（PEM 或 base64）",
            "Application private key (PEM or base64)",
        ),
        true,
    ),
    text(
        "alipay_public_key",
        "ALIPAY_PUBLIC_KEY",
        (
            "支付宝公钥（公钥模式）",
            "Alipay public key (public-key mode)",
        ),
    ),
    text(
        "alipay_app_cert",
        "ALIPAY_APP_CERT",
        (
            "应用公钥证书 appCertPublicKey（证书模式）",
            "App public certificate (certificate mode)",
        ),
    ),
    text(
        "alipay_root_cert",
        "ALIPAY_ROOT_CERT",
        (
            "支付宝根证书 alipayRootCert（证书模式）",
            "Alipay root certificate (certificate mode)",
        ),
    ),
    text(
        "alipay_public_cert",
        "ALIPAY_PUBLIC_CERT",
        (
            "支付宝公钥证书 alipayCertPublicKey_RSA2（证书模式）",
            "Alipay public certificate (certificate mode)",
        ),
    ),
    setting(
        "wap",
        "ALIPAY_WAP",
        (
            "手机网站支付 WAP（已签约；true/false，留空为 true）",
            "Phone-site pay, WAP (signed for the app; true/false, empty: true)",
        ),
    ),
    setting(
        "sandbox",
        "ALIPAY_SANDBOX",
        ("沙箱环境（true/false）", "Sandbox (true/false)"),
    ),
    gateway("ALIPAY_GATEWAY"),
];

/// Certificate mode: Alipay's key from its public certificate, and the two
/// serial numbers sent with every request.
pub struct CertificateMode {
    pub verifier: RsaVerifier,
    pub app_cert_sn: String,
    pub root_cert_sn: String,
}

/// The certificate mode of credentials with all three certificates.
pub fn certificate_mode(c: &Credentials) -> Result<CertificateMode, String> {
    let app_cert_sn = Certificate::from_pem(c.get("alipay_app_cert"))
        .and_then(|cert| cert.alipay_sn())
        .map_err(|e| format!("alipay_app_cert is not a usable certificate: {e}"))?;
    let root_cert_sn = alipay_root_cert_sn(c.get("alipay_root_cert"))
        .map_err(|e| format!("alipay_root_cert is not a usable certificate chain: {e}"))?;
    let key = Certificate::from_pem(c.get("alipay_public_cert"))
        .and_then(|cert| cert.public_key())
        .map_err(|e| format!("alipay_public_cert is not a usable certificate: {e}"))?;
    Ok(CertificateMode {
        verifier: RsaVerifier::new(key),
        app_cert_sn,
        root_cert_sn,
    })
}

impl ProviderKind for Alipay {
    fn id(&self) -> &'static str {
        "alipay"
    }

    fn name(&self) -> (&'static str, &'static str) {
        ("支付宝", "Alipay")
    }

    fn providers(&self) -> &'static [Provider] {
        &[Provider::Alipay]
    }

    fn fields(&self) -> &'static [CredentialField] {
        FIELDS
    }

    fn in_environment(&self, get: &dyn Fn(&str) -> Option<String>) -> bool {
        get("ALIPAY_APP_ID").is_some()
    }

    fn check(&self, c: &Credentials) -> Problems {
        let mut k = Checks::new(c);
        k.required("app_id");
        k.digits("app_id");
        k.required("private_key");
        k.private_key("private_key");
        // Every notification names its seller: without it, it could be
        // another merchant's (of the same application).
        k.required("seller_id");
        k.flag("sandbox");
        k.flag("wap");
        if c.has("alipay_app_cert") {
            // Each certificate on its own, so that every broken one is named.
            if let Err(e) =
                Certificate::from_pem(c.get("alipay_app_cert")).and_then(|cert| cert.alipay_sn())
            {
                k.problem(
                    "alipay_app_cert",
                    format!("is not a usable certificate: {e}"),
                );
            }
            if k.required("alipay_root_cert") {
                if let Err(e) = alipay_root_cert_sn(c.get("alipay_root_cert")) {
                    k.problem(
                        "alipay_root_cert",
                        format!("is not a usable certificate chain: {e}"),
                    );
                }
            }
            if k.required("alipay_public_cert") {
                if let Err(e) = Certificate::from_pem(c.get("alipay_public_cert"))
                    .and_then(|cert| cert.public_key())
                {
                    k.problem(
                        "alipay_public_cert",
                        format!("is not a usable certificate: {e}"),
                    );
                }
            }
        } else if k.required("alipay_public_key") {
            k.public_key("alipay_public_key");
        }
        k.api_base();
        k.done()
    }

    fn uses_development_keys(&self, c: &Credentials) -> bool {
        any_development_key(c, &["private_key", "alipay_public_key"])
    }

    fn build(
        &self,
        c: &Credentials,
        log: &PaymentLog,
    ) -> Result<Vec<Arc<dyn PaymentProvider>>, String> {
        let signer = parse_private_key(c.get("private_key"))
            .map(RsaSigner::new)
            .map_err(|e| format!("private_key {e}"))?;
        let (verifier, sns) = if c.has("alipay_app_cert") {
            let m = certificate_mode(c)?;
            (m.verifier, Some((m.app_cert_sn, m.root_cert_sn)))
        } else {
            let key = parse_public_key(c.get("alipay_public_key"))
                .map_err(|e| format!("alipay_public_key {e}"))?;
            (RsaVerifier::new(key), None)
        };
        let default = if flag(c, "sandbox") == Some(true) {
            super::SANDBOX_GATEWAY
        } else {
            super::GATEWAY
        };
        Ok(vec![Arc::new(
            AlipayClient::new(
                base_url(c, default, false)?,
                c.get("app_id").to_owned(),
                signer,
                verifier,
                Some(c.get("seller_id").to_owned()).filter(|s| !s.is_empty()),
                sns,
                log.clone(),
            )
            .with_wap(flag(c, "wap") != Some(false)),
        )])
    }
}
