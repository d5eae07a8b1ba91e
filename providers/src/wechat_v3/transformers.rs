//! WeChat Pay API v3 wire types and their mapping to ours. Unknown enum values
//! become `Unknown` instead of failing the whole message.

use crate::crypto::{aes_gcm_decrypt, CryptoError};
use domain::Money;
use formpay_core::provider::{ProviderError, RefundInfo, RefundState};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Amount {
    /// Fen, an integer: WeChat Pay's unit is ours.
    pub total: i64,
    #[serde(default = "cny")]
    pub currency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_total: Option<i64>,
}

fn cny() -> String {
    "CNY".to_owned()
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SceneInfo {
    pub payer_client_ip: String,
    /// H5 only: `{"type": "Wap"}` (or iOS, Android).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h5_info: Option<H5Info>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct H5Info {
    #[serde(rename = "type")]
    pub kind: String,
}

/// JSAPI only: who pays, by their openid for our app id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PayerRequest {
    pub openid: String,
}

/// The order request of every mode: `POST /v3/pay/transactions/native`,
/// `/jsapi` (with `payer`) and `/h5` (with `scene_info.h5_info`).
pub type NativeOrderRequest = OrderRequest;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrderRequest {
    pub appid: String,
    pub mchid: String,
    /// At most 127 characters.
    pub description: String,
    pub out_trade_no: String,
    /// RFC 3339 with +08:00.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_expire: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach: Option<String>,
    pub notify_url: String,
    pub amount: Amount,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scene_info: Option<SceneInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<PayerRequest>,
    /// `{"profit_sharing": true}`: the money is held for a split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle_info: Option<SettleInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SettleInfo {
    pub profit_sharing: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NativeOrderResponse {
    pub code_url: String,
}

/// `POST /v3/pay/transactions/jsapi` answers the id the pay sheet takes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JsapiOrderResponse {
    pub prepay_id: String,
}

/// `POST /v3/pay/transactions/h5` answers the page that opens WeChat.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct H5OrderResponse {
    pub h5_url: String,
}

/// The message JSAPI's `paySign` signs: `appId\ntimeStamp\nnonceStr\npackage\n`.
pub fn jsapi_message(app_id: &str, time_stamp: &str, nonce_str: &str, package: &str) -> String {
    format!("{app_id}\n{time_stamp}\n{nonce_str}\n{package}\n")
}

/// H5's `h5_url` with our `redirect_url` appended, URL-encoded, as WeChat asks.
pub fn h5_with_redirect(h5_url: &str, redirect_url: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(redirect_url.as_bytes()).collect();
    let sep = if h5_url.contains('?') { '&' } else { '?' };
    format!("{h5_url}{sep}redirect_url={encoded}")
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TradeState {
    Success,
    Refund,
    Notpay,
    Closed,
    Revoked,
    Userpaying,
    Payerror,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Payer {
    #[serde(default)]
    pub openid: Option<String>,
}

/// A query answer, and the plaintext of a `TRANSACTION.SUCCESS` callback.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Transaction {
    pub appid: String,
    pub mchid: String,
    pub out_trade_no: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_type: Option<String>,
    pub trade_state: TradeState,
    #[serde(default)]
    pub trade_state_desc: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<Payer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach: Option<String>,
    pub amount: Amount,
}

/// `POST /v3/pay/transactions/out-trade-no/{no}/close`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CloseRequest {
    pub mchid: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RefundAmountRequest {
    pub refund: i64,
    pub total: i64,
    pub currency: String,
}

/// `POST /v3/refund/domestic/refunds`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RefundRequest {
    pub out_trade_no: String,
    pub out_refund_no: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
    pub amount: RefundAmountRequest,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefundStatus {
    Success,
    Closed,
    Processing,
    Abnormal,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RefundAmount {
    pub refund: i64,
    pub total: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_refund: Option<i64>,
    #[serde(default = "cny")]
    pub currency: String,
}

/// A refund answer and refund query answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Refund {
    pub refund_id: String,
    pub out_refund_no: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    pub out_trade_no: String,
    pub status: RefundStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_time: Option<String>,
    pub amount: RefundAmount,
}

/// The plaintext of a `REFUND.*` callback.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RefundNotice {
    pub mchid: String,
    pub out_trade_no: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    pub out_refund_no: String,
    pub refund_id: String,
    pub refund_status: RefundStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_time: Option<String>,
    pub amount: RefundAmount,
}

