//! The one interface every payment provider implements (WeChat Pay v3, the
//! legacy v2, Alipay). The implementations live in the server crate; server
//! functions and routes only see this trait.

use domain::{Channel, Money, OutTradeNo, Provider};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What we ask a provider to create.
#[derive(Debug, Clone)]
pub struct NewPayment {
    pub out_trade_no: OutTradeNo,
    pub amount: Money,
    /// Shown to the payer by the provider (WeChat ≤127, Alipay ≤256 characters).
    pub subject: String,
    /// Unix milliseconds after which the provider refuses payment.
    pub expires_at_ms: i64,
    /// The full URL the provider calls back.
    pub notify_url: String,
    /// Where the payer's browser comes back to (Alipay page and WAP pay,
    /// WeChat H5's `redirect_url`): the pay page, which shows the status.
    pub return_url: String,
    /// Where a payer who cancels at Alipay's phone cashier goes (`quit_url`).
    pub quit_url: String,
    pub client_ip: Option<String>,
    /// The payer's WeChat `openid` for our app id (JSAPI only).
    pub payer_openid: Option<String>,
    /// The money is held for a split (WeChat `settle_info.profit_sharing`).
    pub profit_sharing: bool,
}

/// What the payer does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayAction {
    /// Content of a QR code to scan (WeChat `code_url`, Alipay `qr_code`).
    QrCode(String),
    /// A page to send the browser to (Alipay's cashier, signed URL; WeChat
    /// H5's `h5_url` with our `redirect_url`).
    Redirect(String),
    /// WeChat's pay sheet inside WeChat: what the page passes to
    /// `getBrandWCPayRequest`.
    Jsapi(domain::JsapiParams),
}

/// How a page inside WeChat learns the payer's `openid` (web OAuth,
/// `snsapi_base`): JSAPI orders need it.
#[async_trait::async_trait]
pub trait PayerIdentity: Send + Sync {
    /// The app id the openid belongs to.
    fn app_id(&self) -> &str;
    /// Where to send the payer's browser; it comes back to `redirect_uri`
    /// with `code` and `state`.
    fn authorize_url(&self, redirect_uri: &str, state: &str) -> String;
    /// Exchanges the code for the openid.
    async fn openid(&self, code: &str) -> Result<String, ProviderError>;
    /// Proves the app id and secret without a payer ("test connection").
    async fn check(&self) -> Result<(), ProviderError>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TradeState {
    /// No payment yet (including "the provider does not know this order yet").
    NotPaid,
    /// The payer is entering a password and the like.
    Paying,
    Paid,
    Closed,
    /// Paid, then (fully) refunded.
    Refunded,
    Failed,
    /// A state this version does not know; treated as "not paid yet".
    Unknown(String),
}

/// A provider's view of one payment, from a query or a callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeInfo {
    pub out_trade_no: String,
    pub state: TradeState,
    pub transaction_id: Option<String>,
    /// The amount the provider says the order is for.
    pub amount: Option<Money>,
    /// WeChat `mchid`, Alipay `seller_id`: checked against ours.
    pub merchant_id: Option<String>,
    /// WeChat `appid`, Alipay `app_id`: checked against ours.
    pub app_id: Option<String>,
    /// WeChat `amount.currency`, v2 `fee_type`, Alipay `trans_currency`, when
    /// the message has one: anything but CNY is refused.
    pub currency: Option<String>,
    pub paid_at: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RefundOrder {
    pub out_trade_no: OutTradeNo,
    /// Unique per merchant, reused on retry: the idempotency key.
    pub out_refund_no: String,
    pub amount: Money,
    pub total: Money,
    pub reason: Option<String>,
    pub notify_url: String,
    /// Shares taken back from receivers with this refund, where the
    /// provider does it in the refund itself (Alipay's 退分账): kind and
    /// account of the receiver, amount.
    pub royalty_returns: Vec<ShareLineRequest>,
}

pub use domain::RefundState;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundInfo {
    pub out_trade_no: String,
    pub out_refund_no: String,
    pub refund_id: Option<String>,
    pub state: RefundState,
    pub amount: Option<Money>,
    /// WeChat's `mchid` in a refund callback: checked against ours.
    pub merchant_id: Option<String>,
}

/// A verified, decrypted callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyEvent {
    Trade(TradeInfo),
    Refund(RefundInfo),
}

