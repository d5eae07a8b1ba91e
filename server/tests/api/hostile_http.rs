//! Hostile clients at the door (issue 11, part 4): oversized bodies are
//! refused from their `Content-Length` before they are read, requests
//! trickled byte by byte are cut off, and thousands of malformed callbacks
//! leave the database as it was.

use crate::helpers::*;
use app::ssr::Backend;
use sqlx::Row;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn connect(app: &TestApp) -> TcpStream {
    let addr = app.address.trim_start_matches("http://").to_owned();
    TcpStream::connect(addr).await.expect("connect")
}

/// Reads what the server says until it closes the connection or `within` passes.
async fn read_answer(stream: &mut TcpStream, within: Duration) -> (String, bool) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&buf).into_owned(), true),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return (String::from_utf8_lossy(&buf).into_owned(), false),
        }
    }
}

#[tokio::test]
async fn oversized_bodies_are_refused_before_they_are_read() {
    let app = spawn_app(Backend::Sqlite).await;
    for path in [
        "/payment/wechat/notify",
        "/payment/alipay/notify",
        "/api/v1/forms/demo/submissions",
        "/f/demo",
        // The form posted with files (without JavaScript) takes up to 64 MB.
        "/f/demo multipart",
    ] {
        let mut stream = connect(&app).await;
        // Announces 50 MB (100 MB with files), sends 10 bytes, then waits: a
        // server that reads before refusing would wait with it.
        let (path, kind, length) = match path.split_once(' ') {
            Some((path, _)) => (path, "multipart/form-data; boundary=x", 104_857_600),
            None => (path, "application/json", 52_428_800),
        };
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {kind}\r\n\
             Content-Length: {length}\r\n\r\n0123456789"
        );
        stream.write_all(head.as_bytes()).await.expect("write");
        let started = Instant::now();
        let (answer, _) = read_answer(&mut stream, Duration::from_secs(5)).await;
        assert!(
            answer.starts_with("HTTP/1.1 413"),
            "{path}: {}",
            answer.lines().next().unwrap_or("no answer within 5 s")
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

#[tokio::test]
async fn a_request_head_trickled_byte_by_byte_is_cut_off() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut stream = connect(&app).await;
    let started = Instant::now();
    let head = b"POST /payment/wechat/notify HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    let mut closed = false;
    // One byte a second, far beyond the header deadline.
    for byte in head.iter().chain(b"a".repeat(60).iter()) {
        if stream.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        let mut probe = [0u8; 512];
        match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut probe)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(_)) => {
                // An answer (408) before closing also ends it.
                closed = true;
                break;
            }
            Err(_) => {}
        }
    }
    let took = started.elapsed();
    assert!(closed, "the connection was still open after {took:?}");
    assert!(took < Duration::from_secs(20), "cut off after {took:?}");
}

#[tokio::test]
async fn a_body_trickled_byte_by_byte_is_cut_off() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(
            b"POST /api/v1/forms/demo/submissions HTTP/1.1\r\nHost: 127.0.0.1\r\n\
              Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
        )
        .await
        .expect("write");
    let started = Instant::now();
    let mut answer = String::new();
    for _ in 0..60 {
        if stream.write_all(b" ").await.is_err() {
            break;
        }
        let mut probe = [0u8; 512];
        match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut probe)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                answer = String::from_utf8_lossy(&probe[..n]).into_owned();
                break;
            }
            Err(_) => {}
        }
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(30),
        "still reading after {took:?}"
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 4"),
        "a clear refusal: {answer}"
    );
}

