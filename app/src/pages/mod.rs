pub mod admin;
pub mod admin_forms;
pub mod admin_submissions;
pub mod form_page;
pub mod home;
pub mod pay_page;
pub mod qr;
pub mod receipt_page;
