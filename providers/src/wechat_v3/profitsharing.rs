//! WeChat Pay API v3 profit sharing (分账): receivers, splits, their query,
//! releasing the frozen rest, and returns from merchant receivers. Every
//! request is signed and every answer verified, like payments.

use super::client::WechatPayV3;
use super::transformers::api_error;
use formpay_core::provider::*;
use serde::{Deserialize, Serialize};

/// `POST /v3/profitsharing/receivers/add`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AddReceiverRequest {
    pub appid: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub account: String,
    /// Required for a merchant: RSAES-OAEP (SHA-1) under the platform key
    /// named in `Wechatpay-Serial`, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub relation_type: String,
}

/// One receiver in `POST /v3/profitsharing/orders`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReceiverAmount {
    #[serde(rename = "type")]
    pub kind: String,
    pub account: String,
    pub amount: i64,
    pub description: String,
}

/// `POST /v3/profitsharing/orders`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShareOrderRequest {
    pub appid: String,
    pub transaction_id: String,
    pub out_order_no: String,
    pub receivers: Vec<ReceiverAmount>,
    pub unfreeze_unsplit: bool,
}

/// `POST /v3/profitsharing/orders/unfreeze`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UnfreezeRequest {
    pub transaction_id: String,
    pub out_order_no: String,
    pub description: String,
}

/// One receiver's line in a split's answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReceiverResult {
    #[serde(rename = "type")]
    pub kind: String,
    pub account: String,
    pub amount: i64,
    #[serde(default)]
    pub description: String,
    /// PENDING | SUCCESS | CLOSED
    pub result: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_time: Option<String>,
}

/// A split, as the split, the query and the unfreeze answer it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShareOrder {
    pub transaction_id: String,
    pub out_order_no: String,
    pub order_id: String,
    /// PROCESSING | FINISHED
    pub state: String,
    #[serde(default)]
    pub receivers: Vec<ReceiverResult>,
}

/// `POST /v3/profitsharing/return-orders`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReturnRequest {
    pub out_order_no: String,
    pub out_return_no: String,
    pub return_mchid: String,
    pub amount: i64,
    pub description: String,
}

/// A return, as WeChat answers it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReturnOrder {
    pub order_id: String,
    pub out_order_no: String,
    pub out_return_no: String,
    pub return_id: String,
    pub return_mchid: String,
    pub amount: i64,
    /// PROCESSING | SUCCESS | FAILED
    pub result: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_reason: Option<String>,
}

impl ShareOrder {
    pub fn info(self) -> Result<ShareInfo, ProviderError> {
        let state = match self.state.as_str() {
            "PROCESSING" => ShareState::Processing,
            "FINISHED" => ShareState::Finished,
            other => return Err(ProviderError::Malformed(format!("split state {other}"))),
        };
        let lines = self
            .receivers
            .into_iter()
            .map(|r| {
                let result = match r.result.as_str() {
                    "PENDING" => ShareResult::Pending,
                    "SUCCESS" => ShareResult::Success,
                    "CLOSED" => ShareResult::Closed,
                    other => return Err(ProviderError::Malformed(format!("share result {other}"))),
                };
                Ok(ShareLineInfo {
                    kind: r.kind,
                    account: r.account,
                    amount_fen: r.amount,
                    result,
                    fail_reason: r.fail_reason,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ShareInfo {
            out_order_no: self.out_order_no,
            order_id: Some(self.order_id),
            state,
            lines,
        })
    }
}

impl ReturnOrder {
    pub fn info(self) -> Result<ShareReturnInfo, ProviderError> {
        let state = match self.result.as_str() {
            "PROCESSING" => ShareReturnState::Processing,
            "SUCCESS" => ShareReturnState::Success,
            "FAILED" => ShareReturnState::Failed(self.fail_reason.unwrap_or_default()),
            other => return Err(ProviderError::Malformed(format!("return result {other}"))),
        };
        Ok(ShareReturnInfo {
            out_return_no: self.out_return_no,
            amount_fen: self.amount,
            state,
        })
    }
}

fn body<T: Serialize>(v: &T) -> Result<String, ProviderError> {
    serde_json::to_string(v).map_err(|e| ProviderError::Malformed(e.to_string()))
}

fn answer<T: serde::de::DeserializeOwned>(status: u16, text: &str) -> Result<T, ProviderError> {
    if !(200..300).contains(&status) {
        return Err(api_error(status, text.as_bytes()));
    }
    serde_json::from_str(text).map_err(|e| ProviderError::Malformed(e.to_string()))
}

/// `out_order_no` and the like go into a path: only what WeChat allows.
fn path_safe(s: &str) -> Result<&str, ProviderError> {
    if !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'*' | b'@' | b'|'))
    {
        Ok(s)
    } else {
        Err(ProviderError::Malformed(format!("bad split number {s:?}")))
    }
}

impl WechatPayV3 {
    /// The platform key sensitive fields are encrypted with, and its id (the
    /// WeChat Pay public key, or a platform certificate's serial).
    async fn encryption_key(&self) -> Result<(String, crate::crypto::RsaVerifier), ProviderError> {
        let pick = |this: &Self| -> Option<(String, crate::crypto::RsaVerifier)> {
            let ring = this.keys.read().ok()?;
            let id = match &this.public_key_id {
                Some(id) => id.clone(),
                None => ring.ids().next()?.to_owned(),
            };
            let key = ring.get(&id)?.clone();
            Some((id, key))
        };
        if let Some(found) = pick(self) {
            return Ok(found);
        }
        self.refresh_certificates().await?;
        pick(self).ok_or_else(|| {
            ProviderError::NotConfigured("no WeChat Pay platform key to encrypt with".into())
        })
    }