#[tokio::test]
async fn a_connection_that_says_nothing_or_half_an_http2_preface_is_closed() {
    let app = spawn_app(Backend::Sqlite).await;
    let started = Instant::now();
    // Connected and silent; and the first bytes of HTTP/2's preface, then
    // nothing (a server waiting for the rest would wait for ever).
    let mut silent = connect(&app).await;
    let mut half = connect(&app).await;
    half.write_all(b"PRI * HT").await.expect("write");
    let ((said, closed), (half_said, half_closed)) = tokio::join!(
        read_answer(&mut silent, Duration::from_secs(25)),
        read_answer(&mut half, Duration::from_secs(25)),
    );
    let took = started.elapsed();
    assert!(closed && half_closed, "still open after {took:?}");
    assert!(
        said.is_empty() && half_said.is_empty(),
        "{said} {half_said}"
    );
    assert!(took < Duration::from_secs(20), "closed after {took:?}");
    // The server still serves.
    let r = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .expect("readyz");
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_client_speaking_http2_without_tls_is_served_beside_http1() {
    let app = spawn_app(Backend::Sqlite).await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("client");
    let r = h2
        .get(format!("{}/api/v1/forms/demo", app.address))
        .send()
        .await
        .expect("an HTTP/2 request");
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 200);
    let form: serde_json::Value = r.json().await.expect("json");
    assert_eq!(form["slug"], "demo");
    // A POST whose first byte is the preface's (`P`) is HTTP/1 all the same.
    let r = app
        .client
        .post(format!("{}/api/v1/forms/demo/submissions", app.address))
        .json(&serde_json::json!({"answers": {"name": "二", "amount": "1.00"}}))
        .send()
        .await
        .expect("an HTTP/1 request");
    assert_eq!(r.version(), reqwest::Version::HTTP_11);
    assert_eq!(r.status(), 201);
}

async fn rows_everywhere(app: &TestApp) -> i64 {
    let list = match app.db.backend {
        Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
        Backend::Postgres => "SELECT CAST(tablename AS TEXT) AS name FROM pg_tables WHERE schemaname = 'public' AND tablename <> '_sqlx_migrations'",
    };
    let tables: Vec<String> = sqlx::query(list)
        .fetch_all(&app.db.pool)
        .await
        .expect("tables")
        .iter()
        .map(|r| r.get::<String, _>("name"))
        .collect();
    let mut total = 0;
    for t in tables {
        let n: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n FROM \"{t}\""))
            .fetch_one(&app.db.pool)
            .await
            .expect("count")
            .get("n");
        total += n;
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_malformed_callbacks_leave_the_database_as_it_was_sqlite() {
    malformed_callbacks_change_nothing(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_malformed_callbacks_leave_the_database_as_it_was_postgres() {
    malformed_callbacks_change_nothing(Backend::Postgres).await;
}

async fn malformed_callbacks_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let send = |i: usize| {
        let client = app.client.clone();
        let base = app.address.clone();
        async move {
            let (path, content_type, body) = match i % 4 {
                0 => (
                    "/payment/wechat/notify",
                    "application/json",
                    format!("{{\"id\":\"{i}\",\"resource\":{{}}}}"),
                ),
                1 => (
                    "/payment/wechat/v2/notify",
                    "text/xml",
                    format!("<xml><out_trade_no>{i}</out_trade_no><sign>x</sign></xml>"),
                ),
                2 => (
                    "/payment/alipay/notify",
                    "application/x-www-form-urlencoded",
                    format!("out_trade_no={i}&sign=x&trade_status=TRADE_SUCCESS"),
                ),
                _ => (
                    "/payment/wechat/notify",
                    "application/json",
                    "\u{0}\u{ff}garbage".repeat(i % 50),
                ),
            };
            let resp = client
                .post(format!("{base}{path}"))
                .header("content-type", content_type)
                .header("wechatpay-serial", "PUB_KEY_ID_0000")
                .header("wechatpay-signature", "AAAA")
                .header("wechatpay-timestamp", "1700000000")
                .header("wechatpay-nonce", format!("n{i}"))
                .body(body)
                .send()
                .await
                .expect("send");
            // Each provider's failure answer (so that a real provider would
            // retry); a panic would have dropped the connection instead.
            assert!(
                !resp.status().is_success(),
                "a malformed callback was acknowledged: {path} {}",
                resp.status()
            );
        }
    };
    use futures_util::StreamExt;
    // The first thousand fill whatever bounded place rejected callbacks have…
    futures_util::stream::iter(0..1_000)
        .for_each_concurrent(16, send)
        .await;
    let before = rows_everywhere(&app).await;
    // …the next nine thousand change nothing.
    futures_util::stream::iter(1_000..10_000)
        .for_each_concurrent(16, send)
        .await;
    let after = rows_everywhere(&app).await;
    assert_eq!(before, after, "rows grew with malformed callbacks");
    let paid: i64 = sqlx::query("SELECT COUNT(*) AS n FROM orders WHERE status = 'paid'")
        .fetch_one(&app.db.pool)
        .await
        .expect("count")
        .get("n");
    assert_eq!(paid, 0);
}
