//! The container images and `compose.yaml` (issue 12) on the shared dockerd: the registryo
//! image (`Dockerfile`'s runtime stage over this build's binary) and the registry's (Debian's
//! `docker-registry` and its libraries), both made offline once per run by
//! `scripts/image/build`. Nothing here pulls: the images are `FROM scratch` roots.
//!
//! `docker run` containers use `--network host` (dockerd runs without a default bridge) on
//! ports of their own; the compose stack runs as written, on the project network compose
//! makes, with its ports published on free ones. Every container and volume is removed at the
//! end, also when a test fails.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use registryo_core::testing::free_port;

use super::*;
use crate::support::binary::BIN;
use crate::support::{poll, until};

/// The images, tagged for this run's dockerd.
const IMAGE: &str = "registryo:e2e";
const REGISTRY_IMAGE: &str = "registryo-registry:e2e";
const REGISTRY_V3_IMAGE: &str = "registryo-registry:v3-e2e";

/// The repository (for `scripts/image/build` and `compose.yaml`).
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Builds the images once per test process (the first test to ask; the others wait): the
/// registryo image, the registry's from Debian's docker-registry (2.8), and from the v3 binary
/// `scripts/e2e/distribution-v3` finds.
fn images() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let v3 = run(
            Command::new(repo().join("scripts/e2e/distribution-v3")),
            None,
        )
        .ok();
        let v3 = v3.stdout.trim();
        let builds: [&[&str]; 3] = [
            &["registryo", "--binary", BIN, "--strip", "--tag", IMAGE],
            &["registry", "--tag", REGISTRY_IMAGE],
            &["registry", "--binary", v3, "--tag", REGISTRY_V3_IMAGE],
        ];
        for args in builds {
            let started = Instant::now();
            let mut cmd = Command::new(repo().join("scripts/image/build"));
            cmd.args(args).env("DOCKER", env().wrapper("docker"));
            run(cmd, None).ok();
            eprintln!("built the {} image in {:?}", args[0], started.elapsed());
        }
    });
}

/// A test's containers and volumes, removed when it ends (also when it fails); and the
/// docker client with the test's own config folder.
struct Docker<'t> {
    t: &'t T,
    containers: Vec<String>,
    volumes: Vec<String>,
}

impl<'t> Docker<'t> {
    fn new(t: &'t T) -> Docker<'t> {
        Docker {
            t,
            containers: Vec::new(),
            volumes: Vec::new(),
        }
    }

    /// `docker ARGS` (the test's docker config "d").
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Out {
        self.t.docker("d", args, stdin)
    }

    /// A volume name of this test's, removed at the end.
    fn volume(&mut self, name: &str) -> String {
        let name = format!("{}-{name}", self.t.prefix);
        self.volumes.push(name.clone());
        name
    }

    /// `docker run -d --name NAME --network host ARGS`: a container removed at the end.
    fn start(&mut self, name: &str, args: &[&str]) -> String {
        let name = format!("{}-{name}", self.t.prefix);
        let mut all = vec!["run", "-d", "--name", &name, "--network", "host"];
        all.extend_from_slice(args);
        self.containers.push(name.clone());
        self.run(&all, None).ok();
        name
    }

    /// `docker inspect -f FORMAT NAME`, trimmed.
    fn inspect(&self, name: &str, format: &str) -> String {
        self.run(&["inspect", "-f", format, name], None)
            .ok()
            .stdout
            .trim()
            .to_owned()
    }

    /// Waits until the image's HEALTHCHECK (`registryo healthcheck`) calls the container
    /// healthy; fails at once if it stops running.
    async fn healthy(&self, name: &str) {
        poll(
            &format!("container {name} healthy"),
            150,
            Duration::from_millis(200),
            || async {
                let state = self.inspect(name, "{{.State.Status}} {{.State.Health.Status}}");
                if !state.starts_with("running") {
                    let logs = self.run(&["logs", name], None);
                    panic!("{name} is not running ({state}): {}", logs.describe());
                }
                (state == "running healthy").then_some(())
            },
        )
        .await
    }
}

impl Drop for Docker<'_> {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = self.run(&["rm", "-f", "-v", c], None);
        }
        for v in &self.volumes {
            let _ = self.run(&["volume", "rm", "-f", v], None);
        }
    }
}

