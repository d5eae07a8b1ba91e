//! Server-only code the server functions need: state, database, authentication.
//! Compiled only with the `ssr` feature, so none of it reaches the WASM.

pub mod accounts;
pub mod attempts;
pub mod audit;
pub mod auth;
pub mod db;
pub mod forms;
pub mod hub;
pub mod order_admin;
pub mod orders;
pub mod pay;
pub mod payment;
pub mod payment_log;
pub mod refunds;
pub mod security;
pub mod state;
pub mod stats;
pub mod streams;
pub mod submissions;

pub use db::{Backend, Db};
pub use state::{AppState, SimulatorSwitch};

/// Milliseconds since the Unix epoch: the one time representation in the database.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// 128 random bits as 32 lowercase hex digits: the unguessable ids of public links.
pub fn random_token() -> crate::domain::Token {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    crate::domain::Token::parse(&hex::encode(bytes))
        .unwrap_or_else(|_| unreachable!("hex of 16 bytes is a token"))
}
