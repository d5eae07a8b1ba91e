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
    // The usual submission (no stock, payer places, discount, uploads or
    // daily limits to take) is one query the writer runs on its own
    // connection; a refusal there is found out by the full write below.
    let at_once = FastSubmission::of(
        db,
        form,
        checked,
        consent_notice,
        discount_code,
        guard,
        order_ttl_ms,
    )
    .await?;
    if let Some(fast) = at_once {
        if let Some(submitted) = fast.write(db).await? {
            return Ok(submitted);
        }
    }
    submit_in_steps(
        db,
        form,
        checked,
        consent_notice,
        discount_code,
        guard,
        order_ttl_ms,
    )
    .await
}

/// The submission written statement by statement, each check in Rust
/// between them ([`submit_in`]), in a write of the group commit.
async fn submit_in_steps(
    db: &Db,
    form: &FormRecord,
    checked: &CheckedAnswers,
    consent_notice: Option<&str>,
    discount_code: Option<&str>,
    guard: Guard,
    order_ttl_ms: i64,
) -> Result<Submitted, SubmitError> {
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
    let phone = phone_answer(form, checked);
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
    let row = SubmissionRow::new(
        form,
        checked,
        amount,
        consent_notice,
        phone.as_ref().map(|(_, p)| p.as_str()),
        now,
    )?;
    let mut insert = Sql::new("");
    row.push_insert(&mut insert);
    insert
        .execute(&mut *tx)
        .await
        .context("cannot store the submission")?;
    let submission_id = row.id;
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
            let order = NewOrderRecord::created(amount, now + order_ttl_ms);
            let mut insert = Sql::new("");
            push_order_insert(&mut insert, &order, &submission_id, &form.id, now);
            insert
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
            let mut event = Sql::new("");
            push_created_event(&mut event, &order);
            event
                .execute(&mut *tx)
                .await
                .context("cannot write the order event")?;
            Some(order)
        }
        None => None,
    };
    Ok(Submitted {
        submission_id,
        order,
    })
}

/// The phone number answered, with its field's key (the first phone field).
fn phone_answer(form: &FormRecord, checked: &CheckedAnswers) -> Option<(String, String)> {
    form.def
        .fields
        .iter()
        .find_map(|f| match (&f.kind, checked.answers.get(&f.key)) {
            (FieldKind::Phone, Some(Answer::Text(p))) => Some((f.key.clone(), p.clone())),
            _ => None,
        })
}

/// A submission's row, made once for either way of writing it.
struct SubmissionRow {
    id: String,
    form_id: String,
    answers_json: String,
    search_text: String,
    amount_fen: Option<i64>,
    created_at: i64,
    consent_notice: Option<String>,
    payer_digest: Option<String>,
}

impl SubmissionRow {
    fn new(
        form: &FormRecord,
        checked: &CheckedAnswers,
        amount: Option<Money>,
        consent_notice: Option<&str>,
        phone: Option<&str>,
        now: i64,
    ) -> anyhow::Result<SubmissionRow> {
        let answers_json =
            serde_json::to_string(&checked.answers).context("cannot encode answers")?;
        let search_text = checked
            .answers
            .iter()
            .map(|(k, a)| {
                domain::form::answer_text(form.def.fields.iter().find(|f| &f.key == k), a)
            })
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        Ok(SubmissionRow {
            id: random_token().to_string(),
            form_id: form.id.clone(),
            answers_json,
            search_text,
            amount_fen: amount.map(Money::fen),
            created_at: now,
            consent_notice: consent_notice.map(str::to_owned),
            payer_digest: phone.map(super::abuse::payer_digest),
        })
    }

    /// `INSERT … SELECT` of the row (a `WHERE` may follow).
    fn push_insert(&self, q: &mut Sql<'static>) {
        q.push("INSERT INTO submissions (id, form_id, answers_json, search_text, amount_fen, created_at, consent_at, consent_notice, payer_digest) SELECT ")
            .bind(self.id.clone())
            .push(", ")
            .bind(self.form_id.clone())
            .push(", ")
            .bind(self.answers_json.clone())
            .push(", ")
            .bind(self.search_text.clone())
            .push(", ")
            .bind(self.amount_fen)
            .push(", ")
            .bind(self.created_at)
            .push(", ")
            .bind(self.consent_notice.as_ref().map(|_| self.created_at))
            .push(", ")
            .bind(self.consent_notice.clone())
            .push(", ")
            .bind(self.payer_digest.clone());
    }
}

