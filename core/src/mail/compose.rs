//! The mails an order's change makes: the payer's receipt (from the form's
//! template, to the answer of its first email field) and the notices to the
//! administrators who hear of money.

use super::{MailSettings, NewMail};
use crate::store::forms::{beijing_time, FormRecord};
use domain::form::{
    answer_text, one_line, render_template, Answer, FieldKind, DEFAULT_RECEIPT_BODY,
    DEFAULT_RECEIPT_SUBJECT,
};
use domain::{Money, OrderStatus};
use std::collections::BTreeMap;

/// What the mails of one order's change say.
pub(crate) struct OrderFacts<'a> {
    pub form: &'a FormRecord,
    pub answers: &'a BTreeMap<String, Answer>,
    pub order_id: &'a str,
    pub out_trade_no: &'a str,
    pub amount_fen: i64,
    pub refunded_fen: i64,
    pub paid_at: Option<i64>,
    pub receipt_token: &'a str,
    pub status: OrderStatus,
}

fn yuan(fen: i64) -> String {
    Money::from_fen(fen.max(0))
        .map(|m| m.to_string())
        .unwrap_or_default()
}

/// The payer's address: the answer to the form's first email field.
fn payer_email(f: &OrderFacts<'_>) -> Option<String> {
    let field = f
        .form
        .def
        .fields
        .iter()
        .find(|x| matches!(x.kind, FieldKind::Email))?;
    match f.answers.get(&field.key)? {
        Answer::Text(t) if domain::Email::parse(t).is_ok() => Some(t.clone()),
        _ => None,
    }
}

/// The payer's receipt, when the form asks for an email address.
pub(crate) fn receipt(settings: &MailSettings, f: &OrderFacts<'_>) -> Option<NewMail> {
    let to = payer_email(f)?;
    let receipt_url = format!("{}/r/{}", settings.public_base, f.receipt_token);
    let amount = yuan(f.amount_fen);
    let paid_at = f.paid_at.map(beijing_time).unwrap_or_default();
    let vars = [
        ("form", f.form.def.title.as_str()),
        ("amount", amount.as_str()),
        ("out_trade_no", f.out_trade_no),
        ("paid_at", paid_at.as_str()),
        ("receipt_url", receipt_url.as_str()),
    ];
    let answer = |key: &str| {
        let field = f.form.def.fields.iter().find(|x| x.key == key)?;
        f.answers.get(key).map(|a| answer_text(Some(field), a))
    };
    let or_default = |s: &str, d: &'static str| {
        if s.trim().is_empty() {
            d.to_owned()
        } else {
            s.to_owned()
        }
    };
    Some(NewMail {
        kind: "receipt",
        to,
        subject: one_line(&render_template(
            &or_default(&f.form.def.receipt_subject, DEFAULT_RECEIPT_SUBJECT),
            &vars,
            &answer,
        )),
        body: render_template(
            &or_default(&f.form.def.receipt_body, DEFAULT_RECEIPT_BODY),
            &vars,
            &answer,
        ),
        order_id: Some(f.order_id.to_owned()),
    })
}

/// The administrators' notice of a payment, a refund or an order that needs
/// a person.
pub(crate) fn admin_notice(
    settings: &MailSettings,
    event: &str,
    f: &OrderFacts<'_>,
    to: &str,
) -> Option<NewMail> {
    let link = format!("{}/admin/orders/{}", settings.public_base, f.order_id);
    let title = one_line(&f.form.def.title);
    let (kind, subject, what) = match event {
        "order.paid" => (
            "admin_paid",
            format!("[FormPay] 收到付款 Payment {} · {title}", yuan(f.amount_fen)),
            format!("收到付款 · Payment received: {}", yuan(f.amount_fen)),
        ),
        "order.refunded" => (
            "admin_refunded",
            format!("[FormPay] 已退款 Refund {} · {title}", yuan(f.refunded_fen)),
            format!(
                "已退款 · Refunded: {} / {}",
                yuan(f.refunded_fen),
                yuan(f.amount_fen)
            ),
        ),
        "order.needs_review" => (
            "admin_review",
            format!("[FormPay] 需要处理 Needs review · {title}"),
            "需要处理：收到无法自动入账的款项 · Needs review: money arrived that no order could take"
                .to_owned(),
        ),
        _ => return None,
    };
    Some(NewMail {
        kind,
        to: to.to_owned(),
        subject,
        body: format!(
            "{what}\n表单 Form: {title}\n订单 Order: {} ({})\n{link}\n",
            f.out_trade_no,
            f.status.as_str()
        ),
        order_id: Some(f.order_id.to_owned()),
    })
}
