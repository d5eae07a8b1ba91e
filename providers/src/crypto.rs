//! The cryptography the providers use, behind two small traits so that each
//! provider module only says *what* is signed, never *how*.
//!
//! RSA (PKCS#1 v1.5 with SHA-256) runs on `aws-lc-rs`: constant-time,
//! blinded, audited, and at OpenSSL speed (AWS-LC carries OpenSSL's AVX-512
//! RSA arithmetic, which `ring`, used before, does not: ring signed at about
//! half of OpenSSL's rate; BENCHMARKS.md).
//! Keys are read by the `rsa` crate (every PEM and DER form operators
//! paste), which also signs and verifies the rare keys AWS-LC does not take
//! (under 2,048 bits or over 8,192). PKCS#1 v1.5 signatures are
//! deterministic: both give the same bytes, which the tests check.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce};
use aws_lc_rs::signature::{self as lc_sig, RsaKeyPair, UnparsedPublicKey};
use base64::Engine;
use hmac::{Hmac, KeyInit as _, Mac};
use md5::{Digest as _, Md5};
use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{PrivateKey, PublicKey};
use sha2::Sha256;
use std::sync::Arc;
use subtle::ConstantTimeEq;

const B64: base64::engine::general_purpose::GeneralPurpose =
    base64::engine::general_purpose::STANDARD;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the signature is not valid base64")]
    SignatureEncoding,
    #[error("the signature does not match")]
    SignatureMismatch,
    #[error("signing failed")]
    SigningFailed,
    #[error("the key must be {0} bytes")]
    KeyLength(usize),
    #[error("the nonce must be 12 bytes")]
    NonceLength,
    #[error("the ciphertext is not valid base64")]
    CiphertextEncoding,
    #[error("decryption failed: wrong key, nonce, associated data or a tampered ciphertext")]
    Decrypt,
    #[error("encryption failed")]
    Encrypt,
}

/// Produces a base64 signature over a message.
pub trait SignMessage {
    fn sign_base64(&self, message: &[u8]) -> Result<String, CryptoError>;
}

/// Checks a base64 signature over a message.
pub trait VerifySignature {
    fn verify_base64(&self, message: &[u8], signature_b64: &str) -> Result<(), CryptoError>;
}

/// SHA256withRSA (PKCS#1 v1.5) signing: WeChat Pay v3 and Alipay RSA2.
/// The key is parsed once, when the signer is made, never per request.
#[derive(Clone)]
pub struct RsaSigner {
    key: SigningKey<Sha256>,
    /// The same key for AWS-LC; `None` for the sizes it does not take.
    fast: Option<Arc<RsaKeyPair>>,
}

impl RsaSigner {
    pub fn new(key: PrivateKey) -> Self {
        let fast = key
            .to_pkcs1_der()
            .ok()
            .and_then(|der| RsaKeyPair::from_der(der.as_bytes()).ok())
            .map(Arc::new);
        RsaSigner {
            key: SigningKey::<Sha256>::new(key),
            fast,
        }
    }

    /// The matching public key (the simulator and tests verify with it).
    pub fn public_key(&self) -> PublicKey {
        self.key.as_ref().to_public_key()
    }

    /// Decrypts a base64 RSAES-OAEP (SHA-1) ciphertext: what WeChat Pay does
    /// with the sensitive fields a merchant encrypts with its platform key
    /// (the simulator plays that part).
    pub fn decrypt_oaep_sha1_base64(&self, ciphertext_b64: &str) -> Result<Vec<u8>, CryptoError> {
        let raw = B64
            .decode(ciphertext_b64.trim())
            .map_err(|_| CryptoError::CiphertextEncoding)?;
        self.key
            .as_ref()
            .oaep_decrypt::<sha1::Sha1>(&raw)
            .map_err(|_| CryptoError::Decrypt)
    }

    /// Signs with the `rsa` crate alone (the tests compare both paths).
    pub fn sign_base64_portable(&self, message: &[u8]) -> Result<String, CryptoError> {
        let sig: Signature = self
            .key
            .try_sign(message)
            .map_err(|_| CryptoError::SigningFailed)?;
        Ok(B64.encode(sig.to_bytes()))
    }
}

