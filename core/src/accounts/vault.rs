//! The vault of receiving accounts' secrets: AES-256-GCM under the master
//! key, with the account's id and kind as associated data, so that a sealed
//! value cannot be moved to another account.

use super::AccountError;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use std::fmt;

/// AES-256-GCM under the master key; the row id and kind are the associated
/// data, so a sealed value cannot be moved to another account. During a key
/// rotation it also holds the previous keys: it seals under the current key
/// only, and opens under any of them.
#[derive(Clone)]
pub struct Vault {
    cipher: Aes256Gcm,
    previous: Vec<Aes256Gcm>,
}

/// What [`Vault::reseal`] did with one sealed value.
#[derive(Debug, PartialEq, Eq)]
pub enum Resealed {
    /// It was already sealed under the current key.
    Current,
    /// It was sealed under a previous key; here it is under the current one.
    Moved(String),
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Vault([REDACTED])")
    }
}

impl Vault {
    pub fn new(key: &[u8; 32]) -> Vault {
        Vault::rotating(key, &[])
    }

    /// The current key and the keys it replaces (`APP_MASTER_KEY_PREVIOUS`).
    pub fn rotating(current: &[u8; 32], previous: &[[u8; 32]]) -> Vault {
        Vault {
            cipher: Aes256Gcm::new(current.into()),
            previous: previous.iter().map(|k| Aes256Gcm::new(k.into())).collect(),
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

    /// Opens a value sealed under the current key or a previous one.
    pub fn open(&self, aad: &str, sealed: &str) -> Result<Vec<u8>, AccountError> {
        self.open_with(aad, sealed).map(|(plain, _)| plain)
    }

    /// The plaintext, and whether it was sealed under the current key.
    fn open_with(&self, aad: &str, sealed: &str) -> Result<(Vec<u8>, bool), AccountError> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(sealed.trim())
            .map_err(|_| AccountError::WrongMasterKey)?;
        if raw.len() < 12 + 16 {
            return Err(AccountError::WrongMasterKey);
        }
        let (nonce, ct) = raw.split_at(12);
        let payload = || Payload {
            msg: ct,
            aad: aad.as_bytes(),
        };
        if let Ok(plain) = self.cipher.decrypt(Nonce::from_slice(nonce), payload()) {
            return Ok((plain, true));
        }
        self.previous
            .iter()
            .find_map(|c| c.decrypt(Nonce::from_slice(nonce), payload()).ok())
            .map(|plain| (plain, false))
            .ok_or(AccountError::WrongMasterKey)
    }

    /// The value sealed under the current key (a fresh nonce), when it is
    /// under a previous one; an error when no key of this vault opens it.
    pub fn reseal(&self, aad: &str, sealed: &str) -> Result<Resealed, AccountError> {
        let (plain, current) = self.open_with(aad, sealed)?;
        if current {
            return Ok(Resealed::Current);
        }
        self.seal(aad, &plain)
            .map(Resealed::Moved)
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

    #[test]
    fn a_rotating_vault_opens_old_values_and_reseals_them_under_the_new_key() {
        let old = Vault::new(&[1u8; 32]);
        let sealed_old = old.seal("row", b"secret").expect("seal");
        let rotating = Vault::rotating(&[2u8; 32], &[[1u8; 32]]);
        assert_eq!(rotating.open("row", &sealed_old).expect("open"), b"secret");
        let Resealed::Moved(moved) = rotating.reseal("row", &sealed_old).expect("reseal") else {
            panic!("a value under the previous key must move");
        };
        // Under the new key alone now; the old key no longer opens it.
        let new_only = Vault::new(&[2u8; 32]);
        assert_eq!(new_only.open("row", &moved).expect("open"), b"secret");
        assert_eq!(old.open("row", &moved), Err(AccountError::WrongMasterKey));
        assert_eq!(rotating.reseal("row", &moved), Ok(Resealed::Current));
        // Still bound to its row, and nothing opens a value under an unknown key.
        assert_eq!(
            rotating.reseal("other row", &sealed_old),
            Err(AccountError::WrongMasterKey)
        );
        let stranger = Vault::new(&[3u8; 32]).seal("row", b"x").expect("seal");
        assert_eq!(
            rotating.reseal("row", &stranger),
            Err(AccountError::WrongMasterKey)
        );
    }
}
