//! The receipt `/r/{token}`: a stable, unguessable, printable page the payer keeps.

use crate::domain::{Channel, Money, OrderStatus};
use crate::i18n::use_lang;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReceiptView {
    pub form_title: String,
    pub answers: Vec<(String, String)>,
    pub amount: Money,
    pub status: OrderStatus,
    pub channel: Option<Channel>,
    pub transaction_id: Option<String>,
    pub out_trade_no: String,
    pub paid_at: Option<String>,
    pub refunded: Money,
}

#[server(endpoint = "receipt")]
pub async fn get_receipt(token: String) -> Result<Option<ReceiptView>, ServerFnError> {
    use crate::ssr::{forms, orders, AppState};
    let state = AppState::from_context()?;
    let fail = crate::errors::Failure::Read("the receipt").log::<anyhow::Error>();
    if crate::domain::Token::parse(&token).is_err() {
        return Ok(None);
    }
    let Some(o) = orders::by_receipt(&state.db, &token).await.map_err(fail)? else {
        return Ok(None);
    };
    let form = forms::form_by_id(&state.db, &o.form_id)
        .await
        .map_err(fail)?;
    let answers = forms::submission_answers(&state.db, &o.submission_id)
        .await
        .map_err(fail)?
        .unwrap_or_default();
    let (title, fields) = form
        .map(|f| (f.def.title, f.def.fields))
        .unwrap_or_default();
    Ok(Some(ReceiptView {
        form_title: title,
        answers: super::form_page::answers_for_display(&fields, &answers),
        amount: o.amount,
        status: o.status,
        channel: o.channel,
        transaction_id: o.transaction_id,
        out_trade_no: o.out_trade_no,
        paid_at: o.paid_at.map(forms::beijing_time),
        refunded: Money::from_fen(o.refunded_fen).unwrap_or(Money::ZERO),
    }))
}

#[component]
pub fn ReceiptPage() -> impl IntoView {
    let params = use_params_map();
    let token = move || params.read().get("token").unwrap_or_default();
    let receipt = Resource::new(token, get_receipt);
    let lang = use_lang();
    let t = move || lang.get().t();
    view! {
        <Suspense fallback=move || view! { <p>{move || t().loading}</p> }>
            {move || Suspend::new(async move {
                match receipt.await {
                    Ok(Some(r)) => view! { <Receipt r /> }.into_any(),
                    Ok(None) => view! { <section class="card narrow"><h1>{move || t().order_not_found}</h1></section> }.into_any(),
                    Err(_) => view! { <p class="error">{move || t().server_error}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Receipt(r: ReceiptView) -> impl IntoView {
    let lang = use_lang();
    let t = move || lang.get().t();
    let status = r.status;
    let channel = r.channel;
    let refunded = r.refunded;
    view! {
        <section class="card receipt" data-testid="receipt">
            <h1>{move || t().receipt}</h1>
            <p class="muted">{r.form_title.clone()}</p>
            <p class="amount">{r.amount.to_string()}</p>
            <dl class="facts">
                <dt>{move || t().status}</dt>
                <dd data-testid="receipt-status">{move || if status.is_paid() { t().order_status(status) } else { t().not_paid_yet }}</dd>
                <dt>{move || t().method}</dt>
                <dd>{move || channel.map(|c| t().channel(c)).unwrap_or("—")}</dd>
                <dt>{move || t().transaction_id}</dt>
                <dd data-testid="receipt-transaction">{r.transaction_id.clone().unwrap_or_else(|| "—".into())}</dd>
                <dt>{move || t().out_trade_no}</dt>
                <dd>{r.out_trade_no.clone()}</dd>
                <dt>{move || t().paid_at}</dt>
                <dd>{r.paid_at.clone().unwrap_or_else(|| "—".into())}</dd>
                {(refunded.fen() > 0).then(|| view! {
                    <dt>{move || t().refunded_amount}</dt>
                    <dd>{refunded.to_string()}</dd>
                })}
            </dl>
            <h2>{move || t().answers}</h2>
            <dl class="facts">
                {r.answers.iter().map(|(label, text)| view! { <dt>{label.clone()}</dt><dd>{text.clone()}</dd> }).collect_view()}
            </dl>
            <p class="muted">{move || t().receipt_keep}</p>
            <PrintButton />
        </section>
    }
}

/// The receipt's print button: an island (no inline handler: the Content
/// Security Policy allows none).
#[cfg_attr(feature = "pay-page", island)]
#[cfg_attr(not(feature = "pay-page"), component)]
fn PrintButton() -> impl IntoView {
    let lang = use_lang();
    view! {
        <button class="button no-print" on:click=move |_| {
            #[cfg(feature = "hydrate")]
            if let Some(w) = web_sys::window() {
                let _ = w.print();
            }
        }>{move || lang.get().t().print}</button>
    }
}