impl std::fmt::Debug for RsaSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RsaSigner([REDACTED])")
    }
}

impl SignMessage for RsaSigner {
    fn sign_base64(&self, message: &[u8]) -> Result<String, CryptoError> {
        let Some(pair) = &self.fast else {
            return self.sign_base64_portable(message);
        };
        let mut sig = vec![0; pair.public_modulus_len()];
        pair.sign(
            &lc_sig::RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            message,
            &mut sig,
        )
        .map_err(|_| CryptoError::SigningFailed)?;
        Ok(B64.encode(sig))
    }
}

/// SHA256withRSA verification with one public key.
#[derive(Clone, Debug)]
pub struct RsaVerifier {
    key: VerifyingKey<Sha256>,
    /// The same key for AWS-LC (PKCS#1 DER); `None` for sizes it does not take.
    fast: Option<UnparsedPublicKey<Arc<[u8]>>>,
}

impl RsaVerifier {
    pub fn new(key: PublicKey) -> Self {
        let bits = rsa::traits::PublicKeyParts::n(&key).bit_width();
        let fast = (2048..=8192)
            .contains(&bits)
            .then(|| key.to_pkcs1_der().ok())
            .flatten()
            .map(|der| {
                UnparsedPublicKey::new(
                    &lc_sig::RSA_PKCS1_2048_8192_SHA256,
                    Arc::from(der.as_bytes()),
                )
            });
        RsaVerifier {
            key: VerifyingKey::<Sha256>::new(key),
            fast,
        }
    }

    /// Encrypts a sensitive field for WeChat Pay (RSAES-OAEP with SHA-1 and
    /// MGF1-SHA-1 under its platform key, base64), as its API asks for a
    /// receiver's name.
    pub fn encrypt_oaep_sha1_base64(&self, plaintext: &[u8]) -> Result<String, CryptoError> {
        let ciphertext = self
            .key
            .as_ref()
            .oaep_encrypt::<sha1::Sha1>(plaintext)
            .map_err(|_| CryptoError::Encrypt)?;
        Ok(B64.encode(ciphertext))
    }

    /// Verifies with the `rsa` crate alone (the tests compare both paths).
    pub fn verify_portable(&self, message: &[u8], raw: &[u8]) -> Result<(), CryptoError> {
        let sig = Signature::try_from(raw).map_err(|_| CryptoError::SignatureMismatch)?;
        self.key
            .verify(message, &sig)
            .map_err(|_| CryptoError::SignatureMismatch)
    }
}

impl VerifySignature for RsaVerifier {
    fn verify_base64(&self, message: &[u8], signature_b64: &str) -> Result<(), CryptoError> {
        let raw = B64
            .decode(signature_b64.trim())
            .map_err(|_| CryptoError::SignatureEncoding)?;
        match &self.fast {
            Some(key) => key
                .verify(message, &raw)
                .map_err(|_| CryptoError::SignatureMismatch),
            None => self.verify_portable(message, &raw),
        }
    }
}

/// AEAD_AES_256_GCM as WeChat Pay uses it: key = the 32 ASCII bytes of the
/// APIv3 key, a 12-byte ASCII nonce, optional associated data, base64 input
/// whose last 16 bytes are the tag. (A 16-byte key selects AES-128-GCM, which
/// only the published test vector uses.)
pub fn aes_gcm_decrypt(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    ciphertext_b64: &str,
) -> Result<Vec<u8>, CryptoError> {
    if nonce.len() != 12 {
        return Err(CryptoError::NonceLength);
    }
    let data = B64
        .decode(ciphertext_b64.trim())
        .map_err(|_| CryptoError::CiphertextEncoding)?;
    let payload = Payload { msg: &data, aad };
    let nonce = Nonce::from_slice(nonce);
    match key.len() {
        32 => Aes256Gcm::new_from_slice(key)
            .map_err(|_| CryptoError::KeyLength(32))?
            .decrypt(nonce, payload),
        16 => Aes128Gcm::new_from_slice(key)
            .map_err(|_| CryptoError::KeyLength(32))?
            .decrypt(nonce, payload),
        _ => return Err(CryptoError::KeyLength(32)),
    }
    .map_err(|_| CryptoError::Decrypt)
}