impl NewOrderRecord {
    /// A new order to pay `amount`, open until `expires_at`.
    fn created(amount: Money, expires_at: i64) -> NewOrderRecord {
        NewOrderRecord {
            id: random_token().to_string(),
            out_trade_no: new_out_trade_no(),
            amount,
            status: OrderStatus::Created,
            receipt_token: random_token().to_string(),
            expires_at,
        }
    }
}

/// `INSERT … SELECT` of a new order of a submission (a `WHERE` may follow).
fn push_order_insert(
    q: &mut Sql<'static>,
    order: &NewOrderRecord,
    submission_id: &str,
    form_id: &str,
    now: i64,
) {
    q.push("INSERT INTO orders (id, out_trade_no, submission_id, form_id, amount_fen, status, receipt_token, refunded_fen, expires_at, next_check_at, check_attempts, created_at, updated_at, account_id) SELECT ")
        .bind(order.id.clone())
        .push(", ")
        .bind(order.out_trade_no.clone())
        .push(", ")
        .bind(submission_id.to_owned())
        .push(", ")
        .bind(form_id.to_owned())
        .push(", ")
        .bind(order.amount.fen())
        .push(", ")
        .bind(order.status.as_str())
        .push(", ")
        .bind(order.receipt_token.clone())
        .push(", 0, ")
        .bind(order.expires_at)
        .push(", ")
        .bind(order.expires_at)
        .push(", 0, ")
        .bind(now)
        .push(", ")
        .bind(now)
        .push(", (SELECT f.account_id FROM forms f WHERE f.id = ")
        .bind(form_id.to_owned())
        .push(")");
}

/// The new order's event (`INSERT … SELECT`; a `WHERE` may follow).
fn push_created_event(q: &mut Sql<'static>, order: &NewOrderRecord) {
    super::orders::push_event_select(
        q,
        &order.id,
        OrderEventKind::Created,
        None,
        Some(OrderStatus::Created),
        &format!("amount {}", order.amount),
    );
}

/// The usual submission as one SQLite query: the form's count taken (with
/// the blocklist's word on the payer), then the submission, its order and
/// the order's event, each only if the statement before it wrote its row
/// (`changes()`). It writes all `rows` rows or none.
struct FastSubmission {
    sql: Sql<'static>,
    rows: u64,
    submitted: Submitted,
}

impl FastSubmission {
    /// The query, when the submission takes nothing but a place in the
    /// form: no payer places, stock, discount, uploads or daily limits,
    /// and no address on the blocklist to compare (ranges are matched
    /// here, not in SQL). `None` on PostgreSQL, where `changes()` is not.
    async fn of(
        db: &Db,
        form: &FormRecord,
        checked: &CheckedAnswers,
        consent_notice: Option<&str>,
        discount_code: Option<&str>,
        guard: Guard,
        order_ttl_ms: i64,
    ) -> anyhow::Result<Option<FastSubmission>> {
        let takes_more = db.backend != crate::db::Backend::Sqlite
            || (form.def.per_payer_limit.is_some()
                && domain::form::payer_key(&form.def.fields, &checked.answers).is_some())
            || (discount_code.is_some() && checked.amount.is_some())
            || form.def.fields.iter().any(|f| {
                matches!(
                    (&f.kind, checked.answers.get(&f.key)),
                    (FieldKind::Upload { .. }, Some(Answer::Choices(_)))
                        | (
                            FieldKind::Payment(PaymentMode::Items { .. }),
                            Some(Answer::Items(_))
                        )
                )
            });
        if takes_more {
            return Ok(None);
        }
        let phone = phone_answer(form, checked).map(|(_, p)| p);
        let limits =
            guard.settings.daily_submissions.is_some() || guard.settings.daily_amount_fen.is_some();
        if phone.is_some() && limits {
            return Ok(None);
        }
        if guard.client.is_some() {
            let listed: Option<(i64,)> = db
                .fetch_optional(Sql::new(
                    "SELECT 1 FROM blocklist WHERE kind = 'address' LIMIT 1",
                ))
                .await?;
            if listed.is_some() {
                return Ok(None);
            }
        }
        let now = now_ms();
        let row = SubmissionRow::new(
            form,
            checked,
            checked.amount,
            consent_notice,
            phone.as_deref(),
            now,
        )?;
        let mut q =
            Sql::new("UPDATE forms SET submission_count = submission_count + 1 WHERE id = ");
        q.bind(form.id.clone()).push(
            " AND status = 'published' AND (max_submissions IS NULL OR submission_count < max_submissions)",
        );
        // Written in the same transaction as the count: an entry added
        // since the read above refuses it here.
        if guard.client.is_some() {
            q.push(" AND NOT EXISTS (SELECT 1 FROM blocklist WHERE kind = 'address')");
        }
        if let Some(phone) = &phone {
            q.push(" AND NOT EXISTS (SELECT 1 FROM blocklist WHERE kind = 'phone' AND value = ")
                .bind(phone.clone())
                .push(")");
        }
        q.push("; ");
        row.push_insert(&mut q);
        q.push(" WHERE changes() = 1");
        let order = checked.amount.map(|amount| {
            let order = NewOrderRecord::created(amount, now + order_ttl_ms);
            q.push("; ");
            push_order_insert(&mut q, &order, &row.id, &form.id, now);
            q.push(" WHERE changes() = 1; ");
            push_created_event(&mut q, &order);
            q.push(" WHERE changes() = 1");
            order
        });
        Ok(Some(FastSubmission {
            sql: q,
            rows: if order.is_some() { 4 } else { 2 },
            submitted: Submitted {
                submission_id: row.id,
                order,
            },
        }))
    }

