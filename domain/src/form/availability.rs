//! A form as a whole: its status, what an administrator edits, what payers
//! see, and whether it takes submissions now (Beijing time).

use super::answers::valid_date;
use super::fields::{validate_fields, Field, FieldKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FormStatus {
    Draft,
    Published,
    Closed,
}

impl FormStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FormStatus::Draft => "draft",
            FormStatus::Published => "published",
            FormStatus::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<FormStatus> {
        [FormStatus::Draft, FormStatus::Published, FormStatus::Closed]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// Whether a form takes submissions now, and if not, why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    Open,
    NotPublished,
    Closed,
    NotYetOpen,
    Ended,
    Full,
}

/// Everything an administrator edits about a form.
/// The longest retention period a form may name (100 years).
pub const MAX_RETENTION_DAYS: i64 = 36_500;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FormDef {
    pub slug: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub fields: Vec<Field>,
    /// Unix milliseconds.
    #[serde(default)]
    pub opens_at: Option<i64>,
    #[serde(default)]
    pub closes_at: Option<i64>,
    #[serde(default)]
    pub max_submissions: Option<i64>,
    #[serde(default)]
    pub success_message: String,
    /// Days a submission's answers are kept; None: until the form is
    /// deleted. Orders (the financial records) are kept either way.
    #[serde(default)]
    pub retention_days: Option<i64>,
    /// What the form does with the answers (PIPL): shown before submitting,
    /// and a payer must agree to it. Empty: no notice.
    #[serde(default)]
    pub privacy_notice: String,
    /// The payer's receipt mail (when the form has an email field and mail
    /// is configured): subject and body templates; empty: the defaults.
    #[serde(default)]
    pub receipt_subject: String,
    #[serde(default)]
    pub receipt_body: String,
    /// How many submissions one payer (the form's phone number, else its
    /// email) may have at once; unpaid orders that expire or close give
    /// theirs back. None: no limit.
    #[serde(default)]
    pub per_payer_limit: Option<i64>,
}

impl FormDef {
    pub fn validate(&self) -> Result<(), String> {
        crate::Slug::parse(&self.slug).map_err(|e| e.to_string())?;
        if self.title.trim().is_empty() || self.title.chars().count() > 200 {
            return Err("the title is 1 to 200 characters".into());
        }
        if self.description.chars().count() > 5000 || self.success_message.chars().count() > 1000 {
            return Err("the description or success message is too long".into());
        }
        if self.privacy_notice.chars().count() > MAX_PRIVACY_NOTICE {
            return Err(format!(
                "the privacy notice is at most {MAX_PRIVACY_NOTICE} characters"
            ));
        }
        if self.receipt_subject.chars().count() > super::mail::MAX_SUBJECT
            || self.receipt_body.chars().count() > super::mail::MAX_BODY
        {
            return Err(format!(
                "the receipt's subject is at most {} characters and its text at most {}",
                super::mail::MAX_SUBJECT,
                super::mail::MAX_BODY
            ));
        }
        if self
            .retention_days
            .is_some_and(|d| !(1..=MAX_RETENTION_DAYS).contains(&d))
        {
            return Err(format!(
                "answers are kept 1 to {MAX_RETENTION_DAYS} days (empty: kept)"
            ));
        }
        if let Some(n) = self.per_payer_limit {
            if !(1..=1000).contains(&n) {
                return Err("a payer's limit is 1 to 1000 submissions".into());
            }
            if !self
                .fields
                .iter()
                .any(|f| matches!(f.kind, FieldKind::Phone | FieldKind::Email) && f.required)
            {
                return Err(
                    "a per-payer limit needs a required phone or email field to know the payer by"
                        .into(),
                );
            }
        }
        if self.max_submissions.is_some_and(|m| m < 1) {
            return Err("the maximum number of submissions is at least 1".into());
        }
        if let (Some(a), Some(b)) = (self.opens_at, self.closes_at) {
            if a >= b {
                return Err("the form must open before it closes".into());
            }
        }
        validate_fields(&self.fields).map_err(|e| e.to_string())
    }

    pub fn payment_field(&self) -> Option<&Field> {
        self.fields
            .iter()
            .find(|f| matches!(f.kind, FieldKind::Payment(_)))
    }
}

/// A form as payers see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PublicForm {
    pub slug: String,
    pub title: String,
    pub description: String,
    pub fields: Vec<Field>,
    pub success_message: String,
    pub availability: Availability,
    /// Shown before submitting, with a box to tick (empty: none).
    #[serde(default)]
    pub privacy_notice: String,
    /// Items with a stock: how many are left (item key → count).
    #[serde(default)]
    pub stock_left: BTreeMap<String, i64>,
    /// The form has discount codes: the page asks for one.
    #[serde(default)]
    pub takes_discount_codes: bool,
}

