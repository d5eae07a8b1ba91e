//! The binary itself: start-up validation and graceful shutdown.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_formpay");

#[test]
fn production_with_an_empty_environment_names_every_missing_setting() {
    let out = Command::new(BINARY)
        .env_clear()
        .env("APP_ENV", "production")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run the binary");
    assert!(!out.status.success(), "it must refuse to start");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for var in [
        "PUBLIC_BASE_URL",
        "DATABASE_URL",
        "APP_MASTER_KEY",
        "WECHAT_MCH_ID",
        "ALIPAY_APP_ID",
    ] {
        assert!(stderr.contains(var), "{var} is not named in:\n{stderr}");
    }
}

#[test]
fn sigterm_stops_the_server_gracefully() {
    let dir = std::env::temp_dir().join(format!("formpay-sigterm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let mut child = Command::new(BINARY)
        .env_clear()
        .env("APP_ADDR", format!("127.0.0.1:{port}"))
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/db.sqlite", dir.display()),
        )
        .env("ADMIN_EMAIL", "admin@test.example")
        .env("ADMIN_PASSWORD", "correct horse battery")
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the server never listened");
        std::thread::sleep(Duration::from_millis(100));
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "a graceful stop exits 0, got {status}");
    let _ = std::fs::remove_dir_all(dir);
}
