//! Verification of everything WeChat Pay signs: API answers and callbacks.
//! One fixed routine; one error per failure mode.

use crate::crypto::{CryptoError, RsaVerifier, VerifySignature};
use std::collections::HashMap;

/// Answers and callbacks older or newer than this are refused (replay window).
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// WeChat Pay sends these to check that merchants really verify signatures.
pub const SIGNATURE_PROBE_PREFIX: &str = "WECHATPAY/SIGNTEST/";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    #[error("this is a signature probe (WECHATPAY/SIGNTEST/), not a real message")]
    SignatureProbe,
    #[error("the timestamp is not a number of seconds")]
    MalformedTimestamp,
    #[error("the timestamp is more than 5 minutes old")]
    TimestampTooOld,
    #[error("the timestamp is more than 5 minutes in the future")]
    FutureTimestamp,
    #[error("no key is known under the serial {0}")]
    UnknownKey(String),
    #[error("the certificate {0} is not valid at this time")]
    KeyNotValidNow(String),
    #[error(transparent)]
    Signature(#[from] CryptoError),
}

/// The WeChat Pay keys this merchant accepts, by id: the "WeChat Pay public
/// key" under its `PUB_KEY_ID_…`, and platform certificates under their hex
/// serial. Several at once, so keys can rotate.
#[derive(Clone, Debug, Default)]
pub struct KeyRing {
    /// The key and, for a certificate, its validity in Unix seconds.
    keys: HashMap<String, (RsaVerifier, Option<(i64, i64)>)>,
}

impl KeyRing {
    /// A key valid at any time (the "WeChat Pay public key").
    pub fn insert(&mut self, id: &str, verifier: RsaVerifier) {
        self.keys.insert(normalise_id(id), (verifier, None));
    }

    /// A platform certificate's key, valid from `not_before` to `not_after`.
    pub fn insert_valid(
        &mut self,
        id: &str,
        verifier: RsaVerifier,
        not_before: i64,
        not_after: i64,
    ) {
        self.keys
            .insert(normalise_id(id), (verifier, Some((not_before, not_after))));
    }

    pub fn get(&self, id: &str) -> Option<&RsaVerifier> {
        self.keys.get(&normalise_id(id)).map(|(v, _)| v)
    }

    /// The key under `id` if it is valid at `now` (Unix seconds).
    fn valid_at(&self, id: &str, now: i64) -> Result<&RsaVerifier, VerifyError> {
        match self.keys.get(&normalise_id(id)) {
            None => Err(VerifyError::UnknownKey(id.to_owned())),
            Some((_, Some((from, to)))) if now < *from || now > *to => {
                Err(VerifyError::KeyNotValidNow(id.to_owned()))
            }
            Some((v, _)) => Ok(v),
        }
    }

    /// Copies every key of `other` into this ring.
    pub fn extend(&mut self, other: &KeyRing) {
        for (id, entry) in &other.keys {
            self.keys.insert(id.clone(), entry.clone());
        }
    }

