//! Sends the webhooks' deliveries: the outbox turns new events into
//! deliveries (and, with mail configured, order changes into mails), then each due delivery is POSTed, signed, at most a few at a
//! time, with a 10 s deadline and no redirects. A receiver's answer only
//! decides whether its delivery is done or retried later.

use app::ssr::AppState;
use formpay_core::webhooks;
use std::time::Duration;

/// Deliveries sent at once.
const CONCURRENCY: i64 = 8;

/// The outbox and the sender, forever.
pub(crate) async fn deliver_forever(
    state: AppState,
    tick: Duration,
    retry_scale: f64,
    mail: Option<formpay_core::mail::MailSettings>,
) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("formpay-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhooks are off: no HTTP client");
            return;
        }
    };
    loop {
        if let Err(e) = pass(&state, &client, retry_scale, mail.as_ref()).await {
            tracing::warn!(error = ?e, "webhook pass failed; trying again");
        }
        tokio::time::sleep(tick).await;
    }
}

async fn pass(
    state: &AppState,
    client: &reqwest::Client,
    scale: f64,
    mail: Option<&formpay_core::mail::MailSettings>,
) -> anyhow::Result<()> {
    webhooks::enqueue_new_events(&state.db, mail).await?;
    let due = webhooks::claim_due(&state.db, state.accounts.vault.as_ref(), CONCURRENCY).await?;
    let sends = due.into_iter().map(|d| {
        let client = client.clone();
        let db = state.db.clone();
        async move {
            let outcome = send(&client, &d).await;
            match &outcome {
                Ok(status) => tracing::info!(delivery = %d.id, status, "webhook sent"),
                Err(e) => tracing::info!(delivery = %d.id, error = %e, "webhook not delivered"),
            }
            webhooks::record_attempt(&db, &d.id, d.attempts, outcome, scale).await
        }
    });
    for r in futures_util::future::join_all(sends).await {
        r?;
    }
    Ok(())
}

/// One POST; the status, or why there is none.
async fn send(client: &reqwest::Client, d: &webhooks::Due) -> Result<u16, String> {
    let timestamp = formpay_core::now_ms() / 1000;
    let signature = webhooks::sign(&d.secret, &d.id, timestamp, d.payload.as_bytes())
        .map_err(|e| e.to_string())?;
    let resp = client
        .post(&d.url)
        .header("content-type", "application/json")
        .header("webhook-id", &d.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(d.payload.clone())
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                "no answer within 10 s".to_owned()
            } else if e.is_connect() {
                "cannot connect".to_owned()
            } else {
                "the request failed".to_owned()
            }
        })?;
    Ok(resp.status().as_u16())
}
