//! Alipay Open Platform: RSA2 request signing, verification of answers over
//! the raw bytes of their `*_response` node, and verification of asynchronous
//! notifications. Amounts cross this edge as yuan strings ("12.34").

pub mod bill;
pub mod client;
pub mod credentials;
pub mod transformers;

/// Alipay's gateway, and its sandbox's.
pub const GATEWAY: &str = "https://openapi.alipay.com/gateway.do";
pub const SANDBOX_GATEWAY: &str = "https://openapi-sandbox.dl.alipaydev.com/gateway.do";

use crate::crypto::{CryptoError, SignMessage, VerifySignature};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlipayVerifyError {
    #[error("the {0} field is missing")]
    MissingField(&'static str),
    #[error("the answer has no {0} node")]
    MissingResponseNode(String),
    #[error("the answer is not well-formed JSON")]
    MalformedJson,
    #[error("sign_type {0} is not supported (only RSA2)")]
    UnsupportedSignType(String),
    #[error(transparent)]
    Signature(#[from] CryptoError),
}

/// The string Alipay signs: every non-empty parameter except the excluded
/// ones, sorted by key (byte order), `k=v` joined with `&`, raw values.
pub fn signing_string<'a>(
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
    exclude: &[&str],
) -> String {
    let mut kept: Vec<(&str, &str)> = params
        .into_iter()
        .filter(|(k, v)| !k.is_empty() && !v.is_empty() && !exclude.contains(k))
        .collect();
    kept.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    kept.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Signs request parameters (everything but `sign`; `sign_type` included).
pub fn sign_request<'a>(
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
    signer: &dyn SignMessage,
) -> Result<String, CryptoError> {
    signer.sign_base64(signing_string(params, &["sign"]).as_bytes())
}

/// Verifies an asynchronous notification (already URL-decoded form fields).
/// Alipay's documented rule removes `sign` and `sign_type`; some notification
/// kinds are signed with `sign_type` kept, which the official SDKs also try.
pub fn verify_notify(
    params: &[(String, String)],
    verifier: &dyn VerifySignature,
) -> Result<(), AlipayVerifyError> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let sign = get("sign")
        .filter(|s| !s.is_empty())
        .ok_or(AlipayVerifyError::MissingField("sign"))?;
    match get("sign_type") {
        None | Some("RSA2") => {}
        Some(other) => return Err(AlipayVerifyError::UnsupportedSignType(other.to_owned())),
    }
    let pairs = || params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let documented = signing_string(pairs(), &["sign", "sign_type"]);
    if verifier.verify_base64(documented.as_bytes(), sign).is_ok() {
        return Ok(());
    }
    let mut with_type: Vec<(&str, &str)> = pairs().filter(|(k, _)| *k != "sign_type").collect();
    with_type.push(("sign_type", "RSA2"));
    let alternative = signing_string(with_type, &["sign"]);
    verifier.verify_base64(alternative.as_bytes(), sign)?;
    Ok(())
}

/// The exact bytes of the value of `node` (e.g. `alipay_trade_query_response`)
/// in a raw answer, from its `{` to the matching `}`: what Alipay signed.
/// Never re-serialised, so escapes such as `\/` stay as they were.
pub fn response_node<'a>(raw: &'a str, node: &str) -> Option<&'a str> {
    let bytes = raw.as_bytes();
    let key = format!("\"{node}\"");
    let mut search_from = 0;
    while let Some(found) = raw[search_from..].find(&key) {
        let mut i = search_from + found + key.len();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes.get(i) != Some(&b':') {
            search_from = search_from + found + key.len();
            continue;
        }
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes.get(i) != Some(&b'{') {
            return None;
        }
        let start = i;
        let mut depth = 0usize;
        let mut in_string = false;
        let mut escaped = false;
        for (j, &b) in bytes.iter().enumerate().skip(start) {
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(&raw[start..=j]);
                    }
                }
                _ => {}
            }
        }
        return None;
    }
    None
}

