//! Discount codes: kept per form, a use taken with a compare-and-set when an
//! order is created, given back with the order's other holds.

use crate::{now_ms, random_token, Db};
use anyhow::Context;
use domain::discount::Discount;

/// A stored code.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CodeRecord {
    pub id: String,
    pub code: String,
    pub kind: String,
    pub value: i64,
    pub max_uses: Option<i64>,
    pub used: i64,
    pub expires_at: Option<i64>,
    pub created_at: i64,
}

impl CodeRecord {
    pub fn discount(&self) -> Option<Discount> {
        match self.kind.as_str() {
            "fixed" => Some(Discount::Fixed(self.value)),
            "percent" => Some(Discount::Percent(self.value)),
            _ => None,
        }
    }
}

const COLUMNS: &str = "id, code, kind, value, max_uses, used, expires_at, created_at";

pub async fn list(db: &Db, form_id: &str) -> anyhow::Result<Vec<CodeRecord>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM discount_codes WHERE form_id = $1 ORDER BY created_at DESC, id"
    ))
    .bind(form_id)
    .fetch_all(&db.pool)
    .await
    .context("cannot read the discount codes")
}

/// Whether a form has any code (its page then asks for one).
pub async fn form_has_codes(db: &Db, form_id: &str) -> anyhow::Result<bool> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM discount_codes WHERE form_id = $1")
        .bind(form_id)
        .fetch_one(&db.pool)
        .await
        .context("cannot count the discount codes")?;
    Ok(n > 0)
}

/// Adds a code (already normalised); `Ok(Err(..))` when the form has it already.
pub async fn add(
    db: &Db,
    form_id: &str,
    code: &str,
    discount: Discount,
    max_uses: Option<i64>,
    expires_at: Option<i64>,
) -> anyhow::Result<Result<String, String>> {
    let id = random_token().to_string();
    let done = sqlx::query("INSERT INTO discount_codes (id, form_id, code, kind, value, max_uses, used, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8) ON CONFLICT (form_id, code) DO NOTHING")
        .bind(&id)
        .bind(form_id)
        .bind(code)
        .bind(discount.kind())
        .bind(discount.value())
        .bind(max_uses)
        .bind(expires_at)
        .bind(now_ms())
        .execute(&db.pool)
        .await
        .context("cannot add the discount code")?;
    Ok(if done.rows_affected() == 1 {
        Ok(id)
    } else {
        Err(format!("the form already has the code {code}"))
    })
}

/// Removes a code; orders that used it keep their amount. Returns its text.
pub async fn remove(db: &Db, form_id: &str, id: &str) -> anyhow::Result<Option<String>> {
    let code: Option<(String,)> =
        sqlx::query_as("SELECT code FROM discount_codes WHERE id = $1 AND form_id = $2")
            .bind(id)
            .bind(form_id)
            .fetch_optional(&db.pool)
            .await
            .context("cannot read the discount code")?;
    if code.is_some() {
        sqlx::query("DELETE FROM discount_codes WHERE id = $1 AND form_id = $2")
            .bind(id)
            .bind(form_id)
            .execute(&db.pool)
            .await
            .context("cannot remove the discount code")?;
    }
    Ok(code.map(|(c,)| c))
}

/// Takes one use of a form's code, if it exists, has not expired and has
/// uses left (a compare-and-set). Returns its id and discount.
pub async fn take_in(
    tx: &mut sqlx::AnyConnection,
    form_id: &str,
    code: &str,
) -> anyhow::Result<Option<(String, Discount)>> {
    let found: Option<CodeRecord> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM discount_codes WHERE form_id = $1 AND code = $2"
    ))
    .bind(form_id)
    .bind(code)
    .fetch_optional(&mut *tx)
    .await
    .context("cannot read the discount code")?;
    let Some(c) = found else {
        return Ok(None);
    };
    let Some(discount) = c.discount() else {
        return Ok(None);
    };
    if c.expires_at.is_some_and(|t| now_ms() >= t) {
        return Ok(None);
    }
    let taken = sqlx::query(
        "UPDATE discount_codes SET used = used + 1 WHERE id = $1 AND (max_uses IS NULL OR used < max_uses)",
    )
    .bind(&c.id)
    .execute(&mut *tx)
    .await
    .context("cannot use the discount code")?;
    Ok((taken.rows_affected() == 1).then_some((c.id, discount)))
}
