//! Unit tests of `config`.

use super::*;
use std::collections::HashMap;

fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(&move |k| map.get(k).cloned())
}

fn vars_named(errors: &ConfigErrors) -> Vec<&str> {
    errors.0.iter().map(|(v, _)| v.as_str()).collect()
}

#[test]
fn development_runs_on_defaults() {
    let c = config(&[]).expect("defaults are enough in development");
    assert_eq!(c.env, AppEnv::Development);
    assert_eq!(c.addr.to_string(), DEFAULT_ADDR);
    assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
    assert!(c.default_account.is_empty());
    assert_eq!(c.order_expire_minutes, 15.0);
}

#[test]
fn production_with_nothing_names_every_missing_setting() {
    let errors = config(&[("APP_ENV", "production")]).expect_err("must refuse");
    let named = vars_named(&errors);
    for var in [
        "PUBLIC_BASE_URL",
        "DATABASE_URL",
        "APP_MASTER_KEY",
        "WECHAT_MCH_ID / ALIPAY_APP_ID",
    ] {
        assert!(named.contains(&var), "{var} not named in {errors}");
    }
    let text = errors.to_string();
    assert!(text.contains("PUBLIC_BASE_URL") && text.contains("APP_MASTER_KEY"));
}

#[test]
fn production_refuses_plain_http_and_bad_values() {
    let errors = config(&[
        ("APP_ENV", "production"),
        ("PUBLIC_BASE_URL", "http://pay.example.com"),
        ("DATABASE_URL", "mysql://x"),
        ("APP_MASTER_KEY", "short"),
        ("APP_ADDR", "nowhere"),
        ("WECHAT_SANDBOX", "maybe"),
        ("ORDER_EXPIRE_MINUTES", "0"),
    ])
    .expect_err("must refuse");
    let named = vars_named(&errors);
    for var in [
        "PUBLIC_BASE_URL",
        "DATABASE_URL",
        "APP_MASTER_KEY",
        "APP_ADDR",
        "WECHAT_SANDBOX",
        "ORDER_EXPIRE_MINUTES",
    ] {
        assert!(named.contains(&var), "{var} not named in {errors}");
    }
}

#[test]
fn a_half_configured_provider_names_what_is_missing() {
    let errors = config(&[
        ("WECHAT_MCH_ID", "1900000001"),
        ("ALIPAY_APP_ID", "2021000000000000"),
    ])
    .expect_err("incomplete");
    let named = vars_named(&errors);
    for var in [
        "WECHAT_APP_ID",
        "WECHAT_MCH_SERIAL_NO",
        "WECHAT_MCH_PRIVATE_KEY",
        "WECHAT_APIV3_KEY",
        "ALIPAY_PRIVATE_KEY",
        "ALIPAY_PUBLIC_KEY",
        "ALIPAY_SELLER_ID",
    ] {
        assert!(named.contains(&var), "{var} not named in {errors}");
    }
}

#[test]
fn the_simulator_cannot_be_switched_on_in_production() {
    let errors =
        config(&[("APP_ENV", "production"), ("SIMULATOR", "on")]).expect_err("must refuse");
    assert!(vars_named(&errors).contains(&"SIMULATOR"), "{errors}");
    if cfg!(feature = "simulator") {
        assert_eq!(
            config(&[("SIMULATOR", "on")]).expect("dev").simulator,
            Some(true)
        );
    } else {
        // A production build has no simulator to switch on: it says so.
        let errors = config(&[("SIMULATOR", "on")]).expect_err("no simulator here");
        assert!(
            errors.to_string().contains("this build has no simulator"),
            "{errors}"
        );
    }
    assert_eq!(
        config(&[("SIMULATOR", "off")]).expect("dev").simulator,
        Some(false)
    );
    assert_eq!(config(&[]).expect("dev").simulator, None);
    assert!(config(&[("SIMULATOR", "sometimes")]).is_err());
}