/// The longest privacy notice.
pub const MAX_PRIVACY_NOTICE: usize = 20_000;

/// The answer key a payer's consent to the privacy notice arrives under. No
/// field has it: field keys have no dot.
pub const CONSENT_KEY: &str = "privacy.consent";

/// Whether a consent answer says yes (a ticked box sends "yes" or "on"; the
/// API sends `true`).
pub fn consent_given(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Bool(b) => *b,
        serde_json::Value::String(s) => consent_text(s),
        _ => false,
    }
}

/// [`consent_given`] for a plain form POST's value.
pub fn consent_text(s: &str) -> bool {
    matches!(s.trim(), "yes" | "on" | "true")
}

/// Decides availability from the stored state and the clock.
pub fn availability(
    status: FormStatus,
    opens_at: Option<i64>,
    closes_at: Option<i64>,
    max: Option<i64>,
    count: i64,
    now_ms: i64,
) -> Availability {
    match status {
        FormStatus::Draft => Availability::NotPublished,
        FormStatus::Closed => Availability::Closed,
        FormStatus::Published if opens_at.is_some_and(|t| now_ms < t) => Availability::NotYetOpen,
        FormStatus::Published if closes_at.is_some_and(|t| now_ms >= t) => Availability::Ended,
        FormStatus::Published if max.is_some_and(|m| count >= m) => Availability::Full,
        FormStatus::Published => Availability::Open,
    }
}

/// Beijing local time `YYYY-MM-DDTHH:MM` (a `datetime-local` input) to Unix
/// milliseconds, without a time-zone library (China has no daylight saving).
pub fn beijing_local_to_ms(s: &str) -> Option<i64> {
    let (date, time) = s.trim().split_once('T')?;
    if !valid_date(date) {
        return None;
    }
    let mut d = date.split('-').map(|p| p.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.split(':').map(|p| p.parse::<i64>());
    let (hh, mm) = (t.next()?.ok()?, t.next()?.ok()?);
    if !(0..24).contains(&hh) || !(0..60).contains(&mm) {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hh - 8) * 60 + mm) * 60_000)
}

/// The inverse of [`beijing_local_to_ms`].
pub fn ms_to_beijing_local(ms: i64) -> String {
    let minutes = ms.div_euclid(60_000) + 8 * 60;
    let days = minutes.div_euclid(1440);
    let rem = minutes.rem_euclid(1440);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}", rem / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beijing_local_times_round_trip() {
        // 2026-11-27 20:00 in Beijing is 12:00 UTC.
        assert_eq!(
            beijing_local_to_ms("2026-11-27T20:00"),
            Some(1_795_780_800_000)
        );
        assert_eq!(ms_to_beijing_local(1_795_780_800_000), "2026-11-27T20:00");
        for s in ["2024-02-29T00:00", "2000-01-01T07:59", "2099-12-31T23:59"] {
            assert_eq!(
                beijing_local_to_ms(s).map(ms_to_beijing_local).as_deref(),
                Some(s)
            );
        }
        assert_eq!(beijing_local_to_ms("2023-02-29T10:00"), None);
        assert_eq!(beijing_local_to_ms("2023-01-01T24:00"), None);
        assert_eq!(beijing_local_to_ms("nope"), None);
    }
}
