//! RSA-2048 SHA256withRSA sign and verify throughput as the providers do it
//! (`aws-lc-rs`, blinded, constant time), beside the `rsa` crate (the portable
//! path) and, as the bound, `openssl speed rsa2048` run in the same process
//! tree on the same machine. Run with `cargo bench -p server --bench rsa`.

mod common;

use providers::crypto::{RsaSigner, RsaVerifier, SignMessage, VerifySignature};
use providers::keys::parse_private_key;
use std::time::{Duration, Instant};

fn rate(label: &str, min_time: Duration, mut op: impl FnMut()) -> f64 {
    // Warm up, then run for at least `min_time`.
    for _ in 0..5 {
        op();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < min_time {
        op();
        n += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{label:<28} {:>10.1} ops/s   ({n} ops in {secs:.2} s, {:.3} ms/op)",
        n as f64 / secs,
        secs * 1000.0 / n as f64
    );
    n as f64 / secs
}

fn main() {
    let key = parse_private_key(providers::dev_keys::WECHAT_MERCHANT_KEY).expect("development key");
    let signer = RsaSigner::new(key);
    let verifier = RsaVerifier::new(signer.public_key());
    let message = br#"POST
/v3/pay/transactions/native
1764230400
593BEC0C930BF1AFEB40B4A08C8FB242
{"appid":"wx00simulator0001","mchid":"1900000001","description":"form","out_trade_no":"FP001764230400123456789012","notify_url":"https://example.com/payment/wechat/notify","amount":{"total":1234,"currency":"CNY"}}
"#;
    let signature = signer.sign_base64(message).expect("sign");
    let min = Duration::from_secs(3);
    println!(
        "RSA-2048, SHA-256, PKCS#1 v1.5 ({} byte message), one core",
        message.len()
    );
    let sign = rate("providers (aws-lc-rs): sign", min, || {
        let _ = std::hint::black_box(signer.sign_base64(message));
    });
    let verify = rate("providers (aws-lc-rs): verify", min, || {
        let _ = std::hint::black_box(verifier.verify_base64(message, &signature));
    });
    rate("rsa crate: sign", min, || {
        let _ = std::hint::black_box(signer.sign_base64_portable(message));
    });
    let raw = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &signature)
        .expect("base64");
    rate("rsa crate: verify", min, || {
        let _ = std::hint::black_box(verifier.verify_portable(message, &raw));
    });
    match common::openssl_speed() {
        Some((s, v)) => {
            println!("bound: openssl speed rsa2048   sign {s:>10.1} /s   verify {v:>10.1} /s");
            println!(
                "providers' sign at {:.0} % of OpenSSL, verify at {:.0} %",
                100.0 * sign / s,
                100.0 * verify / v
            );
        }
        None => println!("bound: `openssl speed rsa2048` could not run here"),
    }
}
