//! Alipay wire types and the only place where fen become yuan strings and back.

use domain::{Money, MoneyError};
use serde::{Deserialize, Serialize};

/// Fen → Alipay's `total_amount` ("0.01").
pub fn to_alipay_amount(m: Money) -> String {
    m.to_yuan_string()
}

/// Alipay's amount string → fen, exactly (no floats).
pub fn from_alipay_amount(s: &str) -> Result<Money, MoneyError> {
    Money::parse_yuan(s)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PagePayBiz {
    pub out_trade_no: String,
    pub total_amount: String,
    pub subject: String,
    pub product_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_expire: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passback_params: Option<String>,
    /// `{"royalty_freeze": "true"}`: the money is frozen for a split (分账).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extend_params: Option<ExtendParams>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExtendParams {
    pub royalty_freeze: String,
}

impl ExtendParams {
    /// Frozen for a split when `profit_sharing`.
    pub fn for_sharing(profit_sharing: bool) -> Option<ExtendParams> {
        profit_sharing.then(|| ExtendParams {
            royalty_freeze: "true".into(),
        })
    }
}

/// `alipay.trade.wap.pay`: the phone cashier; `quit_url` is where a payer
/// who gives up goes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WapPayBiz {
    pub out_trade_no: String,
    pub total_amount: String,
    pub subject: String,
    /// `QUICK_WAP_WAY`.
    pub product_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_expire: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quit_url: Option<String>,
    /// `{"royalty_freeze": "true"}`: the money is frozen for a split (分账).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extend_params: Option<ExtendParams>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PrecreateBiz {
    pub out_trade_no: String,
    pub total_amount: String,
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_expire: Option<String>,
    /// `{"royalty_freeze": "true"}`: the money is frozen for a split (分账).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extend_params: Option<ExtendParams>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TradeNoBiz {
    pub out_trade_no: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RefundBiz {
    pub out_trade_no: String,
    pub refund_amount: String,
    /// The idempotency key of this refund.
    pub out_request_no: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_reason: Option<String>,
    /// Shares taken back from royalty receivers with this refund (退分账).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refund_royalty_parameters: Vec<RoyaltyParameter>,
}

/// One transfer of a split (`royalty_parameters`) or of its return
/// (`refund_royalty_parameters`, money going out of the receiver).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RoyaltyParameter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub royalty_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trans_out: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trans_out_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trans_in: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trans_in_type: Option<String>,
    /// Yuan, as a string.
    pub amount: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
}

/// `alipay.trade.royalty.relation.bind`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RelationBindBiz {
    pub out_request_no: String,
    pub receiver_list: Vec<RoyaltyReceiver>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RoyaltyReceiver {
    /// userId | loginName
    #[serde(rename = "type")]
    pub kind: String,
    pub account: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
}

/// `alipay.trade.order.settle`: a split, or with no parameters and
/// `royalty_finish` the release of the rest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrderSettleBiz {
    pub out_request_no: String,
    pub trade_no: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub royalty_parameters: Vec<RoyaltyParameter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extend_params: Option<SettleExtendParams>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SettleExtendParams {
    pub royalty_finish: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrderSettleResponse {
    #[serde(flatten)]
    pub common: Common,
    #[serde(default)]
    pub trade_no: Option<String>,
    #[serde(default)]
    pub settle_no: Option<String>,
}

/// `alipay.trade.order.settle.query`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SettleQueryBiz {
    pub out_request_no: String,
    pub trade_no: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SettleQueryResponse {
    #[serde(flatten)]
    pub common: Common,
    #[serde(default)]
    pub out_request_no: Option<String>,
    #[serde(default)]
    pub settle_no: Option<String>,
    #[serde(default)]
    pub royalty_detail_list: Vec<RoyaltyDetail>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RoyaltyDetail {
    /// transfer | replenish | transfer_refund | replenish_refund
    pub operation_type: String,
    #[serde(default)]
    pub trans_in: Option<String>,
    #[serde(default)]
    pub trans_in_type: Option<String>,
    pub amount: String,
    /// SUCCESS | FAIL | PROCESSING
    pub state: String,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_desc: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TradeStatus {
    WaitBuyerPay,
    TradeClosed,
    TradeSuccess,
    TradeFinished,
    #[serde(other)]
    Unknown,
}

impl TradeStatus {
    pub fn is_paid(self) -> bool {
        matches!(self, TradeStatus::TradeSuccess | TradeStatus::TradeFinished)
    }
}

/// What every answer node carries: code 10000 is success, 40004 a business failure.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Common {
    pub code: String,
    #[serde(default)]
    pub msg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_msg: Option<String>,
}

impl Common {
    pub fn is_success(&self) -> bool {
        self.code == "10000"
    }

    /// The buyer has not opened the cashier yet: for us, "not paid yet".
    pub fn is_trade_not_exist(&self) -> bool {
        self.sub_code.as_deref() == Some("ACQ.TRADE_NOT_EXIST")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PrecreateResponse {
    #[serde(flatten)]
    pub common: Common,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_trade_no: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qr_code: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QueryResponse {
    #[serde(flatten)]
    pub common: Common,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_no: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_trade_no: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_status: Option<TradeStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_amount: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_pay_date: Option<String>,
    /// Only for foreign-currency trades.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trans_currency: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CloseResponse {
    #[serde(flatten)]
    pub common: Common,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_no: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_trade_no: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RefundResponse {
    #[serde(flatten)]
    pub common: Common,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_no: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_trade_no: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_fee: Option<String>,
    /// "Y" only when money moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fund_change: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_at_the_boundaries() {
        for (fen, yuan) in [
            (1, "0.01"),
            (99, "0.99"),
            (100, "1.00"),
            (10_000_000_000, "100000000.00"),
        ] {
            let m = Money::from_fen(fen).expect("in range");
            assert_eq!(to_alipay_amount(m), yuan);
            assert_eq!(from_alipay_amount(yuan), Ok(m));
        }
        assert_eq!(from_alipay_amount("0.1").map(Money::fen), Ok(10));
        assert!(from_alipay_amount("1.001").is_err());
        assert!(from_alipay_amount("-0.01").is_err());
        assert!(from_alipay_amount("1e2").is_err());
    }

    #[test]
    fn answers_parse_and_unknown_statuses_are_tolerated() {
        let q: QueryResponse = serde_json::from_str(
            r#"{"code":"10000","msg":"Success","trade_no":"2026","out_trade_no":"A1","trade_status":"TRADE_SUCCESS","total_amount":"12.34"}"#,
        )
        .expect("parses");
        assert!(q.common.is_success());
        assert_eq!(q.trade_status, Some(TradeStatus::TradeSuccess));
        let odd: QueryResponse =
            serde_json::from_str(r#"{"code":"10000","trade_status":"TRADE_PENDING"}"#)
                .expect("parses");
        assert_eq!(odd.trade_status, Some(TradeStatus::Unknown));
        let missing: QueryResponse = serde_json::from_str(
            r#"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在"}"#,
        )
        .expect("parses");
        assert!(missing.common.is_trade_not_exist());
        assert!(serde_json::from_str::<QueryResponse>(r#"{"msg":"no code"}"#).is_err());
    }
}