#[test]
fn deployment_settings_are_checked() {
    let errors = config(&[
        ("TRUSTED_PROXIES", "10.0.0.0/8, not-an-address"),
        ("SESSION_IDLE_MINUTES", "0"),
        ("SSE_MAX_STREAMS", "lots"),
        ("RATE_LIMIT_PER_MINUTE", "-1"),
        ("WECHAT_V2_SIGN_TYPE", "SHA1"),
        ("WECHAT_MCH_ID", "1900000001"),
        ("METRICS_ADDR", "everywhere"),
    ])
    .expect_err("bad values");
    let named = vars_named(&errors);
    for var in [
        "METRICS_ADDR",
        "TRUSTED_PROXIES",
        "SESSION_IDLE_MINUTES",
        "SSE_MAX_STREAMS",
        "RATE_LIMIT_PER_MINUTE",
        "WECHAT_V2_SIGN_TYPE",
    ] {
        assert!(named.contains(&var), "{var} not named in {errors}");
    }
    let c = config(&[
        ("TRUSTED_PROXIES", "10.0.0.0/8 ::1"),
        ("SESSION_IDLE_MINUTES", "30"),
    ])
    .expect("valid");
    assert!(c.trusted_proxies.contains("10.1.1.1".parse().expect("ip")));
    assert_eq!(c.session_idle_ms, 30 * 60_000);
    assert_eq!(c.rate_limit_per_minute, DEFAULT_RATE_LIMIT_PER_MINUTE);
}

#[test]
fn a_malformed_key_is_named() {
    let errors = config(&[
        ("ALIPAY_APP_ID", "2021000000000000"),
        (
            "ALIPAY_PRIVATE_KEY",
            "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----",
        ),
        ("ALIPAY_PUBLIC_KEY", "bm90IGEga2V5"),
    ])
    .expect_err("malformed");
    let named = vars_named(&errors);
    assert!(
        named.contains(&"ALIPAY_PRIVATE_KEY") && named.contains(&"ALIPAY_PUBLIC_KEY"),
        "{errors}"
    );
}

#[test]
fn production_refuses_the_simulator_and_its_keys() {
    use providers::dev_keys;
    let errors = config(&[
        ("APP_ENV", "production"),
        ("ALIPAY_APP_ID", "2021000000000001"),
        ("ALIPAY_PRIVATE_KEY", dev_keys::ALIPAY_APP_KEY),
        ("ALIPAY_PUBLIC_KEY", dev_keys::ALIPAY_PLATFORM_PUB),
        (
            "ALIPAY_GATEWAY",
            "https://pay.example.com/_simulator/alipay/gateway.do",
        ),
    ])
    .expect_err("must refuse");
    let named = vars_named(&errors);
    for var in ["ALIPAY_PRIVATE_KEY", "ALIPAY_PUBLIC_KEY", "ALIPAY_GATEWAY"] {
        assert!(named.contains(&var), "{var} not named in {errors}");
    }
    // Development accepts them: that is what they are for.
    assert!(config(&[
        ("ALIPAY_APP_ID", "2021000000000001"),
        ("ALIPAY_SELLER_ID", "2088000000000001"),
        ("ALIPAY_PRIVATE_KEY", dev_keys::ALIPAY_APP_KEY),
        ("ALIPAY_PUBLIC_KEY", dev_keys::ALIPAY_PLATFORM_PUB),
    ])
    .is_ok());
}

