//! End-to-end tests: the real registry (Debian's docker-registry, distribution 2.8) and real
//! clients (docker, podman, skopeo, containerd's ctr) against one running `registryo serve`.
//!
//! Every test is ignored by a plain `cargo test`: `./scripts/test` starts registryo, the
//! registry (configured by `registryo registry-config`) and the daemons once, writes a
//! description of them and runs this module's tests (`cargo test -p registryo-bin --test it
//! -- --include-ignored --exact e2e::…`) with `REGISTRYO_E2E_ENV` naming that description. Run
//! without it, a test fails loudly.
//!
//! The programs are shared; each test makes its own users, rules and repositories (under a
//! unique prefix) with the `registryo` CLI, and keeps its own docker config folder and
//! podman/skopeo auth file, so that tests are independent and run in parallel.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

use crate::support::binary::registryo;
use crate::support::command::{Out, run};
use crate::support::e2e_env::{Target, env};
use crate::support::eventually;
use registryo_core::testing::jwt::claims;

/// Each case named, run once against each registry version: `MODULE::v2::CASE` (distribution
/// 2.8) and `MODULE::v3::CASE` (v3.1.1), both behind the shared `registryo serve`; the case
/// takes the target's name and builds its [`T`] with [`T::on`].
macro_rules! both_versions {
    ($($case:ident),* $(,)?) => {
        mod v2 {
            $(
                #[tokio::test]
                #[ignore = "needs the real registry and clients: run ./scripts/test"]
                async fn $case() {
                    super::$case("v2").await
                }
            )*
        }
        mod v3 {
            $(
                #[tokio::test]
                #[ignore = "needs the real registry and clients: run ./scripts/test"]
                async fn $case() {
                    super::$case("v3").await
                }
            )*
        }
    };
}

mod access;
/// The registry's notifications: activity with its actors, redelivery, the secret.
mod activity;
mod clients;
/// The container images and compose.yaml, built offline and run on the shared dockerd.
mod image;
mod logins;
/// Password reset and invitation e-mails (through the SMTP server scripts/test starts).
mod mail;
/// Every client against every registry version and key setting; rotations under load.
mod matrix;
/// Prometheus scraping the shared server; promtool on a scrape.
mod metrics;

// --- one test's own world ------------------------------------------------------------------

/// A test's users, repositories and client state, all under a unique prefix.
struct T {
    prefix: String,
    dir: tempfile::TempDir,
    http: reqwest::Client,
    /// The registry and the registryo this test works with.
    target: &'static Target,
}

impl T {
    /// A test on the shared server's distribution 2.8 registry.
    fn new(short: &str) -> T {
        T::on(short, "v2")
    }

    /// A test on the target named `target` (see [`Target`]).
    fn on(short: &str, target: &str) -> T {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        T {
            prefix: format!("{short}-{}-{}", std::process::id(), millis % 1_000_000),
            dir: tempfile::Builder::new()
                .prefix("ro-e2e-t")
                .tempdir()
                .unwrap(),
            http: reqwest::Client::new(),
            target: env().target(target),
        }
    }

    /// The registry's `host:port`.
    fn host(&self) -> &str {
        &self.target.host
    }

    /// `HOST/PREFIX/PATH` (PATH may end with `:tag`).
    fn image(&self, path: &str) -> String {
        format!("{}/{}/{path}", self.host(), self.prefix)
    }

    /// The `registryo` CLI on the running server's data directory.
    fn cli(&self, args: &[&str], stdin: Option<&str>) -> Out {
        run(self.cli_command(args), stdin)
    }

