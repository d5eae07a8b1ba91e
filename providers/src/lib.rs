//! The payment providers' wire protocols, one folder each (`wechat_v3`,
//! `wechat_v2`, `alipay`): a client that signs every request and verifies
//! every answer, the provider's wire types and their mapping to ours
//! (`transformers`), and its credentials. The cryptography they share is in
//! `crypto`, `keys` and `x509`; `factory` builds the clients of a receiving
//! account. See `docs/ADDING_A_PROVIDER.md`.

pub mod alipay;
pub mod credentials;
pub mod crypto;
pub mod dev_keys;
pub mod factory;
pub mod http;
pub mod keys;
pub mod time;
pub mod wechat_oauth;
pub mod wechat_v2;
pub mod wechat_v3;
pub mod x509;

pub use factory::*;

/// Published known-answer keys and certificates the tests check against
/// (`providers/vectors`, each file's origin in its README). Test support
/// only: nothing in production reads them.
#[doc(hidden)]
pub mod test_vectors {
    use std::path::PathBuf;

    /// The folder of the vectors, inside this repository.
    pub fn dir() -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/vectors"))
    }

    /// One vector's text; panics with the path when it is missing (tests only).
    pub fn read(name: &str) -> String {
        let path = dir().join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}