/// Any non-2xx answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum EventType {
    #[serde(rename = "TRANSACTION.SUCCESS")]
    TransactionSuccess,
    #[serde(rename = "REFUND.SUCCESS")]
    RefundSuccess,
    #[serde(rename = "REFUND.ABNORMAL")]
    RefundAbnormal,
    #[serde(rename = "REFUND.CLOSED")]
    RefundClosed,
    #[serde(other)]
    Unknown,
}

/// The outer JSON of a callback.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NotifyEnvelope {
    pub id: String,
    pub create_time: String,
    #[serde(default)]
    pub resource_type: String,
    pub event_type: EventType,
    #[serde(default)]
    pub summary: String,
    pub resource: EncryptedResource,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EncryptedResource {
    #[serde(default)]
    pub original_type: String,
    pub algorithm: String,
    pub ciphertext: String,
    #[serde(default)]
    pub associated_data: Option<String>,
    pub nonce: String,
}

impl EncryptedResource {
    /// Decrypts with the APIv3 key (AEAD_AES_256_GCM).
    pub fn decrypt(&self, apiv3_key: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if self.algorithm != "AEAD_AES_256_GCM" {
            return Err(CryptoError::Decrypt);
        }
        aes_gcm_decrypt(
            apiv3_key,
            self.nonce.as_bytes(),
            self.associated_data.as_deref().unwrap_or("").as_bytes(),
            &self.ciphertext,
        )
    }
}

/// `GET /v3/certificates`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CertificateList {
    pub data: Vec<PlatformCertificate>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PlatformCertificate {
    pub serial_no: String,
    pub effective_time: String,
    pub expire_time: String,
    pub encrypt_certificate: EncryptedResource,
}

/// An error answer: "no such order" as [`ProviderError::NotFound`], the rest
/// with WeChat Pay's code and message.
pub fn api_error(status: u16, body: &[u8]) -> ProviderError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) if e.code == "ORDER_NOT_EXIST" || e.code == "RESOURCE_NOT_EXISTS" => {
            ProviderError::NotFound
        }
        Ok(e) => ProviderError::Api {
            status,
            code: e.code,
            message: e.message,
        },
        Err(_) => ProviderError::Api {
            status,
            code: "HTTP_ERROR".into(),
            message: format!("HTTP {status}"),
        },
    }
}

impl From<Refund> for RefundInfo {
    fn from(r: Refund) -> RefundInfo {
        RefundInfo {
            out_trade_no: r.out_trade_no,
            out_refund_no: r.out_refund_no,
            refund_id: Some(r.refund_id),
            state: r.status.into(),
            amount: Money::from_fen(r.amount.refund).ok(),
            merchant_id: None,
        }
    }
}

