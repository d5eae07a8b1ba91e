//! Build, run and test the project with plain cargo, the wasm-bindgen CLI and
//! npm's binaryen: nothing is downloaded from outside the package registries.
//!
//! `cargo xtask serve`  builds a release (size-optimised WASM) and runs it.
//! `cargo xtask test`   installs what tests need, then runs every test.
//! `cargo xtask build [--release]`  builds the site and the server only.
//! `cargo xtask build --production`  a release without the simulator: what
//!                      goes live (development builds carry it, off unless safe).
//! `cargo xtask e2e`    builds what the browser tests need and runs them alone.
//! `cargo xtask bench-phone`  the payer's pages on a throttled phone (figures only).
//! `cargo xtask check-deploy`  the production build, the systemd unit and the
//!                      image's entrypoint, started as they start it (part of `test`).

mod deploy;

use deploy::deployment_check;
use std::env;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// The payers' bundles (`app::BUNDLE_NAME`: the form page's islands;
/// `app::PAY_BUNDLE_NAME`: the payment and receipt pages').
const BUNDLE: &str = "formpay";
const PAY_BUNDLE: &str = "formpay_pay";
/// The administrators' bundle (`app::ADMIN_BUNDLE_NAME`).
const ADMIN_BUNDLE: &str = "formpay_admin";
/// Every bundle, with the `frontend` feature that builds it.
const BUNDLES: [(&str, &str); 3] = [
    (BUNDLE, "form"),
    (PAY_BUNDLE, "pay"),
    (ADMIN_BUNDLE, "admin"),
];
type Result<T> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve(),
        Some("build") if args.iter().any(|a| a == "--production") => {
            build(true, Simulator::Without).map(|_| ())
        }
        Some("build") => build(args.iter().any(|a| a == "--release"), Simulator::With).map(|_| ()),
        Some("test") => test(),
        Some("tools") => ensure_tools(true),
        Some("e2e") => ensure_tools(true).and_then(|()| browser_tests(true)),
        Some("bench-phone") => ensure_tools(true).and_then(|()| bench_phone()),
        Some("check-deploy") => ensure_tools(false)
            .and_then(|()| build_site(false))
            .and_then(|_| production_build_check())
            .and_then(|()| deployment_check()),
        _ => Err(
            "usage: cargo xtask serve | test | e2e | bench-phone | check-deploy | build [--release | --production] | tools"
                .to_owned(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn step(what: &str) {
    eprintln!("\x1b[1m==> {what}\x1b[0m");
}

fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}

fn output(cmd: &mut Command) -> Option<String> {
    cmd.output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
}

fn cargo() -> Command {
    let mut c = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    c.current_dir(root());
    c
}

/// The wasm-bindgen version in Cargo.lock: the CLI must be exactly the same.
fn locked_wasm_bindgen_version() -> Result<String> {
    let lock =
        fs::read_to_string(root().join("Cargo.lock")).map_err(|e| format!("Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasm-bindgen\"" {
            if let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = \"")) {
                return Ok(v.trim_end_matches('"').to_owned());
            }
        }
    }
    Err("wasm-bindgen is not in Cargo.lock".to_owned())
}

/// The OpenAPI fuzzer the test command runs against the public API.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";
/// An independent S3 implementation (PyPI) the upload tests keep files in.
const MOTO: &str = "moto[s3,server]==5.2.6";

fn schemathesis() -> PathBuf {
    root().join("target/schemathesis/bin/schemathesis")
}

fn moto_server() -> PathBuf {
    root().join("target/schemathesis/bin/moto_server")
}

fn ensure_tools(browser: bool) -> Result<()> {
    if !output(Command::new("rustup").args(["target", "list", "--installed"]))
        .is_some_and(|o| o.lines().any(|l| l.trim() == "wasm32-unknown-unknown"))
    {
        step("installing the wasm32-unknown-unknown target");
        run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    }
    let want = locked_wasm_bindgen_version()?;
    let have = output(Command::new("wasm-bindgen").arg("--version")).unwrap_or_default();
    if have.split_whitespace().nth(1) != Some(want.as_str()) {
        step(&format!(
            "installing wasm-bindgen-cli {want} (a few minutes, once)"
        ));
        // `--locked` fails for this version (a yanked dependency); the fallback
        // resolver picks dependency versions that build on this toolchain.
        run(cargo()
            .args(["install", "wasm-bindgen-cli", "--version", &want, "--force"])
            .env("CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS", "fallback"))?;
    }
    let e2e = root().join("end2end");
    if !e2e.join("node_modules/.bin/wasm-opt").exists()
        || (browser
            && !(e2e.join("node_modules/playwright-core").exists()
                && e2e.join("node_modules/axe-core").exists()))
    {
        step("installing npm packages (binaryen, playwright-core, axe-core)");
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&e2e))?;
    }
    if browser && !(schemathesis().exists() && moto_server().exists()) {
        step("installing schemathesis and moto (PyPI) in target/schemathesis");
        let venv = root().join("target/schemathesis");
        let _ = fs::remove_dir_all(&venv);
        if run(Command::new("python3").arg("-m").arg("venv").arg(&venv)).is_err() {
            // Debian keeps venv apart from python3.
            run(Command::new("apt-get").args(["update", "-qq"]))?;
            run(Command::new("apt-get")
                .args(["install", "-y", "-qq", "python3-venv"])
                .env("DEBIAN_FRONTEND", "noninteractive"))?;
            run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
        }
        run(Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            SCHEMATHESIS,
            MOTO,
        ]))?;
    }
    if browser && !Path::new("/usr/bin/chromium").exists() {
        step("installing Debian's chromium");
        run(Command::new("apt-get").args(["update", "-qq"]))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq", "chromium"])
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    Ok(())
}

