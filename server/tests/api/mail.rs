//! Mail notifications (issue 16), through a local SMTP sink that speaks just
//! enough SMTP (a real client, lettre, talks to it over TCP): the payer's
//! receipt from the form's template, the administrators' notices, retries
//! while the mail server fails, and nothing blocking the payment.

use crate::both_backends;
use crate::flow::{pay, wait_status};
use crate::helpers::{press, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};
use base64::Engine;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// One mail the sink accepted: recipients, subject header, decoded body.
#[derive(Clone, Debug)]
pub struct Sunk {
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
}

#[derive(Clone, Default)]
pub struct Sink {
    pub mails: Arc<Mutex<Vec<Sunk>>>,
    /// Refuse this many DATA commands (451, "try again later") first.
    pub refuse: Arc<AtomicUsize>,
    /// Refuse every DATA command for good (550).
    pub reject: Arc<std::sync::atomic::AtomicBool>,
}

impl Sink {
    /// Listens on port 0; returns the sink and its `smtp://` URL.
    pub async fn start() -> (Sink, String) {
        let sink = Sink::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("smtp://{}", listener.local_addr().expect("addr"));
        let s = sink.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move { s.session(stream).await });
            }
        });
        (sink, url)
    }

    async fn session(&self, stream: tokio::net::TcpStream) -> std::io::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        write.write_all(b"220 sink ESMTP\r\n").await?;
        let mut to = Vec::new();
        while let Some(line) = lines.next_line().await? {
            let upper = line.to_ascii_uppercase();
            if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                write.write_all(b"250-sink\r\n250 8BITMIME\r\n").await?;
            } else if upper.starts_with("MAIL FROM") {
                to.clear();
                write.write_all(b"250 ok\r\n").await?;
            } else if upper.starts_with("RCPT TO") {
                to.push(
                    line[8..]
                        .trim()
                        .trim_start_matches(':')
                        .trim()
                        .trim_matches(['<', '>'])
                        .to_owned(),
                );
                write.write_all(b"250 ok\r\n").await?;
            } else if upper == "DATA" {
                if self.reject.load(Ordering::SeqCst) {
                    write.write_all(b"550 no such user here\r\n").await?;
                    continue;
                }
                let refuse = self.refuse.load(Ordering::SeqCst);
                if refuse > 0 {
                    self.refuse.store(refuse - 1, Ordering::SeqCst);
                    write.write_all(b"451 try again later\r\n").await?;
                    continue;
                }
                write.write_all(b"354 go on\r\n").await?;
                let mut data = Vec::new();
                while let Some(l) = lines.next_line().await? {
                    if l == "." {
                        break;
                    }
                    data.push(l.strip_prefix('.').map(str::to_owned).unwrap_or(l));
                }
                self.mails
                    .lock()
                    .expect("lock")
                    .push(parse(to.clone(), &data));
                write.write_all(b"250 queued\r\n").await?;
            } else if upper == "QUIT" {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            } else {
                write.write_all(b"250 ok\r\n").await?;
            }
        }
        Ok(())
    }
}

/// The subject (RFC 2047 words decoded) and the base64 body of one message.
fn parse(to: Vec<String>, data: &[String]) -> Sunk {
    let blank = data.iter().position(|l| l.is_empty()).unwrap_or(data.len());
    let (head, body) = data.split_at(blank);
    let mut subject = String::new();
    let mut in_subject = false;
    for l in head {
        if let Some(v) = l.strip_prefix("Subject:") {
            subject.push_str(v.trim());
            in_subject = true;
        } else if in_subject && l.starts_with([' ', '\t']) {
            subject.push_str(l.trim());
        } else {
            in_subject = false;
        }
    }
    let body_b64: String = body.iter().map(|l| l.trim()).collect();
    let body = base64::engine::general_purpose::STANDARD
        .decode(body_b64)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    Sunk {
        to,
        subject: decode_words(&subject),
        body,
    }
}

