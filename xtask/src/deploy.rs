//! The deployment files (`deploy/formpay.service`, `Dockerfile`) checked by
//! starting the production binary exactly as they start it.

use super::{
    copy_dir, free_addr, root, run, server_binary, status_line, step, wait_until_healthy,
    ChildGuard, Result,
};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The deployment files, checked as far as this machine can (it has no
/// container engine and runs no systemd): the unit passes
/// `systemd-analyze verify`, and the production binary starts exactly as the
/// unit and as the image's entrypoint start it (their commands, environment
/// and working folder, read from `deploy/formpay.service` and `Dockerfile`),
/// from a folder laid out as the image lays it out, with an operator's
/// settings; it becomes healthy, the image's HEALTHCHECK command passes, and
/// SIGTERM stops it with exit 0.
pub fn deployment_check() -> Result<()> {
    step("the deployment files: the systemd unit and the image, started as they start formpay");
    let read = |p: &str| fs::read_to_string(root().join(p)).map_err(|e| format!("{p}: {e}"));
    let unit = read("deploy/formpay.service")?;
    let dockerfile = read("Dockerfile")?;
    let binary = server_binary(false);
    let work = root().join("target/deployment-check");
    let _ = fs::remove_dir_all(&work);
    let image = work.join("image");
    // Where the files are in the image and on a systemd host.
    let bin = image.join("usr/local/bin");
    let site = image.join("usr/local/share/formpay/site");
    for d in [&bin, &site, &image.join("var/lib/formpay")] {
        fs::create_dir_all(d).map_err(|e| e.to_string())?;
    }
    fs::copy(&binary, bin.join("formpay")).map_err(|e| format!("copy the binary: {e}"))?;
    let built_site = ["target/site", "target/site-dev"]
        .iter()
        .map(|p| root().join(p))
        .find(|p| p.join("pkg").is_dir())
        .ok_or("no built site (target/site or target/site-dev)")?;
    copy_dir(&built_site, &site)?;
    let rebase = |s: &str| {
        s.replace("/usr/local/", &format!("{}/usr/local/", image.display()))
            .replace(
                "/var/lib/formpay",
                &format!("{}/var/lib/formpay", image.display()),
            )
    };

    if let Ok(status) = Command::new("systemd-analyze").arg("--version").output() {
        if status.status.success() {
            let checked = work.join("formpay.service");
            fs::write(&checked, rebase(&unit)).map_err(|e| e.to_string())?;
            let out = Command::new("systemd-analyze")
                .arg("verify")
                .arg(&checked)
                .output()
                .map_err(|e| e.to_string())?;
            let said = String::from_utf8_lossy(&out.stderr).into_owned();
            if !out.status.success() || said.contains("formpay.service") {
                return Err(format!("systemd-analyze verify: {said}"));
            }
            eprintln!("    systemd-analyze verify: the unit is valid");
        }
    } else {
        eprintln!("    systemd-analyze is not installed: the unit was not verified");
    }

    // What an operator puts in /etc/formpay/formpay.env or formpay.env.
    let vectors = root().join("providers/vectors");
    let pem = |f: &str| fs::read_to_string(vectors.join(f)).map_err(|e| format!("{f}: {e}"));
    let operator: Vec<(String, String)> = vec![
        ("PUBLIC_BASE_URL".into(), "https://pay.example.org".into()),
        ("APP_MASTER_KEY".into(), "ab".repeat(32)),
        ("ADMIN_EMAIL".into(), "office@school.example".into()),
        ("ADMIN_PASSWORD".into(), "a long operator password".into()),
        ("TRUSTED_PROXIES".into(), "127.0.0.1".into()),
        ("ALIPAY_APP_ID".into(), "2021000000000001".into()),
        ("ALIPAY_SELLER_ID".into(), "2088000000000001".into()),
        (
            "ALIPAY_PRIVATE_KEY".into(),
            pem("fzlee-app_private_key.pem")?,
        ),
        (
            "ALIPAY_PUBLIC_KEY".into(),
            pem("alipay-node-alipay-public-key.pem")?,
        ),
    ];

    // The unit: Environment= lines, ExecStartPre, ExecStart, WorkingDirectory.
    let directive = |key: &str| -> Vec<String> {
        unit.lines()
            .filter_map(|l| l.strip_prefix(&format!("{key}=")))
            .map(|v| rebase(v.trim()))
            .collect()
    };
    let mut unit_env: Vec<(String, String)> = directive("Environment")
        .iter()
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        })
        .collect();
    unit_env.extend(operator.iter().cloned());
    let cwd = PathBuf::from(
        directive("WorkingDirectory")
            .first()
            .ok_or("the unit has no WorkingDirectory")?,
    );
    let addr = free_addr()?;
    unit_env.push(("APP_ADDR".into(), addr.clone()));
    for pre in directive("ExecStartPre") {
        let argv: Vec<&str> = pre.split_whitespace().collect();
        let out = Command::new(argv[0])
            .args(&argv[1..])
            .current_dir(&cwd)
            .env_clear()
            .envs(unit_env.iter().map(|(k, v)| (k, v)))
            .output()
            .map_err(|e| format!("ExecStartPre {pre}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "ExecStartPre {pre}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let start = directive("ExecStart");
    let argv: Vec<String> = start
        .first()
        .ok_or("the unit has no ExecStart")?
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    start_and_stop("the systemd unit", &argv, &cwd, &unit_env, &addr, None)?;

    // The image: ENV, WORKDIR, ENTRYPOINT + CMD, HEALTHCHECK.
    let stage = dockerfile
        .rsplit_once("\nFROM ")
        .map(|(_, last)| last)
        .ok_or("the Dockerfile has no final stage")?;
    let joined = stage.replace("\\\n", " ");
    let instruction = |name: &str| -> Option<String> {
        joined
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{name} ")))
            .map(|v| v.trim().to_owned())
    };
    let json_array = |v: &str| -> Vec<String> {
        v.trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split(',')
            .map(|s| rebase(s.trim().trim_matches('"')))
            .filter(|s| !s.is_empty())
            .collect()
    };
    let mut image_env: Vec<(String, String)> = instruction("ENV")
        .ok_or("the image sets no ENV")?
        .split_whitespace()
        .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_owned(), rebase(v))))
        .collect();
    image_env.extend(operator.iter().cloned());
    let port = free_addr()?
        .rsplit_once(':')
        .map(|(_, p)| p.to_owned())
        .unwrap_or_default();
    // The image listens on every address; on a free port here.
    image_env.retain(|(k, _)| k != "APP_ADDR");
    image_env.push(("APP_ADDR".into(), format!("0.0.0.0:{port}")));
    let mut argv = json_array(&instruction("ENTRYPOINT").ok_or("no ENTRYPOINT")?);
    argv.extend(json_array(&instruction("CMD").ok_or("no CMD")?));
    let healthcheck = instruction("HEALTHCHECK").ok_or("no HEALTHCHECK")?;
    let health_argv = json_array(
        healthcheck
            .split_once("CMD ")
            .map(|(_, c)| c)
            .ok_or("HEALTHCHECK has no CMD")?,
    );
    let cwd = PathBuf::from(rebase(&instruction("WORKDIR").ok_or("no WORKDIR")?));
    start_and_stop(
        "the image's entrypoint",
        &argv,
        &cwd,
        &image_env,
        &format!("127.0.0.1:{port}"),
        Some(&health_argv),
    )?;
    let _ = fs::remove_dir_all(&work);
    Ok(())
}

