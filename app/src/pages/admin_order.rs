//! One order for administrators: its event log, the provider messages, the
//! payments through each attempt, refunds, and the actions on it.

use super::admin_order_actions::*;
use super::admin_orders::AdminNav;
use crate::domain::{Channel, OrderStatus};
use crate::i18n::{use_lang, Lang};
use leptos::prelude::*;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

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
    pub answers: Vec<super::admin_submissions::AnswerCell>,
    pub submission_id: String,
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
    crate::ssr::auth::require(crate::domain::Permission::ViewOrders).await?;
    let state = AppState::from_context()?;
    let fail = crate::errors::Failure::Read("the order").log::<anyhow::Error>();
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
        (Some(f), Ok(Some(map))) => super::admin_submissions::answer_cells(&f.def.fields, &map),
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
        submission_id: o.submission_id.clone(),
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
    let adm = move || lang.get().admin();
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
            <h1>{move || adm().order_heading}{d.out_trade_no.clone()}</h1>
            <p class="status-line" data-testid="order-status" data-status=status.as_str()>{move || t().order_status(status)}</p>
            {review.then(|| view! {
                <p class="error" role="alert" data-testid="review-reason">{d.review_reason.clone().unwrap_or_default()}</p>
            })}
            <dl class="facts">
                <dt>{move || t().amount}</dt><dd data-testid="order-amount">{d.amount.clone()}</dd>
                <dt>{move || adm().order_refunded}</dt><dd data-testid="order-refunded">{d.refunded.clone()}</dd>
                <dt>{move || adm().order_form}</dt><dd><a href=format!("/admin/forms/{}/submissions", d.form_id)>{d.form_title.clone()}</a></dd>
                <dt>{move || adm().order_method}</dt><dd>{move || channel.map(|c| t().channel_with_mode(c)).unwrap_or_else(|| "—".to_owned())}</dd>
                <dt>{move || t().transaction_id}</dt><dd>{d.transaction_id.clone().unwrap_or_else(|| "—".into())}</dd>
                <dt>{move || adm().order_created}</dt><dd>{d.created_at.clone()}</dd>
                <dt>{move || adm().order_paid}</dt><dd>{d.paid_at.clone().unwrap_or_else(|| "—".into())}</dd>
                <dt>{move || adm().order_expires}</dt><dd>{d.expires_at.clone()}</dd>
                <dt>{move || adm().order_receipt}</dt><dd><a href=d.receipt_url.clone()>{d.receipt_url.clone()}</a></dd>
                {d.answers.iter().filter(|c| !c.text.is_empty()).map(|c| { let (sid, cell) = (d.submission_id.clone(), c.clone()); view! { <dt>{c.label.clone()}</dt><dd><super::admin_submissions::MaskedAnswer submission_id=sid cell /></dd> } }).collect_view()}
            </dl>
            <div class="row actions">
                <ActionForm action=act>
                    <input type="hidden" name="id" value=id.get_value() />
                    <input type="hidden" name="action" value="query" />
                    <button class="button" type="submit" data-testid="query-now">{move || adm().query_now}</button>
                </ActionForm>
                {can_close.then(|| view! {
                    <ActionForm action=act>
                        <input type="hidden" name="id" value=id.get_value() />
                        <input type="hidden" name="action" value="close" />
                        <button class="button" type="submit" data-testid="close-order">{move || adm().close_order}</button>
                    </ActionForm>
                })}
                {review.then(|| view! {
                    <ActionForm action=act>
                        <input type="hidden" name="id" value=id.get_value() />
                        <input type="hidden" name="action" value="accept" />
                        <button class="button primary" type="submit" data-testid="accept-payment">{move || adm().accept_payment}</button>
                    </ActionForm>
                })}
            </div>
            <Show when=move || message().is_some()>
                <p class="notice" role="status" data-testid="action-message">{move || message().unwrap_or_default()}</p>
            </Show>
        </section>
        {can_refund.then(|| view! {
            <section class="card">
                <h2>{move || if review { adm().refund_review_heading } else { adm().refund_heading }}</h2>
                <ActionForm action=refund attr:class="stack" attr:data-testid="refund-form">
                    <input type="hidden" name="id" value=id.get_value() />
                    <input type="hidden" name="request_key" value=d.request_key.clone() />
                    {review.then(|| view! { <input type="hidden" name="review" value="true" /> })}
                    {choose_payment.then(|| view! {
                        <label>
                            {move || adm().refund_which_payment}
                            <select name="payment" data-testid="refund-payment">
                                {refundable_payments.iter().map(|p| {
                                    let c = p.channel;
                                    let label = format!("{} · {} · {}", p.out_trade_no, p.amount, p.transaction_id.clone().unwrap_or_default());
                                    view! { <option value=p.out_trade_no.clone()>{move || t().channel_with_mode(c)} " · " {label.clone()}</option> }
                                }).collect_view()}
                            </select>
                        </label>
                    })}
                    <label>
                        {move || adm().refund_amount_at_most}{refundable.clone()}
                        <input type="text" inputmode="decimal" name="amount" required value=refundable.clone() data-testid="refund-amount" />
                    </label>
                    <label>
                        {move || adm().refund_reason}
                        <input type="text" name="reason" maxlength="80" required data-testid="refund-reason" />
                    </label>
                    <button class="button primary" type="submit" disabled=move || refund.pending().get() data-testid="refund-submit">{move || adm().refund_button}</button>
                </ActionForm>
            </section>
        })}
        <section class="card">
            <h2>{move || adm().payment_attempts}</h2>
            <div class="table-wrap">
                <table class="table" data-testid="payments">
                    <tbody>
                        {payments.into_iter().map(|p| {
                            let c = p.channel;
                            view! {
                                <tr>
                                    <td>{p.out_trade_no}</td>
                                    <td>{move || t().channel_with_mode(c)}</td>
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
            <h2>{move || adm().refunds_title}</h2>
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
            <h2>{move || adm().event_log}</h2>
            <ol class="events" data-testid="events">
                {d.events.into_iter().map(|e| view! {
                    <li><span class="muted">{e.at}</span> " " <strong>{e.kind}</strong> " "
                        {e.from.zip(e.to).map(|(f, t)| format!("{f} → {t} "))}
                        {e.detail}</li>
                }).collect_view()}
            </ol>
        </section>
        <section class="card">
            <h2>{move || adm().provider_messages}</h2>
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
    move || lang.get().admin().refund_status(&s)
}