    pub fn contains(&self, id: &str) -> bool {
        self.keys.contains_key(&normalise_id(id))
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Certificate serials are hex and compared without regard to case.
fn normalise_id(id: &str) -> String {
    if id.starts_with("PUB_KEY_ID_") {
        id.to_owned()
    } else {
        id.to_ascii_uppercase()
    }
}

/// The four headers WeChat Pay signs with.
#[derive(Debug, Clone, Copy)]
pub struct SignedHeaders<'a> {
    pub timestamp: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub serial: Option<&'a str>,
}

impl<'a> SignedHeaders<'a> {
    pub fn from_http(headers: &'a http::HeaderMap) -> Self {
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        SignedHeaders {
            timestamp: get("wechatpay-timestamp"),
            nonce: get("wechatpay-nonce"),
            signature: get("wechatpay-signature"),
            serial: get("wechatpay-serial"),
        }
    }
}

/// Verifies `Wechatpay-Timestamp\nWechatpay-Nonce\nBODY\n` against the key the
/// serial names, within the replay window around `now` (Unix seconds).
pub fn verify(
    headers: SignedHeaders<'_>,
    body: &[u8],
    keys: &KeyRing,
    now: i64,
) -> Result<(), VerifyError> {
    let timestamp = headers
        .timestamp
        .ok_or(VerifyError::MissingHeader("Wechatpay-Timestamp"))?;
    let nonce = headers
        .nonce
        .ok_or(VerifyError::MissingHeader("Wechatpay-Nonce"))?;
    let signature = headers
        .signature
        .ok_or(VerifyError::MissingHeader("Wechatpay-Signature"))?;
    let serial = headers
        .serial
        .ok_or(VerifyError::MissingHeader("Wechatpay-Serial"))?;
    if signature.starts_with(SIGNATURE_PROBE_PREFIX) {
        return Err(VerifyError::SignatureProbe);
    }
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::MalformedTimestamp)?;
    // Wide arithmetic: the timestamp is the sender's, and may be anything.
    let age = i128::from(now) - i128::from(ts);
    if age >= i128::from(MAX_CLOCK_SKEW_SECS) {
        return Err(VerifyError::TimestampTooOld);
    }
    if -age >= i128::from(MAX_CLOCK_SKEW_SECS) {
        return Err(VerifyError::FutureTimestamp);
    }
    let verifier = keys.valid_at(serial, now)?;
    let mut message = Vec::with_capacity(timestamp.len() + nonce.len() + body.len() + 3);
    message.extend_from_slice(timestamp.as_bytes());
    message.push(b'\n');
    message.extend_from_slice(nonce.as_bytes());
    message.push(b'\n');
    message.extend_from_slice(body);
    message.push(b'\n');
    verifier.verify_base64(&message, signature)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{RsaSigner, SignMessage};
    use crate::keys::parse_private_key;
    use crate::x509::Certificate;

    use crate::test_vectors::read as vector;

    // wechatpay-go core/notify/notify_test.go: a real-format callback signed by
    // the platform certificate D7CE59D1F522D701 at 1624523846.
    const VECTOR_BODY: &str = concat!(
        r#"{"id":"3119dfba-e649-5eec-ab1e-3412bc4d2e17","create_time":"2021-06-24T16:37:26+08:00","#,
        r#""resource_type":"encrypt-resource","event_type":"PAYSCORE.USER_OPEN_SERVICE","summary":"签约成功","#,
        r#""resource":{"original_type":"payscore","algorithm":"AEAD_AES_256_GCM","ciphertext":"YDS3lKPaC4Y52Gf3uhft5qUBlIa8b428AWTtTauHQfQrRw+X1WpiuHIDy0vo1Vd6VEq67aVyqPdDYMkRVSDaZL3iZt"#,
        r#"tevRMOoPKMifozg6XPWjIZumks/GpT48lI4NizyeaqLBokNebthah3o1H76qSlO9NkDjp9bzmKLEYYH9TEklFUpsvPqOTOcgSLgh21YJXYR"#,
        r#"7dEBXFgRLiNIKRgO5JdXh1hccRUAlyVWxE54PXpnQ==","associated_data":"payscore","nonce":"Kj7QIyUiYx1q"}}"#
    );
    const VECTOR_SIGNATURE: &str = concat!(
        "tJHIiIS9eB2hAYstmAmbbD3ZE5LiIm/Ug5tuL4fC0YOFRWIHV39UFIZXC0e9Wl6lBu6sKvkqDkzpqzBsVHyXF",
        "lbYZTOQrVdG4b6LfTnK4mikv9++ixJMd3vTf2yCqvBkh98zs3Ds5zsYQakzbcwhmw4fMJs4nPLws28H0UW9FjDR//rxELLwXvV1VEA1I",
        "BLX70xptjL8hrfUjEE8kkry6yNJTHZRU8CAc7qHli2Ng1V1qb9ARbK8A3ThmFmPQvRGrapI/jS2laKKgYUmfdEdkNO6B2Cke5e8VTxY4",
        "06ArAmQ90GAihDwIcb16TQMnzCMBoutnwZKNiKRACrFmtxw2Q=="
    );
    const VECTOR_TS: i64 = 1_624_523_846;

