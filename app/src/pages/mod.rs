pub mod admin;
pub mod home;