/// What `GET /token` at `registryo` answers `user:password` for `scope`: the status and the
/// token.
async fn token_at(t: &T, registryo: &str, creds: (&str, &str), scope: &str) -> (u16, String) {
    let Ok(resp) = t
        .http
        .get(format!("{registryo}/token"))
        .query(&[("service", "registryo"), ("scope", scope)])
        .basic_auth(creds.0, Some(creds.1))
        .send()
        .await
    else {
        return (0, String::new());
    };
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    (
        status,
        body["token"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The status of [`token_at`].
async fn token_status(t: &T, registryo: &str, creds: (&str, &str), scope: &str) -> u16 {
    token_at(t, registryo, creds, scope).await.0
}

/// The certificate of the key that signed a token from `registryo` (its `x5c` header).
async fn signing_certificate(t: &T, registryo: &str, creds: (&str, &str)) -> String {
    let (status, token) = token_at(t, registryo, creds, "repository:a/b:pull").await;
    assert_eq!(status, 200, "a token from {registryo}");
    let header = registryo_core::testing::jwt::header(&token);
    header["x5c"][0].as_str().unwrap_or_default().to_owned()
}

/// Waits until the registry at `host` answers `/v2/` with 401 (up, token auth on).
async fn registry_up(t: &T, host: &str) {
    until(
        &format!("the registry at {host} answering 401"),
        150,
        Duration::from_millis(200),
        || async {
            let r = t.http.get(format!("http://{host}/v2/")).send().await;
            r.is_ok_and(|r| r.status() == 401)
        },
    )
    .await
}

/// `docker import` of this test's rootfs as `image`, push, remove, pull: with login `cfg`.
fn push_and_pull(t: &T, cfg: &str, image: &str) {
    t.docker_import(cfg, image);
    t.docker(cfg, &["push", image], None).ok();
    t.docker(cfg, &["rmi", image], None).ok();
    t.docker(cfg, &["pull", image], None).ok();
}

/// The registryo image: non-root, healthy by its HEALTHCHECK, configured by the environment;
/// a registry (the registry image) configured by `registry-config --output` run from it; a
/// user made with the CLI inside the container logs in, pushes and pulls; SIGTERM stops it at
/// once with status 0; a new container on the same volume has every account, key and login.
#[tokio::test]
#[ignore = "needs the real registry and clients: run ./scripts/test"]
async fn the_image_serves_as_non_root_keeps_its_volume_and_stops_on_sigterm() {
    images();
    let t = T::new("image");
    let mut d = Docker::new(&t);
    assert_eq!(
        d.inspect(
            IMAGE,
            "{{.Config.User}} {{.Config.StopSignal}} {{json .Config.Healthcheck.Test}} {{json .Config.Volumes}}"
        ),
        r#"10001:10001 SIGTERM ["CMD","/usr/local/bin/registryo","healthcheck"] {"/data":{}}"#,
        "the image's user, stop signal, health check and volume"
    );
    let (data, public, storage) = (d.volume("data"), d.volume("public"), d.volume("storage"));
    let (port, registry_port) = (free_port(), free_port());
    let url = format!("http://127.0.0.1:{port}");
    let registry = format!("127.0.0.1:{registry_port}");
    let admin_password = format!("{}-admin-password", t.prefix);
    let volumes = [
        "-v".to_owned(),
        format!("{data}:/data"),
        "-v".to_owned(),
        format!("{public}:/data-public"),
    ];
    let serve = |d: &mut Docker, name: &str, admin_password: &str| {
        let env = [
            format!("REGISTRYO_LISTEN=127.0.0.1:{port}"),
            format!("REGISTRYO_PUBLIC_URL={url}"),
            format!("REGISTRYO_ADMIN_PASSWORD={admin_password}"),
        ];
        let mut args = vec!["--health-interval", "1s"];
        for e in &env {
            args.extend(["-e", e]);
        }
        args.extend(volumes.iter().map(String::as_str));
        args.push(IMAGE);
        d.start(name, &args)
    };

    let first = serve(&mut d, "first", &admin_password);
    d.healthy(&first).await;
    let pid = d.inspect(&first, "{{.State.Pid}}");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uid.split_whitespace().collect::<Vec<_>>(),
        ["Uid:", "10001", "10001", "10001", "10001"],
        "registryo serve in the container runs as uid 10001"
    );
    let check = d
        .run(&["exec", &first, "registryo", "healthcheck"], None)
        .ok();
    assert_eq!(check.stdout.trim(), "ok");

    // The registry, configured by the image's registry-config, reading the bundle it wrote.
    let mut args = vec!["run", "--rm", "--network", "host"];
    args.extend(volumes.iter().map(String::as_str));
    let realm = format!("{url}/token");
    let addr = registry.clone();
    args.extend([IMAGE, "registry-config", "--realm", &realm, "--addr", &addr]);
    args.extend(["--storage", "/var/lib/registry"]);
    args.extend(["--output", "/data-public/config.yml"]);
    let wrote = d.run(&args, None).ok();
    assert!(
        wrote
            .stderr
            .contains("wrote the registry config /data-public/config.yml (mode 0644"),
        "{}",
        wrote.describe()
    );
    let (storage_mount, public_mount) = (
        format!("{storage}:/var/lib/registry"),
        format!("{public}:/data-public:ro"),
    );
    d.start(
        "registry",
        &[
            "-v",
            &storage_mount,
            "-v",
            &public_mount,
            REGISTRY_IMAGE,
            "/data-public/config.yml",
        ],
    );
    registry_up(&t, &registry).await;

    // A user and a rule made with the CLI in the container, then docker through it all.
    let (alice, alice_pw) = (format!("{}-alice", t.prefix), "alice-password-1");
    let add = ["exec", "-i", &first, "registryo", "user", "add", &alice];
    let mut add = add.to_vec();
    add.push("--password-stdin");
    d.run(&add, Some(alice_pw)).ok();
    let (subject, pattern) = (format!("user:{alice}"), format!("{alice}/**"));
    let rule = [
        "exec",
        &first,
        "registryo",
        "acl",
        "add",
        &subject,
        &pattern,
    ];
    let mut rule = rule.to_vec();
    rule.push("pull,push");
    d.run(&rule, None).ok();
    let scope = format!("repository:{alice}/app:pull,push");
    until(
        "the rule applying",
        50,
        Duration::from_millis(200),
        || async {
            // A 200 carries a token in any case: the rule applies when it grants both.
            let (_, token) = token_at(&t, &url, (&alice, alice_pw), &scope).await;
            let granted = if token.is_empty() {
                Value::Null
            } else {
                claims(&token)["access"][0]["actions"].clone()
            };
            let mut granted: Vec<&str> = granted
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            granted.sort_unstable();
            granted == ["pull", "push"]
        },
    )
    .await;
    t.docker(
        "alice",
        &["login", "-u", &alice, "--password-stdin", &registry],
        Some(alice_pw),
    )
    .ok();
    push_and_pull(&t, "alice", &format!("{registry}/{alice}/app:1"));

    // SIGTERM (the image's STOPSIGNAL): exits 0 well within shutdown_grace_secs (10 s); a
    // SIGKILL would come only after -t 30 and show as 137.
    let started = Instant::now();
    d.run(&["stop", "-t", "30", &first], None).ok();
    let took = started.elapsed();
    assert_eq!(d.inspect(&first, "{{.State.ExitCode}}"), "0");
    assert!(took < Duration::from_secs(10), "docker stop took {took:?}");
    let logs = d.run(&["logs", &first], None).ok();
    assert!(
        logs.stdout.contains("stopped") && !logs.stderr.contains("panicked"),
        "{}",
        logs.describe()
    );

    // A new container on the same volumes, told another admin password: the store is kept,
    // so the old one still works, the new one does not (no second admin was made), the
    // registry (not restarted) trusts its keys, alice's docker login (a refresh token) pushes
    // and pulls, and a fresh login works.
    d.run(&["rm", &first], None).ok();
    d.containers.retain(|c| *c != first);
    let second = serve(&mut d, "second", "another-admin-password");
    d.healthy(&second).await;
    let any = "repository:nothing/here:pull";
    assert_eq!(
        token_status(&t, &url, ("admin", &admin_password), any).await,
        200
    );
    assert_eq!(
        token_status(&t, &url, ("admin", "another-admin-password"), any).await,
        401
    );
    push_and_pull(&t, "alice", &format!("{registry}/{alice}/app:2"));
    t.docker(
        "fresh",
        &["login", "-u", &alice, "--password-stdin", &registry],
        Some(alice_pw),
    )
    .ok();
    t.docker(
        "fresh",
        &["pull", &format!("{registry}/{alice}/app:1")],
        None,
    )
    .ok();
}

/// `docker-compose` (Debian's, v1) on the repository's compose.yaml with `env`, in the
/// test's docker config; project `project`.
fn compose(t: &T, project: &str, env_vars: &[(&str, String)], args: &[&str]) -> Out {
    let mut cmd = Command::new("docker-compose");
    cmd.current_dir(repo())
        .env("DOCKER_HOST", env().get("DOCKER_HOST"))
        .env("DOCKER_CONFIG", t.dir.path().join("docker-d"))
        .envs(env_vars.iter().map(|(k, v)| (k, v)))
        .args(["--project-name", project, "--file", "compose.yaml"])
        .args(args);
    run(cmd, None)
}

/// `docker-compose down -v` when the test ends, also when it fails.
struct Stack<'t> {
    t: &'t T,
    project: String,
    env: Vec<(&'static str, String)>,
}

impl Drop for Stack<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let logs = compose(self.t, &self.project, &self.env, &["logs", "--no-color"]);
            eprintln!("--- the stack's logs ---\n{}", logs.stdout);
        }
        let down = compose(self.t, &self.project, &self.env, &["down", "-v"]);
        assert!(
            down.success() || std::thread::panicking(),
            "{}",
            down.describe()
        );
    }
}