    fn vector_headers(signature: &str) -> SignedHeaders<'_> {
        SignedHeaders {
            timestamp: Some("1624523846"),
            nonce: Some("EcZ9Cmy4Xyx1i6RlJQzLcCyEqDa26NBz"),
            signature: Some(signature),
            serial: Some("D7CE59D1F522D701"),
        }
    }

    fn platform_ring() -> KeyRing {
        let cert =
            Certificate::from_pem(&vector("wechatpay-go-platform-cert.pem")).expect("certificate");
        assert_eq!(cert.serial_hex(), "D7CE59D1F522D701");
        let mut ring = KeyRing::default();
        ring.insert(
            &cert.serial_hex(),
            RsaVerifier::new(cert.public_key().expect("rsa key")),
        );
        ring
    }

    #[test]
    fn the_published_callback_verifies_and_decrypts() {
        let ring = platform_ring();
        assert_eq!(
            verify(
                vector_headers(VECTOR_SIGNATURE),
                VECTOR_BODY.as_bytes(),
                &ring,
                VECTOR_TS
            ),
            Ok(())
        );
        let envelope: super::super::transformers::NotifyEnvelope =
            serde_json::from_str(VECTOR_BODY).expect("envelope");
        // Its APIv3 key is 16 bytes (AES-128-GCM); ours are always 32.
        let plain = envelope
            .resource
            .decrypt(b"testMchAPIv3Key0")
            .expect("decrypts");
        assert_eq!(
            String::from_utf8(plain).expect("utf8"),
            r#"{"mchid":"1234567890","appid":"054aa7d7a2a54ab5898df65bd96f001c","create_time":"2020-06-30T12:12:00+08:00","out_contract_code":"21640bdbd08e473e828f3206a2741c6e"}"#
        );
    }

    #[test]
    fn one_error_per_failure_mode() {
        let ring = platform_ring();
        let body = VECTOR_BODY.as_bytes();
        let mut h = vector_headers(VECTOR_SIGNATURE);
        h.timestamp = None;
        assert_eq!(
            verify(h, body, &ring, VECTOR_TS),
            Err(VerifyError::MissingHeader("Wechatpay-Timestamp"))
        );
        let mut h = vector_headers(VECTOR_SIGNATURE);
        h.nonce = None;
        assert_eq!(
            verify(h, body, &ring, VECTOR_TS),
            Err(VerifyError::MissingHeader("Wechatpay-Nonce"))
        );
        let mut h = vector_headers(VECTOR_SIGNATURE);
        h.signature = None;
        assert_eq!(
            verify(h, body, &ring, VECTOR_TS),
            Err(VerifyError::MissingHeader("Wechatpay-Signature"))
        );
        let mut h = vector_headers(VECTOR_SIGNATURE);
        h.serial = None;
        assert_eq!(
            verify(h, body, &ring, VECTOR_TS),
            Err(VerifyError::MissingHeader("Wechatpay-Serial"))
        );

        // Wrong signature: the body was changed by one byte.
        let tampered = VECTOR_BODY.replace("签约成功", "签约失败");
        assert_eq!(
            verify(
                vector_headers(VECTOR_SIGNATURE),
                tampered.as_bytes(),
                &ring,
                VECTOR_TS
            ),
            Err(VerifyError::Signature(CryptoError::SignatureMismatch))
        );
        // Signed by another key, presented under the known serial.
        let other =
            RsaSigner::new(parse_private_key(&vector("fzlee-app_private_key.pem")).expect("key"));
        let message = format!("1624523846\nEcZ9Cmy4Xyx1i6RlJQzLcCyEqDa26NBz\n{VECTOR_BODY}\n");
        let forged = other.sign_base64(message.as_bytes()).expect("signs");
        assert_eq!(
            verify(vector_headers(&forged), body, &ring, VECTOR_TS),
            Err(VerifyError::Signature(CryptoError::SignatureMismatch))
        );
        // Unknown key id.
        let mut h = vector_headers(VECTOR_SIGNATURE);
        h.serial = Some("PUB_KEY_ID_0000000000000000000000000000");
        assert!(matches!(
            verify(h, body, &ring, VECTOR_TS),
            Err(VerifyError::UnknownKey(_))
        ));
        // Replay window.
        assert_eq!(
            verify(
                vector_headers(VECTOR_SIGNATURE),
                body,
                &ring,
                VECTOR_TS + 300
            ),
            Err(VerifyError::TimestampTooOld)
        );
        assert_eq!(
            verify(
                vector_headers(VECTOR_SIGNATURE),
                body,
                &ring,
                VECTOR_TS + 299
            ),
            Ok(())
        );
        assert_eq!(
            verify(
                vector_headers(VECTOR_SIGNATURE),
                body,
                &ring,
                VECTOR_TS - 300
            ),
            Err(VerifyError::FutureTimestamp)
        );
        let mut h = vector_headers(VECTOR_SIGNATURE);
        h.timestamp = Some("yesterday");
        assert_eq!(
            verify(h, body, &ring, VECTOR_TS),
            Err(VerifyError::MalformedTimestamp)
        );
        // Probes never verify.
        assert_eq!(
            verify(
                vector_headers("WECHATPAY/SIGNTEST/abcdef"),
                body,
                &ring,
                VECTOR_TS
            ),
            Err(VerifyError::SignatureProbe)
        );
        // Not base64.
        assert_eq!(
            verify(vector_headers("%%%"), body, &ring, VECTOR_TS),
            Err(VerifyError::Signature(CryptoError::SignatureEncoding))
        );
    }

    #[test]
    fn several_keys_are_accepted_at_once_and_serials_ignore_case() {
        let mut ring = platform_ring();
        let other =
            RsaSigner::new(parse_private_key(&vector("fzlee-app_private_key.pem")).expect("key"));
        ring.insert(
            "PUB_KEY_ID_0114232134912410000000000000",
            RsaVerifier::new(other.public_key()),
        );
        assert_eq!(ring.len(), 2);
        let body = br#"{"code_url":"weixin://wxpay/bizpayurl?pr=abc"}"#;
        let message = [b"1700000000\nN\n".as_slice(), body.as_slice(), b"\n"].concat();
        let sig = other.sign_base64(&message).expect("signs");
        let h = SignedHeaders {
            timestamp: Some("1700000000"),
            nonce: Some("N"),
            signature: Some(&sig),
            serial: Some("PUB_KEY_ID_0114232134912410000000000000"),
        };
        assert_eq!(verify(h, body, &ring, 1_700_000_000), Ok(()));
        let mut lower = vector_headers(VECTOR_SIGNATURE);
        lower.serial = Some("d7ce59d1f522d701");
        assert_eq!(
            verify(lower, VECTOR_BODY.as_bytes(), &ring, VECTOR_TS),
            Ok(())
        );
    }

    #[test]
    fn extreme_timestamps_are_refused_without_overflow() {
        let ring = platform_ring();
        for ts in ["-9223372036854775808", "9223372036854775807"] {
            let h = SignedHeaders {
                timestamp: Some(ts),
                ..vector_headers(VECTOR_SIGNATURE)
            };
            assert!(matches!(
                verify(h, VECTOR_BODY.as_bytes(), &ring, VECTOR_TS),
                Err(VerifyError::TimestampTooOld | VerifyError::FutureTimestamp)
            ));
        }
    }

    #[test]
    fn a_certificate_outside_its_validity_is_not_used() {
        let cert =
            Certificate::from_pem(&vector("wechatpay-go-platform-cert.pem")).expect("certificate");
        let key = RsaVerifier::new(cert.public_key().expect("rsa key"));
        let mut ring = KeyRing::default();
        // Valid until one second before the message was signed.
        ring.insert_valid(&cert.serial_hex(), key.clone(), 0, VECTOR_TS - 1);
        assert_eq!(
            verify(
                vector_headers(VECTOR_SIGNATURE),
                VECTOR_BODY.as_bytes(),
                &ring,
                VECTOR_TS
            ),
            Err(VerifyError::KeyNotValidNow("D7CE59D1F522D701".into()))
        );
        // Its real validity covers the message.
        let mut ring = KeyRing::default();
        ring.insert_valid(
            &cert.serial_hex(),
            key,
            cert.not_before().expect("not before"),
            cert.not_after().expect("not after"),
        );
        assert_eq!(
            verify(
                vector_headers(VECTOR_SIGNATURE),
                VECTOR_BODY.as_bytes(),
                &ring,
                VECTOR_TS
            ),
            Ok(())
        );
    }
}
