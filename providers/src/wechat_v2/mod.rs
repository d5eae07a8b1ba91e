//! WeChat Pay API v2 (the legacy mode of the original system): flat XML
//! messages signed with the 32-character API key, MD5 or HMAC-SHA256.

pub mod client;
pub mod credentials;

use super::crypto::{constant_time_eq, hmac_sha256_upper_hex, md5_upper_hex};
use std::collections::BTreeMap;

/// Larger XML bodies are refused before parsing.
pub const MAX_XML_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("the XML body is over {MAX_XML_BYTES} bytes")]
    TooLarge,
    #[error("DTDs, entities and processing instructions are refused")]
    Forbidden,
    #[error("the XML is malformed: {0}")]
    Malformed(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignType {
    Md5,
    HmacSha256,
}

impl SignType {
    pub fn parse(s: Option<&str>) -> Option<SignType> {
        match s {
            None | Some("MD5") => Some(SignType::Md5),
            Some("HMAC-SHA256") => Some(SignType::HmacSha256),
            Some(_) => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SignType::Md5 => "MD5",
            SignType::HmacSha256 => "HMAC-SHA256",
        }
    }
}

/// `k=v&…` over every non-empty field but `sign`, sorted, then `&key=KEY`, hashed.
pub fn sign(fields: &BTreeMap<String, String>, key: &str, sign_type: SignType) -> String {
    let mut message = fields
        .iter()
        .filter(|(k, v)| k.as_str() != "sign" && !v.is_empty())
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    message.push_str("&key=");
    message.push_str(key);
    match sign_type {
        SignType::Md5 => md5_upper_hex(message.as_bytes()),
        SignType::HmacSha256 => hmac_sha256_upper_hex(key.as_bytes(), message.as_bytes()),
    }
}

/// The v2 JSAPI `paySign`: the v2 signature over `appId`, `nonceStr`,
/// `package`, `signType` and `timeStamp` (sorted, `&key=` appended).
pub fn jsapi_pay_sign(
    app_id: &str,
    time_stamp: &str,
    nonce_str: &str,
    package: &str,
    key: &str,
    sign_type: SignType,
) -> String {
    let fields: BTreeMap<String, String> = [
        ("appId", app_id),
        ("nonceStr", nonce_str),
        ("package", package),
        ("signType", sign_type.as_str()),
        ("timeStamp", time_stamp),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    sign(&fields, key, sign_type)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum V2VerifyError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("the sign field is missing")]
    MissingSign,
    #[error("unsupported sign_type")]
    UnsupportedSignType,
    #[error("the sign_type is not the one this merchant signs with")]
    WrongSignType,
    #[error("the signature does not match")]
    SignatureMismatch,
}

/// Parses and verifies a notify or an answer. With `expected`, the message
/// must be signed the way this merchant signs (a message without `sign_type`
/// is taken to be so; one naming another type is refused, so that nobody can
/// downgrade to MD5); without it, the type the message names is used (MD5
/// when it names none), as the provider does with our requests.
pub fn verify(
    body: &[u8],
    key: &str,
    expected: Option<SignType>,
) -> Result<BTreeMap<String, String>, V2VerifyError> {
    let fields = parse_xml(body)?;
    let given = fields.get("sign").ok_or(V2VerifyError::MissingSign)?;
    let declared = fields.get("sign_type").map(String::as_str);
    let sign_type = match (expected, declared) {
        (Some(e), None) => e,
        (Some(e), Some(d)) => {
            if SignType::parse(Some(d)) != Some(e) {
                return Err(V2VerifyError::WrongSignType);
            }
            e
        }
        (None, d) => SignType::parse(d).ok_or(V2VerifyError::UnsupportedSignType)?,
    };
    if !constant_time_eq(&sign(&fields, key, sign_type), given) {
        return Err(V2VerifyError::SignatureMismatch);
    }
    Ok(fields)
}

/// `<xml><k><![CDATA[v]]></k>…</xml>`
pub fn to_xml(fields: &BTreeMap<String, String>) -> String {
    let mut out = String::from("<xml>");
    for (k, v) in fields {
        out.push_str(&format!(
            "<{k}><![CDATA[{}]]></{k}>",
            v.replace("]]>", "]]]]><![CDATA[>")
        ));
    }
    out.push_str("</xml>");
    out
}

/// The success answer to a v2 notify.
pub const NOTIFY_SUCCESS: &str = "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>";

/// Parses the flat `<xml>` document WeChat Pay v2 uses. Anything beyond that
/// shape is refused, in particular `<!DOCTYPE`, `<!ENTITY` and entity
/// references other than the five predefined ones, so XXE and entity
/// expansion cannot happen.
pub fn parse_xml(body: &[u8]) -> Result<BTreeMap<String, String>, XmlError> {
    if body.len() > MAX_XML_BYTES {
        return Err(XmlError::TooLarge);
    }
    let text = std::str::from_utf8(body).map_err(|_| XmlError::Malformed("not UTF-8"))?;
    let mut rest = text.trim();
    if let Some(after) = rest.strip_prefix("<?xml") {
        let end = after
            .find("?>")
            .ok_or(XmlError::Malformed("unterminated declaration"))?;
        rest = after[end + 2..].trim_start();
    }
    if rest.contains("<!DOCTYPE") || rest.contains("<!ENTITY") || rest.contains("<?") {
        return Err(XmlError::Forbidden);
    }
    rest = rest
        .strip_prefix("<xml>")
        .ok_or(XmlError::Malformed("the root element must be <xml>"))?;
    rest = rest
        .trim_end()
        .strip_suffix("</xml>")
        .ok_or(XmlError::Malformed("the root element is not closed"))?;
    let mut fields = BTreeMap::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        if rest.starts_with("<!") {
            return Err(XmlError::Forbidden);
        }
        let open_end = rest
            .find('>')
            .ok_or(XmlError::Malformed("unterminated tag"))?;
        let name = rest
            .get(1..open_end)
            .ok_or(XmlError::Malformed("bad tag"))?;
        if !rest.starts_with('<')
            || name.is_empty()
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(XmlError::Malformed("bad element name"));
        }
        rest = &rest[open_end + 1..];
        let close = format!("</{name}>");
        let value = if let Some(after) = rest.strip_prefix("<![CDATA[") {
            let end = after
                .find("]]>")
                .ok_or(XmlError::Malformed("unterminated CDATA"))?;
            let v = after[..end].to_owned();
            rest = after[end + 3..]
                .strip_prefix(close.as_str())
                .ok_or(XmlError::Malformed("element not closed after CDATA"))?;
            v
        } else {
            let end = rest
                .find(close.as_str())
                .ok_or(XmlError::Malformed("element not closed"))?;
            let raw = &rest[..end];
            if raw.contains('<') {
                return Err(XmlError::Malformed("nested elements are not expected"));
            }
            let v = unescape(raw)?;
            rest = &rest[end + close.len()..];
            v
        };
        if fields.insert(name.to_owned(), value).is_some() {
            return Err(XmlError::Malformed("duplicate element"));
        }
    }
    Ok(fields)
}

