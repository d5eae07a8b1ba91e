//! Profit sharing (分账): a form's rule gives each receiver a share of each
//! payment (a percentage or a fixed amount, at most 30 % in all, WeChat's
//! default ceiling). The payment is created with profit sharing on, so the
//! provider holds its money; once it is paid the split is sent, followed to
//! its end (`pending` → `processing` → `finished`, or `failed` after its
//! retries), and what is left is released to the merchant. Before a refund
//! that needs the shared money, the shares are returned from the receivers.
//!
//! Each split is a row of `share_orders` made when the payment starts (with
//! the rule as it was then), so a rule changed later does not change a
//! payment already made.

use crate::provider::*;
use crate::store::orders::{self, OrderRecord};
use crate::{now_ms, random_token, Core};
use anyhow::Context;
use domain::{OrderEventKind, Provider};
use serde::{Deserialize, Serialize};

/// WeChat's default ceiling: at most 30 % of a payment is shared.
pub const MAX_SHARE_BP: i64 = 3000;
/// A split is tried this many times before it is left `failed` for an administrator.
pub const MAX_ATTEMPTS: i64 = 12;

/// A receiver's kind, as its provider names it: WeChat's merchant or person
/// (openid), Alipay's user id (2088…) or login name (email or phone).
pub const KINDS: [&str; 4] = ["MERCHANT_ID", "PERSONAL_OPENID", "userId", "loginName"];

/// The provider a receiver of this kind is paid through.
pub fn provider_of_kind(kind: &str) -> Provider {
    match kind {
        "userId" | "loginName" => Provider::Alipay,
        _ => Provider::Wechat,
    }
}
/// WeChat's relation types of a receiver to the merchant.
pub const RELATIONS: [&str; 10] = domain::SHARE_RELATIONS;

/// A receiver of shares, registered for one receiving account.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Receiver {
    pub id: String,
    pub account_key: String,
    pub provider: String,
    pub kind: String,
    pub account: String,
    pub name: String,
    pub relation: String,
    pub created_at: i64,
}

/// One receiver's part of a form's rule, as kept with each payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct RulePart {
    pub receiver_id: String,
    pub kind: String,
    pub account: String,
    pub name: String,
    pub relation: String,
    /// A share in basis points (1000 = 10 %), or
    pub basis_points: Option<i64>,
    /// a fixed amount.
    pub fixed_fen: Option<i64>,
}

impl RulePart {
    /// This part of a payment of `paid_fen`, rounded down to the fen.
    pub fn amount_of(&self, paid_fen: i64) -> i64 {
        match (self.basis_points, self.fixed_fen) {
            (Some(bp), _) => paid_fen.saturating_mul(bp) / 10_000,
            (None, Some(f)) => f.min(paid_fen),
            _ => 0,
        }
        .max(0)
    }

    /// "10.00 %" or "¥5.00".
    pub fn describe(&self) -> String {
        match (self.basis_points, self.fixed_fen) {
            (Some(bp), _) => format!("{}.{:02} %", bp / 100, bp % 100),
            (None, Some(f)) => domain::Money::from_fen(f)
                .map(|m| m.to_string())
                .unwrap_or_default(),
            _ => String::new(),
        }
    }
}

/// The split of a payment of `paid_fen` by `rule`: each part with its
/// amount (parts that come to nothing left out), or why it cannot be made.
pub fn split(rule: &[RulePart], paid_fen: i64) -> Result<Vec<(RulePart, i64)>, String> {
    let parts: Vec<(RulePart, i64)> = rule
        .iter()
        .map(|p| (p.clone(), p.amount_of(paid_fen)))
        .filter(|(_, a)| *a > 0)
        .collect();
    let total: i64 = parts.iter().map(|(_, a)| a).sum();
    let ceiling = paid_fen.saturating_mul(MAX_SHARE_BP) / 10_000;
    if total > ceiling {
        return Err(format!(
            "the shares come to {total} fen, above 30 % of the payment ({ceiling} of {paid_fen} fen)"
        ));
    }
    Ok(parts)
}

