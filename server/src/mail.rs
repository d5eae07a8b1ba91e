//! Sends the queued mails over SMTP (`SMTP_URL`, `MAIL_FROM`), a few at a
//! time, retried with backoff. `smtps://` is TLS from the start, `smtp://`
//! must upgrade with STARTTLS, except to this machine (a local relay); the
//! user and password of the URL log in.

use app::ssr::AppState;
use formpay_core::mail;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Mailbox, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

pub(crate) type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// Mails sent at once.
const CONCURRENCY: i64 = 4;

/// The transport of `SMTP_URL`.
pub(crate) fn transport(raw: &str) -> anyhow::Result<Transport> {
    let url = url::Url::parse(raw).map_err(|_| anyhow::anyhow!("SMTP_URL is not a URL"))?;
    let host = url
        .host_str()
        .ok_or_else(|| anyhow::anyhow!("SMTP_URL names no host"))?
        .to_owned();
    let loopback = host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let mut builder = match url.scheme() {
        "smtps" => Transport::relay(&host)?,
        "smtp" if loopback => Transport::builder_dangerous(&host),
        "smtp" => Transport::starttls_relay(&host)?,
        other => anyhow::bail!("SMTP_URL: `{other}` is not smtp:// or smtps://"),
    };
    if let Some(port) = url.port() {
        builder = builder.port(port);
    }
    if !url.username().is_empty() {
        let user = percent_decode(url.username());
        let password = percent_decode(url.password().unwrap_or_default());
        builder = builder.credentials(Credentials::new(user, password));
    }
    Ok(builder.timeout(Some(Duration::from_secs(20))).build())
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The outbox's mails, sent forever.
pub(crate) async fn send_forever(
    state: AppState,
    transport: Transport,
    from: Mailbox,
    tick: Duration,
    scale: f64,
) {
    loop {
        if let Err(e) = pass(&state, &transport, &from, scale).await {
            tracing::warn!(error = ?e, "mail pass failed; trying again");
        }
        tokio::time::sleep(tick).await;
    }
}

async fn pass(
    state: &AppState,
    transport: &Transport,
    from: &Mailbox,
    scale: f64,
) -> anyhow::Result<()> {
    let due = mail::claim_due(&state.db, CONCURRENCY).await?;
    let sends = due.into_iter().map(|m| async move {
        let outcome = send(transport, from, &m).await;
        match &outcome {
            Ok(()) => tracing::info!(mail = %m.id, "mail sent"),
            Err((why, _)) => tracing::info!(mail = %m.id, error = %why, "mail not sent"),
        }
        mail::record_attempt(&state.db, &m.id, m.attempts, outcome, scale).await
    });
    for r in futures_util::future::join_all(sends).await {
        r?;
    }
    Ok(())
}

/// One mail; on failure, why and whether trying again is pointless.
async fn send(
    transport: &Transport,
    from: &Mailbox,
    m: &mail::DueMail,
) -> Result<(), (String, bool)> {
    let to: Mailbox =
        m.to.parse()
            .map_err(|_| ("the address is not valid".to_owned(), true))?;
    let message = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(m.subject.clone())
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .header(ContentTransferEncoding::Base64)
                .body(m.body.clone()),
        )
        .map_err(|e| (format!("cannot build the mail: {e}"), true))?;
    transport.send(message).await.map(|_| ()).map_err(|e| {
        let permanent = e.is_permanent();
        let why = if permanent {
            "the mail server refused it for good"
        } else if e.is_timeout() {
            "the mail server did not answer"
        } else {
            "the mail server could not be reached or refused it for now"
        };
        (why.to_owned(), permanent)
    })
}
