//! What WeChat's pay sheet takes: the parameters of
//! `WeixinJSBridge.invoke('getBrandWCPayRequest', …)`, signed by the server,
//! passed through the page unchanged. The field names are WeChat's.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JsapiParams {
    pub app_id: String,
    /// Unix seconds, as a string.
    pub time_stamp: String,
    pub nonce_str: String,
    /// `prepay_id=…`.
    pub package: String,
    /// `RSA` (API v3), or `MD5` / `HMAC-SHA256` (API v2).
    pub sign_type: String,
    pub pay_sign: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fields_are_spelled_as_wechat_wants() {
        let p = JsapiParams {
            app_id: "wx1".into(),
            time_stamp: "1".into(),
            nonce_str: "n".into(),
            package: "prepay_id=x".into(),
            sign_type: "RSA".into(),
            pay_sign: "s".into(),
        };
        let v = serde_json::to_value(&p).expect("json");
        let mut keys: Vec<&str> = v
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "appId",
                "nonceStr",
                "package",
                "paySign",
                "signType",
                "timeStamp"
            ]
        );
    }
}
