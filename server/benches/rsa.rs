//! RSA-2048 SHA256withRSA sign and verify throughput with the `rsa` crate as
//! the providers use it (blinded PKCS#1 v1.5 signatures). Run with
//! `cargo bench -p server --bench rsa`; compare with `openssl speed rsa2048`.

use providers::crypto::{RsaSigner, RsaVerifier, SignMessage, VerifySignature};
use providers::keys::parse_private_key;
use std::time::{Duration, Instant};

fn rate(label: &str, min_time: Duration, mut op: impl FnMut()) {
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
        "rsa crate, RSA-2048, SHA-256, PKCS#1 v1.5 ({} byte message)",
        message.len()
    );
    rate("sign (private key)", min, || {
        let _ = std::hint::black_box(signer.sign_base64(message));
    });
    rate("verify (public key)", min, || {
        let _ = std::hint::black_box(verifier.verify_base64(message, &signature));
    });
}