/// RFC 2047: each `=?utf-8?b?…?=` word decoded in place; the white space
/// between two encoded words dropped.
fn decode_words(header: &str) -> String {
    let mut out = String::new();
    let mut rest = header;
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, from) = rest.split_at(start);
        let Some(end) = from[2..].find("?=").map(|e| e + 4) else {
            break;
        };
        let parts: Vec<&str> = from[2..end - 2].splitn(3, '?').collect();
        let decoded = match parts.as_slice() {
            [_, enc, text] if enc.eq_ignore_ascii_case("b") => {
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .ok()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
            }
            _ => None,
        };
        if !(after_word && before.trim().is_empty()) {
            out.push_str(before);
        }
        match decoded {
            Some(d) => out.push_str(&d),
            None => out.push_str(&from[..end]),
        }
        after_word = true;
        rest = &from[end..];
    }
    out.push_str(rest);
    out
}

async fn wait_mails(sink: &Sink, n: usize) -> Vec<Sunk> {
    for _ in 0..400 {
        let m = sink.mails.lock().expect("lock").clone();
        if m.len() >= n {
            return m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the sink has {:?}", sink.mails.lock().expect("lock"));
}

/// A published form with an email field and a custom receipt template.
async fn form_with_email(app: &TestApp) -> String {
    let def = json!({
        "slug": "mailed", "title": "年会报名", "description": "",
        "fields": [
            {"key": "name", "label": "姓名", "required": true, "type": "short_text"},
            {"key": "email", "label": "邮箱", "required": true, "type": "email"},
            {"key": "amount", "label": "金额", "required": true, "type": "payment", "mode": "fixed", "amount": 1200}
        ],
        "success_message": "ok",
        "receipt_subject": "Receipt for {form}",
        "receipt_body": "Dear {answer:name}, we received {amount} (order {out_trade_no}). Receipt: {receipt_url}"
    });
    let saved = app
        .call("admin_save_form", &[("def", &def.to_string())])
        .await;
    let id = saved["Saved"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{saved}"))
        .to_owned();
    assert_eq!(
        app.call("admin_form_status", &[("id", &id), ("status", "published")])
            .await,
        json!(true)
    );
    id
}

async fn paid_order(app: &TestApp, email: &str) -> String {
    let resp = app
        .client
        .post(app.url("/api/v1/forms/mailed/submissions"))
        .json(&json!({"answers": {"name": "李雷", "email": email}}))
        .send()
        .await
        .expect("submit");
    assert_eq!(resp.status(), 201);
    let body: serde_json::Value = resp.json().await.expect("json");
    let id = body["order"]["id"].as_str().expect("order").to_owned();
    let qr = pay(app, &id, "alipay_qr").await["qr_code"]
        .as_str()
        .expect("qr")
        .to_owned();
    press(app, &qr, "pay").await;
    wait_status(app, &id, "paid").await;
    id
}

async fn spawn_with_sink(backend: app::ssr::Backend, sink_url: &str) -> TestApp {
    crate::helpers::spawn_app_with(
        backend,
        &[
            ("SMTP_URL", sink_url),
            ("MAIL_FROM", "FormPay <noreply@school.example>"),
        ],
    )
    .await
}

async fn receipts_and_notices(backend: app::ssr::Backend) {
    let (sink, url) = Sink::start().await;
    // The mail server refuses the first two tries: the payment is not held up.
    sink.refuse.store(2, Ordering::SeqCst);
    let app = spawn_with_sink(backend, &url).await;
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    form_with_email(&app).await;
    let order = paid_order(&app, "lilei@school.example").await;

    let mails = wait_mails(&sink, 2).await;
    let receipt = mails
        .iter()
        .find(|m| m.to == ["lilei@school.example"])
        .expect("the payer's receipt");
    assert_eq!(receipt.subject, "Receipt for 年会报名");
    let (token,): (String,) = sqlx::query_as("SELECT receipt_token FROM orders WHERE id = $1")
        .bind(&order)
        .fetch_one(&app.db.pool)
        .await
        .expect("token");
    assert!(
        receipt
            .body
            .starts_with("Dear 李雷, we received ¥12.00 (order FP"),
        "{}",
        receipt.body
    );
    assert!(
        receipt.body.ends_with(&format!("/r/{token}")),
        "{}",
        receipt.body
    );
    let notice = mails
        .iter()
        .find(|m| m.to == [ADMIN_EMAIL])
        .expect("the administrator's notice");
    assert!(
        notice.subject.contains("Payment ¥12.00"),
        "{}",
        notice.subject
    );
    assert!(
        notice.body.contains(&format!("/admin/orders/{order}")),
        "{}",
        notice.body
    );
    assert!(
        !notice.body.contains("lilei"),
        "no payer data in the notice"
    );

    // Logged: each mail sent, the refused ones after retries. (The sink has
    // a mail before the server hears its 250 and records it as sent.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let log = loop {
        let log = app.call("admin_mail_log", &[]).await;
        let settled = log
            .as_array()
            .is_some_and(|rows| rows.iter().all(|r| r["state"] != "pending"));
        if settled || std::time::Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let rows = log.as_array().expect("rows");
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["state"] == "sent"), "{log}");
    assert_eq!(
        rows.iter()
            .map(|r| r["attempts"].as_i64().unwrap_or(0))
            .sum::<i64>(),
        4,
        "two refusals, then sent: {log}"
    );
    assert!(
        rows.iter()
            .all(|r| r["to"].as_str().unwrap_or_default().contains("***")),
        "addresses masked in the log: {log}"
    );

    // A refund tells the administrators.
    app.call(
        "admin_refund",
        &[
            ("id", &order),
            ("amount", "12.00"),
            ("reason", "取消"),
            ("request_key", "mail-refund-1"),
        ],
    )
    .await;
    wait_status(&app, &order, "refunded").await;
    let mails = wait_mails(&sink, 3).await;
    assert!(
        mails
            .iter()
            .any(|m| m.to == [ADMIN_EMAIL] && m.subject.contains("Refund ¥12.00")),
        "{mails:?}"
    );
    drop(app);
}

#[tokio::test]
async fn receipts_and_notices_are_mailed_sqlite() {
    receipts_and_notices(app::ssr::Backend::Sqlite).await;
}

#[tokio::test]
async fn receipts_and_notices_are_mailed_postgres() {
    receipts_and_notices(app::ssr::Backend::Postgres).await;
}

both_backends! {
    async fn without_smtp_nothing_is_queued(app) {
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        form_with_email(&app).await;
        paid_order(&app, "hanmeimei@school.example").await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(app.call("admin_mail_log", &[]).await, json!([]));
    }
}

async fn refused_for_good(backend: app::ssr::Backend) {
    let (sink, url) = Sink::start().await;
    sink.reject.store(true, Ordering::SeqCst);
    let app = spawn_with_sink(backend, &url).await;
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    form_with_email(&app).await;
    let order = paid_order(&app, "nobody@school.example").await;
    let mut log = json!([]);
    for _ in 0..200 {
        log = app.call("admin_mail_log", &[]).await;
        if log
            .as_array()
            .is_some_and(|r| r.len() == 2 && r.iter().all(|m| m["state"] == "failed"))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let rows = log.as_array().expect("rows");
    assert!(
        rows.iter()
            .all(|m| m["state"] == "failed" && m["attempts"] == 1),
        "given up at once, not retried: {log}"
    );
    assert!(
        rows.iter().all(|m| m["error"]
            .as_str()
            .unwrap_or_default()
            .contains("refused it for good")),
        "{log}"
    );
    assert!(sink.mails.lock().expect("lock").is_empty());
    // The payment stands.
    wait_status(&app, &order, "paid").await;
}

#[tokio::test]
async fn a_mail_refused_for_good_is_given_up_sqlite() {
    refused_for_good(app::ssr::Backend::Sqlite).await;
}

#[tokio::test]
async fn a_mail_refused_for_good_is_given_up_postgres() {
    refused_for_good(app::ssr::Backend::Postgres).await;
}
