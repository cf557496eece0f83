//! Debian's registry running as its own unprivileged user reads the certificate bundle that
//! `registryo registry-config` names, and accepts registryo's tokens.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use registryo_core::testing::free_port;

use super::{ADMIN_PASSWORD, LOOK_EVERY, answer, client, not_run, registryo, run, started, text};
use crate::support::until;

/// The registry, killed when dropped.
struct Registry(Child);

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn found(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn tail(path: &Path) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// The registry as `nobody` starts with the config `registry-config` prints and answers a
/// `GET /v2/` with a token from registryo's `/token`. (Before: the bundle was inside the 0700
/// data directory, and the registry panicked at start.)
#[tokio::test]
async fn a_registry_running_as_another_user_reads_the_bundle_and_accepts_tokens() {
    let case = "a_registry_running_as_another_user_reads_the_bundle_and_accepts_tokens";
    if !super::is_root() {
        return not_run(case, "running the registry as another user needs root");
    }
    for program in ["docker-registry", "setpriv"] {
        if !found(program) {
            return not_run(
                case,
                &format!("{program} is not installed (scripts/e2e/install)"),
            );
        }
    }
    let root = tempfile::tempdir().unwrap();
    super::chmod(root.path(), 0o755); // as /var/lib is: the registry's user passes through
    let data = root.path().join("data");
    let data_env = data.display().to_string();
    let env = [("REGISTRYO_DATA", data_env.as_str())];
    let server = started(registryo(root.path(), &env));

    let storage = root.path().join("registry");
    std::fs::create_dir(&storage).unwrap();
    super::chmod(&storage, 0o777);
    let port = free_port();
    let out = run(
        registryo(root.path(), &env),
        &[
            "registry-config",
            "--realm",
            &server.url("/token"),
            "--service",
            "registry.test",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--storage",
            &storage.display().to_string(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bundle = root.path().join("data-public").join("registry-bundle.pem");
    let said = text(&out.stderr);
    assert!(
        said.contains(&bundle.display().to_string())
            && said.contains("mode 0644, in a directory of mode 0755"),
        "registry-config says where and how it wrote the bundle: {said}"
    );
    let config = root.path().join("config.yml");
    std::fs::write(&config, &out.stdout).unwrap();
    super::chmod(&config, 0o644);

    let log = root.path().join("registry.log");
    let log_file = std::fs::File::create(&log).unwrap();
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        "docker-registry",
        "serve",
    ])
    .arg(&config)
    // docker-registry reads REGISTRY_* variables as configuration: none of ours.
    .env_clear()
    .env("PATH", std::env::var("PATH").unwrap_or_default())
    .current_dir(root.path())
    .stdin(Stdio::null())
    .stdout(log_file.try_clone().unwrap())
    .stderr(log_file);
    let mut registry = Registry(cmd.spawn().unwrap());

    let v2 = format!("http://127.0.0.1:{port}/v2/");
    let mut exited = None;
    until("the registry listens", 240, LOOK_EVERY, || {
        let status = registry.0.try_wait().unwrap();
        if status.is_some() {
            exited = status;
        }
        let v2 = v2.clone();
        async move {
            status.is_some()
                || client()
                    .get(&v2)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().as_u16() == 401)
        }
    })
    .await;
    assert!(
        exited.is_none(),
        "the registry (as nobody) exited: {exited:?}\n{}",
        tail(&log)
    );

    let token = answer(
        client()
            .get(server.url("/token?service=registry.test"))
            .basic_auth("admin", Some(ADMIN_PASSWORD)),
    )
    .await;
    assert_eq!(token.status, 200, "{token:?}");
    let token = token.json()["token"].as_str().unwrap().to_owned();
    let resp = answer(client().get(&v2).bearer_auth(&token)).await;
    assert_eq!(resp.status, 200, "{resp:?}\n{}", tail(&log));
    drop(registry);
    drop(server);
}