impl From<RefundStatus> for RefundState {
    fn from(s: RefundStatus) -> RefundState {
        match s {
            RefundStatus::Success => RefundState::Succeeded,
            RefundStatus::Closed => RefundState::Closed,
            RefundStatus::Abnormal => RefundState::Abnormal,
            RefundStatus::Processing | RefundStatus::Unknown => RefundState::Processing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_enum_values_are_tolerated() {
        let t: Transaction = serde_json::from_str(
            r#"{"appid":"wx1","mchid":"19","out_trade_no":"A123456","trade_state":"SOMETHING_NEW","amount":{"total":1}}"#,
        )
        .expect("parses");
        assert_eq!(t.trade_state, TradeState::Unknown);
        let e: NotifyEnvelope = serde_json::from_str(
            r#"{"id":"1","create_time":"t","event_type":"MARKETING.NEW","resource":{"algorithm":"AEAD_AES_256_GCM","ciphertext":"","nonce":"n"}}"#,
        )
        .expect("parses");
        assert_eq!(e.event_type, EventType::Unknown);
    }

    #[test]
    fn malformed_json_is_an_error_not_a_panic() {
        assert!(serde_json::from_str::<NotifyEnvelope>("{").is_err());
        assert!(serde_json::from_str::<NotifyEnvelope>(r#"{"id":1}"#).is_err());
        assert!(serde_json::from_str::<Transaction>(r#"{"appid":"wx","mchid":"1","out_trade_no":"x","trade_state":"SUCCESS","amount":{"total":"1"}}"#).is_err());
    }

    #[test]
    fn a_wrong_algorithm_is_refused() {
        let r = EncryptedResource {
            original_type: String::new(),
            algorithm: "NONE".into(),
            ciphertext: String::new(),
            associated_data: None,
            nonce: "123456789012".into(),
        };
        assert_eq!(r.decrypt(&[0; 32]), Err(CryptoError::Decrypt));
    }

    #[test]
    fn the_jsapi_pay_sign_matches_openssl() {
        use crate::crypto::{RsaSigner, SignMessage};
        // WeChat's JSAPI document example values; the signature was computed
        // independently: printf '<message>' | openssl dgst -sha256 -sign
        // wechatpay-go-test-private-key.pem | base64 -w0
        let key = crate::keys::parse_private_key(&crate::test_vectors::read(
            "wechatpay-go-test-private-key.pem",
        ))
        .expect("key");
        let message = super::jsapi_message(
            "wx8888888888888888",
            "1414561699",
            "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
            "prepay_id=wx201410272009395522657a690389285100",
        );
        assert_eq!(
            message,
            "wx8888888888888888\n1414561699\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\nprepay_id=wx201410272009395522657a690389285100\n"
        );
        let sign = RsaSigner::new(key)
            .sign_base64(message.as_bytes())
            .expect("sign");
        assert_eq!(sign, "UV+EKQ3OdnOkUbbKaVi53s/67T59JbHx9gc9MaWoQEOaiZH+uYMByfW2MWXTZW1gnOXl1CqwzHtx7QUxfatSdSxgBhbNhJx1QaxkP0zSXAgXIoWPAktOlj9n/phfOH95rNl8bHzRDUoNAMQmfQy8SHGooKtEU6/87nWXHhcYarv/nmtgAJcwsV+lGJQ4jLZhGl5BaAvpLW1Xg8yYg1DXNjik2SPK8d+4FRSkW671wIvxXQCYqG3mi3FvxP5XJ3OBVbPk4GRf/8wi2r2eiqXYd5e4mRMIAOGxqape9Cm46kxrjlHF0uM+wSir4Nychn2H5geUh2YvE8vJJMAqmkN2gg==");
    }

    #[test]
    fn h5_urls_get_our_redirect_url_encoded() {
        assert_eq!(
            super::h5_with_redirect(
                "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx1&package=2",
                "https://pay.example.com/pay/abc?x=1"
            ),
            "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx1&package=2&redirect_url=https%3A%2F%2Fpay.example.com%2Fpay%2Fabc%3Fx%3D1"
        );
    }

    #[test]
    fn jsapi_and_h5_orders_are_spelled_as_wechat_wants() {
        let request = OrderRequest {
            appid: "wx1".into(),
            mchid: "190".into(),
            description: "d".into(),
            out_trade_no: "n1".into(),
            time_expire: None,
            attach: None,
            notify_url: "https://x/n".into(),
            amount: Amount {
                total: 1,
                currency: "CNY".into(),
                payer_total: None,
            },
            scene_info: Some(SceneInfo {
                payer_client_ip: "1.2.3.4".into(),
                h5_info: Some(H5Info { kind: "Wap".into() }),
            }),
            payer: Some(PayerRequest {
                openid: "oUser".into(),
            }),
            settle_info: Some(SettleInfo {
                profit_sharing: true,
            }),
        };
        let v = serde_json::to_value(&request).expect("json");
        assert_eq!(v["payer"]["openid"], "oUser");
        assert_eq!(v["settle_info"]["profit_sharing"], true);
        assert_eq!(v["scene_info"]["h5_info"]["type"], "Wap");
        assert_eq!(v["scene_info"]["payer_client_ip"], "1.2.3.4");
    }
}