    /// Runs the query in the next batch: the submission, or `None` when it
    /// wrote nothing (the form full or closed, the payer blocked meanwhile).
    async fn write(self, db: &Db) -> anyhow::Result<Option<Submitted>> {
        let FastSubmission {
            sql,
            rows,
            submitted,
        } = self;
        db.commits
            .query(sql, move |changed| match changed {
                n if n == rows => Ok(Step::Keep(Some(submitted))),
                0 => Ok(Step::Discard(None)),
                n => anyhow::bail!("a submission wrote {n} rows of {rows}"),
            })
            .await
            .context("cannot store the submission")
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(form: &FormRecord, phone: &str) -> CheckedAnswers {
        let given = serde_json::json!({"name": "张三 Zhang", "phone": phone, "amount": "12.34"});
        domain::form::check_answers(&form.def.fields, given.as_object().expect("object"))
            .expect("valid answers")
    }

    /// What a submission wrote, without its random ids and times.
    async fn written(db: &Db, submitted: &Submitted) -> Vec<String> {
        let order = submitted.order.as_ref().expect("an order");
        let (answers, search, amount, consent_at, notice, digest): (String, String, Option<i64>, Option<i64>, Option<String>, Option<String>) =
            sqlx::query_as("SELECT answers_json, search_text, amount_fen, consent_at, consent_notice, payer_digest FROM submissions WHERE id = $1")
                .bind(&submitted.submission_id)
                .fetch_one(&db.pool)
                .await
                .expect("submission");
        let (sub, form_id, fen, status, receipt, refunded, ttl, check, attempts, account): (String, String, i64, String, String, i64, i64, i64, i64, Option<String>) =
            sqlx::query_as("SELECT submission_id, form_id, amount_fen, status, receipt_token, refunded_fen, expires_at - created_at, next_check_at - expires_at, check_attempts, account_id FROM orders WHERE id = $1 AND out_trade_no = $2")
                .bind(&order.id)
                .bind(&order.out_trade_no)
                .fetch_one(&db.pool)
                .await
                .expect("order");
        let events: Vec<(String, Option<String>, Option<String>, String)> = sqlx::query_as(
            "SELECT kind, from_status, to_status, detail FROM order_events WHERE order_id = $1",
        )
        .bind(&order.id)
        .fetch_all(&db.pool)
        .await
        .expect("events");
        assert_eq!(sub, submitted.submission_id);
        assert_eq!(receipt, order.receipt_token);
        vec![
            answers,
            search,
            format!(
                "{amount:?} {:?} {notice:?} {}",
                consent_at.is_some(),
                digest.map_or(0, |d| d.len())
            ),
            format!("{form_id} {fen} {status} {refunded} {ttl} {check} {attempts} {account:?}"),
            format!("{events:?}"),
        ]
    }

    async fn count(db: &Db, table: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&db.pool)
            .await
            .expect("count");
        n
    }

