//! Forms and submissions in the database.

use super::sql::Sql;
use crate::commit::Step;
use crate::{now_ms, random_token, Db};
use anyhow::Context;
use domain::form::{
    availability, Answer, AnswerError, Availability, CheckedAnswers, Field, FieldKind, FormDef,
    FormStatus, PaymentMode, PublicForm,
};
use domain::{Money, OrderEventKind, OrderStatus};

/// A stored form.
#[derive(Clone, Debug)]
pub struct FormRecord {
    pub id: String,
    pub status: FormStatus,
    pub def: FormDef,
    pub submission_count: i64,
    pub created_at: i64,
}

impl FormRecord {
    pub fn availability(&self) -> Availability {
        availability(
            self.status,
            self.def.opens_at,
            self.def.closes_at,
            self.def.max_submissions,
            self.submission_count,
            now_ms(),
        )
    }

    pub fn public(&self) -> PublicForm {
        PublicForm {
            slug: self.def.slug.clone(),
            title: self.def.title.clone(),
            description: self.def.description.clone(),
            fields: self.def.fields.clone(),
            success_message: self.def.success_message.clone(),
            availability: self.availability(),
            privacy_notice: self.def.privacy_notice.clone(),
            stock_left: Default::default(),
            takes_discount_codes: false,
        }
    }
}

const FORM_COLUMNS: &str = "id, slug, title, description, status, fields_json, opens_at, closes_at, max_submissions, success_message, submission_count, created_at, retention_days, privacy_notice, receipt_subject, receipt_body, per_payer_limit";

/// A form as stored: its fields as JSON.
#[derive(sqlx::FromRow)]
struct FormRow {
    id: String,
    slug: String,
    title: String,
    description: String,
    status: FormStatus,
    fields_json: String,
    opens_at: Option<i64>,
    closes_at: Option<i64>,
    max_submissions: Option<i64>,
    success_message: String,
    submission_count: i64,
    created_at: i64,
    retention_days: Option<i64>,
    privacy_notice: String,
    receipt_subject: String,
    receipt_body: String,
    per_payer_limit: Option<i64>,
}

impl TryFrom<FormRow> for FormRecord {
    type Error = anyhow::Error;

    fn try_from(r: FormRow) -> anyhow::Result<FormRecord> {
        let fields: Vec<Field> =
            serde_json::from_str(&r.fields_json).context("stored fields are unreadable")?;
        Ok(FormRecord {
            id: r.id,
            status: r.status,
            def: FormDef {
                slug: r.slug,
                title: r.title,
                description: r.description,
                fields,
                opens_at: r.opens_at,
                closes_at: r.closes_at,
                max_submissions: r.max_submissions,
                success_message: r.success_message,
                retention_days: r.retention_days,
                privacy_notice: r.privacy_notice,
                receipt_subject: r.receipt_subject,
                receipt_body: r.receipt_body,
                per_payer_limit: r.per_payer_limit,
            },
            submission_count: r.submission_count,
            created_at: r.created_at,
        })
    }
}

async fn form_where(db: &Db, column: &str, value: &str) -> anyhow::Result<Option<FormRecord>> {
    let row: Option<FormRow> = db
        .fetch_optional(
            Sql::new(&format!(
                "SELECT {FORM_COLUMNS} FROM forms WHERE {column} = $1"
            ))
            .arg(value.to_owned()),
        )
        .await
        .context("cannot read the form")?;
    row.map(FormRecord::try_from).transpose()
}

pub async fn form_by_slug(db: &Db, slug: &str) -> anyhow::Result<Option<FormRecord>> {
    form_where(db, "slug", slug).await
}

pub async fn form_by_id(db: &Db, id: &str) -> anyhow::Result<Option<FormRecord>> {
    form_where(db, "id", id).await
}

pub async fn list_forms(db: &Db) -> anyhow::Result<Vec<FormRecord>> {
    let rows: Vec<FormRow> = sqlx::query_as(&format!(
        "SELECT {FORM_COLUMNS} FROM forms ORDER BY created_at DESC"
    ))
    .fetch_all(&db.pool)
    .await
    .context("cannot list forms")?;
    rows.into_iter().map(FormRecord::try_from).collect()
}

