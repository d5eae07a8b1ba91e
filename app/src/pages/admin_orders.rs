//! Administrators' orders: a filtered, searchable list and the order page with
//! its event log, the provider messages, refunds and the actions.

use crate::domain::{Channel, OrderStatus};
use crate::i18n::{use_lang, Lang};
use leptos::prelude::*;
use leptos_router::components::Redirect;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

pub const PAGE_SIZE: i64 = 20;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderRow {
    pub id: String,
    pub out_trade_no: String,
    pub form_title: String,
    pub amount: String,
    pub refunded: String,
    pub status: OrderStatus,
    pub channel: Option<Channel>,
    pub transaction_id: Option<String>,
    pub review_reason: Option<String>,
    pub created_at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrdersView {
    pub rows: Vec<OrderRow>,
    pub total: i64,
    pub page: i64,
    /// (id, title) of every form, for the filter.
    pub forms: Vec<(String, String)>,
}

/// The orders list's filter, as the page's query string carries it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OrderQuery {
    pub status: String,
    pub channel: String,
    pub form: String,
    /// Beijing dates `YYYY-MM-DD`, both included.
    pub from: String,
    pub to: String,
    /// Amounts in yuan.
    pub min: String,
    pub max: String,
    pub q: String,
}

impl OrderQuery {
    pub const KEYS: [&'static str; 8] =
        ["status", "channel", "form", "from", "to", "min", "max", "q"];

    pub fn from_pairs(get: impl Fn(&str) -> String) -> OrderQuery {
        OrderQuery {
            status: get("status"),
            channel: get("channel"),
            form: get("form"),
            from: get("from"),
            to: get("to"),
            min: get("min"),
            max: get("max"),
            q: get("q"),
        }
    }

    /// `key=value&…` of the parts that are set.
    pub fn to_query(&self) -> String {
        [
            ("status", &self.status),
            ("channel", &self.channel),
            ("form", &self.form),
            ("from", &self.from),
            ("to", &self.to),
            ("min", &self.min),
            ("max", &self.max),
            ("q", &self.q),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
    }

    /// The filter to run; unknown or empty parts are ignored.
    #[cfg(feature = "ssr")]
    pub fn filter(&self) -> crate::ssr::order_list::OrderFilter {
        use crate::domain::Money;
        let text = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        crate::ssr::order_list::OrderFilter {
            status: OrderStatus::parse(&self.status),
            channel: Channel::parse(&self.channel),
            form_id: text(&self.form),
            from_date: text(&self.from),
            to_date: text(&self.to),
            min_amount: Money::parse_yuan(&self.min).ok(),
            max_amount: Money::parse_yuan(&self.max).ok(),
            search: text(&self.q),
        }
    }
}

#[server(endpoint = "admin_orders")]
pub async fn admin_orders(
    #[server(default)] filter: OrderQuery,
    page: i64,
) -> Result<OrdersView, ServerFnError> {
    use crate::domain::Money;
    use crate::ssr::{forms, order_list, AppState};
    crate::ssr::auth::require_admin().await?;
    let state = AppState::from_context()?;
    let fail = |e: anyhow::Error| {
        tracing::error!(error = ?e, "orders");
        ServerFnError::new("internal error")
    };
    let filter = filter.filter();
    let page = page.clamp(1, super::MAX_PAGE);
    let (total, lines) = order_list::page(&state.db, &filter, PAGE_SIZE, (page - 1) * PAGE_SIZE)
        .await
        .map_err(fail)?;
    let yuan = |f: i64| {
        Money::from_fen(f)
            .map(|m| m.to_string())
            .unwrap_or_default()
    };
    let rows = lines
        .into_iter()
        .map(|l| OrderRow {
            amount: l.amount.to_string(),
            refunded: yuan(l.refunded_fen),
            status: l.status,
            channel: l.channel,
            created_at: forms::beijing_time(l.created_at),
            id: l.id,
            out_trade_no: l.out_trade_no,
            form_title: l.form_title,
            transaction_id: l.transaction_id,
            review_reason: l.review_reason,
        })
        .collect();
    let forms = forms::list_forms(&state.db)
        .await
        .map_err(fail)?
        .into_iter()
        .map(|f| (f.id, f.def.title))
        .collect();
    Ok(OrdersView {
        rows,
        total,
        page,
        forms,
    })
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventView {
    pub at: String,
    pub kind: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefundView {
    pub out_refund_no: String,
    pub amount: String,
    pub reason: String,
    pub status: String,
    pub refund_id: Option<String>,
    pub failure: Option<String>,
    pub created_by: String,
    pub created_at: String,
    pub settled_at: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogView {
    pub at: String,
    pub operation: String,
    pub direction: String,
    pub status_code: Option<i64>,
    pub latency_ms: i64,
    pub request: String,
    pub response: String,
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderDetail {
    pub id: String,
    pub out_trade_no: String,
    pub form_id: String,
    pub form_title: String,
    pub amount: String,
    pub refunded: String,
    /// What can still be refunded, in yuan without a sign (the form's default).
    pub refundable: String,
    pub refundable_fen: i64,
    pub status: OrderStatus,
    pub channel: Option<Channel>,
    pub transaction_id: Option<String>,
    pub review_reason: Option<String>,
    pub created_at: String,
    pub paid_at: Option<String>,
    pub expires_at: String,
    pub receipt_url: String,
    pub answers: Vec<(String, String)>,
    pub events: Vec<EventView>,
    pub refunds: Vec<RefundView>,
    /// Every provider order made for this order, oldest first.
    pub payments: Vec<PaymentView>,
    pub log: Vec<LogView>,
    /// A fresh idempotency key for the refund form.
    pub request_key: String,
}

/// One payment attempt: a provider order with its own number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaymentView {
    pub out_trade_no: String,
    pub channel: Channel,
    /// open, closing, closed, failed or paid.
    pub state: String,
    pub amount: String,
    pub transaction_id: Option<String>,
    pub paid_at: Option<String>,
    /// What its refunds may still take back (paid attempts), in yuan.
    pub refundable_fen: i64,
}

#[server(endpoint = "admin_order")]
pub async fn admin_order(id: String) -> Result<Option<OrderDetail>, ServerFnError> {
    use crate::domain::Money;
    use crate::ssr::{forms, order_list, orders, refunds, AppState};
    crate::ssr::auth::require_admin().await?;
    let state = AppState::from_context()?;
    let fail = |e: anyhow::Error| {
        tracing::error!(error = ?e, "order page");
        ServerFnError::new("internal error")
    };
    let Some(o) = orders::by_id(&state.db, &id).await.map_err(fail)? else {
        return Ok(None);
    };
    let form = forms::form_by_id(&state.db, &o.form_id)
        .await
        .map_err(fail)?;
    let answers = match (
        &form,
        forms::submission_answers(&state.db, &o.submission_id).await,
    ) {
        (Some(f), Ok(Some(map))) => super::form_page::answers_for_display(&f.def.fields, &map),
        _ => Vec::new(),
    };
    let yuan = |f: i64| {
        Money::from_fen(f)
            .map(|m| m.to_string())
            .unwrap_or_default()
    };
    let refund_list = refunds::for_order(&state.db, &o.id).await.map_err(fail)?;
    let refundable_fen = if crate::ssr::pay::refund::refundable(o.status) {
        (o.received_fen - o.refunded_fen - o.refund_reserved_fen).max(0)
    } else {
        0
    };
    let payments = crate::ssr::attempts::for_order(&state.db, &o.id)
        .await
        .map_err(fail)?
        .into_iter()
        .map(|a| {
            let held: i64 = refund_list
                .iter()
                .filter(|r| {
                    r.out_trade_no == a.out_trade_no
                        && r.status != crate::ssr::provider::RefundState::Closed
                })
                .map(|r| r.amount.fen())
                .sum();
            let paid = a.state == crate::ssr::attempts::AttemptState::Paid;
            PaymentView {
                out_trade_no: a.out_trade_no.clone(),
                channel: a.channel,
                state: a.state.as_str().to_owned(),
                amount: a.amount.to_string(),
                transaction_id: a.transaction_id.clone(),
                paid_at: a.paid_at.map(forms::beijing_time),
                refundable_fen: if paid {
                    (a.amount.fen() - held).max(0)
                } else {
                    0
                },
            }
        })
        .collect();
    let events = orders::events(&state.db, &o.id)
        .await
        .map_err(fail)?
        .into_iter()
        .map(|e| EventView {
            at: forms::beijing_time(e.created_at),
            kind: e.kind.to_string(),
            from: e.from_status.map(|s| s.to_string()),
            to: e.to_status.map(|s| s.to_string()),
            detail: e.detail,
        })
        .collect();
    let log = order_list::payment_log(&state.db, &o.id, 200)
        .await
        .map_err(fail)?
        .into_iter()
        .map(|l| LogView {
            at: forms::beijing_time(l.created_at),
            operation: l.operation,
            direction: l.direction.to_string(),
            status_code: l.status_code,
            latency_ms: l.latency_ms,
            request: l.request,
            response: l.response,
            error: l.error,
        })
        .collect();
    Ok(Some(OrderDetail {
        id: o.id.clone(),
        out_trade_no: o.out_trade_no.clone(),
        form_id: o.form_id.clone(),
        form_title: form.map(|f| f.def.title).unwrap_or_default(),
        amount: o.amount.to_string(),
        refunded: yuan(o.refunded_fen),
        refundable: Money::from_fen(refundable_fen)
            .map(|m| m.to_yuan_string())
            .unwrap_or_default(),
        refundable_fen,
        status: o.status,
        channel: o.channel,
        transaction_id: o.transaction_id.clone(),
        review_reason: o.review_reason.clone(),
        created_at: forms::beijing_time(o.created_at),
        paid_at: o.paid_at.map(forms::beijing_time),
        expires_at: forms::beijing_time(o.expires_at),
        receipt_url: format!("/r/{}", o.receipt_token),
        answers,
        events,
        refunds: refund_list
            .into_iter()
            .map(|r| RefundView {
                out_refund_no: r.out_refund_no,
                amount: r.amount.to_string(),
                reason: r.reason,
                status: r.status.to_string(),
                refund_id: r.refund_id,
                failure: r.failure,
                created_by: r.created_by,
                created_at: forms::beijing_time(r.created_at),
                settled_at: r.settled_at.map(forms::beijing_time),
            })
            .collect(),
        payments,
        log,
        request_key: crate::ssr::random_token().to_string(),
    }))
}

/// The outcome of an administrator's action on an order, in words the page can show.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ActionOutcome {
    Done(OrderStatus),
    NotFound,
    WrongStatus(OrderStatus),
    ExceedsRemaining(String),
    BadAmount,
    BadReason,
    KeyReused,
    ProviderFailed(String),
    /// Paid more than once: say which payment to refund.
    ChoosePayment,
    /// Kept for review: decide (accept, or refund from the review) first.
    ReviewFirst,
}

impl ActionOutcome {
    pub fn text(&self, lang: Lang) -> String {
        let zh = lang == Lang::Zh;
        let t = lang.t();
        match self {
            ActionOutcome::Done(s) => format!(
                "{}{}",
                if zh {
                    "已完成，订单状态："
                } else {
                    "Done. The order is now: "
                },
                t.order_status(*s)
            ),
            ActionOutcome::NotFound => (if zh {
                "没有这个订单"
            } else {
                "No such order"
            })
            .into(),
            ActionOutcome::WrongStatus(s) => format!(
                "{}{}",
                if zh {
                    "订单当前状态不允许此操作："
                } else {
                    "Not possible while the order is: "
                },
                t.order_status(*s)
            ),
            ActionOutcome::ExceedsRemaining(left) => format!(
                "{}{left}",
                if zh {
                    "超过可退金额，最多还可退 ¥"
                } else {
                    "More than can be refunded; at most ¥"
                }
            ),
            ActionOutcome::BadAmount => (if zh {
                "请输入有效的退款金额（至少 0.01 元）"
            } else {
                "Enter a valid amount (at least 0.01)"
            })
            .into(),
            ActionOutcome::BadReason => (if zh {
                "请填写退款原因（不超过 80 字）"
            } else {
                "Give a reason (80 characters at most)"
            })
            .into(),
            ActionOutcome::KeyReused => (if zh {
                "该请求已用于另一笔退款，请刷新页面"
            } else {
                "This request was used for another refund; reload the page"
            })
            .into(),
            ActionOutcome::ChoosePayment => (if zh {
                "这笔订单收到了多笔付款，请选择要退还哪一笔"
            } else {
                "This order was paid more than once: choose which payment to refund"
            })
            .into(),
            ActionOutcome::ReviewFirst => (if zh {
                "这笔订单待核查：请先决定接受付款或退还付款"
            } else {
                "This order is kept for review: accept the payment or refund it first"
            })
            .into(),
            ActionOutcome::ProviderFailed(m) => format!(
                "{}{m}",
                if zh {
                    "支付机构返回错误："
                } else {
                    "The provider answered: "
                }
            ),
        }
    }
}

#[cfg(feature = "ssr")]
fn action_outcome(
    r: Result<OrderStatus, crate::ssr::pay::admin::ActionError>,
) -> Result<ActionOutcome, ServerFnError> {
    use crate::ssr::pay::admin::ActionError;
    use crate::ssr::pay::PayError;
    match r {
        Ok(s) => Ok(ActionOutcome::Done(s)),
        Err(ActionError::NotFound) => Ok(ActionOutcome::NotFound),
        Err(ActionError::WrongStatus(s)) => Ok(ActionOutcome::WrongStatus(s)),
        Err(ActionError::Pay(PayError::Provider(e))) => {
            Ok(ActionOutcome::ProviderFailed(e.to_string()))
        }
        Err(ActionError::Pay(PayError::ChannelUnavailable)) => Ok(ActionOutcome::ProviderFailed(
            "provider not configured".into(),
        )),
        Err(e) => {
            tracing::error!(error = ?e, "order action");
            Err(ServerFnError::new("internal error"))
        }
    }
}

/// "query" (ask the provider now), "close" (an unpaid order) or "accept" (a payment kept for review).
#[server(endpoint = "admin_order_action")]
pub async fn admin_order_action(
    id: String,
    action: String,
) -> Result<ActionOutcome, ServerFnError> {
    use crate::ssr::{pay, AppState};
    let admin = crate::ssr::auth::require_admin().await?;
    let state = AppState::from_context()?;
    let r = match action.as_str() {
        "query" => pay::admin::query_now(&state, &admin, &id).await,
        "close" => pay::admin::close(&state, &admin, &id).await,
        "accept" => pay::admin::accept(&state, &admin, &id).await,
        _ => return Err(ServerFnError::new("unknown action")),
    };
    action_outcome(r)
}

#[server(endpoint = "admin_refund")]
pub async fn admin_refund(
    id: String,
    amount: String,
    reason: String,
    request_key: String,
    /// Which payment to refund (its number), when the order was paid more than once.
    #[server(default)]
    payment: String,
    /// Set by the review's refund form: the administrator decides to refund.
    #[server(default)]
    review: bool,
) -> Result<ActionOutcome, ServerFnError> {
    use crate::domain::Money;
    use crate::ssr::pay::refund::{self as refunds, RefundError};
    use crate::ssr::AppState;
    let admin = crate::ssr::auth::require_admin().await?;
    let state = AppState::from_context()?;
    let Ok(amount) = Money::parse_yuan(&amount) else {
        return Ok(ActionOutcome::BadAmount);
    };
    let ask = refunds::RefundAsk {
        amount,
        reason: &reason,
        request_key: &request_key,
        payment: Some(payment.trim()).filter(|p| !p.is_empty()),
        review_decision: review,
    };
    match refunds::request(&state, &admin, &id, ask).await {
        Ok(_) => {
            let status = crate::ssr::orders::by_id(&state.db, &id)
                .await
                .ok()
                .flatten()
                .map(|o| o.status)
                .unwrap_or(OrderStatus::Refunding);
            Ok(ActionOutcome::Done(status))
        }
        Err(RefundError::NotFound) => Ok(ActionOutcome::NotFound),
        Err(RefundError::NotRefundable(s)) => Ok(ActionOutcome::WrongStatus(s)),
        Err(RefundError::ZeroAmount) => Ok(ActionOutcome::BadAmount),
        Err(RefundError::ExceedsRemaining { remaining }) => {
            Ok(ActionOutcome::ExceedsRemaining(remaining.to_yuan_string()))
        }
        Err(RefundError::BadReason) => Ok(ActionOutcome::BadReason),
        Err(RefundError::BadRequestKey | RefundError::KeyReused) => Ok(ActionOutcome::KeyReused),
        Err(RefundError::ChoosePayment) => Ok(ActionOutcome::ChoosePayment),
        Err(RefundError::ReviewFirst) => Ok(ActionOutcome::ReviewFirst),
        Err(RefundError::ProviderMissing) => Ok(ActionOutcome::ProviderFailed(
            "provider not configured".into(),
        )),
        Err(RefundError::Unexpected(e)) => {
            tracing::error!(error = ?e, "refund");
            Err(ServerFnError::new("internal error"))
        }
    }
}

#[component]
pub fn OrdersPage() -> impl IntoView {
    let lang = use_lang();
    let t = move || lang.get().t();
    let zh = move || lang.get() == Lang::Zh;
    let query = use_query_map();
    let get = move |k: &str| query.read().get(k).unwrap_or_default();
    let page = move || get("page").parse::<i64>().unwrap_or(1);
    let data = Resource::new(
        move || (OrderQuery::from_pairs(get), page()),
        |(f, p)| admin_orders(f, p),
    );
    let csv = move || {
        format!(
            "/admin/orders.csv?{}",
            OrderQuery::from_pairs(get).to_query()
        )
    };
    view! {
        <AdminNav />
        <section class="card">
            <h1>{move || if zh() { "订单" } else { "Orders" }}</h1>
            <form method="get" class="filters grid-filters" data-testid="order-filters">
                <input type="search" name="q" placeholder=move || if zh() { "订单号 / 支付单号 / 填写内容" } else { "Order no. / transaction / answers" } prop:value=move || get("q") data-testid="order-search" />
                <select name="status" data-testid="order-status-filter">
                    <option value="">{move || if zh() { "全部状态" } else { "Any status" }}</option>
                    {OrderStatus::ALL.into_iter().map(|s| view! { <option value=s.as_str() selected=move || get("status") == s.as_str()>{move || t().order_status(s)}</option> }).collect_view()}
                </select>
                <select name="channel" data-testid="order-channel-filter">
                    <option value="">{move || if zh() { "全部方式" } else { "Any method" }}</option>
                    {Channel::ALL.into_iter().map(|c| view! { <option value=c.as_str() selected=move || get("channel") == c.as_str()>{move || t().channel(c)}</option> }).collect_view()}
                </select>
                <label>{move || if zh() { "从" } else { "From" }}<input type="date" name="from" prop:value=move || get("from") /></label>
                <label>{move || if zh() { "到" } else { "To" }}<input type="date" name="to" prop:value=move || get("to") /></label>
                <input type="text" inputmode="decimal" name="min" placeholder=move || if zh() { "最低金额" } else { "Min ¥" } prop:value=move || get("min") />
                <input type="text" inputmode="decimal" name="max" placeholder=move || if zh() { "最高金额" } else { "Max ¥" } prop:value=move || get("max") />
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        let forms = data.await.map(|d| d.forms).unwrap_or_default();
                        view! {
                            <select name="form" data-testid="order-form-filter">
                                <option value="">{move || if zh() { "全部表单" } else { "Any form" }}</option>
                                {forms.into_iter().map(|(id, title)| { let v = id.clone(); view! { <option value=id selected=move || get("form") == v>{title}</option> } }).collect_view()}
                            </select>
                        }
                    })}
                </Suspense>
                <button class="button primary" type="submit">{move || if zh() { "筛选" } else { "Filter" }}</button>
                <a class="button" href=csv data-testid="orders-csv">{move || if zh() { "导出 CSV" } else { "Export CSV" }}</a>
            </form>
            <Suspense fallback=|| view! { <p>"…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(v) => view! { <OrderTable v /> }.into_any(),
                        Err(_) => view! { <Redirect path="/admin/login" /> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// Percent-encodes a query value (the filter links and the export link).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[component]
fn OrderTable(v: OrdersView) -> impl IntoView {
    let lang = use_lang();
    let t = move || lang.get().t();
    let zh = move || lang.get() == Lang::Zh;
    let pages = (v.total + PAGE_SIZE - 1) / PAGE_SIZE;
    let page = v.page;
    let query = use_query_map();
    let link = move |n: i64| {
        let q = OrderQuery::from_pairs(|k| query.read().get(k).unwrap_or_default());
        format!("?page={n}&{}", q.to_query())
    };
    view! {
        <p class="muted" data-testid="orders-total">{v.total} {move || if zh() { " 笔订单 · 第 " } else { " orders · page " }} {page} "/" {pages.max(1)}</p>
        <div class="table-wrap">
            <table class="table" data-testid="orders">
                <thead><tr>
                    <th>{move || if zh() { "创建时间" } else { "Created" }}</th>
                    <th>{move || t().out_trade_no}</th>
                    <th>{move || if zh() { "表单" } else { "Form" }}</th>
                    <th>{move || t().amount}</th>
                    <th>{move || if zh() { "已退" } else { "Refunded" }}</th>
                    <th>{move || if zh() { "方式" } else { "Method" }}</th>
                    <th>{move || t().status}</th>
                </tr></thead>
                <tbody>
                    {v.rows.into_iter().map(|r| {
                        let status = r.status;
                        let channel = r.channel;
                        let review = status == OrderStatus::NeedsReview;
                        view! {
                            <tr class:review=review>
                                <td>{r.created_at.clone()}</td>
                                <td><a href=format!("/admin/orders/{}", r.id) data-testid="order-link">{r.out_trade_no.clone()}</a></td>
                                <td>{r.form_title.clone()}</td>
                                <td>{r.amount.clone()}</td>
                                <td>{r.refunded.clone()}</td>
                                <td>{move || channel.map(|c| t().channel(c)).unwrap_or("—")}</td>
                                <td>{move || t().order_status(status)}{r.review_reason.clone().filter(|_| review).map(|w| format!(" · {w}"))}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        <div class="row">
            {(page > 1).then(|| view! { <a class="button" href=link(page - 1)>"←"</a> })}
            {(page < pages).then(|| view! { <a class="button" href=link(page + 1) data-testid="orders-next">"→"</a> })}
        </div>
    }
}

#[component]
pub fn OrderPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let act = ServerAction::<AdminOrderAction>::new();
    let refund = ServerAction::<AdminRefund>::new();
    let detail = Resource::new(
        move || (id(), act.version().get(), refund.version().get()),
        |(id, _, _)| admin_order(id),
    );
    view! {
        <AdminNav />
        <Suspense fallback=|| view! { <p>"…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(Some(d)) => view! { <OrderView d act refund /> }.into_any(),
                    Ok(None) => view! { <p>"404"</p> }.into_any(),
                    Err(_) => view! { <Redirect path="/admin/login" /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn OrderView(
    d: OrderDetail,
    act: ServerAction<AdminOrderAction>,
    refund: ServerAction<AdminRefund>,
) -> impl IntoView {
    let lang = use_lang();
    let t = move || lang.get().t();
    let zh = move || lang.get() == Lang::Zh;
    let status = d.status;
    let channel = d.channel;
    let message = move || {
        let l = lang.get();
        match (act.value().get(), refund.value().get()) {
            (Some(Ok(o)), _) | (_, Some(Ok(o))) => Some(o.text(l)),
            (Some(Err(_)), _) | (_, Some(Err(_))) => Some(l.t().server_error.to_owned()),
            _ => None,
        }
    };
    let can_close = matches!(status, OrderStatus::Created | OrderStatus::Pending);
    let can_refund = d.refundable_fen > 0;
    let review = status == OrderStatus::NeedsReview;
    let id = StoredValue::new(d.id.clone());
    let refundable = d.refundable.clone();
    // Paid more than once: the administrator says which payment goes back.
    let refundable_payments: Vec<PaymentView> = d
        .payments
        .iter()
        .filter(|p| p.refundable_fen > 0)
        .cloned()
        .collect();
    let choose_payment = refundable_payments.len() > 1;
    let payments = d.payments.clone();
    view! {
        <section class="card" class:review=review>
            <h1>{move || if zh() { "订单 " } else { "Order " }}{d.out_trade_no.clone()}</h1>
            <p class="status-line" data-testid="order-status">{move || t().order_status(status)}</p>
            {review.then(|| view! {
                <p class="error" role="alert" data-testid="review-reason">{d.review_reason.clone().unwrap_or_default()}</p>
            })}
            <dl class="facts">
                <dt>{move || t().amount}</dt><dd data-testid="order-amount">{d.amount.clone()}</dd>
                <dt>{move || if zh() { "已退款" } else { "Refunded" }}</dt><dd data-testid="order-refunded">{d.refunded.clone()}</dd>
                <dt>{move || if zh() { "表单" } else { "Form" }}</dt><dd><a href=format!("/admin/forms/{}/submissions", d.form_id)>{d.form_title.clone()}</a></dd>
                <dt>{move || if zh() { "方式" } else { "Method" }}</dt><dd>{move || channel.map(|c| t().channel(c)).unwrap_or("—")}</dd>
                <dt>{move || t().transaction_id}</dt><dd>{d.transaction_id.clone().unwrap_or_else(|| "—".into())}</dd>
                <dt>{move || if zh() { "创建" } else { "Created" }}</dt><dd>{d.created_at.clone()}</dd>
                <dt>{move || if zh() { "支付" } else { "Paid" }}</dt><dd>{d.paid_at.clone().unwrap_or_else(|| "—".into())}</dd>
                <dt>{move || if zh() { "过期" } else { "Expires" }}</dt><dd>{d.expires_at.clone()}</dd>
                <dt>{move || if zh() { "凭证" } else { "Receipt" }}</dt><dd><a href=d.receipt_url.clone()>{d.receipt_url.clone()}</a></dd>
                {d.answers.iter().map(|(k, v)| view! { <dt>{k.clone()}</dt><dd>{v.clone()}</dd> }).collect_view()}
            </dl>
            <div class="row actions">
                <ActionForm action=act>
                    <input type="hidden" name="id" value=id.get_value() />
                    <input type="hidden" name="action" value="query" />
                    <button class="button" type="submit" data-testid="query-now">{move || if zh() { "立即查询支付机构" } else { "Query provider now" }}</button>
                </ActionForm>
                {can_close.then(|| view! {
                    <ActionForm action=act>
                        <input type="hidden" name="id" value=id.get_value() />
                        <input type="hidden" name="action" value="close" />
                        <button class="button" type="submit" data-testid="close-order">{move || if zh() { "关闭订单" } else { "Close order" }}</button>
                    </ActionForm>
                })}
                {review.then(|| view! {
                    <ActionForm action=act>
                        <input type="hidden" name="id" value=id.get_value() />
                        <input type="hidden" name="action" value="accept" />
                        <button class="button primary" type="submit" data-testid="accept-payment">{move || if zh() { "接受这笔付款" } else { "Accept the payment" }}</button>
                    </ActionForm>
                })}
            </div>
            <Show when=move || message().is_some()>
                <p class="notice" role="status" data-testid="action-message">{move || message().unwrap_or_default()}</p>
            </Show>
        </section>
        {can_refund.then(|| view! {
            <section class="card">
                <h2>{move || match (review, zh()) {
                    (true, true) => "或退还这笔付款",
                    (true, false) => "Or refund the payment",
                    (false, true) => "退款",
                    (false, false) => "Refund",
                }}</h2>
                <ActionForm action=refund attr:class="stack" attr:data-testid="refund-form">
                    <input type="hidden" name="id" value=id.get_value() />
                    <input type="hidden" name="request_key" value=d.request_key.clone() />
                    {review.then(|| view! { <input type="hidden" name="review" value="true" /> })}
                    {choose_payment.then(|| view! {
                        <label>
                            {move || if zh() { "退还哪一笔付款" } else { "Which payment" }}
                            <select name="payment" data-testid="refund-payment">
                                {refundable_payments.iter().map(|p| {
                                    let c = p.channel;
                                    let label = format!("{} · {} · {}", p.out_trade_no, p.amount, p.transaction_id.clone().unwrap_or_default());
                                    view! { <option value=p.out_trade_no.clone()>{move || t().channel(c)} " · " {label.clone()}</option> }
                                }).collect_view()}
                            </select>
                        </label>
                    })}
                    <label>
                        {move || if zh() { "退款金额（元），最多 " } else { "Amount (yuan), at most " }}{refundable.clone()}
                        <input type="text" inputmode="decimal" name="amount" required value=refundable.clone() data-testid="refund-amount" />
                    </label>
                    <label>
                        {move || if zh() { "原因" } else { "Reason" }}
                        <input type="text" name="reason" maxlength="80" required data-testid="refund-reason" />
                    </label>
                    <button class="button primary" type="submit" disabled=move || refund.pending().get() data-testid="refund-submit">{move || if zh() { "退款" } else { "Refund" }}</button>
                </ActionForm>
            </section>
        })}
        <section class="card">
            <h2>{move || if zh() { "支付尝试" } else { "Payment attempts" }}</h2>
            <div class="table-wrap">
                <table class="table" data-testid="payments">
                    <tbody>
                        {payments.into_iter().map(|p| {
                            let c = p.channel;
                            view! {
                                <tr>
                                    <td>{p.out_trade_no}</td>
                                    <td>{move || t().channel(c)}</td>
                                    <td>{p.amount}</td>
                                    <td data-testid="payment-state">{p.state}</td>
                                    <td>{p.transaction_id.unwrap_or_default()}</td>
                                    <td>{p.paid_at.unwrap_or_default()}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
        <section class="card">
            <h2>{move || if zh() { "退款记录" } else { "Refunds" }}</h2>
            <div class="table-wrap">
                <table class="table" data-testid="refunds">
                    <tbody>
                        {d.refunds.into_iter().map(|r| view! {
                            <tr>
                                <td>{r.created_at}</td>
                                <td>{r.out_refund_no}</td>
                                <td>{r.amount}</td>
                                <td data-testid="refund-status">{refund_status_text(&r.status, lang)}</td>
                                <td>{r.reason}</td>
                                <td>{r.created_by}</td>
                                <td>{r.failure.unwrap_or_default()}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
        <section class="card">
            <h2>{move || if zh() { "事件记录" } else { "Event log" }}</h2>
            <ol class="events" data-testid="events">
                {d.events.into_iter().map(|e| view! {
                    <li><span class="muted">{e.at}</span> " " <strong>{e.kind}</strong> " "
                        {e.from.zip(e.to).map(|(f, t)| format!("{f} → {t} "))}
                        {e.detail}</li>
                }).collect_view()}
            </ol>
        </section>
        <section class="card">
            <h2>{move || if zh() { "与支付机构的通信（已脱敏）" } else { "Provider messages (redacted)" }}</h2>
            {d.log.into_iter().map(|l| view! {
                <details class="log-entry">
                    <summary>{l.at} " · " {l.direction} " " {l.operation} " · " {l.status_code.map(|c| c.to_string()).unwrap_or_else(|| "—".into())} " · " {l.latency_ms} " ms" {l.error.map(|e| format!(" · {e}"))}</summary>
                    <pre>{l.request}</pre>
                    <pre>{l.response}</pre>
                </details>
            }).collect_view()}
        </section>
    }
}

fn refund_status_text(s: &str, lang: RwSignal<Lang>) -> impl Fn() -> &'static str {
    let s = s.to_owned();
    move || {
        let zh = lang.get() == Lang::Zh;
        match (s.as_str(), zh) {
            ("processing", true) => "处理中",
            ("processing", false) => "Processing",
            ("succeeded", true) => "退款成功",
            ("succeeded", false) => "Succeeded",
            ("closed", true) => "退款关闭",
            ("closed", false) => "Closed",
            (_, true) => "退款异常",
            (_, false) => "Abnormal",
        }
    }
}

/// The administrators' navigation, on every admin page.
#[component]
pub fn AdminNav() -> impl IntoView {
    let lang = use_lang();
    let zh = move || lang.get() == Lang::Zh;
    view! {
        <nav class="admin-nav" data-testid="admin-nav">
            <a class="button" href="/admin">{move || if zh() { "概览" } else { "Overview" }}</a>
            <a class="button" href="/admin/forms" data-testid="nav-forms">{move || if zh() { "表单" } else { "Forms" }}</a>
            <a class="button" href="/admin/orders" data-testid="nav-orders">{move || if zh() { "订单" } else { "Orders" }}</a>
            <a class="button" href="/admin/stats" data-testid="nav-stats">{move || if zh() { "收入统计" } else { "Income" }}</a>
            <a class="button" href="/admin/accounts" data-testid="nav-accounts">{move || if zh() { "收款账户" } else { "Accounts" }}</a>
            <a class="button" href="/admin/audit" data-testid="nav-audit">{move || if zh() { "操作日志" } else { "Audit log" }}</a>
        </nav>
    }
}