/// compose.yaml on distribution 2.8 (the default): `docker-compose config` validates it (and
/// its postgres profile), and the stack comes up from the local images as written.
#[tokio::test]
#[ignore = "needs the real registry and clients: run ./scripts/test"]
async fn compose_yaml_validates_and_its_stack_pushes_and_pulls_on_2_8() {
    compose_stack("compose2", "2", REGISTRY_IMAGE).await
}

/// compose.yaml with `REGISTRY_VERSION=3` (`registry-config --registry-version 3`) and a v3
/// registry image.
#[tokio::test]
#[ignore = "needs the real registry and clients: run ./scripts/test"]
async fn compose_yaml_runs_distribution_v3() {
    compose_stack("compose3", "3", REGISTRY_V3_IMAGE).await
}

/// The stack as written, with the registry of `version` in `registry_image`: registryo healthy,
/// the registry configured by `registry-config` with the bundle shared through the volume;
/// docker logs in as the first admin with the password from `docker-compose logs registryo`
/// (the README's quick start) and pushes and pulls; a key rotation from inside registryo is
/// checked with the registry by its service name, and pushes go on with the new key.
async fn compose_stack(short: &str, version: &str, registry_image: &str) {
    images();
    let t = T::new(short);
    let (port, registry_port) = (free_port(), free_port());
    let url = format!("http://127.0.0.1:{port}");
    let registry = format!("127.0.0.1:{registry_port}");
    let stack = Stack {
        t: &t,
        project: t.prefix.clone(),
        env: vec![
            ("REGISTRYO_IMAGE", IMAGE.to_owned()),
            ("REGISTRY_IMAGE", registry_image.to_owned()),
            ("REGISTRY_VERSION", version.to_owned()),
            ("REGISTRYO_PORT", port.to_string()),
            ("REGISTRY_PORT", registry_port.to_string()),
            ("REGISTRYO_PUBLIC_URL", url.clone()),
        ],
    };
    let compose = |args: &[&str]| compose(&t, &stack.project, &stack.env, args);

    compose(&["config", "--quiet"]).ok();
    let services = compose(&["--profile", "postgres", "config", "--services"]).ok();
    let mut services: Vec<&str> = services.stdout.lines().collect();
    services.sort_unstable();
    assert_eq!(
        services,
        ["postgres", "registry", "registry-config", "registryo"]
    );

    // `up -d` returns once registryo is healthy, registry-config has written the registry's
    // config and the registry is started.
    compose(&["up", "--detach", "--no-build"]).ok();
    let ps = compose(&["ps"]).ok();
    assert!(
        ps.stdout.contains("(healthy)") && ps.stdout.contains("Exit 0"),
        "registryo healthy, registry-config done: {}",
        ps.describe()
    );
    registry_up(&t, &registry).await;
    let config = compose(&["logs", "--no-color", "registry-config"]).ok();
    assert!(
        config
            .stdout
            .contains("wrote the registry config /data-public/config.yml"),
        "{}",
        config.describe()
    );
    let logs = compose(&["logs", "--no-color", "registryo"]).ok();
    let admin_password = logs
        .stdout
        .lines()
        .find_map(|l| {
            l.split_once("  password: ")
                .map(|(_, p)| p.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no first admin's password in {}", logs.describe()));
    let admin = ("admin", admin_password.as_str());
    assert_eq!(
        token_status(&t, &url, admin, "repository:a/b:pull").await,
        200
    );

    t.docker(
        "admin",
        &["login", "-u", "admin", "--password-stdin", &registry],
        Some(&admin_password),
    )
    .ok();
    push_and_pull(&t, "admin", &format!("{registry}/{}/app:1", t.prefix));

    let before = signing_certificate(&t, &url, admin).await;
    let rotate = compose(&["exec", "-T", "registryo", "registryo", "keys", "rotate"]).ok();
    assert!(
        rotate
            .stdout
            .contains("the registry at http://registry:5000 trusts it"),
        "{}",
        rotate.describe()
    );
    // The new key signs within 5 s; the registry trusts it through the CA in its bundle.
    until(
        "the new key signing",
        50,
        Duration::from_millis(200),
        || async { signing_certificate(&t, &url, admin).await != before },
    )
    .await;
    push_and_pull(&t, "admin", &format!("{registry}/{}/app:2", t.prefix));
    drop(stack);
}