/// The HTTP answer a provider expects to a callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyReply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("the provider is not configured: {0}")]
    NotConfigured(String),
    #[error("the provider could not be reached: {0}")]
    Transport(String),
    #[error("the provider's answer failed verification: {0}")]
    Verification(String),
    #[error("the provider's answer is malformed: {0}")]
    Malformed(String),
    #[error("the provider refused: {code} {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("the provider does not know this order")]
    NotFound,
}

/// What a line of a provider's daily trade bill (对账单) records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillKind {
    Payment,
    Refund,
}

/// One line of a daily trade bill, as the provider wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillLine {
    pub kind: BillKind,
    /// `YYYY-MM-DD HH:MM:SS`, Beijing time (a refund: when it was asked for).
    pub at: String,
    pub app_id: String,
    pub merchant_id: String,
    pub transaction_id: String,
    pub out_trade_no: String,
    /// A refund's `out_refund_no` and the provider's refund id.
    pub out_refund_no: Option<String>,
    pub refund_id: Option<String>,
    /// A payment: what the merchant is settled (应结订单金额); a refund: what
    /// was refunded (退款金额). Never negative.
    pub amount_fen: i64,
    /// The provider's fee (手续费), rounded to the fen: negative on a refund
    /// (the fee given back).
    pub fee_fen: i64,
}

/// A day's trade bill, checked against its own totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bill {
    pub lines: Vec<BillLine>,
    /// The bill's own totals (its summary block): payments, refunds, fees.
    pub paid_fen: i64,
    pub refunded_fen: i64,
    pub fee_fen: i64,
}

/// What asking for a day's bill gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BillAnswer {
    /// The provider has made no bill for the day: nothing was paid or refunded.
    NoBill,
    /// The bill is being made (before about 10:00 Beijing time the next day).
    NotReady,
    Bill(Bill),
}

/// One line of a day's fund flow bill (资金账单): money in or out of the
/// merchant's basic account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundFlowLine {
    /// `YYYY-MM-DD HH:MM:SS`, Beijing time (记账时间).
    pub at: String,
    /// The provider's number of the business (a transaction, a refund).
    pub business_no: String,
    pub flow_no: String,
    /// 业务名称: 交易, 退款, 充值/提现, 分账, …
    pub name: String,
    /// 业务类型: 交易, 扣除交易手续费, 退款, 退还交易手续费, …
    pub kind: String,
    /// 收入 (true) or 支出.
    pub income: bool,
    pub amount_fen: i64,
    pub balance_fen: i64,
    /// 业务凭证号: usually our order or refund number.
    pub voucher: String,
}

/// A day's fund flow bill, checked against its own totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FundFlow {
    pub lines: Vec<FundFlowLine>,
    pub income_fen: i64,
    pub expense_fen: i64,
}

impl FundFlow {
    /// What the day's payments and refunds moved (their fees included):
    /// the lines of 业务名称 交易 and 退款, in less out.
    pub fn trade_net_fen(&self) -> i64 {
        self.lines
            .iter()
            .filter(|l| l.name == "交易" || l.name == "退款")
            .map(|l| {
                if l.income {
                    l.amount_fen
                } else {
                    -l.amount_fen
                }
            })
            .sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FundFlowAnswer {
    NoBill,
    NotReady,
    Flow(FundFlow),
}

/// A receiver of profit sharing, as the provider registers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareReceiver {
    /// `MERCHANT_ID` or `PERSONAL_OPENID`.
    pub kind: String,
    pub account: String,
    pub name: Option<String>,
    /// WeChat's `relation_type`.
    pub relation: String,
}

/// One receiver's share in a split request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareLineRequest {
    pub kind: String,
    pub account: String,
    pub amount_fen: i64,
    pub description: String,
}

