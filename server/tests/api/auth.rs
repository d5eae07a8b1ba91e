use crate::both_backends;
use crate::helpers::{
    client, spawn_app_on, test_settings, DatabaseGuard, ADMIN_EMAIL, ADMIN_PASSWORD,
};
use app::ssr::Backend;

async fn signed_in_email(
    app: &crate::helpers::TestApp,
    client: &reqwest::Client,
) -> Option<String> {
    let resp = client
        .post(app.url("/api/get_admin"))
        .form(&[("", "")])
        .send()
        .await
        .expect("get_admin");
    assert_eq!(resp.status(), 200);
    let value: serde_json::Value = resp.json().await.expect("json");
    value
        .get("email")
        .and_then(|e| e.as_str())
        .map(str::to_owned)
}

fn sets_session_cookie(resp: &reqwest::Response) -> bool {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|c| {
            c.starts_with("fp_session=")
                && c.contains("HttpOnly")
                && c.contains("SameSite=Lax")
                && !c.starts_with("fp_session=;")
        })
}

both_backends! {
    async fn an_administrator_logs_in_and_out(app) {
        assert_eq!(signed_in_email(&app, &app.client).await, None, "anonymous at first");
        let resp = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert!(resp.status().is_success() || resp.status().is_redirection(), "{}", resp.status());
        assert!(sets_session_cookie(&resp), "login sets an HTTP-only SameSite session cookie");
        assert_eq!(signed_in_email(&app, &app.client).await.as_deref(), Some(ADMIN_EMAIL));

        let dashboard = app.client.get(app.url("/admin")).send().await.expect("dashboard");
        assert_eq!(dashboard.status(), 200);
        assert!(dashboard.text().await.expect("body").contains(ADMIN_EMAIL));

        let out = app.server_fn("logout", &[]).await;
        assert!(out.status().is_success() || out.status().is_redirection());
        assert_eq!(signed_in_email(&app, &app.client).await, None, "logged out");
    }

    async fn a_wrong_password_is_refused_and_sets_no_cookie(app) {
        let resp = app.login(ADMIN_EMAIL, "not the password").await;
        assert_eq!(resp.status(), 200);
        assert!(!sets_session_cookie(&resp));
        assert_eq!(resp.text().await.expect("body"), "\"WrongCredentials\"");
        let unknown = app.login("nobody@test.example", ADMIN_PASSWORD).await;
        assert_eq!(unknown.text().await.expect("body"), "\"WrongCredentials\"");
        assert_eq!(signed_in_email(&app, &app.client).await, None);
    }

    async fn logins_are_rate_limited(app) {
        for _ in 0..5 {
            let resp = app.login(ADMIN_EMAIL, "guess").await;
            assert_eq!(resp.text().await.expect("body"), "\"WrongCredentials\"");
        }
        let resp = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert!(!sets_session_cookie(&resp));
        assert_eq!(resp.text().await.expect("body"), "\"RateLimited\"", "even the right password waits");
    }

    async fn anonymous_visitors_of_the_dashboard_are_sent_to_login(app) {
        let resp = app.client.get(app.url("/admin")).header("accept", "text/html").send().await.expect("dashboard");
        assert_eq!(resp.status(), 302);
        assert_eq!(resp.headers().get("location").and_then(|v| v.to_str().ok()), Some("/admin/login"));
    }

    async fn a_forged_session_cookie_is_anonymous(app) {
        let c = client();
        let resp = c.post(app.url("/api/get_admin")).header("cookie", "fp_session=0123456789abcdef0123456789abcdef")
            .header("origin", &app.address)
            .form(&[("", "")]).send().await.expect("get_admin");
        assert_eq!(resp.text().await.expect("body"), "null");
    }

    async fn a_cross_site_post_is_refused(app) {
        let resp = app.client.post(app.url("/api/login"))
            .header("origin", "https://evil.example")
            .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
            .send().await.expect("login");
        assert_eq!(resp.status(), 403);
        assert!(!sets_session_cookie(&resp));
    }

    async fn the_login_page_is_server_rendered(app) {
        let resp = app.client.get(app.url("/admin/login")).send().await.expect("login page");
        assert_eq!(resp.status(), 200);
        let html = resp.text().await.expect("body");
        assert!(html.contains("管理员登录"));
        assert!(html.contains("name=\"password\""));
    }
}

fn session_cookie_of(resp: &reqwest::Response) -> String {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("fp_session="))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_owned()
}

async fn sessions_survive_a_restart(backend: Backend) {
    let database = DatabaseGuard::create(backend).await;
    let url = database.url.clone();
    let mut first = spawn_app_on(Some(database), test_settings(&url)).await;
    let cookie = session_cookie_of(&first.login(ADMIN_EMAIL, ADMIN_PASSWORD).await);
    let bare = client();

    // A new process on the same database still knows the session.
    let second = spawn_app_on(None, test_settings(&url)).await;
    first.stop();
    let resp = bare
        .post(second.url("/api/get_admin"))
        .header("cookie", &cookie)
        .header("origin", &second.address)
        .form(&[("", "")])
        .send()
        .await
        .expect("get_admin");
    let value: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(
        value.get("email").and_then(|e| e.as_str()),
        Some(ADMIN_EMAIL)
    );
    drop(second);
    drop(first);
}

#[tokio::test]
async fn sessions_survive_a_restart_sqlite() {
    sessions_survive_a_restart(Backend::Sqlite).await;
}

#[tokio::test]
async fn sessions_survive_a_restart_postgres() {
    sessions_survive_a_restart(Backend::Postgres).await;
}
