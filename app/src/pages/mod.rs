pub mod admin;
pub mod admin_accounts;
pub mod admin_bills;
pub mod admin_blocklist;
pub mod admin_discounts;
pub mod admin_forms;
pub mod admin_insights;
pub mod admin_me;
pub mod admin_order;
pub mod admin_order_actions;
pub mod admin_orders;
pub mod admin_people;
pub mod admin_shares;
pub mod admin_stats;
pub mod admin_submissions;
pub mod admin_webhooks;
pub mod form_controller;
pub mod form_page;
pub mod home;
pub mod pay_page;
pub mod qr;
pub mod receipt_page;

/// The last page number a list accepts: far beyond any real list, and small
/// enough that `(page - 1) * size` cannot overflow whatever a caller sends.
pub const MAX_PAGE: i64 = 1_000_000;

/// Goes to another page with a full page load (an island has no router).
pub fn go_to(url: &str) {
    #[cfg(feature = "hydrate")]
    if let Some(w) = web_sys::window() {
        let _ = w.location().set_href(url);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = url;
}
