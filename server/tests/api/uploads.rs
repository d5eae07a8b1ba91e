//! Uploads: a file for a form's upload field is checked by its content and
//! size, attached to one submission only, downloaded by administrators who
//! see personal data (audited), and deleted with the submission's answers or
//! a day after upload when never submitted; in a directory or in an
//! S3-compatible bucket (moto's S3 server from PyPI, a real HTTP S3
//! implementation, stands in for AWS, MinIO or OSS).

use crate::admin_forms::save;
use crate::helpers::{client_of, spawn_app_with, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};
use serde_json::{json, Value};

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

async fn upload(app: &TestApp, field: &str, name: &str, body: Vec<u8>) -> (u16, Value) {
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/forms/club/uploads/{field}")))
        .header("x-file-name", name)
        .body(body)
        .send()
        .await
        .expect("upload");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn submit(app: &TestApp, card: Value) -> (u16, Value) {
    let resp = app
        .client
        .post(app.url("/api/v1/forms/club/submissions"))
        .json(&json!({"answers": {"name": "王五", "card": card}}))
        .send()
        .await
        .expect("submit");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// moto's S3 server on a free loopback port, stopped when dropped.
struct Moto {
    base: String,
    _child: tokio::process::Child,
}

impl Moto {
    async fn start() -> Moto {
        let program = std::env::var("MOTO_SERVER").unwrap_or_else(|_| {
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../target/schemathesis/bin/moto_server"
            )
            .to_owned()
        });
        assert!(
            std::path::Path::new(&program).exists(),
            "{program} is missing: `cargo xtask tools` installs moto from PyPI"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let child = tokio::process::Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start moto_server");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while reqwest::get(&base).await.is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "moto_server never answered"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Moto {
            base,
            _child: child,
        }
    }

    async fn create_bucket(&self, bucket: &str) {
        let made = reqwest::Client::new()
            .put(format!("{}/{bucket}", self.base))
            .send()
            .await
            .expect("create the bucket");
        assert!(made.status().is_success(), "{}", made.status());
    }

    /// What the bucket answers a request without a signature.
    async fn anonymous_status(&self, key: &str) -> u16 {
        reqwest::get(format!("{}/{BUCKET}/{key}", self.base))
            .await
            .expect("get")
            .status()
            .as_u16()
    }
}

/// Where the test instance keeps its files.
enum Storage {
    Directory(String),
    Bucket(Moto),
}

const BUCKET: &str = "formpay-uploads";

impl Storage {
    fn settings(&self) -> Vec<(&str, String)> {
        match self {
            Storage::Directory(dir) => vec![("UPLOAD_DIR", dir.clone())],
            Storage::Bucket(moto) => vec![
                ("UPLOAD_S3_BUCKET", BUCKET.to_owned()),
                ("UPLOAD_S3_ENDPOINT", moto.base.clone()),
                ("UPLOAD_S3_REGION", "cn-north-1".to_owned()),
                ("UPLOAD_S3_ACCESS_KEY_ID", "formpay-test".to_owned()),
                (
                    "UPLOAD_S3_SECRET_ACCESS_KEY",
                    "not-a-real-secret".to_owned(),
                ),
                ("UPLOAD_S3_PREFIX", "club/uploads".to_owned()),
                // Files go nowhere near the directory.
                ("UPLOAD_DIR", "/nonexistent/formpay-uploads".to_owned()),
            ],
        }
    }

    async fn stored(&self, id: &str) -> Option<Vec<u8>> {
        match self {
            Storage::Directory(dir) => std::fs::read(std::path::Path::new(dir).join(id)).ok(),
            // Read with signed requests (the bucket is private: moto refuses
            // anonymous reads with 403), under the configured prefix.
            // Anyone else is refused (403 while it is there, 404 once gone).
            Storage::Bucket(moto) => {
                let found = self.store().get(id).await.expect("read the bucket");
                let anonymous = moto.anonymous_status(&format!("club/uploads/{id}")).await;
                assert_eq!(anonymous, if found.is_some() { 403 } else { 404 });
                found.map(|b| b.to_vec())
            }
        }
    }

    fn store(&self) -> formpay_core::store::uploads::UploadStore {
        use formpay_core::store::uploads::{S3Settings, UploadStore};
        match self {
            Storage::Directory(dir) => {
                UploadStore::directory(std::path::Path::new(dir)).expect("dir")
            }
            Storage::Bucket(moto) => UploadStore::s3(&S3Settings {
                bucket: BUCKET.to_owned(),
                endpoint: Some(moto.base.clone()),
                region: "cn-north-1".to_owned(),
                access_key_id: "formpay-test".to_owned(),
                secret_access_key: "not-a-real-secret".to_owned().into(),
                prefix: "club/uploads".to_owned(),
                allow_http: false,
                virtual_hosted: false,
            })
            .expect("bucket"),
        }
    }
}

/// Saves the club's form (a name, and a student card: up to two images of
/// 1 MB), still a draft; its id.
async fn save_club(app: &TestApp) -> String {
    let saved = save(app, None, &json!({
        "slug": "club", "title": "社团报名",
        "fields": [
            {"key": "name", "label": "姓名", "required": true, "type": "short_text"},
            {"key": "card", "label": "学生证", "required": true, "type": "upload", "max_files": 2, "max_mb": 1, "accept": "images"}
        ]
    })).await;
    saved["Saved"]["id"].as_str().expect("saved").to_owned()
}

async fn uploads_are_checked_kept_and_deleted(backend: app::ssr::Backend, storage: Storage) {
    let settings = storage.settings();
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = spawn_app_with(backend, &settings).await;
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let form_id = save_club(&app).await;
    let (status, _) = upload(&app, "card", "a.png", PNG.to_vec()).await;
    assert_eq!(status, 404, "a draft form takes no uploads");
    assert_eq!(
        app.call(
            "admin_form_status",
            &[("id", &form_id), ("status", "published")]
        )
        .await,
        json!(true)
    );

    // Checked by content and size, not by name.
    let (status, body) = upload(
        &app,
        "card",
        "%E5%AD%A6%E7%94%9F%E8%AF%81.png",
        PNG.to_vec(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (body["name"].clone(), body["content_type"].clone()),
        (json!("学生证.png"), json!("image/png"))
    );
    let id = body["id"].as_str().expect("id").to_owned();
    assert_eq!(storage.stored(&id).await.as_deref(), Some(PNG), "stored");
    let (status, body) = upload(
        &app,
        "card",
        "photo.png",
        b"<html><script>alert(1)</script>".to_vec(),
    )
    .await;
    assert_eq!(
        (status, body["error"].clone()),
        (415, json!("unsupported")),
        "a page named .png"
    );
    let (status, _) = upload(&app, "card", "doc.pdf", b"%PDF-1.7 ...".to_vec()).await;
    assert_eq!(status, 415, "a PDF where images are asked for");
    let mut big = PNG.to_vec();
    big.resize(1024 * 1024 + 1, 0);
    let (status, _) = upload(&app, "card", "big.png", big).await;
    assert_eq!(status, 413);
    assert_eq!(
        upload(&app, "name", "a.png", PNG.to_vec()).await.0,
        404,
        "not an upload field"
    );
    assert_eq!(upload(&app, "card", "empty.png", Vec::new()).await.0, 400);

    // Attached to one submission, once.
    let (status, body) = submit(&app, json!([id])).await;
    assert_eq!(status, 201, "{body}");
    let submission = body["submission_id"]
        .as_str()
        .expect("submission")
        .to_owned();
    let (status, body) = submit(&app, json!([id])).await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["code"], "bad_upload", "{body}");
    let unknown = "0".repeat(32);
    assert_eq!(submit(&app, json!([unknown])).await.0, 422);
    let (_, a) = upload(&app, "card", "a.png", PNG.to_vec()).await;
    let (_, b) = upload(&app, "card", "b.png", PNG.to_vec()).await;
    let (_, c) = upload(&app, "card", "c.png", PNG.to_vec()).await;
    let three = json!([a["id"], b["id"], c["id"]]);
    assert_eq!(submit(&app, three).await.0, 422, "at most two files");
    assert_eq!(submit(&app, json!([])).await.0, 422, "required");

    // The list links the file; only those who see personal data download it, audited.
    let page = app
        .call(
            "admin_submissions",
            &[
                ("form_id", &form_id),
                ("page", "1"),
                ("search", ""),
                ("status", ""),
            ],
        )
        .await;
    assert!(page["rows"].to_string().contains(&id), "{page}");
    let anonymous = client_of(&app.address)
        .get(app.url(&format!("/admin/uploads/{id}")))
        .send()
        .await
        .expect("get");
    assert_eq!(anonymous.status(), 401);
    let got = app
        .client
        .get(app.url(&format!("/admin/uploads/{id}")))
        .send()
        .await
        .expect("get");
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "image/png");
    assert!(got.headers()["content-disposition"]
        .to_str()
        .expect("ascii")
        .starts_with("attachment"));
    assert_eq!(got.bytes().await.expect("body").as_ref(), PNG);
    let (audited,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'reveal_personal_data' AND target = $1",
    )
    .bind(&submission)
    .fetch_one(&app.db.pool)
    .await
    .expect("audit");
    assert_eq!(audited, 1);

    // Erased with the answers: the file is deleted at once.
    assert_eq!(
        app.call("admin_erase_submission", &[("id", &submission)])
            .await,
        json!("Erased")
    );
    assert_eq!(storage.stored(&id).await, None, "the file is deleted");
    assert_eq!(
        app.client
            .get(app.url(&format!("/admin/uploads/{id}")))
            .send()
            .await
            .expect("get")
            .status(),
        404
    );

    // Never submitted: swept after a day.
    let orphan = a["id"].as_str().expect("id").to_owned();
    sqlx::query("UPDATE uploads SET created_at = created_at - 90000000 WHERE id = $1")
        .bind(&orphan)
        .execute(&app.db.pool)
        .await
        .expect("age");
    let swept = formpay_core::store::uploads::sweep(&app.db, &storage.store())
        .await
        .expect("sweep");
    assert_eq!(swept, 1);
    assert_eq!(storage.stored(&orphan).await, None);
    assert!(
        storage
            .stored(b["id"].as_str().expect("id"))
            .await
            .is_some(),
        "a fresh one stays"
    );
    if let Storage::Directory(dir) = &storage {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[tokio::test]
async fn uploads_are_checked_kept_and_deleted_sqlite() {
    let dir = crate::helpers::upload_dir();
    uploads_are_checked_kept_and_deleted(app::ssr::Backend::Sqlite, Storage::Directory(dir)).await;
}

#[tokio::test]
async fn uploads_are_checked_kept_and_deleted_postgres() {
    let dir = crate::helpers::upload_dir();
    uploads_are_checked_kept_and_deleted(app::ssr::Backend::Postgres, Storage::Directory(dir))
        .await;
}

/// The same, with the files in an S3 bucket: written there under the prefix,
/// read back for the download, deleted with the answers and by the sweep.
#[tokio::test]
async fn uploads_in_an_s3_bucket_are_kept_and_deleted() {
    let moto = Moto::start().await;
    moto.create_bucket(BUCKET).await;
    uploads_are_checked_kept_and_deleted(app::ssr::Backend::Sqlite, Storage::Bucket(moto)).await;
}

/// A bucket that cannot be reached: the upload is refused with a clear
/// answer and nothing is recorded.
#[tokio::test]
async fn an_unreachable_bucket_refuses_the_upload_and_records_nothing() {
    let moto = Moto::start().await;
    // No bucket created: every write fails at the S3 server.
    let storage = Storage::Bucket(moto);
    let settings = storage.settings();
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = spawn_app_with(app::ssr::Backend::Sqlite, &settings).await;
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let saved = save(&app, None, &json!({
        "slug": "club", "title": "社团报名", "status": "published",
        "fields": [
            {"key": "card", "label": "学生证", "required": true, "type": "upload", "max_files": 1, "max_mb": 1, "accept": "images"}
        ]
    })).await;
    let form_id = saved["Saved"]["id"].as_str().expect("saved").to_owned();
    app.call(
        "admin_form_status",
        &[("id", &form_id), ("status", "published")],
    )
    .await;
    let (status, body) = upload(&app, "card", "a.png", PNG.to_vec()).await;
    assert_eq!(
        (status, body["error"].clone()),
        (503, json!("unavailable")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap_or("").contains("try again"),
        "{body}"
    );
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM uploads")
        .fetch_one(&app.db.pool)
        .await
        .expect("count");
    assert_eq!(n, 0);
}

/// Posts the form as a browser without JavaScript does: multipart, the file
/// inputs named after their fields. Answers the status and where it leads.
async fn post_plain(app: &TestApp, form: reqwest::multipart::Form) -> (u16, String) {
    let resp = app
        .client
        .post(app.url("/f/club"))
        .multipart(form)
        .send()
        .await
        .expect("post");
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (resp.status().as_u16(), location)
}

fn png_part(name: &str, bytes: Vec<u8>) -> reqwest::multipart::Part {
    reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str("image/png")
        .expect("mime")
}

async fn counts(app: &TestApp) -> (i64, i64) {
    let (submissions,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM submissions")
        .fetch_one(&app.db.pool)
        .await
        .expect("count");
    let (attached,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM uploads WHERE submission_id IS NOT NULL")
            .fetch_one(&app.db.pool)
            .await
            .expect("count");
    (submissions, attached)
}

/// A payer whose page has no JavaScript (or who presses the button before it
/// is ready on a slow phone) sends the file with the answers: checked by its
/// content and size like an upload, attached to the submission; a refused
/// file marks its field and stores no submission.
#[tokio::test]
async fn a_file_is_sent_with_the_form_without_javascript() {
    let dir = crate::helpers::upload_dir();
    let app = spawn_app_with(app::ssr::Backend::Sqlite, &[("UPLOAD_DIR", &dir)]).await;
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let form_id = save_club(&app).await;
    app.call(
        "admin_form_status",
        &[("id", &form_id), ("status", "published")],
    )
    .await;
    let page = app.page("/f/club").await;
    assert!(
        page.contains("enctype=\"multipart/form-data\"")
            && page.contains("type=\"file\" name=\"card\""),
        "the form posts its files without JavaScript"
    );

    let form = || reqwest::multipart::Form::new().text("name", "王五");
    // Refused by content, size and count: the field is marked, nothing stored.
    let disguised = form().part(
        "card",
        png_part("photo.png", b"<html><script>alert(1)</script>".to_vec()),
    );
    assert_eq!(
        post_plain(&app, disguised).await,
        (303, "/f/club?invalid=card".to_owned())
    );
    let mut big = PNG.to_vec();
    big.resize(1024 * 1024 + 1, 0);
    let too_big = form().part("card", png_part("big.png", big));
    assert_eq!(
        post_plain(&app, too_big).await,
        (303, "/f/club?invalid=card".to_owned())
    );
    let three = form()
        .part("card", png_part("a.png", PNG.to_vec()))
        .part("card", png_part("b.png", PNG.to_vec()))
        .part("card", png_part("c.png", PNG.to_vec()));
    assert_eq!(
        post_plain(&app, three).await,
        (303, "/f/club?invalid=card".to_owned())
    );
    // No file chosen: the browser sends an empty part, and the field is required.
    let none = form().part(
        "card",
        reqwest::multipart::Part::bytes(Vec::new())
            .file_name(String::new())
            .mime_str("application/octet-stream")
            .expect("mime"),
    );
    assert_eq!(
        post_plain(&app, none).await,
        (303, "/f/club?invalid=card".to_owned())
    );
    assert_eq!(counts(&app).await, (0, 0), "nothing submitted");
    let marked = app.page("/f/club?invalid=card").await;
    assert!(marked.contains("field-error"));

    // Two files and a name: one submission, both files attached to it.
    let good = form()
        .part("card", png_part("学生证.png", PNG.to_vec()))
        .part("card", png_part("背面.png", PNG.to_vec()));
    assert_eq!(
        post_plain(&app, good).await,
        (303, "/f/club?submitted=1".to_owned())
    );
    assert_eq!(counts(&app).await, (1, 2));
    let names: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, content_type FROM uploads WHERE submission_id IS NOT NULL ORDER BY name",
    )
    .fetch_all(&app.db.pool)
    .await
    .expect("uploads");
    assert_eq!(
        names,
        vec![
            ("学生证.png".to_owned(), "image/png".to_owned()),
            ("背面.png".to_owned(), "image/png".to_owned())
        ]
    );

    // A form without files keeps its small limit.
    let long = "x".repeat(70 * 1024);
    let resp = app
        .client
        .post(app.url("/f/club"))
        .form(&[("name", long.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 413);
    assert_eq!(counts(&app).await, (1, 2));
    let _ = std::fs::remove_dir_all(&dir);
}
