//! Black-box tests: each starts the real application on port 0 against a fresh
//! database (SQLite, and PostgreSQL at TEST_POSTGRES_URL) and talks HTTP to it.

mod helpers;

mod abuse;
mod accounts;
mod admin_forms;
mod auth;
mod bills;
mod cli;
mod crash;
mod discounts;
mod faults;
mod fields;
mod flow;
mod health;
mod hostile_http;
mod insights;
mod items;
mod logic;
mod mail;
mod metrics;
mod money;
mod outage;
mod people;
mod phone;
mod privacy;

mod process;
mod providers;
mod roles;
mod shares;
mod trust;
mod upgrade;
mod uploads;
mod webhooks;
