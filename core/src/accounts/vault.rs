//! The vault of receiving accounts' secrets: AES-256-GCM under the master
//! key, with the account's id and kind as associated data, so that a sealed
//! value cannot be moved to another account.

use super::AccountError;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use std::fmt;

/// AES-256-GCM under the master key; the row id and kind are the associated
/// data, so a sealed value cannot be moved to another account.
#[derive(Clone)]
pub struct Vault {
    cipher: Aes256Gcm,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Vault([REDACTED])")
    }
}

impl Vault {
    pub fn new(key: &[u8; 32]) -> Vault {
        Vault {
            cipher: Aes256Gcm::new(key.into()),
        }
    }

    /// base64(nonce ‖ ciphertext ‖ tag), with a fresh random nonce.
    pub fn seal(&self, aad: &str, plaintext: &[u8]) -> anyhow::Result<String> {
        use rand::RngCore;
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("cannot encrypt"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(base64::engine::general_purpose::STANDARD.encode(out))
    }

    pub fn open(&self, aad: &str, sealed: &str) -> Result<Vec<u8>, AccountError> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(sealed.trim())
            .map_err(|_| AccountError::WrongMasterKey)?;
        if raw.len() < 12 + 16 {
            return Err(AccountError::WrongMasterKey);
        }
        let (nonce, ct) = raw.split_at(12);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| AccountError::WrongMasterKey)
    }
}

/// The associated data of an account's sealed secrets.
pub fn aad(id: &str, kind: &str) -> String {
    format!("formpay-account:{id}:{kind}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_the_same_key_and_row() {
        let v = Vault::new(&[7u8; 32]);
        let sealed = v.seal("formpay-account:a:alipay", b"secret").expect("seal");
        assert!(!sealed.contains("secret"));
        assert_eq!(
            v.open("formpay-account:a:alipay", &sealed).expect("open"),
            b"secret"
        );
        assert_eq!(
            v.open("formpay-account:b:alipay", &sealed),
            Err(AccountError::WrongMasterKey)
        );
        let other = Vault::new(&[8u8; 32]);
        assert_eq!(
            other.open("formpay-account:a:alipay", &sealed),
            Err(AccountError::WrongMasterKey)
        );
        assert_eq!(
            v.open("formpay-account:a:alipay", "not base64!"),
            Err(AccountError::WrongMasterKey)
        );
        // A fresh nonce each time.
        assert_ne!(
            v.seal("x", b"same").expect("seal"),
            v.seal("x", b"same").expect("seal")
        );
    }
}
