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

use serde_json::Value;

use crate::support::binary::registryo;
use crate::support::command::{Out, run};
use crate::support::e2e_env::env;
use crate::support::eventually;
use registryo_core::testing::jwt::claims;

/// Password reset and invitation e-mails (through the SMTP server scripts/test starts).
mod mail;

// --- one test's own world ------------------------------------------------------------------

/// A test's users, repositories and client state, all under a unique prefix.
struct T {
    prefix: String,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl T {
    fn new(short: &str) -> T {
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
        }
    }

    /// `HOST/PREFIX/PATH` (PATH may end with `:tag`).
    fn image(&self, path: &str) -> String {
        format!("{}/{}/{path}", env().host(), self.prefix)
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
            .env("REGISTRYO_DATA", e.get("REGISTRYO_E2E_DATA"))
            .env("REGISTRYO_SERVICE", e.service())
            .env("REGISTRYO_ISSUER", e.get("REGISTRYO_E2E_ISSUER"))
            .env("REGISTRYO_LOG", "warn");
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

    /// What `GET /token` grants for one scope (the token's `access` actions), and the status.
    async fn grant(&self, creds: Option<(&str, &str)>, scope: &str) -> (u16, Vec<String>) {
        let mut req = self
            .http
            .get(format!("{}/token", env().registryo_url()))
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
            &["login", "-u", user, "--password-stdin", env().host()],
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

    fn podman(&self, args: &[&str], stdin: Option<&str>) -> Out {
        let mut cmd = Command::new(env().wrapper("podman"));
        cmd.args(args);
        run(cmd, stdin)
    }

    fn buildah(&self, args: &[&str]) -> Out {
        let mut cmd = Command::new(env().wrapper("buildah"));
        cmd.args(args);
        run(cmd, None)
    }

    fn ctr(&self, args: &[&str]) -> Out {
        let mut cmd = Command::new(env().wrapper("ctr"));
        cmd.args(args);
        run(cmd, None)
    }

    /// The registry's reply to `GET PATH` with a bearer token (or none).
    async fn registry_get(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let mut req = self
            .http
            .get(format!("{}{path}", env().get("E2E_REGISTRY_URL")));
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
            .get(format!("{}/token", env().registryo_url()))
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

/// docker login keeps an identity (refresh) token, not the password, and push and pull then
/// go through `POST /token grant_type=refresh_token`.
#[tokio::test]
#[ignore = "needs the real registry and clients: run ./scripts/test"]
async fn docker_login_stores_an_identity_token_then_pushes_and_pulls() {
    let t = T::new("login");
    let (user, pw) = t.user("alice");
    t.acl(
        &format!("user:{user}"),
        &format!("{}/**", t.prefix),
        "pull,push",
    );
    t.wait_grant(
        Some((&user, &pw)),
        &format!("repository:{}/app:pull,push", t.prefix),
        "pull,push",
    )
    .await;

    t.docker_login("a", &user, &pw).ok();
    let config = std::fs::read_to_string(t.dir.path().join("docker-a/config.json")).unwrap();
    let json: Value = serde_json::from_str(&config).unwrap();
    let entry = &json["auths"][env().host()];
    assert!(
        entry["identitytoken"]
            .as_str()
            .is_some_and(|s| s.len() >= 32),
        "no identitytoken in docker's config.json: {config}"
    );
    // docker keeps the username beside the token, with an empty password.
    let auth = entry["auth"].as_str().unwrap_or_default();
    let decoded = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(auth)
            .unwrap_or_default()
    };
    assert!(
        (auth.is_empty() || decoded == format!("{user}:").as_bytes()) && !config.contains(&pw),
        "docker stored the password: {config}"
    );

    let image = t.image("app:1");
    t.docker_import("a", &image);
    t.docker("a", &["push", &image], None).ok();
    t.docker("a", &["rmi", &image], None).ok();
    t.docker("a", &["pull", &image], None).ok();
}

/// A reader pulls, and docker reports a refused push as "denied".
#[tokio::test]
#[ignore = "needs the real registry and clients: run ./scripts/test"]
async fn a_reader_pulls_and_is_denied_a_push() {
    let t = T::new("reader");
    let (writer, wpw) = t.user("writer");
    let (reader, rpw) = t.user("reader");
    let repo = format!("{}/app", t.prefix);
    t.acl(&format!("user:{writer}"), &repo, "pull,push");
    t.acl(&format!("user:{reader}"), &repo, "pull");
    t.wait_grant(
        Some((&writer, &wpw)),
        &format!("repository:{repo}:pull,push"),
        "pull,push",
    )
    .await;
    t.wait_grant(
        Some((&reader, &rpw)),
        &format!("repository:{repo}:pull"),
        "pull",
    )
    .await;

    let image = t.image("app:1");
    t.docker_import("w", &image);
    t.docker_login("w", &writer, &wpw).ok();
    t.docker("w", &["push", &image], None).ok();
    t.docker("w", &["rmi", &image], None).ok();

    t.docker_login("r", &reader, &rpw).ok();
    t.docker("r", &["pull", &image], None).ok();
    let tag2 = t.image("app:2");
    t.docker("r", &["tag", &image, &tag2], None).ok();
    t.docker("r", &["push", &tag2], None)
        .fails_with("denied: requested access to the resource is denied");
}

/// A wrong password: docker login prints our message.
#[tokio::test]
#[ignore = "needs the real registry and clients: run ./scripts/test"]
async fn docker_login_with_a_wrong_password_shows_our_message() {
    let t = T::new("badpw");
    let (user, _) = t.user("alice");
    t.docker_login("a", &user, "not-the-password")
        .fails_with("invalid username or password");
    t.docker_login("b", &format!("{}-nobody", t.prefix), "whatever-password")
        .fails_with("invalid username or password");
}

/// Anonymous pulls work where an `anonymous` rule allows them, and only there.
#[tokio::test]
#[ignore = "needs the real registry and clients: run ./scripts/test"]
async fn anonymous_pull_only_where_a_rule_allows_it() {
    let t = T::new("anon");
    t.seed("public/app:1");
    t.seed("private/app:1");
    t.acl("anonymous", &format!("{}/public/**", t.prefix), "pull");
    t.wait_grant(
        None,
        &format!("repository:{}/public/app:pull", t.prefix),
        "pull",
    )
    .await;

    let public = format!("docker://{}", t.image("public/app:1"));
    let private = format!("docker://{}", t.image("private/app:1"));
    let out = t.skopeo(&["inspect", "--no-creds", &public]).ok();
    assert!(
        out.stdout.contains("io.registryo.e2e"),
        "{}",
        out.describe()
    );
    t.skopeo(&["inspect", "--no-creds", &private])
        .fails_with("authentication required");
    // Anonymous may not push, even where it may pull.
    t.skopeo(&[
        "copy",
        "--dest-no-creds",
        env().get("E2E_IMAGE_SINGLE"),
        &format!("docker://{}", t.image("public/app:2")),
    ])
    .fails_with("authentication required");

    // docker, never logged in (an empty config folder).
    t.docker("anon", &["pull", &t.image("public/app:1")], None)
        .ok();
    t.docker("anon", &["pull", &t.image("private/app:1")], None)
        .fails_with("denied");
}

/// A login never reduces access: after logging in, docker, podman, skopeo and buildah still
/// pull what anonymous may pull (they send the stored login on every request), and ctr pushes
/// an image built on a public one (its cross-repo mount needs `pull` on the public source).
#[tokio::test]
#[ignore = "needs the real registry and clients: run ./scripts/test"]
async fn a_login_never_reduces_access() {
    let t = T::new("login");
    t.seed("public/base:1");
    let (user, pw) = t.user("alice");
    t.acl("anonymous", &format!("{}/public/**", t.prefix), "pull");
    t.acl(
        &format!("user:{user}"),
        &format!("{}/mine/**", t.prefix),
        "pull,push",
    );
    t.wait_grant(
        Some((&user, &pw)),
        &format!("repository:{}/public/base:pull", t.prefix),
        "pull",
    )
    .await;
    let base = t.image("public/base:1");

    // explain names the anonymous rule for a signed-in user.
    let out = t
        .cli(
            &[
                "acl",
                "explain",
                &user,
                &format!("repository:{}/public/base:pull", t.prefix),
            ],
            None,
        )
        .ok();
    assert!(
        out.stdout.contains("anonymous") && out.stdout.contains("granted: pull"),
        "{}",
        out.describe()
    );

    // docker: login stores a refresh token, the pull then uses it.
    t.docker_login("d", &user, &pw).ok();
    t.docker("d", &["pull", &base], None).ok();

    // podman, skopeo, buildah with the login in their auth file.
    let auth = t.authfile("alice");
    t.podman(
        &[
            "login",
            "--authfile",
            &auth,
            "-u",
            &user,
            "--password-stdin",
            env().host(),
        ],
        Some(&pw),
    )
    .ok();
    t.podman(&["pull", "--authfile", &auth, &base], None).ok();
    t.skopeo(&["inspect", "--authfile", &auth, &format!("docker://{base}")])
        .ok();
    t.buildah(&["pull", "--authfile", &auth, &base]).ok();
    // Still no push where only anonymous pull is allowed.
    t.skopeo(&[
        "copy",
        "--dest-authfile",
        &auth,
        env().get("E2E_IMAGE_SINGLE"),
        &format!("docker://{}", t.image("public/base:2")),
    ])
    .fails_with("denied");

    // ctr: the public base pulled anonymously, then pushed into alice's namespace; the layers
    // are mounted from the public repository with alice's token.
    let mine = t.image("mine/app:1");
    t.ctr(&["images", "pull", "--plain-http", &base]).ok();
    t.ctr(&["images", "tag", &base, &mine]).ok();
    let creds = format!("{user}:{pw}");
    t.ctr(&["images", "push", "--plain-http", "--user", &creds, &mine])
        .ok();
    t.ctr(&["images", "rm", "--sync", &base, &mine]).ok();
    let out = t
        .skopeo(&[
            "inspect",
            "--creds",
            &creds,
            "--format",
            "{{.Digest}}",
            &format!("docker://{mine}"),
        ])
        .ok();
    assert_eq!(
        out.stdout.trim(),
        env().get("E2E_IMAGE_SINGLE_DIGEST"),
        "{}",
        out.describe()
    );
}

/// `${account}/**` for `authenticated`: everyone pushes to their own namespace only.
#[tokio::test]
#[ignore = "needs the real registry and clients: run ./scripts/test"]
async fn account_namespaces_are_their_owners_only() {
    let t = T::new("ns");
    let (alice, apw) = t.user("alice");
    let (bob, bpw) = t.user("bob");
    // Global, but harmless to the other tests: no other test's repository is named after
    // one of its users.
    t.acl("authenticated", "${account}/**", "pull,push");
    t.wait_grant(
        Some((&alice, &apw)),
        &format!("repository:{alice}/app:pull,push"),
        "pull,push",
    )
    .await;

    let host = env().host();
    let own = format!("{host}/{alice}/app:1");
    let other = format!("{host}/{bob}/app:1");
    t.docker_import("a", &own);
    t.docker("a", &["tag", &own, &other], None).ok();
    t.docker_login("a", &alice, &apw).ok();
    t.docker("a", &["push", &own], None).ok();
    t.docker("a", &["push", &other], None).fails_with("denied");

    // Bob, with skopeo: his own namespace yes, Alice's no.
    let auth = t.authfile("bob");
    t.skopeo(&["login", "--authfile", &auth, "-u", &bob, "-p", &bpw, host])
        .ok();
    let src = env().get("E2E_IMAGE_SINGLE");
    t.skopeo(&[
        "copy",
        "--authfile",
        &auth,
        src,
        &format!("docker://{host}/{bob}/app:1"),
    ])
    .ok();
    t.skopeo(&[
        "copy",
        "--authfile",
        &auth,
        src,
        &format!("docker://{host}/{alice}/app:2"),
    ])
    .fails_with("denied: requested access to the resource is denied");
    // Reading someone else's namespace is refused too.
    t.skopeo(&[
        "inspect",
        "--authfile",
        &auth,
        &format!("docker://{host}/{alice}/app:1"),
    ])
    .fails_with("authentication required");
}

/// `skopeo delete` (which asks for `repository:R:*`) works with the delete right only.
#[tokio::test]
#[ignore = "needs the real registry and clients: run ./scripts/test"]
async fn skopeo_delete_needs_the_delete_right() {
    let t = T::new("del");
    t.seed("keep/app:1");
    t.seed("drop/app:1");
    let (user, pw) = t.user("ops");
    t.acl(
        &format!("user:{user}"),
        &format!("{}/**", t.prefix),
        "pull,push",
    );
    t.acl(
        &format!("user:{user}"),
        &format!("{}/drop/*", t.prefix),
        "delete",
    );
    t.wait_grant(
        Some((&user, &pw)),
        &format!("repository:{}/drop/app:*", t.prefix),
        "pull,push,delete",
    )
    .await;

    let auth = t.authfile("ops");
    t.skopeo(&[
        "login",
        "--authfile",
        &auth,
        "-u",
        &user,
        "-p",
        &pw,
        env().host(),
    ])
    .ok();
    let keep = format!("docker://{}", t.image("keep/app:1"));
    let drop = format!("docker://{}", t.image("drop/app:1"));
    t.skopeo(&["delete", "--authfile", &auth, &keep])
        .fails_with("authentication required");
    t.skopeo(&["inspect", "--authfile", &auth, &keep]).ok();
    t.skopeo(&["delete", "--authfile", &auth, &drop]).ok();
    t.skopeo(&["inspect", "--authfile", &auth, &drop])
        .fails_with("manifest unknown");
}

/// docker mounts layers from a repository the user may pull instead of uploading them again.
#[tokio::test]
#[ignore = "needs the real registry and clients: run ./scripts/test"]
async fn docker_push_mounts_layers_from_a_readable_repository() {
    let t = T::new("mount");
    let (owner, opw) = t.user("owner");
    let (user, pw) = t.user("user");
    let src = format!("{}/src", t.prefix);
    let dst = format!("{}/dst", t.prefix);
    t.acl(&format!("user:{owner}"), &src, "pull,push");
    t.acl(&format!("user:{user}"), &src, "pull");
    t.acl(&format!("user:{user}"), &dst, "pull,push");
    t.wait_grant(
        Some((&owner, &opw)),
        &format!("repository:{src}:pull,push"),
        "pull,push",
    )
    .await;
    t.wait_grant(
        Some((&user, &pw)),
        &format!("repository:{dst}:pull,push"),
        "pull,push",
    )
    .await;

    let src_image = t.image("src:1");
    let dst_image = t.image("dst:1");
    t.docker_import("o", &src_image);
    t.docker_login("o", &owner, &opw).ok();
    t.docker("o", &["push", &src_image], None).ok();

    t.docker_login("u", &user, &pw).ok();
    t.docker("u", &["tag", &src_image, &dst_image], None).ok();
    let out = t.docker("u", &["push", &dst_image], None).ok();
    assert!(
        out.stdout.contains(&format!("Mounted from {src}")),
        "the layer was not mounted: {}",
        out.describe()
    );
}

/// `_catalog` (scope `registry:catalog:*`) is for admins only.
#[tokio::test]
#[ignore = "needs the real registry and clients: run ./scripts/test"]
async fn the_catalog_is_for_admins_only() {
    let t = T::new("catalog");
    t.seed("app:1");
    let (user, pw) = t.user("alice");
    t.acl(
        &format!("user:{user}"),
        &format!("{}/**", t.prefix),
        "pull,push",
    );
    t.wait_grant(
        Some((&user, &pw)),
        &format!("repository:{}/app:pull", t.prefix),
        "pull",
    )
    .await;

    let admin = t
        .token(
            Some(("admin", env().admin_password())),
            "registry:catalog:*",
        )
        .await;
    let (status, body) = t.registry_get("/v2/_catalog?n=1000", Some(&admin)).await;
    assert_eq!(status, 200, "{body}");
    let json: Value = serde_json::from_str(&body).unwrap();
    let repos = json["repositories"].as_array().unwrap();
    let want = format!("{}/app", t.prefix);
    assert!(repos.iter().any(|r| r == &want[..]), "{want} not in {body}");

    let token = t.token(Some((&user, &pw)), "registry:catalog:*").await;
    assert_eq!(claims(&token)["access"], serde_json::json!([]));
    let (status, body) = t.registry_get("/v2/_catalog", Some(&token)).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = t.registry_get("/v2/_catalog", None).await;
    assert_eq!(status, 401, "{body}");
}

/// `registryo token revoke` ends docker's login; `registryo user disable` ends pulls.
#[tokio::test]
#[ignore = "needs the real registry and clients: run ./scripts/test"]
async fn revoked_refresh_tokens_and_disabled_users_are_refused() {
    let t = T::new("revoke");
    let (user, pw) = t.user("alice");
    t.acl(
        &format!("user:{user}"),
        &format!("{}/**", t.prefix),
        "pull,push",
    );
    let scope = format!("repository:{}/app:pull,push", t.prefix);
    t.wait_grant(Some((&user, &pw)), &scope, "pull,push").await;

    let image = t.image("app:1");
    t.docker_import("a", &image);
    t.docker_login("a", &user, &pw).ok();
    t.docker("a", &["push", &image], None).ok();

    let out = t.cli(&["token", "revoke", &user], None).ok();
    assert!(
        out.stdout.contains("revoked 1 refresh token"),
        "{}",
        out.describe()
    );
    let image2 = t.image("app:2");
    t.docker("a", &["tag", &image, &image2], None).ok();
    // The refresh token is looked up in the store on each use: no delay.
    t.docker("a", &["push", &image2], None)
        .fails_with("unauthorized");

    // Log in again; pulls work until the user is disabled.
    t.docker_login("a", &user, &pw).ok();
    t.docker("a", &["pull", &image], None).ok();
    let auth = t.authfile("alice");
    t.skopeo(&[
        "login",
        "--authfile",
        &auth,
        "-u",
        &user,
        "-p",
        &pw,
        env().host(),
    ])
    .ok();
    t.skopeo(&["inspect", "--authfile", &auth, &format!("docker://{image}")])
        .ok();

    t.cli(&["user", "disable", &user], None).ok();
    eventually("the disabled user is refused a token", || async {
        t.grant(Some((&user, &pw)), &scope).await.0 == 401
    })
    .await;
    t.docker("a", &["pull", &image], None)
        .fails_with("unauthorized");
    t.skopeo(&["inspect", "--authfile", &auth, &format!("docker://{image}")])
        .fails_with("invalid username or password");
}

/// A password change ends every docker login of the account (docker keeps only its refresh
/// token after `docker login`), and a service account's new secret ends its logins too.
#[tokio::test]
#[ignore = "needs the real registry and clients: run ./scripts/test"]
async fn a_password_change_logs_docker_out() {
    let t = T::new("pwchange");
    let (user, pw) = t.user("alice");
    t.acl(
        &format!("user:{user}"),
        &format!("{}/**", t.prefix),
        "pull,push",
    );
    let scope = format!("repository:{}/app:pull,push", t.prefix);
    t.wait_grant(Some((&user, &pw)), &scope, "pull,push").await;
    let image = t.image("app:1");
    t.docker_import("a", &image);
    t.docker_login("a", &user, &pw).ok();
    t.docker("a", &["push", &image], None).ok();

    t.cli(
        &["user", "passwd", &user, "--password-stdin"],
        Some("a-new-password-1"),
    )
    .ok();
    t.docker("a", &["pull", &image], None)
        .fails_with("unauthorized");
    // The new password logs in again.
    t.docker_login("a", &user, "a-new-password-1").ok();
    t.docker("a", &["pull", &image], None).ok();
}

/// Creating an account whose name is the first segment of existing repositories, while an
/// `${account}` rule exists, would hand it those repositories: the CLI, asking the real
/// registry, names them and needs `--force`.
#[tokio::test]
#[ignore = "needs the real registry and clients: run ./scripts/test"]
async fn a_new_account_needs_force_to_take_an_existing_namespace() {
    let t = T::new("takeover");
    let owner = format!("{}-bob", t.prefix);
    let creds = format!("admin:{}", env().admin_password());
    t.skopeo(&[
        "copy",
        "--dest-creds",
        &creds,
        env().get("E2E_IMAGE_SINGLE"),
        &format!("docker://{}/{owner}/tools:1", env().host()),
    ])
    .ok();
    t.acl("authenticated", "${account}/**", "pull");
    let registry = env().get("E2E_REGISTRY_URL").to_owned();
    let add = |force: bool| {
        let mut args = vec!["user", "add", owner.as_str(), "--password-stdin"];
        if force {
            args.push("--force");
        }
        let mut cmd = t.cli_command(&args);
        cmd.env("REGISTRYO_REGISTRY_URL", &registry);
        run(cmd, Some("bobs-password-1"))
    };
    let out = add(false).fails_with("--force");
    assert!(
        out.stderr.contains(&format!("{owner}/tools")),
        "{}",
        out.describe()
    );
    assert!(!t.cli(&["user", "list"], None).ok().stdout.contains(&owner));
    add(true).ok();
    t.wait_grant(
        Some((&owner, "bobs-password-1")),
        &format!("repository:{owner}/tools:pull"),
        "pull",
    )
    .await;
}

/// A refused token request names its reason in registryo's log (clients show only "400 (Bad
/// Request)"), and never a secret.
#[tokio::test]
#[ignore = "needs the real registry and clients: run ./scripts/test"]
async fn refused_token_requests_name_their_reason_in_the_log() {
    let t = T::new("why400");
    let service = format!("{}-other-service", t.prefix);
    let secret = format!("{}-not-logged", t.prefix);
    let resp = t
        .http
        .get(format!("{}/token", env().registryo_url()))
        .query(&[("service", service.as_str())])
        .basic_auth("admin", Some(&secret))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let log_path = env().get("REGISTRYO_E2E_LOG").to_owned();
    eventually("the reason in the log", || {
        let log_path = log_path.clone();
        let service = service.clone();
        async move {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            log.lines()
                .any(|l| l.contains("token request refused") && l.contains(&service))
        }
    })
    .await;
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(!log.contains(&secret), "a password reached the log");
}

/// podman login, push and pull.
#[tokio::test]
#[ignore = "needs the real registry and clients: run ./scripts/test"]
async fn podman_logs_in_pushes_and_pulls() {
    let t = T::new("podman");
    t.seed("seed:1");
    let (user, pw) = t.user("alice");
    t.acl(
        &format!("user:{user}"),
        &format!("{}/**", t.prefix),
        "pull,push",
    );
    t.wait_grant(
        Some((&user, &pw)),
        &format!("repository:{}/app:pull,push", t.prefix),
        "pull,push",
    )
    .await;

    let auth = t.authfile("alice");
    t.podman(
        &[
            "login",
            "--authfile",
            &auth,
            "-u",
            &user,
            "--password-stdin",
            env().host(),
        ],
        Some(&pw),
    )
    .ok();
    let seed = t.image("seed:1");
    let app = t.image("app:1");
    t.podman(&["pull", "--authfile", &auth, &seed], None).ok();
    t.podman(&["tag", &seed, &app], None).ok();
    t.podman(&["push", "--authfile", &auth, &app], None).ok();
    t.podman(&["rmi", &seed, &app], None).ok();
    t.podman(&["pull", "--authfile", &auth, &app], None).ok();
    let out = t
        .podman(&["image", "inspect", "--format", "{{.Labels}}", &app], None)
        .ok();
    assert!(
        out.stdout.contains("io.registryo.e2e"),
        "{}",
        out.describe()
    );
    t.podman(&["rmi", &app], None).ok();
    // A wrong password (podman words the 401 itself).
    t.podman(
        &[
            "login",
            "--authfile",
            &t.authfile("wrong"),
            "-u",
            &user,
            "--password-stdin",
            env().host(),
        ],
        Some("not-the-password"),
    )
    .fails_with("invalid username/password");
}

/// containerd's ctr (POST grant_type=password first) pushes and pulls with `--user U:P`.
#[tokio::test]
#[ignore = "needs the real registry and clients: run ./scripts/test"]
async fn ctr_pushes_and_pulls_with_a_password() {
    let t = T::new("ctr");
    t.seed("seed:1");
    let (user, pw) = t.user("alice");
    t.acl(
        &format!("user:{user}"),
        &format!("{}/**", t.prefix),
        "pull,push",
    );
    t.wait_grant(
        Some((&user, &pw)),
        &format!("repository:{}/app:pull,push", t.prefix),
        "pull,push",
    )
    .await;

    let creds = format!("{user}:{pw}");
    let seed = t.image("seed:1");
    let app = t.image("app:1");
    t.ctr(&["images", "pull", "--plain-http", "--user", &creds, &seed])
        .ok();
    t.ctr(&["images", "tag", &seed, &app]).ok();
    t.ctr(&["images", "push", "--plain-http", "--user", &creds, &app])
        .ok();
    t.ctr(&["images", "rm", "--sync", &seed, &app]).ok();
    t.ctr(&["images", "pull", "--plain-http", "--user", &creds, &app])
        .ok();
    // ctr keeps the manifest bytes: the pushed digest is the layout's.
    let out = t
        .skopeo(&[
            "inspect",
            "--creds",
            &creds,
            "--format",
            "{{.Digest}}",
            &format!("docker://{app}"),
        ])
        .ok();
    assert_eq!(
        out.stdout.trim(),
        env().get("E2E_IMAGE_SINGLE_DIGEST"),
        "{}",
        out.describe()
    );
    t.ctr(&["images", "rm", "--sync", &app]).ok();
    let bad = format!("{user}:not-the-password");
    t.ctr(&["images", "pull", "--plain-http", "--user", &bad, &app])
        .fails_with("401");
}

/// Bad input over HTTP gets a 4xx with a message, never a 500; the server keeps serving.
#[tokio::test]
#[ignore = "needs the real registry and clients: run ./scripts/test"]
async fn bad_requests_get_a_clear_4xx() {
    let t = T::new("bad");
    let url = format!("{}/token", env().registryo_url());
    let service = env().service().to_owned();
    let admin = ("admin", env().admin_password().to_owned());
    let long = "a".repeat(20_000);
    let cases: Vec<(&str, reqwest::RequestBuilder)> = vec![
        (
            "upper-case name",
            t.http.get(&url).query(&[
                ("service", &service[..]),
                ("scope", "repository:Bad/Name:pull"),
            ]),
        ),
        (
            "scope without actions",
            t.http
                .get(&url)
                .query(&[("service", &service[..]), ("scope", "repository:a/b")]),
        ),
        (
            "unknown action",
            t.http
                .get(&url)
                .query(&[("service", &service[..]), ("scope", "repository:a/b:fly")]),
        ),
        (
            "oversized scope",
            t.http.get(&url).query(&[
                ("service", &service[..]),
                ("scope", &format!("repository:{long}:pull")),
            ]),
        ),
        (
            "wrong service",
            t.http.get(&url).query(&[("service", "someone-else")]),
        ),
        (
            "garbage Basic",
            t.http
                .get(&url)
                .query(&[("service", &service[..])])
                .header("authorization", "Basic !!!not-base64"),
        ),
        (
            "unknown user",
            t.http
                .get(&url)
                .query(&[("service", &service[..])])
                .basic_auth(format!("{}-nobody", t.prefix), Some("password123")),
        ),
        (
            "POST unknown grant_type",
            t.http
                .post(&url)
                .form(&[("grant_type", "magic"), ("service", &service[..])]),
        ),
        (
            "POST refresh_token unknown",
            t.http.post(&url).form(&[
                ("grant_type", "refresh_token"),
                ("service", &service[..]),
                ("client_id", "docker"),
                ("refresh_token", "nope"),
            ]),
        ),
        (
            "POST password without username",
            t.http.post(&url).form(&[
                ("grant_type", "password"),
                ("service", &service[..]),
                ("client_id", "e2e"),
                ("password", "x"),
            ]),
        ),
        (
            "POST JSON body",
            t.http
                .post(&url)
                .header("content-type", "application/json")
                .body(r#"{"grant_type":"password"}"#),
        ),
        (
            "POST form not UTF-8",
            t.http
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(b"grant_type=%ff%fe&service=\xff".to_vec()),
        ),
        (
            "POST oversized form",
            t.http.post(&url).form(&[
                ("grant_type", "password"),
                ("service", &service[..]),
                ("username", "admin"),
                ("password", &admin.1[..]),
                ("scope", &"repository:a/b:pull ".repeat(2_000)),
            ]),
        ),
    ];
    for (what, req) in cases {
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        assert!(
            (400..500).contains(&status),
            "{what}: expected a 4xx, got {status}: {body}"
        );
        assert!(
            body.contains("\"message\"") || status == 413 || status == 414 || status == 431,
            "{what}: {status} without a message: {body}"
        );
    }
    // Still serving.
    let (status, got) = t
        .grant(Some(("admin", &admin.1)), "repository:anything/at-all:pull")
        .await;
    assert_eq!((status, got), (200, vec!["pull".to_owned()]));
}
