//! Unit tests of `auth`.

use super::*;

#[tokio::test]
async fn password_hashes_verify_only_the_right_password() {
    let hash = hash_password("correct horse").await.expect("hash");
    assert!(hash.starts_with("$argon2id$"));
    assert!(verify_password("correct horse", &hash)
        .await
        .expect("checked"));
    assert!(!verify_password("wrong horse", &hash)
        .await
        .expect("checked"));
    assert!(!verify_password("correct horse", "not a hash")
        .await
        .expect("checked"));
    assert!(PasswordHash::new(DUMMY_HASH).is_ok());
}

#[test]
fn a_guessing_pair_is_slowed_down_more_and_more_but_never_locks_others_out() {
    let l = LoginLimiter::default();
    let a: IpAddr = "10.0.0.1".parse().expect("ip");
    let b: IpAddr = "10.0.0.2".parse().expect("ip");
    for _ in 0..PAIR_FREE_FAILURES - 1 {
        l.failed("admin@x.cn", Some(a));
    }
    assert_eq!(l.wait("admin@x.cn", Some(a)), None);
    l.failed("admin@x.cn", Some(a));
    let first = l.wait("admin@x.cn", Some(a)).expect("slowed");
    l.failed("admin@x.cn", Some(a));
    let second = l.wait("admin@x.cn", Some(a)).expect("slowed more");
    assert!(second > first, "{first:?} then {second:?}");
    // The same account from elsewhere, and others from here, are not slowed.
    assert_eq!(l.wait("admin@x.cn", Some(b)), None);
    assert_eq!(l.wait("other@x.cn", Some(a)), None);
    l.succeeded("admin@x.cn", Some(a));
    assert_eq!(l.wait("admin@x.cn", Some(a)), None);
}

#[test]
fn waits_are_capped() {
    let t = LoginThrottle::new(1, Duration::from_secs(2), Duration::from_secs(60));
    for _ in 0..100 {
        t.record_failure("k");
    }
    assert!(t.wait("k").expect("slowed") <= Duration::from_secs(60));
}

#[test]
fn an_address_spraying_many_accounts_is_slowed_down() {
    let l = LoginLimiter::default();
    let a: IpAddr = "10.0.0.9".parse().expect("ip");
    for i in 0..ADDRESS_FREE_FAILURES {
        l.failed(&format!("u{i}@x.cn"), Some(a));
    }
    assert!(l.wait("new@x.cn", Some(a)).is_some());
}

#[test]
fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
    let proxies = TrustedProxies::parse("10.0.0.0/8, ::1").expect("parse");
    let mut h = http::HeaderMap::new();
    h.insert(
        "x-forwarded-for",
        http::HeaderValue::from_static("203.0.113.7, 10.1.2.3"),
    );
    let proxy: IpAddr = "10.9.9.9".parse().expect("ip");
    let stranger: IpAddr = "198.51.100.1".parse().expect("ip");
    assert_eq!(
        proxies.client_ip(proxy, &h),
        "203.0.113.7".parse::<IpAddr>().expect("ip")
    );
    assert_eq!(proxies.client_ip(stranger, &h), stranger);
    assert_eq!(TrustedProxies::default().client_ip(proxy, &h), proxy);
    assert!(proxies.contains("::1".parse().expect("ip")));
    assert!(!proxies.contains("11.0.0.1".parse().expect("ip")));
    assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
    assert!(TrustedProxies::parse("example.com").is_err());
}

#[test]
fn reads_the_session_cookie() {
    let mut h = http::HeaderMap::new();
    h.insert(
        http::header::COOKIE,
        http::HeaderValue::from_static("lang=en; fp_session=abc"),
    );
    assert_eq!(session_token_from_headers(&h).as_deref(), Some("abc"));
    assert!(session_cookie("abc", true).contains("HttpOnly; SameSite=Lax"));
    assert!(session_cookie("abc", true).ends_with("; Secure"));
}