/// A split of a paid payment (WeChat `POST /v3/profitsharing/orders`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareRequest {
    pub transaction_id: String,
    /// Ours, unique per merchant: the idempotency key.
    pub out_order_no: String,
    pub lines: Vec<ShareLineRequest>,
    /// Release what is not shared to the merchant once the split is done.
    pub unfreeze_unsplit: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareState {
    Processing,
    Finished,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareResult {
    Pending,
    Success,
    Closed,
}

impl ShareResult {
    pub fn as_str(self) -> &'static str {
        match self {
            ShareResult::Pending => "PENDING",
            ShareResult::Success => "SUCCESS",
            ShareResult::Closed => "CLOSED",
        }
    }
}

/// One receiver's line of a split, as the provider reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareLineInfo {
    pub kind: String,
    pub account: String,
    pub amount_fen: i64,
    pub result: ShareResult,
    pub fail_reason: Option<String>,
}

/// A provider's view of a split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareInfo {
    pub out_order_no: String,
    /// The provider's id of the split.
    pub order_id: Option<String>,
    pub state: ShareState,
    pub lines: Vec<ShareLineInfo>,
}

/// A share given back by a merchant receiver (WeChat `return-orders`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareReturn {
    pub out_order_no: String,
    pub out_return_no: String,
    pub return_mchid: String,
    pub amount_fen: i64,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShareReturnState {
    Processing,
    Success,
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareReturnInfo {
    pub out_return_no: String,
    pub amount_fen: i64,
    pub state: ShareReturnState,
}

fn no_sharing<T>() -> Result<T, ProviderError> {
    Err(ProviderError::NotConfigured(
        "this provider does not split payments".into(),
    ))
}

#[async_trait::async_trait]
pub trait PaymentProvider: Send + Sync {
    fn provider(&self) -> Provider;
    /// The name in the payment log: `wechat`, `wechat_v2`, `alipay`.
    fn log_name(&self) -> &'static str;
    /// Our merchant id at this provider (WeChat `mchid`, Alipay seller id or app id).
    fn merchant_id(&self) -> &str;
    fn app_id(&self) -> &str;
    async fn create(
        &self,
        channel: Channel,
        payment: &NewPayment,
    ) -> Result<PayAction, ProviderError>;
    async fn query(&self, out_trade_no: &OutTradeNo) -> Result<TradeInfo, ProviderError>;
    async fn close(&self, out_trade_no: &OutTradeNo) -> Result<(), ProviderError>;
    async fn refund(&self, refund: &RefundOrder) -> Result<RefundInfo, ProviderError>;
    async fn query_refund(
        &self,
        out_trade_no: &OutTradeNo,
        out_refund_no: &str,
    ) -> Result<RefundInfo, ProviderError>;
    /// Verifies (signature first) and decodes a callback. Writes nothing:
    /// the caller logs the message once it knows whose order it is.
    async fn parse_notify(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<NotifyEvent, ProviderError>;
    /// A verified callback's body as the payment log keeps it (no signature,
    /// no ciphertext, bounded).
    fn redact_notify(&self, body: &[u8]) -> String;
    /// The path of our callback route for this provider, e.g. `/payment/wechat/notify`;
    /// it starts with `/payment/` and ends with `/notify` (the one callback route
    /// splits a stored account's id off after it).
    fn notify_path(&self) -> &'static str;
    fn notify_success(&self) -> NotifyReply;
    fn notify_failure(&self, reason: &str) -> NotifyReply;
    /// The channels this client serves with its settings (JSAPI needs the
    /// official account's secret, H5 the merchant's switch).
    fn channels(&self) -> Vec<Channel>;
    /// WeChat OAuth, when this client can learn payers' openids.
    fn payer_identity(&self) -> Option<&dyn PayerIdentity> {
        None
    }
    /// Whether [`Self::trade_bill`] reads this provider's bills (the daily
    /// reconciliation runs only where it does).
    fn reads_bills(&self) -> bool {
        false
    }
    /// The day's trade bill (`date`: a Beijing calendar day), downloaded and
    /// checked (its hash, its totals).
    async fn trade_bill(&self, date: chrono::NaiveDate) -> Result<BillAnswer, ProviderError> {
        let _ = date;
        Err(ProviderError::NotConfigured(
            "this provider's bills are not read yet".into(),
        ))
    }
    /// Whether this client splits payments (profit sharing, 分账).
    fn shares_profit(&self) -> bool {
        false
    }
    /// Whether shares come back inside the refund (Alipay) rather than by a
    /// return asked before it (WeChat).
    fn returns_shares_in_refund(&self) -> bool {
        false
    }
    /// Registers a receiver (idempotent at the provider).
    async fn add_share_receiver(&self, receiver: &ShareReceiver) -> Result<(), ProviderError> {
        let _ = receiver;
        no_sharing()
    }
    /// Sends a split of a paid payment made with profit sharing on.
    async fn share(&self, request: &ShareRequest) -> Result<ShareInfo, ProviderError> {
        let _ = request;
        no_sharing()
    }
    async fn query_share(
        &self,
        transaction_id: &str,
        out_order_no: &str,
    ) -> Result<ShareInfo, ProviderError> {
        let _ = (transaction_id, out_order_no);
        no_sharing()
    }
    /// Releases a payment's frozen money to the merchant without a split.
    async fn unfreeze_share(
        &self,
        transaction_id: &str,
        out_order_no: &str,
        description: &str,
    ) -> Result<ShareInfo, ProviderError> {
        let _ = (transaction_id, out_order_no, description);
        no_sharing()
    }
    /// Asks a merchant receiver to give back (part of) its share.
    async fn return_share(&self, request: &ShareReturn) -> Result<ShareReturnInfo, ProviderError> {
        let _ = request;
        no_sharing()
    }
    /// The day's fund flow bill of the basic account (资金账单), where the
    /// provider has one (WeChat).
    async fn fund_flow_bill(
        &self,
        date: chrono::NaiveDate,
    ) -> Result<Option<FundFlowAnswer>, ProviderError> {
        let _ = date;
        Ok(None)
    }
    /// Fresh pay-sheet parameters for a JSAPI order already made
    /// (`package` is `prepay_id=…`): a payer who taps again.
    fn jsapi_params(&self, package: &str) -> Result<domain::JsapiParams, ProviderError> {
        let _ = package;
        Err(ProviderError::NotConfigured(
            "this provider has no pay sheet".into(),
        ))
    }
}

/// The providers a receiving account can take payments with: a map keyed by
/// provider, filled by the provider kinds the account is made of.
#[derive(Clone, Default)]
pub struct PaymentProviders(BTreeMap<Provider, Arc<dyn PaymentProvider>>);

impl PaymentProviders {
    pub fn for_provider(&self, provider: Provider) -> Option<&Arc<dyn PaymentProvider>> {
        self.0.get(&provider)
    }

    /// Adds (or replaces) the client of its provider.
    pub fn insert(&mut self, client: Arc<dyn PaymentProvider>) {
        self.0.insert(client.provider(), client);
    }

    /// These providers, completed by `other`'s for the providers they lack.
    pub fn or(mut self, other: &PaymentProviders) -> PaymentProviders {
        for (p, c) in &other.0 {
            self.0.entry(*p).or_insert_with(|| c.clone());
        }
        self
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn PaymentProvider>> {
        self.0.values()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every channel the clients serve, in [`Channel::ALL`]'s order.
    pub fn channels(&self) -> Vec<Channel> {
        Channel::ALL
            .into_iter()
            .filter(|c| {
                self.for_provider(c.provider())
                    .is_some_and(|p| p.channels().contains(c))
            })
            .collect()
    }
}

impl FromIterator<Arc<dyn PaymentProvider>> for PaymentProviders {
    fn from_iter<I: IntoIterator<Item = Arc<dyn PaymentProvider>>>(iter: I) -> Self {
        let mut p = PaymentProviders::default();
        for c in iter {
            p.insert(c);
        }
        p
    }
}
