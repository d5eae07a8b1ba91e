//! Platform certificates (`GET /v3/certificates`): downloaded when a
//! merchant has no "WeChat Pay public key", decrypted with the APIv3 key,
//! checked against their serial and validity, and used to verify the very
//! answer that carried them. Refreshed when an unknown serial appears, at most
//! once a minute.

use super::client::{now_secs, WechatPayV3, REFRESH_INTERVAL};
use super::transformers as wire;
use super::verify::{verify, KeyRing, SignedHeaders};
use super::{authorization, request_nonce};
use crate::crypto::RsaVerifier;
use crate::x509::Certificate;
use formpay_core::payment_log::{redact_json, LogEntry};
use formpay_core::provider::ProviderError;
use secrecy::ExposeSecret;
use std::time::Instant;

impl WechatPayV3 {
    /// Downloads, decrypts and checks the platform certificates, then verifies
    /// the download itself with them.
    pub async fn refresh_certificates(&self) -> Result<usize, ProviderError> {
        {
            // Only the claim is under the lock, never the HTTP call: callers
            // that come meanwhile use the keys known so far.
            let mut last = self
                .last_refresh
                .lock()
                .map_err(|_| ProviderError::Verification("refresh lock poisoned".into()))?;
            if last.is_some_and(|t| t.elapsed() < REFRESH_INTERVAL) {
                return Ok(self.keys.read().map(|k| k.len()).unwrap_or(0));
            }
            *last = Some(Instant::now());
        }
        let started = Instant::now();
        let url = self.url("/v3/certificates")?;
        let auth = authorization(
            &self.mch_id,
            &self.serial_no,
            &self.signer,
            "GET",
            url.path(),
            now_secs(),
            &request_nonce(),
            "",
        )
        .map_err(|e| ProviderError::NotConfigured(e.to_string()))?;
        let response = self
            .http
            .get(url)
            .header("Authorization", auth)
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| ProviderError::Transport(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ProviderError::Transport(e.without_url().to_string()))?;
        let result = self.install_certificates(status, &headers, &bytes);
        self.log
            .write(LogEntry {
                provider: "wechat",
                operation: "certificates",
                direction: domain::Direction::Out,
                out_trade_no: None,
                status_code: Some(status),
                latency_ms: started.elapsed().as_millis() as i64,
                request: String::new(),
                response: redact_json(&String::from_utf8_lossy(&bytes)),
                error: result.as_ref().err().map(|e| e.to_string()),
            })
            .await;
        result
    }

    fn install_certificates(
        &self,
        status: u16,
        headers: &http::HeaderMap,
        bytes: &[u8],
    ) -> Result<usize, ProviderError> {
        if status != 200 {
            return Err(wire::api_error(status, bytes));
        }
        let list: wire::CertificateList =
            serde_json::from_slice(bytes).map_err(|e| ProviderError::Malformed(e.to_string()))?;
        let mut fresh = KeyRing::default();
        for item in &list.data {
            let pem = item
                .encrypt_certificate
                .decrypt(self.apiv3_key.expose_secret().as_bytes())
                .map_err(|e| {
                    ProviderError::Verification(format!("certificate {}: {e}", item.serial_no))
                })?;
            let cert = Certificate::from_pem(&String::from_utf8_lossy(&pem))
                .map_err(|e| ProviderError::Malformed(e.to_string()))?;
            if !cert.serial_hex().eq_ignore_ascii_case(&item.serial_no) {
                return Err(ProviderError::Verification(format!(
                    "certificate serial {} does not match",
                    item.serial_no
                )));
            }
            let key = cert
                .public_key()
                .map_err(|e| ProviderError::Malformed(e.to_string()))?;
            let (from, to) = cert
                .not_before()
                .and_then(|f| Ok((f, cert.not_after()?)))
                .map_err(|e| ProviderError::Malformed(e.to_string()))?;
            fresh.insert_valid(&item.serial_no, RsaVerifier::new(key), from, to);
        }
        verify(SignedHeaders::from_http(headers), bytes, &fresh, now_secs())
            .map_err(|e| ProviderError::Verification(e.to_string()))?;
        let mut ring = self
            .keys
            .write()
            .map_err(|_| ProviderError::Verification("key ring poisoned".into()))?;
        // Keep the old ones too: callbacks signed just before a rotation
        // still verify (each key only within its certificate's validity).
        ring.extend(&fresh);
        Ok(ring.len())
    }
}
