pub mod admin;
pub mod form_page;
pub mod home;
pub mod pay_page;
pub mod qr;
pub mod receipt_page;
