//! Forms, their fields and the validation of answers. Shared by the browser
//! (inline validation) and the server (the only authority on what is stored
//! and on the amount to pay).
//!
//! - [`fields`]: the field kinds and the checks on a definition;
//! - [`answers`]: checking a payer's answers and the amount they come to;
//! - [`availability`]: a form's status and whether it takes submissions now.

pub mod answers;
pub mod availability;
pub mod fields;

pub use answers::*;
pub use availability::*;
pub use fields::*;

#[cfg(test)]
mod tests;