#[derive(Debug, thiserror::Error)]
pub enum SaveFormError {
    #[error("{0}")]
    Invalid(String),
    #[error("the link name is already used by another form")]
    SlugTaken,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Creates (id = None) or updates a form. Its status is not changed here.
pub async fn save_form(db: &Db, id: Option<&str>, def: &FormDef) -> Result<String, SaveFormError> {
    def.validate().map_err(SaveFormError::Invalid)?;
    let taken: Option<String> = sqlx::query_as("SELECT id FROM forms WHERE slug = $1")
        .bind(&def.slug)
        .fetch_optional(&db.pool)
        .await
        .context("cannot check the link name")?
        .map(|(id,): (String,)| id);
    if taken.is_some() && taken.as_deref() != id {
        return Err(SaveFormError::SlugTaken);
    }
    let fields = serde_json::to_string(&def.fields).context("cannot encode fields")?;
    let now = now_ms();
    let id = match id {
        Some(id) => {
            let done = sqlx::query(
                "UPDATE forms SET slug = $1, title = $2, description = $3, fields_json = $4, opens_at = $5, closes_at = $6, max_submissions = $7, success_message = $8, updated_at = $9, retention_days = $11, privacy_notice = $12, receipt_subject = $13, receipt_body = $14, per_payer_limit = $15 WHERE id = $10",
            )
            .bind(&def.slug)
            .bind(&def.title)
            .bind(&def.description)
            .bind(fields)
            .bind(def.opens_at)
            .bind(def.closes_at)
            .bind(def.max_submissions)
            .bind(&def.success_message)
            .bind(now)
            .bind(id)
            .bind(def.retention_days)
            .bind(&def.privacy_notice)
            .bind(&def.receipt_subject)
            .bind(&def.receipt_body)
            .bind(def.per_payer_limit)
            .execute(&db.pool)
            .await
            .context("cannot update the form")?;
            if done.rows_affected() == 0 {
                return Err(SaveFormError::Invalid("no such form".into()));
            }
            id.to_owned()
        }
        None => {
            let id = random_token().to_string();
            sqlx::query(
                "INSERT INTO forms (id, slug, title, description, status, fields_json, opens_at, closes_at, max_submissions, success_message, submission_count, created_at, updated_at, retention_days, privacy_notice, receipt_subject, receipt_body, per_payer_limit) \
                 VALUES ($1, $2, $3, $4, 'draft', $5, $6, $7, $8, $9, 0, $10, $10, $11, $12, $13, $14, $15)",
            )
            .bind(&id)
            .bind(&def.slug)
            .bind(&def.title)
            .bind(&def.description)
            .bind(fields)
            .bind(def.opens_at)
            .bind(def.closes_at)
            .bind(def.max_submissions)
            .bind(&def.success_message)
            .bind(now)
            .bind(def.retention_days)
            .bind(&def.privacy_notice)
            .bind(&def.receipt_subject)
            .bind(&def.receipt_body)
            .bind(def.per_payer_limit)
            .execute(&db.pool)
            .await
            .map_err(|e| match e.as_database_error().map(|d| d.is_unique_violation()) {
                Some(true) => SaveFormError::SlugTaken,
                _ => SaveFormError::Unexpected(anyhow::Error::new(e).context("cannot create the form")),
            })?;
            id
        }
    };
    if !def.privacy_notice.is_empty() {
        // Each text a payer may agree to is kept, so a consent names it.
        sqlx::query("INSERT INTO privacy_notices (sha256, body, created_at) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING")
            .bind(notice_hash(&def.privacy_notice))
            .bind(&def.privacy_notice)
            .bind(now)
            .execute(&db.pool)
            .await
            .context("cannot keep the privacy notice")?;
    }
    Ok(id)
}

/// The SHA-256 (hex) a privacy notice is kept and named by.
pub fn notice_hash(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

pub async fn set_status(db: &Db, id: &str, status: FormStatus) -> anyhow::Result<bool> {
    let done = sqlx::query("UPDATE forms SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(status)
        .bind(now_ms())
        .bind(id)
        .execute(&db.pool)
        .await
        .context("cannot change the form status")?;
    Ok(done.rows_affected() == 1)
}

/// What a successful submission created.
#[derive(Clone, Debug)]
pub struct Submitted {
    pub submission_id: String,
    pub order: Option<NewOrderRecord>,
}

#[derive(Clone, Debug)]
pub struct NewOrderRecord {
    pub id: String,
    pub out_trade_no: String,
    pub amount: Money,
    pub status: OrderStatus,
    pub receipt_token: String,
    pub expires_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("the form does not take submissions: {0:?}")]
    Unavailable(Availability),
    /// The address or phone number is on the blocklist.
    #[error("blocked")]
    Blocked,
    /// An item is sold out, or the payer has reached the form's limit (by field key).
    #[error("refused: {0:?}")]
    Refused(std::collections::BTreeMap<String, AnswerError>),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// What abuse control checks a submission with: the client's address and
/// the daily limits.
#[derive(Clone, Copy, Debug, Default)]
pub struct Guard {
    pub client: Option<std::net::IpAddr>,
    pub settings: super::abuse::AbuseSettings,
}

/// A merchant order number both providers accept: `FP` + Beijing-free UTC
/// timestamp + 12 random digits (28 characters).
pub fn new_out_trade_no() -> String {
    use rand::Rng;
    let secs = now_ms() / 1000;
    let mut rng = rand::thread_rng();
    let digits: String = (0..12)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect();
    format!("FP{secs:012}{digits}")
}

/// Stores a checked submission, and its payment order when it has an amount,
/// in one transaction. The submission counter is a compare-and-set, so
/// concurrent submissions never exceed the form's maximum. The transaction
/// goes with the settlements' writes (`commit`): on SQLite one writer
/// takes them in turn and commits them in batches, where concurrent
/// checkouts would otherwise wait for the database's lock in its sleeping
/// busy handler.
pub async fn submit(
    db: &Db,
    form: &FormRecord,
    checked: &CheckedAnswers,
    consent_notice: Option<&str>,
    discount_code: Option<&str>,
    guard: Guard,
    order_ttl_ms: i64,
) -> Result<Submitted, SubmitError> {
    let availability = form.availability();
    if availability != Availability::Open {
        return Err(SubmitError::Unavailable(availability));
    }
    let (form, checked) = (form.clone(), checked.clone());
    let consent_notice = consent_notice.map(str::to_owned);
    let discount_code = discount_code.map(str::to_owned);
    db.commits
        .run(move |tx| {
            Box::pin(async move {
                let stored = submit_in(
                    tx,
                    &form,
                    &checked,
                    consent_notice.as_deref(),
                    discount_code.as_deref(),
                    guard,
                    order_ttl_ms,
                )
                .await;
                Ok(match stored {
                    Ok(submitted) => Step::Keep(Ok(submitted)),
                    // A refusal writes nothing; a failure is the writer's error.
                    Err(SubmitError::Unexpected(e)) => return Err(e),
                    Err(refused) => Step::Discard(Err(refused)),
                })
            })
        })
        .await?
}

/// [`submit`] inside an open transaction (the caller commits, or rolls back
/// on an error).
async fn submit_in(
    tx: &mut sqlx::AnyConnection,
    form: &FormRecord,
    checked: &CheckedAnswers,
    consent_notice: Option<&str>,
    discount_code: Option<&str>,
    guard: Guard,
    order_ttl_ms: i64,
) -> Result<Submitted, SubmitError> {
    let now = now_ms();
    let counted = sqlx::query(
        "UPDATE forms SET submission_count = submission_count + 1 WHERE id = $1 AND status = 'published' AND (max_submissions IS NULL OR submission_count < max_submissions)",
    )
    .bind(&form.id)
    .execute(&mut *tx)
    .await
    .context("cannot count the submission")?;
    if counted.rows_affected() != 1 {
        return Err(SubmitError::Unavailable(Availability::Full));
    }
    let payer = hold_payer(tx, form, checked).await?;
    let items = hold_items(tx, form, checked).await?;
    // A discount code takes one use and its share off the total.
    let mut amount = checked.amount;
    let mut discount: Option<(String, i64)> = None;
    if let (Some(code), Some(total)) = (discount_code, amount) {
        match super::discounts::take_in(tx, &form.id, code).await? {
            Some((id, d)) => {
                let after = d.apply(total);
                discount = Some((id, total.fen() - after.fen()));
                amount = Some(after);
            }
            None => {
                return Err(SubmitError::Refused(
                    [(
                        domain::discount::DISCOUNT_KEY.to_owned(),
                        AnswerError::BadDiscount,
                    )]
                    .into(),
                ))
            }
        }
    }
    // Abuse control: the blocklist and the payer's daily limits.
    let phone = form
        .def
        .fields
        .iter()
        .find_map(|f| match (&f.kind, checked.answers.get(&f.key)) {
            (FieldKind::Phone, Some(Answer::Text(p))) => Some((f.key.clone(), p.clone())),
            _ => None,
        });
    match super::abuse::check_in(
        &mut *tx,
        guard.settings,
        guard.client,
        phone.as_ref().map(|(_, p)| p.as_str()),
        amount.map(Money::fen),
    )
    .await?
    {
        None => {}
        Some(super::abuse::Refusal::Blocked) => return Err(SubmitError::Blocked),
        Some(super::abuse::Refusal::DailySubmissions) => {
            let key = phone.map(|(k, _)| k).unwrap_or_default();
            return Err(SubmitError::Refused(
                [(key, AnswerError::DailyLimit)].into(),
            ));
        }
        Some(super::abuse::Refusal::DailyAmount) => {
            let key = form
                .def
                .payment_field()
                .map(|f| f.key.clone())
                .unwrap_or_default();
            return Err(SubmitError::Refused(
                [(key, AnswerError::DailyAmount)].into(),
            ));
        }
    }
    let submission_id = random_token().to_string();
    let answers_json = serde_json::to_string(&checked.answers).context("cannot encode answers")?;
    let search_text = checked
        .answers
        .iter()
        .map(|(k, a)| domain::form::answer_text(form.def.fields.iter().find(|f| &f.key == k), a))
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    sqlx::query("INSERT INTO submissions (id, form_id, answers_json, search_text, amount_fen, created_at, consent_at, consent_notice, payer_digest) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
        .bind(&submission_id)
        .bind(&form.id)
        .bind(answers_json)
        .bind(search_text)
        .bind(amount.map(Money::fen))
        .bind(now)
        .bind(consent_notice.map(|_| now))
        .bind(consent_notice)
        .bind(phone.as_ref().map(|(_, p)| super::abuse::payer_digest(p)))
        .execute(&mut *tx)
        .await
        .context("cannot store the submission")?;
    // The files uploaded for its upload fields become this submission's.
    for f in &form.def.fields {
        if let (FieldKind::Upload { .. }, Some(Answer::Choices(ids))) =
            (&f.kind, checked.answers.get(&f.key))
        {
            if !super::uploads::attach_in(tx, &form.id, &f.key, ids, &submission_id).await? {
                return Err(SubmitError::Refused(
                    [(f.key.clone(), AnswerError::BadUpload)].into(),
                ));
            }
        }
    }
    let order = match amount {
        Some(amount) => {
            let order = NewOrderRecord {
                id: random_token().to_string(),
                out_trade_no: new_out_trade_no(),
                amount,
                status: OrderStatus::Created,
                receipt_token: random_token().to_string(),
                expires_at: now + order_ttl_ms,
            };
            sqlx::query(
                "INSERT INTO orders (id, out_trade_no, submission_id, form_id, amount_fen, status, receipt_token, refunded_fen, expires_at, next_check_at, check_attempts, created_at, updated_at, account_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, 0, $10, $10, (SELECT f.account_id FROM forms f WHERE f.id = $4))",
            )
            .bind(&order.id)
            .bind(&order.out_trade_no)
            .bind(&submission_id)
            .bind(&form.id)
            .bind(amount.fen())
            .bind(order.status.as_str())
            .bind(&order.receipt_token)
            .bind(order.expires_at)
            .bind(order.expires_at)
            .bind(now)
            .execute(&mut *tx)
            .await
            .context("cannot store the order")?;
            // What the order holds, given back if it expires or closes.
            for (item, quantity) in &items {
                sqlx::query(
                    "INSERT INTO order_items (order_id, item_key, quantity) VALUES ($1, $2, $3)",
                )
                .bind(&order.id)
                .bind(item)
                .bind(i64::from(*quantity))
                .execute(&mut *tx)
                .await
                .context("cannot store the order's items")?;
            }
            if let Some((code_id, off)) = &discount {
                sqlx::query(
                    "UPDATE orders SET discount_code_id = $1, discount_fen = $2 WHERE id = $3",
                )
                .bind(code_id)
                .bind(off)
                .bind(&order.id)
                .execute(&mut *tx)
                .await
                .context("cannot store the order's discount")?;
            }
            if let Some(payer) = &payer {
                sqlx::query("UPDATE orders SET payer_key = $1 WHERE id = $2")
                    .bind(payer)
                    .bind(&order.id)
                    .execute(&mut *tx)
                    .await
                    .context("cannot store the order's payer")?;
            }
            super::orders::insert_event(
                &mut *tx,
                &order.id,
                OrderEventKind::Created,
                None,
                Some(OrderStatus::Created),
                &format!("amount {}", amount),
            )
            .await?;
            Some(order)
        }
        None => None,
    };
    Ok(Submitted {
        submission_id,
        order,
    })
}

/// Takes one of the payer's places in a form with a per-payer limit (a
/// compare-and-set on their counter, so concurrent submissions never exceed
/// it). Returns the payer's key when the form limits payers.
async fn hold_payer(
    tx: &mut sqlx::AnyConnection,
    form: &FormRecord,
    checked: &CheckedAnswers,
) -> Result<Option<String>, SubmitError> {
    let Some(limit) = form.def.per_payer_limit else {
        return Ok(None);
    };
    let Some((field, key)) = domain::form::payer_key(&form.def.fields, &checked.answers) else {
        return Ok(None);
    };
    // Counted by a digest, so that the counters and the order hold no phone
    // number or address (erasing the answers leaves nothing readable here).
    let key = notice_hash(&format!("{}:{key}", form.id));
    if !take_payer_place(tx, &form.id, &key, limit).await? {
        return Err(SubmitError::Refused(
            [(field, AnswerError::PayerLimit)].into(),
        ));
    }
    Ok(Some(key))
}

/// Takes one of the places of payer `key` in a form that allows `limit`: a
/// compare-and-set on the payer's counter. False when none is left.
pub(crate) async fn take_payer_place(
    tx: &mut sqlx::AnyConnection,
    form_id: &str,
    key: &str,
    limit: i64,
) -> anyhow::Result<bool> {
    sqlx::query("INSERT INTO payer_holds (form_id, payer_key, held) VALUES ($1, $2, 0) ON CONFLICT (form_id, payer_key) DO NOTHING")
        .bind(form_id)
        .bind(key)
        .execute(&mut *tx)
        .await
        .context("cannot count the payer's places")?;
    let taken = sqlx::query(
        "UPDATE payer_holds SET held = held + 1 WHERE form_id = $1 AND payer_key = $2 AND held < $3",
    )
    .bind(form_id)
    .bind(key)
    .bind(limit)
    .execute(&mut *tx)
    .await
    .context("cannot count the payer's places")?;
    Ok(taken.rows_affected() == 1)
}

/// Takes the items an order asks for from their stock (a compare-and-set
/// each, so concurrent orders never sell more than there is). Returns every
/// item of the order with its quantity.
async fn hold_items(
    tx: &mut sqlx::AnyConnection,
    form: &FormRecord,
    checked: &CheckedAnswers,
) -> Result<Vec<(String, u32)>, SubmitError> {
    let Some((field, items)) = form.def.fields.iter().find_map(|f| match &f.kind {
        FieldKind::Payment(PaymentMode::Items { items }) => Some((f, items)),
        _ => None,
    }) else {
        return Ok(Vec::new());
    };
    let Some(Answer::Items(taken)) = checked.answers.get(&field.key) else {
        return Ok(Vec::new());
    };
    for item in items {
        let (Some(stock), Some(&quantity)) = (item.stock, taken.get(&item.key)) else {
            continue;
        };
        sqlx::query("INSERT INTO item_holds (form_id, item_key, held) VALUES ($1, $2, 0) ON CONFLICT (form_id, item_key) DO NOTHING")
            .bind(&form.id)
            .bind(&item.key)
            .execute(&mut *tx)
            .await
            .context("cannot count the stock")?;
        let held = sqlx::query(
            "UPDATE item_holds SET held = held + $3 WHERE form_id = $1 AND item_key = $2 AND held + $3 <= $4",
        )
        .bind(&form.id)
        .bind(&item.key)
        .bind(i64::from(quantity))
        .bind(i64::from(stock))
        .execute(&mut *tx)
        .await
        .context("cannot take from the stock")?;
        if held.rows_affected() != 1 {
            return Err(SubmitError::Refused(
                [(field.key.clone(), AnswerError::SoldOut)].into(),
            ));
        }
    }
    Ok(taken.iter().map(|(k, q)| (k.clone(), *q)).collect())
}

/// How many of each stocked item are left (item key → count, never below 0).
pub async fn stock_left(
    db: &Db,
    form: &FormRecord,
) -> anyhow::Result<std::collections::BTreeMap<String, i64>> {
    let stocked: Vec<(&str, u32)> = form
        .def
        .fields
        .iter()
        .filter_map(|f| match &f.kind {
            FieldKind::Payment(PaymentMode::Items { items }) => Some(items),
            _ => None,
        })
        .flatten()
        .filter_map(|i| i.stock.map(|s| (i.key.as_str(), s)))
        .collect();
    if stocked.is_empty() {
        return Ok(Default::default());
    }
    let held: Vec<(String, i64)> =
        sqlx::query_as("SELECT item_key, held FROM item_holds WHERE form_id = $1")
            .bind(&form.id)
            .fetch_all(&db.pool)
            .await
            .context("cannot read the stock")?;
    Ok(stocked
        .into_iter()
        .map(|(k, stock)| {
            let h = held.iter().find(|(x, _)| x == k).map_or(0, |(_, h)| *h);
            (k.to_owned(), (i64::from(stock) - h).max(0))
        })
        .collect())
}

/// A form as payers see it, with what is left of its items.
pub async fn public_view(db: &Db, form: &FormRecord) -> anyhow::Result<PublicForm> {
    let mut p = form.public();
    p.stock_left = stock_left(db, form).await?;
    p.takes_discount_codes = form.def.payment_field().is_some()
        && super::discounts::form_has_codes(db, &form.id).await?;
    Ok(p)
}

/// The demo form a newcomer finds at `/f/demo` in development.
pub async fn ensure_demo_form(db: &Db) -> anyhow::Result<()> {
    if form_by_slug(db, "demo").await?.is_some() {
        return Ok(());
    }
    use domain::form::{FieldKind, PaymentMode};
    let def = FormDef {
        slug: "demo".into(),
        title: "示例表单：活动报名".into(),
        description: "这是开发环境自动创建的示例表单。填写后可用微信支付或支付宝（模拟器）付款。\nA demo form created in development: fill it in and pay with the simulator.".into(),
        fields: vec![
            Field { key: "name".into(), label: "姓名 Name".into(), help: String::new(), required: true, kind: FieldKind::ShortText, logic: None },
            Field { key: "phone".into(), label: "手机号 Mobile".into(), help: "中国大陆手机号".into(), required: false, kind: FieldKind::Phone, logic: None },
            Field {
                key: "amount".into(),
                label: "金额 Amount (¥)".into(),
                help: "0.01 – 10,000 元".into(),
                required: true,
                logic: None,
                kind: FieldKind::Payment(PaymentMode::PayerAmount {
                    min: Money::from_fen(1).context("amount")?,
                    max: Money::from_fen(1_000_000).context("amount")?,
                }),
            },
        ],
        opens_at: None,
        closes_at: None,
        max_submissions: None,
        success_message: "提交成功，谢谢！".into(),
        retention_days: None,
        privacy_notice: String::new(),
        receipt_subject: String::new(),
        receipt_body: String::new(),
        per_payer_limit: None,
    };
    let id = match save_form(db, None, &def).await {
        Ok(id) => id,
        // Another instance created it at the same moment.
        Err(SaveFormError::SlugTaken) => return Ok(()),
        Err(e) => return Err(anyhow::anyhow!("cannot create the demo form: {e}")),
    };
    set_status(db, &id, FormStatus::Published).await?;
    Ok(())
}

/// The stored answers of one submission.
pub async fn submission_answers(
    db: &Db,
    submission_id: &str,
) -> anyhow::Result<Option<std::collections::BTreeMap<String, domain::form::Answer>>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT answers_json FROM submissions WHERE id = $1")
            .bind(submission_id)
            .fetch_optional(&db.pool)
            .await
            .context("cannot read the submission")?;
    row.map(|(text,)| serde_json::from_str(&text).context("stored answers are unreadable"))
        .transpose()
}

/// A submission's form and answers.
pub async fn submission_with_form(
    db: &Db,
    submission_id: &str,
) -> anyhow::Result<
    Option<(
        String,
        std::collections::BTreeMap<String, domain::form::Answer>,
    )>,
> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT form_id, answers_json FROM submissions WHERE id = $1")
            .bind(submission_id)
            .fetch_optional(&db.pool)
            .await
            .context("cannot read the submission")?;
    row.map(|(form_id, text)| {
        serde_json::from_str(&text)
            .map(|a| (form_id, a))
            .context("stored answers are unreadable")
    })
    .transpose()
}

/// Beijing time, as payers and administrators read it.
pub fn beijing_time(ms: i64) -> String {
    use chrono::{FixedOffset, TimeZone};
    FixedOffset::east_opt(8 * 3600)
        .and_then(|tz| tz.timestamp_millis_opt(ms).single())
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}
