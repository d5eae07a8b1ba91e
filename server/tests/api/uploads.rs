//! Uploads: a file for a form's upload field is checked by its content and
//! size, attached to one submission only, downloaded by administrators who
//! see personal data (audited), and deleted with the submission's answers or
//! a day after upload when never submitted.

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

async fn uploads_are_checked_kept_and_deleted(backend: app::ssr::Backend) {
    let dir = crate::helpers::upload_dir();
    let app = spawn_app_with(backend, &[("UPLOAD_DIR", dir.as_str())]).await;
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let saved = save(&app, None, &json!({
        "slug": "club", "title": "社团报名",
        "fields": [
            {"key": "name", "label": "姓名", "required": true, "type": "short_text"},
            {"key": "card", "label": "学生证", "required": true, "type": "upload", "max_files": 2, "max_mb": 1, "accept": "images"}
        ]
    })).await;
    let form_id = saved["Saved"]["id"].as_str().expect("saved").to_owned();
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
    assert_eq!(
        std::fs::read(std::path::Path::new(&dir).join(&id)).expect("stored"),
        PNG
    );
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
    assert!(
        !std::path::Path::new(&dir).join(&id).exists(),
        "the file is deleted"
    );
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
    let swept = formpay_core::store::uploads::sweep(&app.db, std::path::Path::new(&dir))
        .await
        .expect("sweep");
    assert_eq!(swept, 1);
    assert!(!std::path::Path::new(&dir).join(&orphan).exists());
    assert!(
        std::path::Path::new(&dir)
            .join(b["id"].as_str().expect("id"))
            .exists(),
        "a fresh one stays"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn uploads_are_checked_kept_and_deleted_sqlite() {
    uploads_are_checked_kept_and_deleted(app::ssr::Backend::Sqlite).await;
}

#[tokio::test]
async fn uploads_are_checked_kept_and_deleted_postgres() {
    uploads_are_checked_kept_and_deleted(app::ssr::Backend::Postgres).await;
}