    #[tokio::test]
    async fn a_submission_written_at_once_is_the_one_written_step_by_step() {
        let (db, dir) = crate::db::temp_sqlite("submit").await;
        ensure_demo_form(&db).await.expect("demo");
        let form = form_by_slug(&db, "demo")
            .await
            .expect("read")
            .expect("form");
        let guard = Guard {
            client: Some("192.0.2.7".parse().expect("ip")),
            settings: Default::default(),
        };
        let checked = answers(&form, "13800138000");
        let ttl = 900_000;
        let notice = Some("隐私说明 v1");

        // The usual submission is one query, and it writes what the steps write.
        let fast = FastSubmission::of(&db, &form, &checked, notice, None, guard, ttl)
            .await
            .expect("of")
            .expect("the usual submission goes at once");
        let at_once = fast.write(&db).await.expect("write").expect("written");
        let in_steps = submit_in_steps(&db, &form, &checked, notice, None, guard, ttl)
            .await
            .expect("stored");
        assert_eq!(written(&db, &at_once).await, written(&db, &in_steps).await);
        let form = form_by_id(&db, &form.id)
            .await
            .expect("read")
            .expect("form");
        assert_eq!(form.submission_count, 2);

        // Daily limits, a discount code: written step by step.
        let limited = Guard {
            settings: super::super::abuse::AbuseSettings {
                daily_submissions: Some(5),
                ..Default::default()
            },
            ..guard
        };
        for (guard, code) in [(limited, None), (guard, Some("SPRING"))] {
            let way = FastSubmission::of(&db, &form, &checked, None, code, guard, ttl)
                .await
                .expect("of");
            assert!(way.is_none(), "{code:?}");
        }

        // A phone blocked after the query was made: it writes nothing, and
        // the submission is refused as blocked.
        let (submissions, orders, events) = (
            count(&db, "submissions").await,
            count(&db, "orders").await,
            count(&db, "order_events").await,
        );
        let blocked = answers(&form, "13900139000");
        let fast = FastSubmission::of(&db, &form, &blocked, None, None, guard, ttl)
            .await
            .expect("of")
            .expect("at once");
        assert!(super::super::abuse::add(&db, "phone", "13900139000", "")
            .await
            .expect("block"));
        assert!(fast.write(&db).await.expect("write").is_none());
        let refused = submit(&db, &form, &blocked, None, None, guard, ttl).await;
        assert!(matches!(refused, Err(SubmitError::Blocked)), "{refused:?}");

        // An address range on the blocklist is matched in Rust: step by step.
        assert!(super::super::abuse::add(&db, "address", "192.0.2.0/24", "")
            .await
            .expect("block"));
        let way = FastSubmission::of(&db, &form, &checked, None, None, guard, ttl)
            .await
            .expect("of");
        assert!(way.is_none());
        let refused = submit(&db, &form, &checked, None, None, guard, ttl).await;
        assert!(matches!(refused, Err(SubmitError::Blocked)), "{refused:?}");
        let outside = Guard {
            client: Some("198.51.100.1".parse().expect("ip")),
            ..guard
        };
        assert!(submit(&db, &form, &checked, None, None, outside, ttl)
            .await
            .is_ok());
        assert_eq!(count(&db, "submissions").await, submissions + 1);
        assert_eq!(count(&db, "orders").await, orders + 1);
        assert_eq!(count(&db, "order_events").await, events + 1);

        // A full form: the query writes nothing, the answer says full.
        sqlx::query("UPDATE forms SET max_submissions = submission_count WHERE id = $1")
            .bind(&form.id)
            .execute(&db.pool)
            .await
            .expect("full");
        let fast = FastSubmission::of(&db, &form, &checked, None, None, Guard::default(), ttl)
            .await
            .expect("of")
            .expect("at once");
        assert!(fast.write(&db).await.expect("write").is_none());
        let refused = submit(&db, &form, &checked, None, None, Guard::default(), ttl).await;
        assert!(
            matches!(refused, Err(SubmitError::Unavailable(Availability::Full))),
            "{refused:?}"
        );
        assert_eq!(count(&db, "submissions").await, submissions + 1);
        let _ = std::fs::remove_dir_all(dir);
    }
}
