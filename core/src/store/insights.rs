//! Per-question statistics and each form's funnel (views → submissions →
//! paid). Views are counted in memory and added to the database every few
//! seconds, so that opening a form page writes nothing.

use super::forms::FormRecord;
use super::sql::Sql;
use crate::Db;
use anyhow::Context;
use domain::form::{Answer, FieldKind, PaymentMode};
use futures_util::TryStreamExt;
use std::collections::HashMap;
use std::sync::Mutex;

/// Page views not yet written, by form id.
#[derive(Debug, Default)]
pub struct ViewCounter(Mutex<HashMap<String, i64>>);

impl ViewCounter {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One more view of a form's page.
    pub fn count(&self, form_id: &str) {
        *self.map().entry(form_id.to_owned()).or_insert(0) += 1;
    }

    fn pending(&self, form_id: &str) -> i64 {
        self.map().get(form_id).copied().unwrap_or(0)
    }

    /// Adds the pending views to the database, in one statement that goes
    /// with the payments' writes (the group commit), so that it never holds
    /// SQLite's lock beside their writer; kept for the next try if that
    /// fails.
    pub async fn flush(&self, db: &Db) -> anyhow::Result<()> {
        let pending: Vec<(String, i64)> = self.map().drain().collect();
        if pending.is_empty() {
            return Ok(());
        }
        let mut q = Sql::new("INSERT INTO form_views (form_id, views) VALUES ");
        for (i, (form_id, n)) in pending.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push("(")
                .bind(form_id.clone())
                .push(", ")
                .bind(*n)
                .push(")");
        }
        q.push(" ON CONFLICT (form_id) DO UPDATE SET views = form_views.views + EXCLUDED.views");
        if let Err(e) = db.commits.single(q.uncached()).await {
            let mut map = self.map();
            for (f, n) in pending {
                *map.entry(f).or_insert(0) += n;
            }
            return Err(e.context("cannot count the form views"));
        }
        Ok(())
    }
}

/// How often each option of one question was chosen.
#[derive(Clone, Debug, PartialEq)]
pub struct QuestionStats {
    pub key: String,
    pub label: String,
    /// Submissions that answered it.
    pub answered: i64,
    /// (option label, times chosen; for items, the quantity taken).
    pub options: Vec<(String, i64)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Insights {
    pub views: i64,
    pub submissions: i64,
    /// Submissions whose order was paid (refunded later or not).
    pub paid: i64,
    pub questions: Vec<QuestionStats>,
}

/// The funnel and the answers to each choice question of a form, over its
/// submissions whose answers are kept (erased ones count in the funnel only).
pub async fn form_insights(
    db: &Db,
    views: &ViewCounter,
    form: &FormRecord,
) -> anyhow::Result<Insights> {
    let (stored,): (i64,) =
        sqlx::query_as("SELECT COALESCE(MAX(views), 0) FROM form_views WHERE form_id = $1")
            .bind(&form.id)
            .fetch_one(&db.pool)
            .await
            .context("cannot read the form views")?;
    let (submissions,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM submissions WHERE form_id = $1")
            .bind(&form.id)
            .fetch_one(&db.pool)
            .await
            .context("cannot count the submissions")?;
    let (paid,): (i64,) = sqlx::query_as(
        "SELECT COUNT(DISTINCT submission_id) FROM orders WHERE form_id = $1 AND paid_at IS NOT NULL",
    )
    .bind(&form.id)
    .fetch_one(&db.pool)
    .await
    .context("cannot count the paid orders")?;

    let mut questions: Vec<QuestionStats> = form
        .def
        .fields
        .iter()
        .filter_map(|f| {
            let options: Vec<(String, i64)> = match &f.kind {
                FieldKind::SingleChoice { options }
                | FieldKind::MultiChoice { options }
                | FieldKind::Dropdown { options } => {
                    options.iter().map(|o| (o.label.clone(), 0)).collect()
                }
                FieldKind::Payment(PaymentMode::PricedOptions { options, .. }) => {
                    options.iter().map(|o| (o.label.clone(), 0)).collect()
                }
                FieldKind::Payment(PaymentMode::Items { items }) => {
                    items.iter().map(|i| (i.label.clone(), 0)).collect()
                }
                _ => return None,
            };
            Some(QuestionStats {
                key: f.key.clone(),
                label: f.label.clone(),
                answered: 0,
                options,
            })
        })
        .collect();
    // Option keys to their row, per question.
    let index: Vec<Vec<String>> = form
        .def
        .fields
        .iter()
        .filter_map(|f| match &f.kind {
            FieldKind::SingleChoice { options }
            | FieldKind::MultiChoice { options }
            | FieldKind::Dropdown { options } => {
                Some(options.iter().map(|o| o.key.clone()).collect())
            }
            FieldKind::Payment(PaymentMode::PricedOptions { options, .. }) => {
                Some(options.iter().map(|o| o.key.clone()).collect())
            }
            FieldKind::Payment(PaymentMode::Items { items }) => {
                Some(items.iter().map(|i| i.key.clone()).collect())
            }
            _ => None,
        })
        .collect();
    if !questions.is_empty() {
        // Streamed: a form with many submissions is never all in memory.
        let mut rows = sqlx::query_as::<_, (String,)>(
            "SELECT answers_json FROM submissions WHERE form_id = $1 AND erased_at IS NULL",
        )
        .bind(&form.id)
        .fetch(&db.pool);
        while let Some((json,)) = rows.try_next().await.context("cannot read the answers")? {
            let Ok(answers) = serde_json::from_str::<HashMap<String, Answer>>(&json) else {
                continue;
            };
            for (q, keys) in questions.iter_mut().zip(&index) {
                let Some(a) = answers.get(&q.key) else {
                    continue;
                };
                q.answered += 1;
                let mut add = |key: &str, n: i64| {
                    if let Some(i) = keys.iter().position(|k| k == key) {
                        q.options[i].1 += n;
                    }
                };
                match a {
                    Answer::Choices(c) => c.iter().for_each(|k| add(k, 1)),
                    Answer::Option { option, .. } => add(option, 1),
                    Answer::Items(taken) => taken.iter().for_each(|(k, n)| add(k, i64::from(*n))),
                    Answer::Text(_) | Answer::Number(_) => {}
                }
            }
        }
    }
    Ok(Insights {
        views: stored + views.pending(&form.id),
        submissions,
        paid,
        questions,
    })
}