/// Builds the hydrating WASM bundle and the static files into a site folder.
fn build_site(release: bool) -> Result<PathBuf> {
    let site = root().join(if release {
        "target/site"
    } else {
        "target/site-dev"
    });
    let pkg = site.join("pkg");
    let profile = if release { "wasm-release" } else { "dev" };
    fs::create_dir_all(&pkg).map_err(|e| format!("{}: {e}", pkg.display()))?;
    // Three bundles: two for the payers' pages (small: the form page's
    // islands; the payment and receipt pages'), and every page for /admin.
    for (name, feature) in BUNDLES {
        step(&format!("building the browser bundle {name} ({profile})"));
        let mut build = cargo();
        build.args([
            "build",
            "--package",
            "frontend",
            "--lib",
            "--target",
            "wasm32-unknown-unknown",
            "--target-dir",
            "target/front",
            "--profile",
            profile,
            "--features",
            feature,
        ]);
        run(&mut build)?;
        let out_dir = if release { "wasm-release" } else { "debug" };
        let wasm = root()
            .join("target/front/wasm32-unknown-unknown")
            .join(out_dir)
            .join("frontend.wasm");
        run(Command::new("wasm-bindgen")
            .args([
                "--target",
                "web",
                "--no-typescript",
                "--out-name",
                name,
                "--out-dir",
            ])
            .arg(&pkg)
            .arg(&wasm))?;
        let bg = pkg.join(format!("{name}_bg.wasm"));
        if release {
            step("optimising the WASM for size (npm binaryen)");
            run(
                Command::new(root().join("end2end/node_modules/.bin/wasm-opt"))
                    .args([
                        "-Oz",
                        "--enable-bulk-memory",
                        "--enable-nontrapping-float-to-int",
                        "--enable-sign-ext",
                        "--enable-mutable-globals",
                        "--enable-reference-types",
                        "--enable-multivalue",
                    ])
                    .arg(&bg)
                    .arg("-o")
                    .arg(&bg),
            )?;
        }
        let size = fs::metadata(&bg).map(|m| m.len()).unwrap_or(0);
        eprintln!("    {} is {} KiB", bg.display(), size / 1024);
    }
    fs::copy(
        root().join("style/main.css"),
        pkg.join(format!("{BUNDLE}.css")),
    )
    .map_err(|e| format!("style: {e}"))?;
    // Sent compressed: 1.5 MB of WASM is 8 s on a slow phone network, its
    // brotli a third of that (issue 14). Release: brotli and gzip at their
    // best; development: a fast gzip.
    step("compressing the bundles (gzip, and brotli for release)");
    let mut compress = Command::new("node");
    compress
        .arg(root().join("end2end/tools/precompress.mjs"))
        .arg(if release { "--brotli" } else { "--fast" });
    for (name, _) in BUNDLES {
        compress
            .arg(pkg.join(format!("{name}_bg.wasm")))
            .arg(pkg.join(format!("{name}.js")));
    }
    compress.arg(pkg.join(format!("{BUNDLE}.css")));
    run(&mut compress)?;
    if release {
        for name in [BUNDLE, PAY_BUNDLE] {
            report_bundle(&pkg, name);
        }
    }
    copy_dir(&root().join("public"), &site)?;
    Ok(site)
}

/// The size a payer downloads, beside its target (issue 14: ≤ 200 KiB gzip):
/// the `.gz` the server sends to a browser without brotli, and the `.br`.
fn report_bundle(pkg: &Path, name: &str) {
    const TARGET: u64 = 200 * 1024;
    let size = |ext: &str| {
        fs::metadata(pkg.join(format!("{name}_bg.wasm.{ext}")))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    let (gz, br) = (size("gz"), size("br"));
    eprintln!(
        "    payers' bundle {name}: {gz} bytes gzip ({:.1} KiB; target ≤ 200 KiB: {}), {br} bytes brotli ({:.1} KiB)",
        gz as f64 / 1024.0,
        if gz > 0 && gz <= TARGET { "met" } else { "not met" },
        br as f64 / 1024.0,
    );
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    for entry in fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))? {
        let entry = entry.map_err(|e| e.to_string())?;
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            fs::create_dir_all(&target).map_err(|e| e.to_string())?;
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target).map_err(|e| format!("{}: {e}", target.display()))?;
        }
    }
    Ok(())
}