/// The inverse of [`aes_gcm_decrypt`] (the simulator encrypts callbacks with it).
pub fn aes_gcm_encrypt(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<String, CryptoError> {
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| CryptoError::KeyLength(32))?;
    if nonce.len() != 12 {
        return Err(CryptoError::NonceLength);
    }
    let data = cipher
        .encrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| CryptoError::Decrypt)?;
    Ok(B64.encode(data))
}

/// WeChat Pay API v2 `sign_type=MD5`: upper-case hex of MD5(message).
pub fn md5_upper_hex(message: &[u8]) -> String {
    hex::encode_upper(Md5::digest(message))
}

/// WeChat Pay API v2 `sign_type=HMAC-SHA256`: upper-case hex, keyed with the API key.
pub fn hmac_sha256_upper_hex(key: &[u8], message: &[u8]) -> String {
    let mut mac = <Hmac<Sha256>>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(message);
    hex::encode_upper(mac.finalize().into_bytes())
}

/// Compares two strings in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Random alphanumeric characters for nonces.
pub fn random_nonce(len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{parse_private_key, parse_public_key};

    use crate::test_vectors::read as vector;

    #[test]
    fn wechat_v3_aes_gcm_known_answer() {
        // wechatpay-java AeadAesCipherTest.
        let key = b"a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb";
        let plain = aes_gcm_decrypt(
            key,
            b"uluk4a9R25RW",
            b"associatedData",
            "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI=",
        )
        .expect("decrypts");
        assert_eq!(plain, b"message");
        assert_eq!(
            aes_gcm_encrypt(key, b"uluk4a9R25RW", b"associatedData", b"message").as_deref(),
            Ok("ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI=")
        );
    }

    #[test]
    fn aes_gcm_refuses_tampering_and_wrong_inputs() {
        let key = b"a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb";
        let good = "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI=";
        assert_eq!(
            aes_gcm_decrypt(key, b"uluk4a9R25RW", b"associatedDatX", good),
            Err(CryptoError::Decrypt)
        );
        assert_eq!(
            aes_gcm_decrypt(key, b"uluk4a9R25RX", b"associatedData", good),
            Err(CryptoError::Decrypt)
        );
        assert_eq!(
            aes_gcm_decrypt(
                b"a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gc",
                b"uluk4a9R25RW",
                b"associatedData",
                good
            ),
            Err(CryptoError::Decrypt)
        );
        let mut raw = B64.decode(good).expect("b64");
        raw[0] ^= 1;
        assert_eq!(
            aes_gcm_decrypt(key, b"uluk4a9R25RW", b"associatedData", &B64.encode(raw)),
            Err(CryptoError::Decrypt)
        );
        assert_eq!(
            aes_gcm_decrypt(b"short", b"uluk4a9R25RW", b"", good),
            Err(CryptoError::KeyLength(32))
        );
        assert_eq!(
            aes_gcm_decrypt(key, b"short", b"", good),
            Err(CryptoError::NonceLength)
        );
        assert_eq!(
            aes_gcm_decrypt(key, b"uluk4a9R25RW", b"", "%%%"),
            Err(CryptoError::CiphertextEncoding)
        );
    }

    #[test]
    fn wechat_v2_md5_and_hmac_known_answers() {
        // WeChat Pay's own documentation example.
        let key = "192006250b4c09247ec02edce69f6a2d";
        let params = "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA";
        let message = format!("{params}&key={key}");
        assert_eq!(
            md5_upper_hex(message.as_bytes()),
            "9A0A8659F005D6984697E2CA0A9CF3B7"
        );
        assert_eq!(
            hmac_sha256_upper_hex(key.as_bytes(), message.as_bytes()),
            "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
        );
    }

    #[test]
    fn wechat_v3_request_signer_known_answer() {
        // wechatpay-go core/auth/signers/sha256withrsa_signer_test.go: the message "source".
        let signer = RsaSigner::new(
            parse_private_key(&vector("wechatpay-go-test-private-key.pem")).expect("key"),
        );
        let expected = concat!(
            "BKyAfU4iMCuvXMXS0Wzam3V/cnxZ+JaqigPM5OhljS2iOT95OO6Fsuml2JkFANJU9K6q9bLlDhPXuoVz+pp4hAm6",
            "pHU4ld815U4jsKu1RkyaII+1CYBUYC8TK0XtJ8FwUXXz8vZHh58rrAVN1XwNyvD1vfpxrMT4SL536GLwvpUHlCqIMzoZUguLli/K8V29QiOh",
            "uH6IEqLNJn8e9b3nwNcQ7be3CzYGpDAKBfDGPCqCv8Rw5zndhlffk2FEA70G4hvMwe51qMN/RAJbknXG23bSlObuTCN7Ndj1aJGH6/L+hdwf",
            "LpUtJm4QYVazzW7DFD27EpSQEqA8bX9+8m1rLg=="
        );
        assert_eq!(signer.sign_base64(b"source").as_deref(), Ok(expected));
    }

    #[test]
    fn aws_lc_and_the_rsa_crate_give_byte_identical_signatures_and_verdicts() {
        let keys = [
            vector("wechatpay-go-test-private-key.pem"),
            vector("fzlee-app_private_key.pem"),
            vector("alipay-node-app-private-key.pem"),
            crate::dev_keys::WECHAT_MERCHANT_KEY.to_owned(),
            crate::dev_keys::ALIPAY_APP_KEY.to_owned(),
        ];
        let messages: [&[u8]; 4] = [
            b"",
            b"source",
            "GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n".as_bytes(),
            "app_id=2014072300007148&biz_content={\"total_amount\":\"0.01\"}&charset=utf-8&subject=测试".as_bytes(),
        ];
        for pem in &keys {
            let signer = RsaSigner::new(parse_private_key(pem).expect("key"));
            assert!(signer.fast.is_some(), "AWS-LC takes 2048-bit keys");
            let verifier = RsaVerifier::new(signer.public_key());
            assert!(verifier.fast.is_some());
            for m in messages {
                let fast = signer.sign_base64(m).expect("AWS-LC signs");
                assert_eq!(Ok(&fast), signer.sign_base64_portable(m).as_ref());
                let raw = B64.decode(&fast).expect("b64");
                assert_eq!(verifier.verify_base64(m, &fast), Ok(()));
                assert_eq!(verifier.verify_portable(m, &raw), Ok(()));
                // Every single-bit flip, both ways: the same refusal.
                for i in [0, raw.len() / 2, raw.len() - 1] {
                    let mut bad = raw.clone();
                    bad[i] ^= 0x01;
                    assert_eq!(
                        verifier.verify_base64(m, &B64.encode(&bad)),
                        Err(CryptoError::SignatureMismatch)
                    );
                    assert_eq!(
                        verifier.verify_portable(m, &bad),
                        Err(CryptoError::SignatureMismatch)
                    );
                }
                // A truncated signature is a mismatch, not a panic.
                assert_eq!(
                    verifier.verify_base64(m, &B64.encode(&raw[..raw.len() - 1])),
                    Err(CryptoError::SignatureMismatch)
                );
            }
        }
    }

    #[test]
    fn rsa_sign_then_verify_and_reject_other_keys() {
        let signer = RsaSigner::new(
            parse_private_key(&vector("wechatpay-go-test-private-key.pem")).expect("key"),
        );
        let verifier = RsaVerifier::new(signer.public_key());
        let sig = signer.sign_base64(b"hello").expect("signs");
        assert_eq!(verifier.verify_base64(b"hello", &sig), Ok(()));
        assert_eq!(
            verifier.verify_base64(b"hellO", &sig),
            Err(CryptoError::SignatureMismatch)
        );
        assert_eq!(
            verifier.verify_base64(b"hello", "***"),
            Err(CryptoError::SignatureEncoding)
        );
        let other =
            RsaVerifier::new(parse_public_key(&vector("fzlee-app_public_key.pem")).expect("key"));
        assert_eq!(
            other.verify_base64(b"hello", &sig),
            Err(CryptoError::SignatureMismatch)
        );
        // PKCS#1 v1.5 signatures are deterministic: the same message, the same signature.
        assert_eq!(signer.sign_base64(b"hello").expect("signs"), sig);
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq("ABC", "ABC"));
        assert!(!constant_time_eq("ABC", "ABD"));
        assert!(!constant_time_eq("ABC", "ABCD"));
        assert_eq!(random_nonce(32).len(), 32);
    }
}