/// A receiver's account checked: a WeChat merchant id is 8 to 32 digits, an
/// openid 1 to 128 letters, digits, `-` or `_`; an Alipay user id is 2088
/// and 12 more digits, a login name an email address or a phone number.
pub fn check_receiver(kind: &str, account: &str, name: &str, relation: &str) -> Result<(), String> {
    if !KINDS.contains(&kind) {
        return Err(
            "the kind is MERCHANT_ID or PERSONAL_OPENID (WeChat), userId or loginName (Alipay)"
                .into(),
        );
    }
    let ok = match kind {
        "MERCHANT_ID" => {
            (8..=32).contains(&account.len()) && account.bytes().all(|b| b.is_ascii_digit())
        }
        "userId" => {
            account.len() == 16
                && account.starts_with("2088")
                && account.bytes().all(|b| b.is_ascii_digit())
        }
        "loginName" => {
            domain::Email::parse(account).is_ok()
                || (account.len() == 11
                    && account.starts_with('1')
                    && account.bytes().all(|b| b.is_ascii_digit()))
        }
        _ => {
            (1..=128).contains(&account.len())
                && account
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }
    };
    if !ok {
        return Err(match kind {
            "MERCHANT_ID" => "a merchant id is 8 to 32 digits".into(),
            "userId" => "an Alipay user id is 2088 and 12 more digits".into(),
            "loginName" => "an Alipay login name is an email address or a mobile number".into(),
            _ => "an openid is 1 to 128 letters, digits, - or _".into(),
        });
    }
    let name_len = name.chars().count();
    if name_len > 64 || (kind == "MERCHANT_ID" && name_len == 0) {
        return Err("a merchant receiver needs its registered name (at most 64 characters)".into());
    }
    if !RELATIONS.contains(&relation) {
        return Err(format!("the relation is one of {}", RELATIONS.join(", ")));
    }
    Ok(())
}

pub async fn receivers(state: &Core) -> anyhow::Result<Vec<Receiver>> {
    sqlx::query_as(
        "SELECT id, account_key, provider, kind, account, name, relation, created_at FROM share_receivers ORDER BY created_at, id",
    )
    .fetch_all(&state.db.pool)
    .await
    .context("cannot read the receivers")
}

/// Registers a receiver (`account_key` '' for the environment's account).
/// Answers its id, or why it is refused.
pub async fn add_receiver(
    state: &Core,
    account_key: &str,
    kind: &str,
    account: &str,
    name: &str,
    relation: &str,
) -> anyhow::Result<Result<String, String>> {
    if let Err(e) = check_receiver(kind, account, name, relation) {
        return Ok(Err(e));
    }
    let id = random_token().to_string();
    let inserted = sqlx::query(
        "INSERT INTO share_receivers (id, account_key, provider, kind, account, name, relation, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (account_key, provider, kind, account) DO NOTHING",
    )
    .bind(&id)
    .bind(account_key)
    .bind(provider_of_kind(kind).as_str())
    .bind(kind)
    .bind(account)
    .bind(name)
    .bind(relation)
    .bind(now_ms())
    .execute(&state.db.pool)
    .await
    .context("cannot store the receiver")?;
    Ok(if inserted.rows_affected() == 1 {
        Ok(id)
    } else {
        Err("this receiver is registered already".into())
    })
}

