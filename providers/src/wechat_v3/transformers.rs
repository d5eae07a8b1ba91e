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
}

/// `POST /v3/pay/transactions/native`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NativeOrderRequest {
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
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NativeOrderResponse {
    pub code_url: String,
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
}