/// Starts `argv` with exactly `env` in `cwd`, waits until it is healthy, runs
/// the health check command if any, and stops it with SIGTERM (exit 0).
fn start_and_stop(
    what: &str,
    argv: &[String],
    cwd: &Path,
    env: &[(String, String)],
    addr: &str,
    health: Option<&[String]>,
) -> Result<()> {
    let log = cwd.join("formpay.log");
    let out = fs::File::create(&log).map_err(|e| e.to_string())?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let mut child = ChildGuard(
        Command::new(&argv[0])
            .args(&argv[1..])
            .current_dir(cwd)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("{what}: cannot start {argv:?}: {e}"))?,
    );
    let said = || fs::read_to_string(&log).unwrap_or_default();
    wait_until_healthy(addr, &mut child.0).map_err(|e| format!("{what}: {e}\n{}", said()))?;
    if let Some(health) = health {
        let out = Command::new(&health[0])
            .args(&health[1..])
            .current_dir(cwd)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .map_err(|e| format!("{what}: HEALTHCHECK: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{what}: HEALTHCHECK {health:?} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let page = status_line(addr, "/").unwrap_or_default();
    if !page.starts_with("HTTP/1.1 200") {
        return Err(format!("{what}: the home page answers {page}\n{}", said()));
    }
    let pid = child.0.id().to_string();
    run(Command::new("kill").args(["-TERM", &pid]))?;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.0.try_wait().map_err(|e| e.to_string())? {
            if !status.success() {
                return Err(format!(
                    "{what}: SIGTERM ended it with {status}\n{}",
                    said()
                ));
            }
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("{what}: still running 15 s after SIGTERM"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("    {what}: started, healthy, home page served, stopped by SIGTERM");
    Ok(())
}
