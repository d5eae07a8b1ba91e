//! RSA keys as operators paste them: PEM (PKCS#8 or PKCS#1) or bare base64 DER.

use base64::Engine;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::{PrivateKey as RsaPrivateKey, PublicKey as RsaPublicKey};

fn bare_base64(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()
}

/// Splits a PEM block into its label and DER bytes. Lenient about line
/// length (operators paste keys as one long line), strict about the rest.
fn pem_der(text: &str) -> Option<(String, Vec<u8>)> {
    let label = text
        .strip_prefix("-----BEGIN ")?
        .split("-----")
        .next()?
        .to_owned();
    let footer = format!("-----END {label}-----");
    let body_start = text.find('\n').unwrap_or(text.len());
    let body_end = text.find(&footer)?;
    let body = text.get(body_start..body_end)?;
    Some((label, bare_base64(body)?))
}

/// A private key in any of the accepted forms; the error says what was wrong,
/// never what the key was.
pub fn parse_private_key(text: &str) -> Result<RsaPrivateKey, String> {
    let text = text.trim();
    let key = if text.starts_with("-----") {
        match pem_der(text) {
            Some((label, der)) if label == "PRIVATE KEY" => RsaPrivateKey::from_pkcs8_der(&der)
                .map_err(|_| "is not a valid PKCS#8 RSA private key".to_owned())?,
            Some((label, der)) if label == "RSA PRIVATE KEY" => RsaPrivateKey::from_pkcs1_der(&der)
                .map_err(|_| "is not a valid PKCS#1 RSA private key".to_owned())?,
            Some(_) => {
                return Err(
                    "is a PEM block of the wrong kind; expected PRIVATE KEY or RSA PRIVATE KEY"
                        .to_owned(),
                )
            }
            None => return Err("is not a well-formed PEM block".to_owned()),
        }
    } else {
        let der = bare_base64(text).ok_or_else(|| "is neither PEM nor base64".to_owned())?;
        RsaPrivateKey::from_pkcs8_der(&der)
            .or_else(|_| RsaPrivateKey::from_pkcs1_der(&der))
            .map_err(|_| "is base64 but not an RSA private key (PKCS#8 or PKCS#1)".to_owned())?
    };
    check_size(rsa::traits::PublicKeyParts::n(&key).bit_width())?;
    Ok(key)
}

/// A public key: SPKI or PKCS#1, PEM or bare base64.
pub fn parse_public_key(text: &str) -> Result<RsaPublicKey, String> {
    let text = text.trim();
    let key = if text.starts_with("-----") {
        match pem_der(text) {
            Some((label, der)) if label == "PUBLIC KEY" => RsaPublicKey::from_public_key_der(&der)
                .map_err(|_| "is not a valid RSA public key".to_owned())?,
            Some((label, der)) if label == "RSA PUBLIC KEY" => {
                RsaPublicKey::from_pkcs1_der(&der)
                    .map_err(|_| "is not a valid PKCS#1 RSA public key".to_owned())?
            }
            Some(_) => {
                return Err("is a PEM block of the wrong kind; expected PUBLIC KEY".to_owned())
            }
            None => return Err("is not a well-formed PEM block".to_owned()),
        }
    } else {
        let der = bare_base64(text).ok_or_else(|| "is neither PEM nor base64".to_owned())?;
        RsaPublicKey::from_public_key_der(&der)
            .or_else(|_| RsaPublicKey::from_pkcs1_der(&der))
            .map_err(|_| "is base64 but not an RSA public key".to_owned())?
    };
    check_size(rsa::traits::PublicKeyParts::n(&key).bit_width())?;
    Ok(key)
}

fn check_size(bits: u32) -> Result<(), String> {
    if bits < 2048 {
        Err(format!(
            "is a {bits}-bit key; at least 2048 bits are required"
        ))
    } else {
        Ok(())
    }
}

/// A public key as PEM (SPKI), e.g. the one taken from a certificate.
pub fn public_key_pem(key: &RsaPublicKey) -> Option<String> {
    rsa::pkcs8::EncodePublicKey::to_public_key_pem(key, rsa::pkcs8::LineEnding::LF).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_vectors::read as vector;

    #[test]
    fn accepts_pkcs8_and_pkcs1_pem_and_bare_base64() {
        let pkcs8 = vector("wechatpay-go-test-private-key.pem");
        assert!(parse_private_key(&pkcs8).is_ok());
        let pkcs1 = vector("fzlee-app_private_key.pem");
        assert!(
            parse_private_key(&pkcs1).is_ok(),
            "{:?}",
            parse_private_key(&pkcs1).err()
        );
        let bare: String = pkcs8.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(parse_private_key(&bare).is_ok());
        let public = vector("fzlee-app_public_key.pem");
        assert!(parse_public_key(&public).is_ok());
        let bare_pub: String = public.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(parse_public_key(&bare_pub).is_ok());
    }

    #[test]
    fn malformed_keys_are_clear_errors() {
        assert!(parse_private_key("hello").is_err());
        assert!(
            parse_private_key("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")
                .is_err()
        );
        assert!(parse_public_key("aGVsbG8=").is_err());
        let public = vector("fzlee-app_public_key.pem");
        assert!(parse_private_key(&public).is_err());
        assert!(parse_public_key("-----BEGIN PUBLIC KEY-----\nAAAA").is_err());
    }

    #[test]
    fn accepts_pem_with_one_long_line() {
        // Alipay's console hands out keys this way.
        assert!(parse_public_key(&vector("alipay-node-alipay-public-key.pem")).is_ok());
    }
}
