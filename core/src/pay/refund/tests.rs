//! Unit tests of `refund`.

use super::*;

#[test]
fn refund_numbers_fit_both_providers() {
    let a = new_out_refund_no();
    let b = new_out_refund_no();
    assert_ne!(a, b);
    assert!(a.len() <= 64 && a.bytes().all(|c| c.is_ascii_alphanumeric()));
}

#[test]
fn request_keys_are_checked() {
    assert!(valid_request_key("a1b2c3d4-e5"));
    assert!(!valid_request_key("short"));
    assert!(!valid_request_key("has space in it"));
    assert!(!valid_request_key(&"x".repeat(65)));
}

#[test]
fn only_transient_refusals_are_retried() {
    assert!(retryable(500, "SYSTEM_ERROR"));
    assert!(retryable(429, "FREQUENCY_LIMITED"));
    assert!(!retryable(400, "NOT_ENOUGH"));
    assert!(!retryable(200, "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"));
}
