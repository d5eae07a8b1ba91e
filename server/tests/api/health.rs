use crate::both_backends;

both_backends! {
    async fn health_and_readiness_answer_ok(app) {
        let health = app.client.get(app.url("/healthz")).send().await.expect("healthz");
        assert_eq!(health.status(), 200);
        assert!(health.headers().contains_key("x-request-id"), "every answer carries a request id");
        let ready = app.client.get(app.url("/readyz")).send().await.expect("readyz");
        assert_eq!(ready.status(), 200);
        assert_eq!(ready.text().await.expect("body"), "ready");
    }

    async fn readiness_fails_when_the_database_is_gone(app) {
        app.db.pool.close().await;
        let ready = app.client.get(app.url("/readyz")).send().await.expect("readyz");
        assert_eq!(ready.status(), 503);
        let health = app.client.get(app.url("/healthz")).send().await.expect("healthz");
        assert_eq!(health.status(), 200, "the process itself is still up");
    }

    async fn the_home_page_is_server_rendered_in_chinese_with_the_hydration_script(app) {
        let page = app.client.get(app.url("/")).send().await.expect("home");
        assert_eq!(page.status(), 200);
        let html = page.text().await.expect("body");
        assert!(html.contains("收集信息，顺便收款"), "Chinese by default");
        assert!(html.contains("/pkg/formpay.js"), "hydration script referenced");
        assert!(html.contains("formpay_bg.wasm"), "wasm bundle referenced");
    }

    async fn the_language_cookie_switches_the_server_rendered_text_to_english(app) {
        let html = app.client.get(app.url("/")).header("cookie", "lang=en").send().await.expect("home")
            .text().await.expect("body");
        assert!(html.contains("Collect information, and the money with it"));
        assert!(html.contains("lang=\"en\""));
    }

    async fn an_unknown_page_is_a_404(app) {
        let page = app.client.get(app.url("/no/such/page")).send().await.expect("page");
        assert_eq!(page.status(), 404);
    }
}