    pub(super) async fn add_receiver(&self, r: &ShareReceiver) -> Result<(), ProviderError> {
        // The name is sensitive: encrypted under the platform key, named in
        // `Wechatpay-Serial`.
        let (serial, name) = match r.name.as_deref().filter(|n| !n.is_empty()) {
            Some(name) => {
                let (serial, key) = self.encryption_key().await?;
                let sealed = key
                    .encrypt_oaep_sha1_base64(name.as_bytes())
                    .map_err(|e| ProviderError::NotConfigured(e.to_string()))?;
                (Some(serial), Some(sealed))
            }
            None => (None, None),
        };
        let request = AddReceiverRequest {
            appid: self.app_id.clone(),
            kind: r.kind.clone(),
            account: r.account.clone(),
            name,
            relation_type: r.relation.clone(),
        };
        let a = self
            .call_as(
                "share_receiver_add",
                reqwest::Method::POST,
                "/v3/profitsharing/receivers/add",
                Some(body(&request)?),
                None,
                serial.as_deref(),
            )
            .await?;
        answer::<serde_json::Value>(a.status, &a.body).map(|_| ())
    }

    pub(super) async fn split(&self, r: &ShareRequest) -> Result<ShareInfo, ProviderError> {
        let request = ShareOrderRequest {
            appid: self.app_id.clone(),
            transaction_id: r.transaction_id.clone(),
            out_order_no: r.out_order_no.clone(),
            receivers: r
                .lines
                .iter()
                .map(|l| ReceiverAmount {
                    kind: l.kind.clone(),
                    account: l.account.clone(),
                    amount: l.amount_fen,
                    description: l.description.clone(),
                })
                .collect(),
            unfreeze_unsplit: r.unfreeze_unsplit,
        };
        let a = self
            .call(
                "share",
                reqwest::Method::POST,
                "/v3/profitsharing/orders",
                Some(body(&request)?),
                None,
            )
            .await?;
        answer::<ShareOrder>(a.status, &a.body)?.info()
    }

    pub(super) async fn query_split(
        &self,
        transaction_id: &str,
        out_order_no: &str,
    ) -> Result<ShareInfo, ProviderError> {
        let path = format!(
            "/v3/profitsharing/orders/{}?transaction_id={}",
            path_safe(out_order_no)?,
            path_safe(transaction_id)?
        );
        let a = self
            .call("share_query", reqwest::Method::GET, &path, None, None)
            .await?;
        answer::<ShareOrder>(a.status, &a.body)?.info()
    }

    pub(super) async fn unfreeze(
        &self,
        transaction_id: &str,
        out_order_no: &str,
        description: &str,
    ) -> Result<ShareInfo, ProviderError> {
        let request = UnfreezeRequest {
            transaction_id: transaction_id.to_owned(),
            out_order_no: out_order_no.to_owned(),
            description: description.to_owned(),
        };
        let a = self
            .call(
                "share_unfreeze",
                reqwest::Method::POST,
                "/v3/profitsharing/orders/unfreeze",
                Some(body(&request)?),
                None,
            )
            .await?;
        answer::<ShareOrder>(a.status, &a.body)?.info()
    }

    pub(super) async fn return_split(
        &self,
        r: &formpay_core::provider::ShareReturn,
    ) -> Result<ShareReturnInfo, ProviderError> {
        let request = ReturnRequest {
            out_order_no: r.out_order_no.clone(),
            out_return_no: r.out_return_no.clone(),
            return_mchid: r.return_mchid.clone(),
            amount: r.amount_fen,
            description: r.description.clone(),
        };
        let a = self
            .call(
                "share_return",
                reqwest::Method::POST,
                "/v3/profitsharing/return-orders",
                Some(body(&request)?),
                None,
            )
            .await?;
        answer::<ReturnOrder>(a.status, &a.body)?.info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_published_split_answer_reads() {
        // The shape of WeChat's documented example answer.
        let text = r#"{"transaction_id":"4208450740201411110007820472","out_order_no":"P20150806125346","order_id":"3008450740201411110007820472","state":"FINISHED","receivers":[{"amount":100,"description":"分给商户1900000109","type":"MERCHANT_ID","account":"1900000109","result":"SUCCESS","fail_reason":"ACCOUNT_ABNORMAL","detail_id":"36011111111111111111111","create_time":"2015-05-20T13:29:35.120+08:00","finish_time":"2015-05-20T13:29:35.120+08:00"}]}"#;
        let info = answer::<ShareOrder>(200, text).and_then(ShareOrder::info);
        let info = info.expect("reads");
        assert_eq!(info.state, ShareState::Finished);
        assert_eq!(info.lines[0].amount_fen, 100);
        assert_eq!(info.lines[0].result, ShareResult::Success);
        assert!(answer::<ShareOrder>(200, r#"{"state":"DONE"}"#).is_err());
        let odd = text.replace("FINISHED", "SOMETHING");
        assert!(answer::<ShareOrder>(200, &odd)
            .and_then(ShareOrder::info)
            .is_err());
        assert!(answer::<ShareOrder>(400, r#"{"code":"PARAM_ERROR","message":"x"}"#).is_err());
    }

    #[test]
    fn numbers_in_a_path_are_checked() {
        assert!(path_safe("S2026120600001").is_ok());
        assert!(path_safe("../x").is_err());
        assert!(path_safe("a?b").is_err());
        assert!(path_safe("").is_err());
    }
}
