//! WeChat Pay API v3: request signing (the `WECHATPAY2-SHA256-RSA2048`
//! Authorization header), verification of answers and callbacks, and the
//! AES-GCM callback resource.

pub mod bill;
mod certificates;
pub mod client;
pub mod credentials;
pub mod fundflow;
pub mod profitsharing;
pub mod transformers;
pub mod verify;

/// WeChat Pay's API host.
pub const API_BASE: &str = "https://api.mch.weixin.qq.com";

use super::crypto::{random_nonce, CryptoError, SignMessage};

/// The Authorization header of one request. `body` must be byte-identical to
/// the body sent; `path_with_query` is the URL path and query as sent. The
/// arguments are the protocol's signed fields, one for one.
#[allow(clippy::too_many_arguments)]
pub fn authorization(
    mch_id: &str,
    serial_no: &str,
    signer: &dyn SignMessage,
    method: &str,
    path_with_query: &str,
    timestamp: i64,
    nonce: &str,
    body: &str,
) -> Result<String, CryptoError> {
    let message = format!("{method}\n{path_with_query}\n{timestamp}\n{nonce}\n{body}\n");
    let signature = signer.sign_base64(message.as_bytes())?;
    Ok(format!(
        "WECHATPAY2-SHA256-RSA2048 mchid=\"{mch_id}\",nonce_str=\"{nonce}\",signature=\"{signature}\",timestamp=\"{timestamp}\",serial_no=\"{serial_no}\""
    ))
}

/// A fresh nonce for a request: 32 alphanumeric characters.
pub fn request_nonce() -> String {
    random_nonce(32)
}

/// The fields of an Authorization header, as the provider (our simulator) reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationFields {
    pub mch_id: String,
    pub nonce: String,
    pub signature: String,
    pub timestamp: String,
    pub serial_no: String,
}

/// Parses `WECHATPAY2-SHA256-RSA2048 k="v",…`; `None` if anything is missing or malformed.
pub fn parse_authorization(header: &str) -> Option<AuthorizationFields> {
    let rest = header.strip_prefix("WECHATPAY2-SHA256-RSA2048 ")?;
    let mut fields = std::collections::HashMap::new();
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        let v = v.strip_prefix('"')?.strip_suffix('"')?;
        fields.insert(k, v.to_owned());
    }
    Some(AuthorizationFields {
        mch_id: fields.remove("mchid")?,
        nonce: fields.remove("nonce_str")?,
        signature: fields.remove("signature")?,
        timestamp: fields.remove("timestamp")?,
        serial_no: fields.remove("serial_no")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{RsaSigner, RsaVerifier, VerifySignature};
    use crate::keys::parse_private_key;

    #[test]
    fn authorization_header_round_trips_and_signs_the_exact_message() {
        let key = parse_private_key(&crate::test_vectors::read(
            "wechatpay-go-test-private-key.pem",
        ))
        .expect("key");
        let signer = RsaSigner::new(key);
        let body = r#"{"mchid":"1900000001"}"#;
        let header = authorization(
            "1900000001",
            "F5765756002FDD77",
            &signer,
            "POST",
            "/v3/pay/transactions/out-trade-no/A123456/close",
            1_700_000_000,
            "NONCE",
            body,
        )
        .expect("signs");
        let f = parse_authorization(&header).expect("parses");
        assert_eq!(
            (
                f.mch_id.as_str(),
                f.serial_no.as_str(),
                f.timestamp.as_str(),
                f.nonce.as_str()
            ),
            ("1900000001", "F5765756002FDD77", "1700000000", "NONCE")
        );
        let message = format!(
            "POST\n/v3/pay/transactions/out-trade-no/A123456/close\n1700000000\nNONCE\n{body}\n"
        );
        assert_eq!(
            RsaVerifier::new(signer.public_key()).verify_base64(message.as_bytes(), &f.signature),
            Ok(())
        );
        assert!(parse_authorization("Bearer x").is_none());
        assert!(parse_authorization("WECHATPAY2-SHA256-RSA2048 mchid=\"1\"").is_none());
    }
}
