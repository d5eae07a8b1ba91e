//! Forms, their fields and the validation of answers. Shared by the browser
//! (inline validation) and the server (the only authority on what is stored
//! and on the amount to pay).
//!
//! - [`fields`]: the field kinds and the checks on a definition;
//! - [`answers`]: checking a payer's answers and the amount they come to;
//! - [`logic`]: the rules that show or require a field from earlier answers;
//! - [`availability`]: a form's status and whether it takes submissions now;
//! - [`decode`]: the fields read from their JSON by hand, for the browser;
//! - [`mail`]: the payer's receipt mail template.

pub mod answers;
pub mod availability;
pub mod decode;
pub mod fields;
pub mod logic;
pub mod mail;

pub use answers::*;
pub use availability::*;
pub use decode::{fields_from_json, DecodeError};
pub use fields::*;
pub use logic::*;
pub use mail::*;

#[cfg(test)]
mod tests;