/// Whether the server binary carries the provider simulator (the `simulator`
/// feature): development and tests do, the production build does not.
#[derive(Clone, Copy, PartialEq)]
enum Simulator {
    With,
    Without,
}

fn server_build(release: bool, simulator: Simulator) -> Command {
    let mut c = cargo();
    c.args(["build", "--package", "server", "--bin", "formpay"]);
    if simulator == Simulator::With {
        c.args(["--features", "server/simulator"]);
    }
    if release {
        c.arg("--release");
    }
    c
}

fn build(release: bool, simulator: Simulator) -> Result<PathBuf> {
    ensure_tools(false)?;
    let site = build_site(release)?;
    step(match simulator {
        Simulator::With => "building the server (with the development simulator)",
        Simulator::Without => "building the server for production (no simulator)",
    });
    run(&mut server_build(release, simulator))?;
    Ok(site)
}

fn server_binary(release: bool) -> PathBuf {
    root()
        .join("target")
        .join(if release { "release" } else { "debug" })
        .join("formpay")
}

fn serve() -> Result<()> {
    let site = build(true, Simulator::With)?;
    step("starting formpay (ctrl-c stops it)");
    let status = Command::new(server_binary(true))
        .current_dir(root())
        .env("LEPTOS_SITE_ROOT", &site)
        .status()
        .map_err(|e| format!("cannot start the server: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the server exited with {status}"))
    }
}

fn free_addr() -> Result<String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.to_string())
}

/// The PostgreSQL server the tests create their databases on.
fn test_postgres_url() -> String {
    match env::var("DATABASE_URL") {
        Ok(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => u,
        _ => env::var("TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned()),
    }
}

fn test() -> Result<()> {
    ensure_tools(true)?;
    let started = Instant::now();
    step("unit and black-box tests (SQLite and PostgreSQL)");
    run(cargo()
        .args([
            "test",
            "--workspace",
            "--exclude",
            "frontend",
            "--features",
            "server/simulator",
            "--no-fail-fast",
        ])
        .env("TEST_POSTGRES_URL", test_postgres_url())
        .env("MOTO_SERVER", moto_server()))?;

    step("the shared form logic in WebAssembly (wasm-bindgen-test-runner)");
    run(cargo()
        .args([
            "test",
            "-p",
            "domain",
            "--test",
            "logic",
            "--target",
            "wasm32-unknown-unknown",
            "--target-dir",
        ])
        .arg(root().join("target/front"))
        .env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER",
            "wasm-bindgen-test-runner",
        ))?;

    // `cargo test` built the server binary for the integration tests, from
    // these sources (with the test build's features): building it again with
    // the plain build's features would recompile half the dependencies.
    browser_tests(false)?;
    // Last: it rebuilds the server binary without the simulator.
    production_build_check()?;
    deployment_check()?;
    eprintln!("all tests passed in {:.0?}", started.elapsed());
    Ok(())
}

/// The release site and server on a throttled phone (`end2end/bench/phone.mjs`).
fn bench_phone() -> Result<()> {
    let site = build(true, Simulator::With)?;
    let addr = free_addr()?;
    let work = root().join("target/bench-phone");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let mut server = ChildGuard(
        Command::new(server_binary(true))
            .current_dir(&work)
            .env("APP_ADDR", &addr)
            .env(
                "DATABASE_URL",
                format!("sqlite://{}/bench.db", work.display()),
            )
            .env("LEPTOS_SITE_ROOT", &site)
            .env("SIMULATOR", "on")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the server: {e}"))?,
    );
    wait_until_healthy(&addr, &mut server.0)?;
    step(&format!(
        "the payer's pages on a throttled phone, against http://{addr}"
    ));
    run(Command::new("node")
        .arg("bench/phone.mjs")
        .current_dir(root().join("end2end"))
        .env("BASE_URL", format!("http://{addr}")))
}

/// The browser tests alone (`cargo xtask e2e`), building what they need.
fn browser_tests(build_server: bool) -> Result<()> {
    let site = build_site(false)?;
    if build_server {
        step("building the server for the browser tests");
        run(&mut server_build(false, Simulator::With))?;
    }
    let addr = match env::var("APP_ADDR") {
        Ok(a) if !a.trim().is_empty() => a,
        _ => free_addr()?,
    };
    let work = root().join("target/e2e");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let database_url =
        env::var("DATABASE_URL").unwrap_or_else(|_| format!("sqlite://{}/e2e.db", work.display()));
    step(&format!("browser tests against http://{addr}"));
    let mut server = ChildGuard(
        Command::new(server_binary(false))
            .current_dir(&work)
            .env("APP_ADDR", &addr)
            .env("DATABASE_URL", &database_url)
            .env("LEPTOS_SITE_ROOT", &site)
            .env("ADMIN_EMAIL", "e2e@example.com")
            .env("ADMIN_PASSWORD", "e2e-password-123")
            // The browser tests pay through the simulator, whatever APP_ADDR says.
            .env("SIMULATOR", "on")
            // They submit the demo form often, partly through the API (which
            // would be asked for a proof of work): no burst limit here.
            .env("POW_BURST_PER_MINUTE", "1000000")
            .env(
                "RUST_LOG",
                env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned()),
            )
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the server: {e}"))?,
    );
    wait_until_healthy(&addr, &mut server.0)?;
    // `E2E_ONLY=tests/bills.test.mjs cargo xtask e2e`: one file, while working on it.
    let only = env::var("E2E_ONLY").ok().filter(|f| !f.trim().is_empty());
    let result = run(Command::new("node")
        .args([
            "--test",
            "--test-concurrency=1",
            "--test-timeout=180000",
            only.as_deref().unwrap_or("tests/"),
        ])
        .current_dir(root().join("end2end"))
        .env("BASE_URL", format!("http://{addr}"))
        // In CI, log every browser action: a failure then shows where it stopped.
        .env("DEBUG", if env::var("CI").is_ok() { "pw:api" } else { "" })
        .env("ADMIN_EMAIL", "e2e@example.com")
        .env("ADMIN_PASSWORD", "e2e-password-123"));
    // Then the public API, fuzzed from its own OpenAPI document: no server
    // error, every answer as documented. (Business rules refuse some
    // schema-valid requests, e.g. an unknown form: that check is left out.)
    let fuzzed = result.and_then(|()| {
        step("fuzzing the public API from its OpenAPI document (schemathesis)");
        run(Command::new(schemathesis())
            .args([
                "run",
                &format!("http://{addr}/api/v1/openapi.json"),
                "--checks",
                "all",
                "--exclude-checks",
                "positive_data_acceptance",
                "--max-examples",
                "100",
            ])
            // Its cache stays in target/, not in the repository.
            .current_dir(root().join("target/schemathesis"))
            .env("SCHEMATHESIS_TELEMETRY", "false")
            .env("NO_COLOR", "1"))
    });
    drop(server);
    fuzzed
}

struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The status line of a plain GET, or None when nothing answered.
fn status_line(addr: &str, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.lines().next().map(str::to_owned)
}

fn wait_until_healthy(addr: &str, child: &mut Child) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("the server exited early ({status})"));
        }
        if status_line(addr, "/healthz").is_some_and(|l| l.starts_with("HTTP/1.1 200")) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err("the server did not become healthy within 60 s".to_owned())
}

/// The production build (no `simulator` feature), run the way a developer
/// would run a development one: `SIMULATOR=on` is refused with the reason,
/// and on a loopback address with no real provider (where a development
/// build starts its simulator) there is no `/_simulator` at all.
fn production_build_check() -> Result<()> {
    step("the production build has no simulator");
    run(&mut server_build(false, Simulator::Without))?;
    let work = root().join("target/production-check");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let server = |addr: &str| {
        let mut c = Command::new(server_binary(false));
        c.current_dir(&work)
            .env_remove("APP_ENV")
            .env_remove("SIMULATOR")
            .env("APP_ADDR", addr)
            .env(
                "DATABASE_URL",
                format!("sqlite://{}/check.db", work.display()),
            )
            .env("RUST_LOG", "info");
        c
    };

    let refused = server(&free_addr()?)
        .env("SIMULATOR", "on")
        .output()
        .map_err(|e| format!("cannot start the server: {e}"))?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&refused.stdout),
        String::from_utf8_lossy(&refused.stderr)
    );
    if refused.status.success() || !said.contains("this build has no simulator") {
        return Err(format!(
            "the production build did not refuse SIMULATOR=on ({}): {said}",
            refused.status
        ));
    }

    let addr = free_addr()?;
    let mut running = ChildGuard(
        server(&addr)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the server: {e}"))?,
    );
    wait_until_healthy(&addr, &mut running.0)?;
    for path in [
        "/_simulator/wechat/jsbridge.js",
        "/_simulator/control/orders/x",
    ] {
        let line = status_line(&addr, path).unwrap_or_default();
        if !line.starts_with("HTTP/1.1 404") {
            return Err(format!("the production build answers {path}: {line}"));
        }
    }
    eprintln!("    SIMULATOR=on refused; /_simulator is 404 on a loopback address");
    Ok(())
}