#[test]
fn alipay_certificate_mode_computes_the_serial_numbers() {
    let dir = providers::test_vectors::dir();
    let file = |n: &str| dir.join(n).to_string_lossy().into_owned();
    let c = config(&[
        ("ALIPAY_APP_ID", "2021000000000001"),
        ("ALIPAY_SELLER_ID", "2088000000000001"),
        (
            "ALIPAY_PRIVATE_KEY_FILE",
            &file("alipay-node-app-private-key.pem"),
        ),
        (
            "ALIPAY_APP_CERT_FILE",
            &file("yansongda-alipayAppPublicCert.crt"),
        ),
        (
            "ALIPAY_ROOT_CERT_FILE",
            &file("yansongda-alipayRootCert.crt"),
        ),
        (
            "ALIPAY_PUBLIC_CERT_FILE",
            &file("yansongda-alipayPublicCert.crt"),
        ),
    ])
    .expect("certificate mode is valid");
    let (kind, a) = &c.default_account[0];
    assert_eq!(*kind, "alipay");
    let m = providers::alipay::credentials::certificate_mode(a).expect("certificates");
    assert_eq!(
        (m.app_cert_sn, m.root_cert_sn),
        (
            "e90dd23a37c5c7b616e003970817ff82".to_owned(),
            "687b59193f3f462dd5336e5abf83c5d8_02941eef3187dddf3d3b83462e1dfcf6".to_owned()
        )
    );
    let errors = config(&[
        ("ALIPAY_APP_ID", "2021000000000001"),
        (
            "ALIPAY_PRIVATE_KEY_FILE",
            &file("alipay-node-app-private-key.pem"),
        ),
        (
            "ALIPAY_APP_CERT",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
        ),
    ])
    .expect_err("broken certificate mode");
    let named = vars_named(&errors);
    for var in ["ALIPAY_APP_CERT", "ALIPAY_ROOT_CERT", "ALIPAY_PUBLIC_CERT"] {
        assert!(named.contains(&var), "{var} not named in {errors}");
    }
}

#[test]
fn master_key_formats() {
    assert!(parse_master_key(&"ab".repeat(32)).is_ok());
    assert!(parse_master_key("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=").is_ok());
    assert!(parse_master_key("MDEyMzQ1Njc4OWFiY2RlZg==").is_err());
    assert!(parse_master_key("zz").is_err());
}

#[test]
fn secrets_do_not_show_in_debug_output() {
    let c = config(&[
        ("ADMIN_EMAIL", "boss@example.com"),
        ("ADMIN_PASSWORD", "hunter2hunter2"),
        ("APP_MASTER_KEY", &"ab".repeat(32)),
    ])
    .expect("valid");
    let dump = format!("{c:?}");
    assert!(!dump.contains("hunter2hunter2"));
    assert!(!dump.contains(&"ab".repeat(32)));
}

