//! The little of X.509 the providers need: a certificate's serial, its RSA
//! public key (WeChat Pay platform certificates, Alipay public certificates),
//! and Alipay's certificate serial numbers (`app_cert_sn`, `alipay_root_cert_sn`).

use md5::{Digest as _, Md5};
use rsa::pkcs8::DecodePublicKey;
use rsa::PublicKey;
use x509_parser::certificate::X509Certificate;
use x509_parser::pem::Pem;
use x509_parser::prelude::FromDer;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("no PEM certificate found")]
    NoCertificate,
    #[error("the certificate is malformed")]
    Malformed,
    #[error("the certificate's key is not an RSA key")]
    NotRsa,
}

/// One parsed-on-demand certificate (kept as DER).
#[derive(Debug, Clone)]
pub struct Certificate {
    der: Vec<u8>,
}

impl Certificate {
    /// The first certificate of a PEM text.
    pub fn from_pem(pem: &str) -> Result<Certificate, CertError> {
        Certificate::all_from_pem(pem)?
            .into_iter()
            .next()
            .ok_or(CertError::NoCertificate)
    }

    /// Every certificate of a PEM text, in order (Alipay's root file holds several).
    pub fn all_from_pem(pem: &str) -> Result<Vec<Certificate>, CertError> {
        let mut out = Vec::new();
        for block in Pem::iter_from_buffer(pem.as_bytes()) {
            let block = block.map_err(|_| CertError::Malformed)?;
            if block.label != "CERTIFICATE" {
                continue;
            }
            let cert = Certificate {
                der: block.contents,
            };
            cert.parsed()?;
            out.push(cert);
        }
        if out.is_empty() {
            Err(CertError::NoCertificate)
        } else {
            Ok(out)
        }
    }

    pub fn from_der(der: &[u8]) -> Result<Certificate, CertError> {
        let cert = Certificate { der: der.to_vec() };
        cert.parsed()?;
        Ok(cert)
    }

    fn parsed(&self) -> Result<X509Certificate<'_>, CertError> {
        X509Certificate::from_der(&self.der)
            .map(|(_, c)| c)
            .map_err(|_| CertError::Malformed)
    }

    /// The serial as upper-case hex without leading zero bytes (WeChat Pay's form).
    pub fn serial_hex(&self) -> String {
        self.parsed()
            .map(|c| {
                let raw = c.tbs_certificate.raw_serial();
                let trimmed: &[u8] = match raw.iter().position(|b| *b != 0) {
                    Some(i) => &raw[i..],
                    None => &raw[raw.len().saturating_sub(1)..],
                };
                hex::encode_upper(trimmed)
            })
            .unwrap_or_default()
    }

    pub fn public_key(&self) -> Result<PublicKey, CertError> {
        let c = self.parsed()?;
        PublicKey::from_public_key_der(c.public_key().raw).map_err(|_| CertError::NotRsa)
    }

    /// Unix seconds of the end of validity.
    pub fn not_after(&self) -> Result<i64, CertError> {
        Ok(self.parsed()?.validity().not_after.timestamp())
    }

    /// Unix seconds of the start of validity.
    pub fn not_before(&self) -> Result<i64, CertError> {
        Ok(self.parsed()?.validity().not_before.timestamp())
    }

    fn signature_algorithm_oid(&self) -> Result<String, CertError> {
        Ok(self.parsed()?.signature_algorithm.algorithm.to_id_string())
    }

    /// Alipay's certificate SN: MD5 (lower-case hex) of the issuer written as
    /// `CN=…,OU=…,O=…,C=…` (attributes in reverse DER order, no spaces)
    /// followed by the serial number in decimal.
    pub fn alipay_sn(&self) -> Result<String, CertError> {
        let c = self.parsed()?;
        let mut parts = Vec::new();
        for rdn in c.issuer().iter_rdn() {
            for attr in rdn.iter() {
                let oid = attr.attr_type().to_id_string();
                let name = match oid.as_str() {
                    "2.5.4.3" => "CN".to_owned(),
                    "2.5.4.6" => "C".to_owned(),
                    "2.5.4.7" => "L".to_owned(),
                    "2.5.4.8" => "ST".to_owned(),
                    "2.5.4.10" => "O".to_owned(),
                    "2.5.4.11" => "OU".to_owned(),
                    "1.2.840.113549.1.9.1" => "emailAddress".to_owned(),
                    other => other.to_owned(),
                };
                let value = attr.as_str().map_err(|_| CertError::Malformed)?;
                parts.push(format!("{name}={value}"));
            }
        }
        parts.reverse();
        let text = format!("{}{}", parts.join(","), c.tbs_certificate.serial);
        Ok(hex::encode(Md5::digest(text.as_bytes())))
    }
}

/// `alipay_root_cert_sn`: the SNs of the RSA-signed certificates of the root
/// file (sha1WithRSA, sha256WithRSA), joined with `_`; the others (SM2, ECDSA)
/// are skipped.
pub fn alipay_root_cert_sn(pem: &str) -> Result<String, CertError> {
    let mut sns = Vec::new();
    for cert in Certificate::all_from_pem(pem)? {
        let oid = cert.signature_algorithm_oid()?;
        if oid == "1.2.840.113549.1.1.5" || oid == "1.2.840.113549.1.1.11" {
            sns.push(cert.alipay_sn()?);
        }
    }
    if sns.is_empty() {
        return Err(CertError::NoCertificate);
    }
    Ok(sns.join("_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_vectors::read as vector;

    #[test]
    fn alipay_cert_sn_known_answers() {
        // yansongda/pay tests/Cert.
        let app =
            Certificate::from_pem(&vector("yansongda-alipayAppPublicCert.crt")).expect("cert");
        assert_eq!(
            app.alipay_sn().as_deref(),
            Ok("e90dd23a37c5c7b616e003970817ff82")
        );
        assert_eq!(
            alipay_root_cert_sn(&vector("yansongda-alipayRootCert.crt")).as_deref(),
            Ok("687b59193f3f462dd5336e5abf83c5d8_02941eef3187dddf3d3b83462e1dfcf6")
        );
        let public =
            Certificate::from_pem(&vector("yansongda-alipayPublicCert.crt")).expect("cert");
        assert!(
            public.public_key().is_ok(),
            "Alipay's public certificate carries an RSA key"
        );
    }

    #[test]
    fn wechat_platform_certificate() {
        let cert = Certificate::from_pem(&vector("wechatpay-go-platform-cert.pem")).expect("cert");
        assert_eq!(cert.serial_hex(), "D7CE59D1F522D701");
        assert!(cert.public_key().is_ok());
        assert!(cert.not_after().expect("validity") > 1_900_000_000);
    }

    #[test]
    fn garbage_is_a_clear_error() {
        assert_eq!(
            Certificate::from_pem("hello").err(),
            Some(CertError::NoCertificate)
        );
        assert_eq!(
            Certificate::from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")
                .err(),
            Some(CertError::Malformed)
        );
        assert!(Certificate::from_der(&[0x30, 0x03, 0x02, 0x01]).is_err());
    }
}