fn unescape(raw: &str) -> Result<String, XmlError> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let (rep, len) = [
            ("&lt;", '<'),
            ("&gt;", '>'),
            ("&amp;", '&'),
            ("&quot;", '"'),
            ("&apos;", '\''),
        ]
        .iter()
        .find(|(e, _)| after.starts_with(e))
        .map(|(e, c)| (*c, e.len()))
        .ok_or(XmlError::Forbidden)?;
        out.push(rep);
        rest = &after[len..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "192006250b4c09247ec02edce69f6a2d";

    fn doc_fields() -> BTreeMap<String, String> {
        [
            ("appid", "wxd930ea5d5a258f4f"),
            ("mch_id", "10000100"),
            ("device_info", "1000"),
            ("body", "test"),
            ("nonce_str", "ibuaiVcKdpRxkhJA"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn known_answers_from_the_documentation() {
        assert_eq!(
            sign(&doc_fields(), KEY, SignType::Md5),
            "9A0A8659F005D6984697E2CA0A9CF3B7"
        );
        assert_eq!(
            sign(&doc_fields(), KEY, SignType::HmacSha256),
            "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
        );
    }

    #[test]
    fn a_signed_message_round_trips_and_tampering_fails() {
        let mut fields = doc_fields();
        fields.insert("sign_type".into(), "HMAC-SHA256".into());
        let s = sign(&fields, KEY, SignType::HmacSha256);
        fields.insert("sign".into(), s);
        let xml = to_xml(&fields);
        assert_eq!(verify(xml.as_bytes(), KEY, None).map(|f| f.len()), Ok(7));
        let tampered = xml.replace("10000100", "10000101");
        assert_eq!(
            verify(tampered.as_bytes(), KEY, None),
            Err(V2VerifyError::SignatureMismatch)
        );
        assert_eq!(
            verify(xml.as_bytes(), "another key another key another!", None),
            Err(V2VerifyError::SignatureMismatch)
        );
        assert_eq!(
            verify(b"<xml><a>1</a></xml>", KEY, None),
            Err(V2VerifyError::MissingSign)
        );
    }

    #[test]
    fn a_merchant_that_signs_with_hmac_never_accepts_md5() {
        // Signed with MD5 and no sign_type: MD5 is what the message implies.
        let mut md5 = doc_fields();
        md5.insert("sign".into(), sign(&doc_fields(), KEY, SignType::Md5));
        let xml = to_xml(&md5);
        assert!(verify(xml.as_bytes(), KEY, Some(SignType::Md5)).is_ok());
        assert_eq!(
            verify(xml.as_bytes(), KEY, Some(SignType::HmacSha256)),
            Err(V2VerifyError::SignatureMismatch)
        );
        // Naming MD5 does not help either.
        let mut named = doc_fields();
        named.insert("sign_type".into(), "MD5".into());
        named.insert("sign".into(), sign(&named, KEY, SignType::Md5));
        assert_eq!(
            verify(to_xml(&named).as_bytes(), KEY, Some(SignType::HmacSha256)),
            Err(V2VerifyError::WrongSignType)
        );
    }

    #[test]
    fn dtds_entities_and_oversized_bodies_are_refused() {
        let xxe = br#"<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><a>&x;</a></xml>"#;
        assert_eq!(parse_xml(xxe), Err(XmlError::Forbidden));
        assert_eq!(
            parse_xml(b"<xml><a>&x;</a></xml>"),
            Err(XmlError::Forbidden)
        );
        assert_eq!(parse_xml(b"<xml><?php x?></xml>"), Err(XmlError::Forbidden));
        let big = format!("<xml><a>{}</a></xml>", "x".repeat(MAX_XML_BYTES));
        assert_eq!(parse_xml(big.as_bytes()), Err(XmlError::TooLarge));
    }

    #[test]
    fn malformed_xml_is_an_error() {
        for bad in [
            "",
            "<xml>",
            "<root></root>",
            "<xml><a>1</b></xml>",
            "<xml><a><b>1</b></a></xml>",
            "<xml><a>1</a><a>2</a></xml>",
            "<xml><![CDATA[x]]></xml>",
            "<xml><a><![CDATA[1]]></xml>",
        ] {
            assert!(parse_xml(bad.as_bytes()).is_err(), "{bad}");
        }
        let ok = parse_xml(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<xml>\n <a><![CDATA[x<y]]></a>\n <b>1 &amp; 2</b>\n</xml>").expect("parses");
        assert_eq!(ok.get("a").map(String::as_str), Some("x<y"));
        assert_eq!(ok.get("b").map(String::as_str), Some("1 & 2"));
        assert_eq!(parse_xml(to_xml(&ok).as_bytes()), Ok(ok));
    }

    #[test]
    fn the_v2_jsapi_pay_sign_matches_an_independent_computation() {
        // WeChat's v2 JSAPI document values with the v2 document's key;
        // expected values computed with Python's hashlib and hmac.
        let args = (
            "wxd930ea5d5a258f4f",
            "1395712654",
            "e61463f8efa94090b1f366cccfbbb444",
            "prepay_id=u802345jgfjsdfgsdg888",
            "192006250b4c09247ec02edce69f6a2d",
        );
        assert_eq!(
            jsapi_pay_sign(args.0, args.1, args.2, args.3, args.4, SignType::Md5),
            "297C4F10A2CF7F017AB899331DE94F20"
        );
        assert_eq!(
            jsapi_pay_sign(args.0, args.1, args.2, args.3, args.4, SignType::HmacSha256),
            "87E70F5F83E2E47D6D73597DD606CD3E460488FF4903F041ECD8FA4E179D9A98"
        );
    }
}