/// Verifies an answer: the `sign` field over the raw bytes of `node`.
pub fn verify_response<'a>(
    raw: &'a str,
    node: &str,
    verifier: &dyn VerifySignature,
) -> Result<&'a str, AlipayVerifyError> {
    let value: serde_json::Value =
        serde_json::from_str(raw).map_err(|_| AlipayVerifyError::MalformedJson)?;
    let content = response_node(raw, node)
        .ok_or_else(|| AlipayVerifyError::MissingResponseNode(node.to_owned()))?;
    let sign = value
        .get("sign")
        .and_then(|s| s.as_str())
        .filter(|s| !s.is_empty())
        .ok_or(AlipayVerifyError::MissingField("sign"))?;
    verifier.verify_base64(content.as_bytes(), sign)?;
    Ok(content)
}

/// The answer node of a method: `alipay.trade.query` → `alipay_trade_query_response`.
pub fn response_node_name(method: &str) -> String {
    format!("{}_response", method.replace('.', "_"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{RsaSigner, RsaVerifier};
    use crate::keys::{parse_private_key, parse_public_key};

    use crate::test_vectors::read as vector;

    fn verifier(name: &str) -> RsaVerifier {
        RsaVerifier::new(parse_public_key(&vector(name)).expect("key"))
    }

    /// A real Alipay notification (alipay-sdk-nodejs-all test/alipay.test.ts).
    fn real_notification() -> Vec<(String, String)> {
        [
            ("app_id", "2017122801303261"),
            ("charset", "UTF-8"),
            ("commodity_order_id", "2019030800000018079639"),
            ("contactor", "技术支持测试的公司"),
            ("merchant_pid", "2088721996721370"),
            ("method", "alipay.open.servicemarket.order.notify"),
            ("name", "技术支持测试的公司"),
            ("notify_id", "2019030800222102023008121054923345"),
            ("notify_time", "2019-03-08 10:20:23"),
            ("notify_type", "servicemarket_order_notify"),
            ("order_item_num", "1"),
            ("order_ticket", "29b1c37d99ab48c5bd5bdaeaeaefbB37"),
            ("order_time", "2019-03-08 10:20:08"),
            ("phone", "17826894615"),
            ("service_code", "58621634"),
            ("sign", "MsK5SCw8oqLw4f0hiNSd5OVGXxBY3wnQeT8vn5PklJSZFWSZbK4hQbNvkp4ZezeXQH514cEv0ul6Qow8yh6e6yM06LfEL+EZjcpZ0nxzFGRNQ5qq2AUc1OaXQdk92AGvxh+Iq4NGpPQFBd4D8EBJa3NJd8+czMfQskceosOQFqUtLQMYa5DPs+VpN7VM5BdXjaVIuKn5d9Wm2B9dI9ObIM+YRySDkZZPv14DVmUvcrcqJfOR8aHvtSd7B4l92wUQPQgQKNcOQho7xOHS/Bk+Y74AZL2y7TkNmdDoq9OGsThuF5tDW9rI9nVwXxOtsuB+bstra+W7aw9x9DvkKgdSRw=="),
            ("sign_type", "RSA2"),
            ("timestamp", "2019-03-08 10:20:23"),
            ("title", "麦禾商城模版"),
            ("total_price", "0.00"),
            ("version", "1.0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn a_real_notification_verifies_with_or_without_sign_type() {
        let v = verifier("alipay-node-alipay-notify-sign-public-key-v2.pem");
        let params = real_notification();
        assert_eq!(verify_notify(&params, &v), Ok(()));
        let without: Vec<_> = params
            .iter()
            .filter(|(k, _)| k != "sign_type")
            .cloned()
            .collect();
        assert_eq!(verify_notify(&without, &v), Ok(()));
    }

    #[test]
    fn a_tampered_notification_fails() {
        let v = verifier("alipay-node-alipay-notify-sign-public-key-v2.pem");
        let mut params = real_notification();
        for (k, val) in params.iter_mut() {
            if k == "service_code" {
                *val = "58621634111".to_owned();
            }
        }
        assert_eq!(
            verify_notify(&params, &v),
            Err(AlipayVerifyError::Signature(CryptoError::SignatureMismatch))
        );
        let unsigned: Vec<_> = real_notification()
            .into_iter()
            .filter(|(k, _)| k != "sign")
            .collect();
        assert_eq!(
            verify_notify(&unsigned, &v),
            Err(AlipayVerifyError::MissingField("sign"))
        );
        let mut rsa1 = real_notification();
        rsa1.retain(|(k, _)| k != "sign_type");
        rsa1.push(("sign_type".into(), "RSA".into()));
        assert!(matches!(
            verify_notify(&rsa1, &v),
            Err(AlipayVerifyError::UnsupportedSignType(_))
        ));
        // Signed by another key.
        let other = verifier("alipay-node-alipay-public-key.pem");
        assert!(verify_notify(&real_notification(), &other).is_err());
    }

    const RESPONSE: &str = r#"{"alipay_open_file_upload_response":{"code":"10000","msg":"Success","file_id":"CAxAToWB1JsAAAAAAAAAAAAADgSLAQBr"},"sign":"F+LDzpTNiavn7xVZPGuPCSSVRSmWzJGgtuji6tVELGEaqMaNj0jRKXUEr5nloZJBBmwEnddOyCjjepMmrTKTvoOqQ0Efxpr/R1iEeHTHVbb/Q8TTh6Up5gHJDkILdaWS2q1cWeQ6VT+HQY9P3WRXS7uhILHuDODIhpAyCu5KhWGt0rMCIG+Im6NODJP2oohtSCtmTFXg58HH587Z2y2bdbjzOxLvzD9IrU1imghXQ2S/Q+wMIvRk9on6cWnBLkrNvJKapA2ReNGWOwyuASvB9zDVzhMPbR+3mfRGkVDxsq5HYLjBKGskJMXHw0HuugZij6ScRuaLPODhmHwr/pJ9yw=="}"#;

    #[test]
    fn a_real_answer_verifies_over_its_raw_response_node() {
        let v = verifier("alipay-node-alipay-public-key.pem");
        assert_eq!(
            verify_response(RESPONSE, "alipay_open_file_upload_response", &v),
            Ok(r#"{"code":"10000","msg":"Success","file_id":"CAxAToWB1JsAAAAAAAAAAAAADgSLAQBr"}"#)
        );
        let tampered = RESPONSE.replace("Success", "Succe55");
        assert_eq!(
            verify_response(&tampered, "alipay_open_file_upload_response", &v),
            Err(AlipayVerifyError::Signature(CryptoError::SignatureMismatch))
        );
        assert_eq!(
            verify_response("{not json", "x_response", &v),
            Err(AlipayVerifyError::MalformedJson)
        );
        assert!(matches!(
            verify_response(RESPONSE, "alipay_trade_query_response", &v),
            Err(AlipayVerifyError::MissingResponseNode(_))
        ));
        let unsigned = r#"{"alipay_open_file_upload_response":{"code":"10000"}}"#;
        assert_eq!(
            verify_response(unsigned, "alipay_open_file_upload_response", &v),
            Err(AlipayVerifyError::MissingField("sign"))
        );
    }

    #[test]
    fn the_response_node_is_cut_from_the_raw_bytes() {
        let raw = r#"{"a_response":{"url":"http:\/\/x","s":"}{\"","n":{"k":1}},"sign":"abc"}"#;
        assert_eq!(
            response_node(raw, "a_response"),
            Some(r#"{"url":"http:\/\/x","s":"}{\"","n":{"k":1}}"#)
        );
        assert_eq!(
            response_node(
                r#"{"b":"\"a_response\"","a_response" : {"x":1}}"#,
                "a_response"
            ),
            Some(r#"{"x":1}"#)
        );
        assert_eq!(response_node(r#"{"a_response":{"x":1"#, "a_response"), None);
        assert_eq!(
            response_node_name("alipay.trade.precreate"),
            "alipay_trade_precreate_response"
        );
    }

    #[test]
    fn request_signing_sorts_drops_empty_and_keeps_sign_type() {
        let params = [
            ("method", "alipay.trade.query"),
            ("app_id", "2021"),
            ("sign_type", "RSA2"),
            ("empty", ""),
            ("sign", "old"),
        ];
        assert_eq!(
            signing_string(params, &["sign"]),
            "app_id=2021&method=alipay.trade.query&sign_type=RSA2"
        );
        let signer = RsaSigner::new(
            parse_private_key(&vector("alipay-node-app-private-key.pem")).expect("key"),
        );
        let sig = sign_request(params, &signer).expect("signs");
        let app_public = RsaVerifier::new(
            parse_public_key(&vector("alipay-node-app-public-key.pem")).expect("key"),
        );
        assert_eq!(
            app_public.verify_base64(
                b"app_id=2021&method=alipay.trade.query&sign_type=RSA2",
                &sig
            ),
            Ok(())
        );
    }
}