    /// The command [`T::cli`] runs, to add to its environment.
    fn cli_command(&self, args: &[&str]) -> Command {
        let e = env();
        let mut cmd = registryo(self.dir.path());
        cmd.args(args)
            .env("REGISTRYO_DATA", &self.target.data)
            .env("REGISTRYO_SERVICE", e.service())
            .env("REGISTRYO_ISSUER", e.get("REGISTRYO_E2E_ISSUER"))
            .env("REGISTRYO_LOG", "warn")
            .envs(self.target.settings.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// A new user `PREFIX-WHO`; returns (name, password).
    fn user(&self, who: &str) -> (String, String) {
        let name = format!("{}-{who}", self.prefix);
        let password = format!("pw-{name}-secret");
        self.cli(&["user", "add", &name, "--password-stdin"], Some(&password))
            .ok();
        (name, password)
    }

    fn acl(&self, subject: &str, pattern: &str, actions: &str) {
        self.cli(&["acl", "add", subject, pattern, actions], None)
            .ok();
    }

    /// A new user `PREFIX-WHO` with pull and push on the test's repositories, ready on the
    /// server (its grant seen); returns (name, password).
    async fn pusher(&self, who: &str) -> (String, String) {
        let (user, pw) = self.user(who);
        self.acl(
            &format!("user:{user}"),
            &format!("{}/**", self.prefix),
            "pull,push",
        );
        self.wait_grant(
            Some((&user, &pw)),
            &format!("repository:{}/app:pull,push", self.prefix),
            "pull,push",
        )
        .await;
        (user, pw)
    }

    /// What `GET /token` grants for one scope (the token's `access` actions), and the status.
    async fn grant(&self, creds: Option<(&str, &str)>, scope: &str) -> (u16, Vec<String>) {
        let mut req = self
            .http
            .get(format!("{}/token", self.target.registryo))
            .query(&[("service", env().service()), ("scope", scope)]);
        if let Some((u, p)) = creds {
            req = req.basic_auth(u, Some(p));
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let actions = body["token"]
            .as_str()
            .map(claims)
            .and_then(|c| c["access"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .flat_map(|a| a["actions"].as_array().cloned().unwrap_or_default())
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect();
        (status, actions)
    }

    /// Wait until the server grants `want` (comma-separated) of `scope` to `creds`.
    async fn wait_grant(&self, creds: Option<(&str, &str)>, scope: &str, want: &str) {
        eventually(&format!("{scope} granting {want} to {creds:?}"), || async {
            let (_, got) = self.grant(creds, scope).await;
            want.split(',').all(|w| got.iter().any(|g| g == w))
        })
        .await;
    }

    /// `docker --config DIR/docker-CFG ARGS` against the shared dockerd.
    fn docker(&self, cfg: &str, args: &[&str], stdin: Option<&str>) -> Out {
        let mut cmd = Command::new(env().wrapper("docker"));
        cmd.arg("--config")
            .arg(self.dir.path().join(format!("docker-{cfg}")))
            .args(args);
        run(cmd, stdin)
    }

    fn docker_login(&self, cfg: &str, user: &str, password: &str) -> Out {
        self.docker(
            cfg,
            &["login", "-u", user, "--password-stdin", self.host()],
            Some(password),
        )
    }

    /// A tarball of the test rootfs plus a file unique to this test, so that this test's
    /// layers are its own (dockerd would otherwise mount them from other tests' repositories).
    fn rootfs_tar(&self) -> PathBuf {
        let tar = self.dir.path().join("rootfs.tar");
        if !tar.exists() {
            let marker = self.dir.path().join("marker");
            std::fs::create_dir_all(&marker).unwrap();
            std::fs::write(marker.join("e2e-test"), &self.prefix).unwrap();
            let mut cmd = Command::new("tar");
            cmd.arg("-cf")
                .arg(&tar)
                .arg("-C")
                .arg(env().get("E2E_IMAGE_ROOTFS"))
                .arg(".")
                .arg("-C")
                .arg(&marker)
                .arg("e2e-test");
            run(cmd, None).ok();
        }
        tar
    }

    /// `docker import` this test's rootfs as IMAGE (a full `HOST/…:tag` reference).
    fn docker_import(&self, cfg: &str, image: &str) {
        let tar = self.rootfs_tar();
        self.docker(cfg, &["import", tar.to_str().unwrap(), image], None)
            .ok();
    }

    /// `skopeo` with this test's auth file available as `--authfile FILE`.
    fn skopeo(&self, args: &[&str]) -> Out {
        let mut cmd = Command::new(env().wrapper("skopeo"));
        cmd.args(args);
        run(cmd, None)
    }

    fn authfile(&self, who: &str) -> String {
        let p = self.dir.path().join(format!("auth-{who}.json"));
        if !p.exists() {
            std::fs::write(&p, "{}").unwrap();
        }
        p.to_str().unwrap().to_owned()
    }

    /// Push the OCI test image to `PREFIX/PATH` as the admin.
    fn seed(&self, path: &str) {
        let creds = format!("admin:{}", env().admin_password());
        self.skopeo(&[
            "copy",
            "--dest-creds",
            &creds,
            env().get("E2E_IMAGE_SINGLE"),
            &format!("docker://{}", self.image(path)),
        ])
        .ok();
    }

    /// Where this test's podman and buildah keep their images: their own, since the tests
    /// share image IDs (the same seed image) and another test's `rmi` must not race ours.
    fn storage_flags(&self) -> Vec<String> {
        let root = self.dir.path().join("containers");
        vec![
            "--root".into(),
            root.join("root").display().to_string(),
            "--runroot".into(),
            root.join("run").display().to_string(),
        ]
    }

    fn podman(&self, args: &[&str], stdin: Option<&str>) -> Out {
        let mut cmd = Command::new(env().wrapper("podman"));
        cmd.args(self.storage_flags()).args(args);
        run(cmd, stdin)
    }

    fn buildah(&self, args: &[&str]) -> Out {
        let mut cmd = Command::new(env().wrapper("buildah"));
        cmd.args(self.storage_flags()).args(args);
        run(cmd, None)
    }

    /// `ctr` in a containerd namespace of this test's own: containerd remembers which
    /// repository content came from, and with one namespace for all tests a push to one
    /// registry tried to mount the shared seed layers from another test's repository on
    /// another port of 127.0.0.1 (refused: the token does not cover it).
    fn ctr(&self, args: &[&str]) -> Out {
        let mut cmd = Command::new(env().wrapper("ctr"));
        cmd.args(["--namespace", &self.prefix]).args(args);
        run(cmd, None)
    }

    /// The registry's reply to `GET PATH` with a bearer token (or none).
    async fn registry_get(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let mut req = self
            .http
            .get(format!("{}{path}", self.target.registry_url()));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    /// A token from `GET /token` (panics unless 200).
    async fn token(&self, creds: Option<(&str, &str)>, scope: &str) -> String {
        let mut req = self
            .http
            .get(format!("{}/token", self.target.registryo))
            .query(&[("service", env().service()), ("scope", scope)]);
        if let Some((u, p)) = creds {
            req = req.basic_auth(u, Some(p));
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, 200, "token for {scope}: {body}");
        body["token"].as_str().unwrap().to_owned()
    }
}

// --- the tests --------------------------------------------------------------------------------