#[test]
fn key_files_are_read() {
    let dir = std::env::temp_dir().join(format!("fp-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("master.key");
    std::fs::write(&path, "cd".repeat(32)).expect("write");
    let c = config(&[("APP_MASTER_KEY_FILE", path.to_str().expect("utf8"))]).expect("valid");
    assert!(c.master_key.is_some());
    let errors = config(&[("APP_MASTER_KEY_FILE", "/nonexistent/key")]).expect_err("unreadable");
    assert_eq!(vars_named(&errors), vec!["APP_MASTER_KEY_FILE"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn mail_needs_both_settings_and_hides_its_password() {
    assert!(config(&[]).expect("defaults").mail.is_none());
    let named = |vars: &[(&str, &str)]| {
        let e = config(vars).expect_err("must refuse");
        assert!(!e.to_string().contains("s3cret"), "{e}");
        vars_named(&e)
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        named(&[("SMTP_URL", "smtps://u:s3cret@mail.example.com")]),
        ["MAIL_FROM"]
    );
    assert_eq!(named(&[("MAIL_FROM", "noreply@example.com")]), ["SMTP_URL"]);
    assert_eq!(
        named(&[
            ("SMTP_URL", "https://u:s3cret@mail.example.com"),
            ("MAIL_FROM", "noreply@example.com")
        ]),
        ["SMTP_URL"]
    );
    assert_eq!(
        named(&[
            ("SMTP_URL", "smtps://u:s3cret@mail.example.com"),
            ("MAIL_FROM", "not an address")
        ]),
        ["MAIL_FROM"]
    );
    let c = config(&[
        ("SMTP_URL", "smtps://u:s3cret@mail.example.com:465"),
        ("MAIL_FROM", "FormPay <noreply@example.com>"),
    ])
    .expect("both given");
    assert!(!format!("{c:?}").contains("s3cret"));
    let mail = c.mail.expect("mail");
    assert_eq!(mail.from.email.to_string(), "noreply@example.com");
}

#[test]
fn daily_payer_limits_are_off_unless_set_and_checked_when_set() {
    let c = config(&[]).expect("defaults");
    assert_eq!(
        (c.payer_daily_submissions, c.payer_daily_amount_fen),
        (None, None)
    );
    let c = config(&[
        ("PAYER_DAILY_SUBMISSIONS", "5"),
        ("PAYER_DAILY_AMOUNT", "99.50"),
    ])
    .expect("valid");
    assert_eq!(
        (c.payer_daily_submissions, c.payer_daily_amount_fen),
        (Some(5), Some(9950))
    );
    let errors = config(&[
        ("PAYER_DAILY_SUBMISSIONS", "0"),
        ("PAYER_DAILY_AMOUNT", "1.234"),
    ])
    .expect_err("refused");
    let named = vars_named(&errors);
    assert!(named.contains(&"PAYER_DAILY_SUBMISSIONS") && named.contains(&"PAYER_DAILY_AMOUNT"));
}

#[test]
fn an_upload_bucket_needs_its_keys_and_encryption() {
    let bucket = [
        ("UPLOAD_S3_BUCKET", "club-files"),
        ("UPLOAD_S3_ENDPOINT", "https://oss-cn-hangzhou.aliyuncs.com"),
        ("UPLOAD_S3_REGION", "oss-cn-hangzhou"),
        ("UPLOAD_S3_ACCESS_KEY_ID", "LTAI-example"),
        ("UPLOAD_S3_SECRET_ACCESS_KEY", "s3-secret-never-shown"),
        ("UPLOAD_S3_VIRTUAL_HOSTED", "true"),
    ];
    let c = config(&bucket).expect("valid");
    let s3 = c.upload_s3.as_ref().expect("a bucket");
    assert_eq!(
        (
            s3.bucket.as_str(),
            s3.region.as_str(),
            s3.prefix.as_str(),
            s3.virtual_hosted
        ),
        ("club-files", "oss-cn-hangzhou", "uploads", true)
    );
    assert!(!format!("{c:?}").contains("s3-secret-never-shown"));

    // A bucket without its keys stops the start (no quiet fallback to the directory).
    let errors = config(&bucket[..3]).expect_err("no keys");
    assert_eq!(
        vars_named(&errors),
        vec!["UPLOAD_S3_ACCESS_KEY_ID", "UPLOAD_S3_SECRET_ACCESS_KEY"]
    );
    // Keys or an endpoint without a bucket: a forgotten setting, named.
    let errors = config(&bucket[1..]).expect_err("no bucket");
    assert!(
        vars_named(&errors).contains(&"UPLOAD_S3_BUCKET"),
        "{errors}"
    );

    // Payers' files never cross a network in clear unless that is said.
    let mut lan = bucket.to_vec();
    lan[1] = ("UPLOAD_S3_ENDPOINT", "http://192.168.1.20:9000");
    let errors = config(&lan).expect_err("plain http to another machine");
    assert_eq!(vars_named(&errors), vec!["UPLOAD_S3_ENDPOINT"]);
    assert!(
        errors.to_string().contains("UPLOAD_S3_ALLOW_HTTP"),
        "{errors}"
    );
    lan.push(("UPLOAD_S3_ALLOW_HTTP", "true"));
    assert!(config(&lan).is_ok());
    let mut local = bucket.to_vec();
    local[1] = ("UPLOAD_S3_ENDPOINT", "http://127.0.0.1:9000");
    assert!(config(&local).is_ok(), "loopback is allowed");
}