/// Removes a receiver and its place in every form's rule (payments already
/// started keep their split).
pub async fn remove_receiver(state: &Core, id: &str) -> anyhow::Result<bool> {
    let mut tx = state.db.pool.begin().await.context("cannot begin")?;
    sqlx::query("DELETE FROM form_shares WHERE receiver_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .context("cannot remove the receiver's rules")?;
    let gone = sqlx::query("DELETE FROM share_receivers WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .context("cannot remove the receiver")?;
    tx.commit().await.context("cannot commit")?;
    Ok(gone.rows_affected() == 1)
}

/// A form's rule: each receiver's part.
pub async fn rule_of(state: &Core, form_id: &str) -> anyhow::Result<Vec<RulePart>> {
    sqlx::query_as(
        "SELECT r.id AS receiver_id, r.kind, r.account, r.name, r.relation, s.basis_points, s.fixed_fen FROM form_shares s JOIN share_receivers r ON r.id = s.receiver_id WHERE s.form_id = $1 ORDER BY r.created_at, r.id",
    )
    .bind(form_id)
    .fetch_all(&state.db.pool)
    .await
    .context("cannot read the form's shares")
}

/// Every form's rule: (form id, the part).
pub async fn all_rules(state: &Core) -> anyhow::Result<Vec<(String, RulePart)>> {
    let forms: Vec<(String,)> =
        sqlx::query_as("SELECT DISTINCT form_id FROM form_shares ORDER BY form_id")
            .fetch_all(&state.db.pool)
            .await
            .context("cannot read the rules")?;
    let mut all = Vec::new();
    for (form,) in forms {
        for part in rule_of(state, &form).await? {
            all.push((form.clone(), part));
        }
    }
    Ok(all)
}

/// Gives `receiver_id` a share of each payment to `form_id`: `basis_points`
/// (1 to 3000) or `fixed_fen` (from 1), one of them. The form's percentages
/// together stay within 30 %, and the receiver must belong to the form's
/// receiving account.
pub async fn set_rule(
    state: &Core,
    form_id: &str,
    receiver_id: &str,
    basis_points: Option<i64>,
    fixed_fen: Option<i64>,
) -> anyhow::Result<Result<(), String>> {
    match (basis_points, fixed_fen) {
        (Some(bp), None) if (1..=MAX_SHARE_BP).contains(&bp) => {}
        (None, Some(f)) if f >= 1 => {}
        (Some(_), None) => return Ok(Err("a percentage is above 0 and at most 30 %".into())),
        (None, Some(_)) => return Ok(Err("a fixed share is at least ¥0.01".into())),
        _ => {
            return Ok(Err(
                "give a percentage or a fixed amount, one of them".into()
            ))
        }
    }
    let Some(receiver): Option<Receiver> = sqlx::query_as(
        "SELECT id, account_key, provider, kind, account, name, relation, created_at FROM share_receivers WHERE id = $1",
    )
    .bind(receiver_id)
    .fetch_optional(&state.db.pool)
    .await
    .context("cannot read the receiver")?
    else {
        return Ok(Err("no such receiver".into()));
    };
    if crate::store::forms::form_by_id(&state.db, form_id)
        .await?
        .is_none()
    {
        return Ok(Err("no such form".into()));
    }
    let form_account = crate::accounts::form_account(&state.db, form_id)
        .await?
        .unwrap_or_default();
    if form_account != receiver.account_key {
        return Ok(Err(
            "the receiver belongs to another receiving account than the form's".into(),
        ));
    }
    let others: i64 = rule_of(state, form_id)
        .await?
        .iter()
        .filter(|p| p.receiver_id != receiver_id)
        .filter_map(|p| p.basis_points)
        .sum();
    if others + basis_points.unwrap_or(0) > MAX_SHARE_BP {
        return Ok(Err("the form's shares together stay within 30 %".into()));
    }
    let mut tx = state.db.pool.begin().await.context("cannot begin")?;
    sqlx::query("DELETE FROM form_shares WHERE form_id = $1 AND receiver_id = $2")
        .bind(form_id)
        .bind(receiver_id)
        .execute(&mut *tx)
        .await
        .context("cannot replace the share")?;
    sqlx::query("INSERT INTO form_shares (form_id, receiver_id, basis_points, fixed_fen) VALUES ($1, $2, $3, $4)")
        .bind(form_id)
        .bind(receiver_id)
        .bind(basis_points)
        .bind(fixed_fen)
        .execute(&mut *tx)
        .await
        .context("cannot store the share")?;
    tx.commit().await.context("cannot commit")?;
    Ok(Ok(()))
}

pub async fn remove_rule(state: &Core, form_id: &str, receiver_id: &str) -> anyhow::Result<bool> {
    let gone = sqlx::query("DELETE FROM form_shares WHERE form_id = $1 AND receiver_id = $2")
        .bind(form_id)
        .bind(receiver_id)
        .execute(&state.db.pool)
        .await
        .context("cannot remove the share")?;
    Ok(gone.rows_affected() == 1)
}

/// Called as a payment attempt starts: when its form shares payments and
/// the provider can split them, the split-to-be is recorded with the rule
/// as it is now. Answers whether the payment must be made with profit
/// sharing on.
pub async fn prepare(
    state: &Core,
    order: &OrderRecord,
    out_trade_no: &str,
    provider: &dyn PaymentProvider,
) -> anyhow::Result<bool> {
    if !provider.shares_profit() {
        return Ok(false);
    }
    // The parts of the receivers this provider pays.
    let mut rule = rule_of(state, &order.form_id).await?;
    rule.retain(|p| provider_of_kind(&p.kind) == provider.provider());
    if rule.is_empty() {
        return Ok(false);
    }
    let now = now_ms();
    sqlx::query(
        "INSERT INTO share_orders (id, order_id, out_trade_no, account_key, provider, out_order_no, state, rule_json, next_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'awaiting_payment', $7, $8, $8) ON CONFLICT (out_trade_no) DO NOTHING",
    )
    .bind(random_token().to_string())
    .bind(&order.id)
    .bind(out_trade_no)
    .bind(order.account_id.as_deref().unwrap_or(""))
    .bind(provider.provider().as_str())
    .bind(format!("S{out_trade_no}"))
    .bind(serde_json::to_string(&rule).context("cannot write the rule")?)
    .bind(now)
    .execute(&state.db.pool)
    .await
    .context("cannot record the split")?;
    Ok(true)
}

/// A split, as stored.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct ShareOrder {
    pub id: String,
    pub order_id: String,
    pub out_trade_no: String,
    pub account_key: String,
    pub provider: String,
    pub out_order_no: String,
    pub state: String,
    pub rule_json: String,
    pub transaction_id: Option<String>,
    pub provider_order_id: Option<String>,
    pub amount_fen: i64,
    pub attempts: i64,
    pub next_at: i64,
    pub error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// One receiver's line of a split.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct ShareLine {
    pub share_order_id: String,
    pub receiver_id: String,
    pub kind: String,
    pub account: String,
    pub amount_fen: i64,
    pub result: String,
    pub fail_reason: Option<String>,
    pub returned_fen: i64,
}

const SHARE_COLUMNS: &str = "id, order_id, out_trade_no, account_key, provider, out_order_no, state, rule_json, transaction_id, provider_order_id, amount_fen, attempts, next_at, error, created_at, finished_at";
const LINE_COLUMNS: &str =
    "share_order_id, receiver_id, kind, account, amount_fen, result, fail_reason, returned_fen";

/// The latest splits (those waiting for their payment left out), with their lines.
pub async fn recent(state: &Core, limit: i64) -> anyhow::Result<Vec<(ShareOrder, Vec<ShareLine>)>> {
    let splits: Vec<ShareOrder> = sqlx::query_as(&format!(
        "SELECT {SHARE_COLUMNS} FROM share_orders WHERE state NOT IN ('awaiting_payment', 'void') ORDER BY created_at DESC, id LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(&state.db.pool)
    .await
    .context("cannot read the splits")?;
    with_lines(state, splits).await
}

/// The splits of an order, with their lines.
pub async fn of_order(
    state: &Core,
    order_id: &str,
) -> anyhow::Result<Vec<(ShareOrder, Vec<ShareLine>)>> {
    let splits: Vec<ShareOrder> = sqlx::query_as(&format!(
        "SELECT {SHARE_COLUMNS} FROM share_orders WHERE order_id = $1 ORDER BY created_at, id"
    ))
    .bind(order_id)
    .fetch_all(&state.db.pool)
    .await
    .context("cannot read the order's splits")?;
    with_lines(state, splits).await
}

/// Each split with its lines.
async fn with_lines(
    state: &Core,
    splits: Vec<ShareOrder>,
) -> anyhow::Result<Vec<(ShareOrder, Vec<ShareLine>)>> {
    let mut all = Vec::with_capacity(splits.len());
    for s in splits {
        let lines = lines_of(state, &s.id).await?;
        all.push((s, lines));
    }
    Ok(all)
}

async fn lines_of(state: &Core, share_order_id: &str) -> anyhow::Result<Vec<ShareLine>> {
    sqlx::query_as(&format!(
        "SELECT {LINE_COLUMNS} FROM share_lines WHERE share_order_id = $1 ORDER BY receiver_id"
    ))
    .bind(share_order_id)
    .fetch_all(&state.db.pool)
    .await
    .context("cannot read the split's lines")
}

/// One pass of the splits' state machine: payments now paid get their split
/// worked out, due splits are sent or followed up. Answers how many moved.
pub async fn advance_once(state: &Core) -> anyhow::Result<usize> {
    let now = now_ms();
    let mut moved = 0;
    // Payments that were paid: work out the amounts; payments that will
    // never be paid: nothing to split.
    let waiting: Vec<(String, String, String, i64, Option<String>)> = sqlx::query_as(
        "SELECT s.id, s.rule_json, a.state, a.amount_fen, a.transaction_id FROM share_orders s \
         JOIN payment_attempts a ON a.out_trade_no = s.out_trade_no \
         WHERE s.state = 'awaiting_payment' AND a.state NOT IN ('open', 'closing') LIMIT 200",
    )
    .fetch_all(&state.db.pool)
    .await
    .context("cannot read the splits waiting for their payment")?;
    for (id, rule_json, attempt_state, paid_fen, transaction_id) in waiting {
        moved += 1;
        if attempt_state != "paid" {
            mark(state, &id, "awaiting_payment", "void", None).await?;
            continue;
        }
        let rule: Vec<RulePart> = serde_json::from_str(&rule_json).unwrap_or_default();
        let parts = match split(&rule, paid_fen) {
            Ok(p) => p,
            Err(why) => {
                mark(state, &id, "awaiting_payment", "failed", Some(&why)).await?;
                continue;
            }
        };
        let mut tx = state.db.pool.begin().await.context("cannot begin")?;
        let claimed = sqlx::query(
            "UPDATE share_orders SET state = 'pending', transaction_id = $1, amount_fen = $2, next_at = $3 WHERE id = $4 AND state = 'awaiting_payment'",
        )
        .bind(&transaction_id)
        .bind(parts.iter().map(|(_, a)| a).sum::<i64>())
        .bind(now)
        .bind(&id)
        .execute(&mut *tx)
        .await
        .context("cannot start the split")?;
        if claimed.rows_affected() != 1 {
            tx.rollback().await.context("cannot roll back")?;
            continue;
        }
        for (part, amount) in &parts {
            sqlx::query(
                "INSERT INTO share_lines (share_order_id, receiver_id, kind, account, amount_fen, result) VALUES ($1, $2, $3, $4, $5, 'PENDING')",
            )
            .bind(&id)
            .bind(&part.receiver_id)
            .bind(&part.kind)
            .bind(&part.account)
            .bind(amount)
            .execute(&mut *tx)
            .await
            .context("cannot store a share")?;
        }
        tx.commit().await.context("cannot commit the split")?;
    }
    // Due splits: sent, or asked about.
    let due: Vec<ShareOrder> = sqlx::query_as(&format!(
        "SELECT {SHARE_COLUMNS} FROM share_orders WHERE state IN ('pending', 'processing') AND next_at <= $1 ORDER BY next_at LIMIT 50"
    ))
    .bind(now)
    .fetch_all(&state.db.pool)
    .await
    .context("cannot read the due splits")?;
    for s in due {
        // Claimed by moving its next time: another instance skips it.
        let backoff = 5_000i64
            .saturating_mul(1 << s.attempts.clamp(0, 10))
            .min(3_600_000);
        let claimed = sqlx::query(
            "UPDATE share_orders SET next_at = $1, attempts = attempts + 1 WHERE id = $2 AND next_at = $3 AND state = $4",
        )
        .bind(now + backoff)
        .bind(&s.id)
        .bind(s.next_at)
        .bind(&s.state)
        .execute(&state.db.pool)
        .await
        .context("cannot claim the split")?;
        if claimed.rows_affected() != 1 {
            continue;
        }
        moved += 1;
        if let Err(e) = drive(state, &s).await {
            let error = format!("{e:#}");
            tracing::warn!(split = %s.out_order_no, error = %error, "split not sent");
            if s.attempts + 1 >= MAX_ATTEMPTS {
                mark(state, &s.id, &s.state, "failed", Some(&error)).await?;
                orders::log_event(
                    &state.db,
                    &s.order_id,
                    OrderEventKind::Share,
                    &format!("split {} failed: {error}", s.out_order_no),
                )
                .await?;
            } else {
                sqlx::query("UPDATE share_orders SET error = $1 WHERE id = $2")
                    .bind(&error)
                    .bind(&s.id)
                    .execute(&state.db.pool)
                    .await
                    .context("cannot note the error")?;
            }
        }
    }
    Ok(moved)
}

async fn mark(
    state: &Core,
    id: &str,
    from: &str,
    to: &str,
    error: Option<&str>,
) -> anyhow::Result<()> {
    sqlx::query("UPDATE share_orders SET state = $1, error = COALESCE($2, error) WHERE id = $3 AND state = $4")
        .bind(to)
        .bind(error)
        .bind(id)
        .bind(from)
        .execute(&state.db.pool)
        .await
        .context("cannot move the split")?;
    Ok(())
}

/// The provider client of a split's receiving account.
async fn client_of(
    state: &Core,
    s: &ShareOrder,
) -> anyhow::Result<std::sync::Arc<dyn PaymentProvider>> {
    let account = Some(s.account_key.as_str()).filter(|a| !a.is_empty());
    let provider = Provider::parse(&s.provider).context("unknown provider")?;
    crate::accounts::providers(state, account)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .for_provider(provider)
        .cloned()
        .context("the account has no such provider now")
}

/// Sends a pending split (receivers first), or asks about a processing one,
/// and records what the provider says.
async fn drive(state: &Core, s: &ShareOrder) -> anyhow::Result<()> {
    let client = client_of(state, s).await?;
    let transaction_id = s
        .transaction_id
        .clone()
        .context("the payment has no transaction id")?;
    let lines = lines_of(state, &s.id).await?;
    let info = if s.state == "processing" {
        client.query_share(&transaction_id, &s.out_order_no).await?
    } else if lines.is_empty() {
        // Nothing to give: the frozen money is released to the merchant.
        client
            .unfreeze_share(&transaction_id, &s.out_order_no, "无分账，解冻资金")
            .await?
    } else {
        let rule: Vec<RulePart> = serde_json::from_str(&s.rule_json).unwrap_or_default();
        for part in &rule {
            if lines.iter().any(|l| l.receiver_id == part.receiver_id) {
                client
                    .add_share_receiver(&ShareReceiver {
                        kind: part.kind.clone(),
                        account: part.account.clone(),
                        name: Some(part.name.clone()).filter(|n| !n.is_empty()),
                        relation: part.relation.clone(),
                    })
                    .await?;
            }
        }
        client
            .share(&ShareRequest {
                transaction_id: transaction_id.clone(),
                out_order_no: s.out_order_no.clone(),
                lines: lines
                    .iter()
                    .map(|l| ShareLineRequest {
                        kind: l.kind.clone(),
                        account: l.account.clone(),
                        amount_fen: l.amount_fen,
                        description: "分账".into(),
                    })
                    .collect(),
                unfreeze_unsplit: true,
            })
            .await?
    };
    apply(state, s, &info).await
}

/// Records a provider's view of a split.
async fn apply(state: &Core, s: &ShareOrder, info: &ShareInfo) -> anyhow::Result<()> {
    if info.out_order_no != s.out_order_no {
        anyhow::bail!("the provider answered about split {}", info.out_order_no);
    }
    let mut tx = state.db.pool.begin().await.context("cannot begin")?;
    for l in &info.lines {
        sqlx::query(
            "UPDATE share_lines SET result = $1, fail_reason = $2 WHERE share_order_id = $3 AND kind = $4 AND account = $5 AND amount_fen = $6",
        )
        .bind(l.result.as_str())
        .bind(l.fail_reason.as_deref())
        .bind(&s.id)
        .bind(&l.kind)
        .bind(&l.account)
        .bind(l.amount_fen)
        .execute(&mut *tx)
        .await
        .context("cannot record a share's result")?;
    }
    let finished = info.state == ShareState::Finished;
    let now = now_ms();
    let moved = sqlx::query(
        "UPDATE share_orders SET state = $1, provider_order_id = COALESCE($2, provider_order_id), error = NULL, finished_at = $3, next_at = $4 WHERE id = $5 AND state = $6",
    )
    .bind(if finished { "finished" } else { "processing" })
    .bind(info.order_id.as_deref())
    .bind(finished.then_some(now))
    .bind(if finished { now } else { now + 5_000 })
    .bind(&s.id)
    .bind(&s.state)
    .execute(&mut *tx)
    .await
    .context("cannot move the split")?;
    tx.commit().await.context("cannot commit")?;
    if finished && moved.rows_affected() == 1 {
        let shared: i64 = info
            .lines
            .iter()
            .filter(|l| l.result == ShareResult::Success)
            .map(|l| l.amount_fen)
            .sum();
        orders::log_event(
            &state.db,
            &s.order_id,
            OrderEventKind::Share,
            &format!(
                "split {} finished: {} shared to {} receiver(s), the rest released",
                s.out_order_no,
                domain::Money::from_fen(shared)
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
                info.lines.len()
            ),
        )
        .await?;
        tracing::info!(split = %s.out_order_no, shared, "split finished");
    }
    Ok(())
}

/// Where the provider takes shares back inside the refund itself (Alipay's
/// 退分账): what a refund of `refund_fen` of payment `out_trade_no` takes from
/// each receiver, in proportion to its share (rounded up, so that refunds of
/// the whole payment take back the whole share), never more than it still
/// holds. The same at the refund's request and at its success.
pub async fn royalty_plan(
    state: &Core,
    order: &OrderRecord,
    out_trade_no: &str,
    refund_fen: i64,
) -> anyhow::Result<Vec<(ShareOrder, ShareLine, i64)>> {
    let mut plan = Vec::new();
    let paid = order.received_fen.max(1);
    for (s, lines) in of_order(state, &order.id).await? {
        if s.out_trade_no != out_trade_no || s.state != "finished" {
            continue;
        }
        for l in lines.into_iter().filter(|l| l.result == "SUCCESS") {
            let open = l.amount_fen - l.returned_fen;
            let part = (l.amount_fen * refund_fen + paid - 1) / paid;
            let take = part.min(open);
            if take > 0 {
                plan.push((s.clone(), l, take));
            }
        }
    }
    Ok(plan)
}

/// The shares a refund takes back inside itself (see [`royalty_plan`]), as
/// the provider is asked for them.
pub async fn royalty_returns(
    state: &Core,
    order: &OrderRecord,
    out_trade_no: &str,
    refund_fen: i64,
) -> anyhow::Result<Vec<ShareLineRequest>> {
    Ok(royalty_plan(state, order, out_trade_no, refund_fen)
        .await?
        .into_iter()
        .map(|(_, l, take)| ShareLineRequest {
            kind: l.kind,
            account: l.account,
            amount_fen: take,
            description: format!("退款退分账 {}", order.out_trade_no),
        })
        .collect())
}

/// A refund that took shares back inside itself succeeded: they are
/// recorded as returned.
pub async fn returned_with_refund(
    state: &Core,
    order_id: &str,
    out_trade_no: &str,
    refund_fen: i64,
) -> anyhow::Result<()> {
    let Some(order) = orders::by_id(&state.db, order_id).await? else {
        return Ok(());
    };
    for (s, l, take) in royalty_plan(state, &order, out_trade_no, refund_fen).await? {
        sqlx::query(
            "UPDATE share_lines SET returned_fen = returned_fen + $1 WHERE share_order_id = $2 AND receiver_id = $3 AND returned_fen = $4",
        )
        .bind(take)
        .bind(&s.id)
        .bind(&l.receiver_id)
        .bind(l.returned_fen)
        .execute(&state.db.pool)
        .await
        .context("cannot record the return")?;
        orders::log_event(
            &state.db,
            order_id,
            OrderEventKind::Share,
            &format!(
                "{} taken back from {} with the refund",
                domain::Money::from_fen(take)
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
                l.account
            ),
        )
        .await?;
    }
    Ok(())
}

/// Why a refund waits for, or cannot have, the shared money back.
#[derive(Debug, thiserror::Error)]
pub enum ShareBlock {
    #[error("the split of this payment is being made: try the refund again in a minute")]
    InProgress,
    #[error("{0}")]
    CannotReturn(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Before a refund of `refund_fen` of `order`: when what the merchant kept
/// (received, less refunds asked, less the shares not returned) does not
/// cover it, the shares are returned from the receivers first (merchant
/// receivers only: WeChat returns from a merchant, not from a person).
pub async fn return_for_refund(
    state: &Core,
    order: &OrderRecord,
    refund_fen: i64,
) -> Result<(), ShareBlock> {
    let mut splits = of_order(state, &order.id).await?;
    // Alipay takes shares back inside the refund ([`royalty_returns`]).
    splits.retain(|(s, _)| s.provider != Provider::Alipay.as_str());
    if splits.is_empty() {
        return Ok(());
    }
    // The provider holds the money of a split in flight: wait for its end.
    if splits.iter().any(|(s, _)| {
        matches!(
            s.state.as_str(),
            "awaiting_payment" | "pending" | "processing"
        )
    }) {
        return Err(ShareBlock::InProgress);
    }
    let shared: i64 = splits
        .iter()
        .flat_map(|(_, lines)| lines.iter())
        .filter(|l| l.result == "SUCCESS")
        .map(|l| l.amount_fen - l.returned_fen)
        .sum();
    let kept = order.received_fen - order.refunded_fen - order.refund_reserved_fen - shared;
    let mut need = refund_fen - kept;
    if need <= 0 {
        return Ok(());
    }
    for (s, lines) in &splits {
        if s.state != "finished" {
            continue;
        }
        let client = client_of(state, s).await?;
        for l in lines.iter().filter(|l| l.result == "SUCCESS") {
            let open = l.amount_fen - l.returned_fen;
            if need <= 0 || open <= 0 {
                continue;
            }
            if l.kind != "MERCHANT_ID" {
                continue;
            }
            let amount = open.min(need);
            // One number per line and amount returned so far: a retry of
            // the same return asks again with the same number.
            let out_return_no = format!(
                "R{}{}",
                &s.out_order_no[1..].chars().take(40).collect::<String>(),
                l.returned_fen
            );
            let info = client
                .return_share(&ShareReturn {
                    out_order_no: s.out_order_no.clone(),
                    out_return_no: out_return_no.chars().take(64).collect(),
                    return_mchid: l.account.clone(),
                    amount_fen: amount,
                    description: format!("退款前分账回退 {}", order.out_trade_no),
                })
                .await
                .map_err(|e| {
                    ShareBlock::CannotReturn(format!(
                        "the share of {} cannot be returned: {e}",
                        l.account
                    ))
                })?;
            match info.state {
                ShareReturnState::Success => {}
                ShareReturnState::Processing => return Err(ShareBlock::InProgress),
                ShareReturnState::Failed(why) => {
                    return Err(ShareBlock::CannotReturn(format!(
                        "{} refused to return its share: {why}",
                        l.account
                    )))
                }
            }
            sqlx::query(
                "UPDATE share_lines SET returned_fen = returned_fen + $1 WHERE share_order_id = $2 AND receiver_id = $3 AND returned_fen = $4",
            )
            .bind(amount)
            .bind(&s.id)
            .bind(&l.receiver_id)
            .bind(l.returned_fen)
            .execute(&state.db.pool)
            .await
            .context("cannot record the return")?;
            orders::log_event(
                &state.db,
                &order.id,
                OrderEventKind::Share,
                &format!(
                    "{} returned by {} before a refund",
                    domain::Money::from_fen(amount)
                        .map(|m| m.to_string())
                        .unwrap_or_default(),
                    l.account
                ),
            )
            .await?;
            need -= amount;
        }
    }
    if need > 0 {
        return Err(ShareBlock::CannotReturn(format!(
            "{} of this refund was shared to receivers that cannot return it (WeChat returns a merchant's share, not a person's): refund at most what the merchant kept",
            domain::Money::from_fen(need).map(|m| m.to_string()).unwrap_or_default()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(bp: Option<i64>, fixed: Option<i64>) -> RulePart {
        RulePart {
            receiver_id: "r".into(),
            kind: "MERCHANT_ID".into(),
            account: "1900000109".into(),
            name: "场地".into(),
            relation: "PARTNER".into(),
            basis_points: bp,
            fixed_fen: fixed,
        }
    }

    #[test]
    fn a_share_is_rounded_down_to_the_fen() {
        assert_eq!(part(Some(1000), None).amount_of(5000), 500);
        assert_eq!(part(Some(1000), None).amount_of(999), 99);
        assert_eq!(part(Some(1), None).amount_of(99), 0);
        assert_eq!(part(None, Some(300)).amount_of(200), 200);
        assert_eq!(part(Some(1000), None).describe(), "10.00 %");
        assert_eq!(part(None, Some(300)).describe(), "¥3.00");
    }

    #[test]
    fn the_shares_stay_within_thirty_percent() {
        let rule = [part(Some(2000), None), part(None, Some(1000))];
        assert_eq!(split(&rule, 10_000).map(|p| p.len()), Ok(2));
        assert!(split(&rule, 5_000).is_err(), "1000 + 1000 of 5000 is 40 %");
        // A part of nothing is left out.
        assert_eq!(split(&[part(Some(1), None)], 50).map(|p| p.len()), Ok(0));
    }

    #[test]
    fn receivers_are_checked() {
        assert!(check_receiver("MERCHANT_ID", "1900000109", "场地公司", "PARTNER").is_ok());
        assert!(check_receiver("MERCHANT_ID", "1900000109", "", "PARTNER").is_err());
        assert!(check_receiver("MERCHANT_ID", "19000x0109", "a", "PARTNER").is_err());
        assert!(check_receiver(
            "PERSONAL_OPENID",
            "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
            "",
            "STAFF"
        )
        .is_ok());
        assert!(check_receiver("PERSONAL_OPENID", "o p", "", "STAFF").is_err());
        assert!(check_receiver("BANK", "1", "", "STAFF").is_err());
        assert!(check_receiver("userId", "2088000000000002", "", "PARTNER").is_ok());
        assert!(check_receiver("userId", "1088000000000002", "", "PARTNER").is_err());
        assert!(check_receiver("loginName", "club@example.com", "", "PARTNER").is_ok());
        assert!(check_receiver("loginName", "13800138000", "", "PARTNER").is_ok());
        assert!(check_receiver("loginName", "not a login", "", "PARTNER").is_err());
        assert!(check_receiver("MERCHANT_ID", "1900000109", "a", "FRIEND").is_err());
    }
}
