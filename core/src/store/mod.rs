//! Persistence: what is stored and how it is read back. Each module owns its
//! tables; the use cases (`crate::pay`) combine them.

pub mod abuse;
pub mod attempts;
pub mod audit;
pub mod discounts;
pub mod forms;
pub mod insights;
pub mod order_list;
pub mod orders;
pub mod refunds;
pub mod retention;
pub mod sql;
pub mod stats;
pub mod submissions;
pub mod uploads;
