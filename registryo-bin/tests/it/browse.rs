//! Registry browsing in the UI, through `router(state)` with `oneshot`, against the real
//! registry: Debian's `docker-registry` (distribution 2.8), started here on 127.0.0.1 with
//! token auth trusting the test's signing key. A fresh SQLite store per test.
//!
//! Needs `docker-registry` on the PATH (`scripts/e2e/install`); fails, never skips, without it.

use registryo_core::storage::prelude::*;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode, header};
use registryo_core::app::accounts::{Accounts, hash_password_blocking};
use registryo_core::app::keys::SharedKeys;
use registryo_core::client::{
    DOCKER_LAYER_GZIP, DOCKER_MANIFEST_V2, Descriptor, Digest, OCI_INDEX, OCI_LAYER_GZIP,
    OCI_MANIFEST, Platform, RegistryAuth, RegistryClient, ReqwestTransport, SelfSignedTokens,
};
use registryo_core::scope::RepositoryName;
use registryo_core::service::TokenConfig;
use registryo_core::testing::{self, RegistryConfig, TestRegistry, free_port};
use registryo_http::app::{AppState, router};
use registryo_http::ui::browse::RegistryOptions;
use registryo_store::{AuditQuery, NewAclRule, NewUser, Store, UserKind};
use serde_json::json;
use tower::ServiceExt;

use crate::support::oneshot::{self, Browser, Oneshot, Resp, signing_keys};
use crate::support::sqlite_store;

const ISSUER: &str = "registryo";
const SERVICE: &str = "registryo-test";
const PW: &str = "a-good-password-1";

// --- the app -----------------------------------------------------------------------------------

type Pusher = RegistryClient<RegistryAuth<ReqwestTransport, SelfSignedTokens>>;

struct T {
    app: Router,
    store: Store,
    accounts: Accounts,
    pusher: Pusher,
    _registry: Option<TestRegistry>,
    _dir: tempfile::TempDir,
}

/// The app over `store`, signing with `keys`, browsing the registry at `url` with these
/// options (a client with the same keys pushes to it); `registry` lives as long as the app.
async fn browsing(
    (dir, store): (tempfile::TempDir, Store),
    keys: Arc<SharedKeys>,
    url: &str,
    options: RegistryOptions,
    registry: Option<TestRegistry>,
) -> T {
    let accounts = oneshot::accounts(&store).await;
    let pusher =
        RegistryClient::connect(url, SelfSignedTokens::new(keys.current(), ISSUER, SERVICE))
            .unwrap();
    let state = AppState::new(accounts.clone(), keys, TokenConfig::new(ISSUER, SERVICE))
        .with_registry_options(url, ISSUER, SERVICE, options)
        .unwrap();
    T {
        app: router(state),
        store,
        accounts,
        pusher,
        _registry: registry,
        _dir: dir,
    }
}

/// Users `admin` (admin), `alice`, `bob`, `carol` (all with e-mails); group `devs` = bob; the
/// real registry, trusting the app's key.
async fn setup() -> T {
    let (dir, store) = sqlite_store().await;
    let hash = hash_password_blocking(PW).unwrap();
    for (name, admin) in [
        ("admin", true),
        ("alice", false),
        ("bob", false),
        ("carol", false),
    ] {
        store
            .create_user(
                &NewUser::new(name.parse().unwrap(), UserKind::Human)
                    .password_hash(hash.clone())
                    .admin(admin)
                    .email(format!("{name}@mail.example")),
                &|_| Vec::new(),
            )
            .await
            .unwrap();
    }
    let devs = store
        .create_group(&"devs".parse().unwrap(), &|_| Vec::new())
        .await
        .unwrap();
    let bob = store.get_user_by_name("bob").await.unwrap();
    store
        .add_group_member(devs.id, bob.id, &|_| Vec::new())
        .await
        .unwrap();
    let keys = signing_keys(ISSUER);
    let registry = TestRegistry::start(RegistryConfig {
        bundle_pem: &keys.current().cert_bundle_pem(),
        issuer: ISSUER,
        service: SERVICE,
        delete_enabled: true,
    })
    .await;
    let url = registry.url().to_owned();
    browsing(
        (dir, store),
        keys,
        &url,
        RegistryOptions::default(),
        Some(registry),
    )
    .await
}

/// The app browsing `url` with these registry options; one user, `admin`.
async fn setup_with(url: &str, options: RegistryOptions) -> T {
    let (dir, store) = sqlite_store().await;
    let hash = hash_password_blocking(PW).unwrap();
    store
        .create_user(
            &NewUser::new("admin".parse().unwrap(), UserKind::Human)
                .password_hash(hash)
                .admin(true),
            &|_| Vec::new(),
        )
        .await
        .unwrap();
    browsing((dir, store), signing_keys(ISSUER), url, options, None).await
}

fn name(s: &str) -> RepositoryName {
    s.parse().unwrap()
}

impl Oneshot for T {
    fn router(&self) -> &Router {
        &self.app
    }
}

impl T {
    async fn rule(&self, subject: &str, pattern: &str, actions: &str) {
        self.store
            .add_acl_rule(
                &NewAclRule {
                    subject: subject.to_owned(),
                    pattern: pattern.to_owned(),
                    actions: actions.to_owned(),
                    created_by: Some("test".to_owned()),
                },
                &|_| Vec::new(),
            )
            .await
            .unwrap();
        self.accounts.reload(true).await.unwrap();
    }

    /// Pushes a one-layer image (OCI or Docker schema 2) whose config is `config`; returns the
    /// manifest's descriptor.
    async fn push_image(&self, repo: &str, tag: &str, docker: bool, config: Bytes) -> Descriptor {
        let layer = Bytes::from(vec![7u8; 3000]);
        let (manifest, _) =
            testing::push_image(&self.pusher, &name(repo), tag, docker, layer, config, None).await;
        manifest
    }
}

fn config(arch: &str, label: &str, env: &str, history: &str) -> Bytes {
    Bytes::from(
        serde_json::to_vec(&json!({
            "created": "2024-05-01T12:00:00Z",
            "architecture": arch, "os": "linux",
            "config": {"Env": ["PATH=/usr/bin", env], "Labels": {"evil": label, "team": "platform"}, "Cmd": ["/app"]},
            "rootfs": {"type": "layers", "diff_ids": [Digest::sha256(b"tar").to_string()]},
            "history": [
                {"created": "2024-05-01T12:00:00Z", "created_by": history},
                {"created": "2024-05-01T12:00:01Z", "created_by": "LABEL team=platform", "empty_layer": true}
            ]
        }))
        .unwrap(),
    )
}

fn plain_config() -> Bytes {
    config("amd64", "x", "A=b", "ADD rootfs.tar /")
}

// --- the tests ---------------------------------------------------------------------------------

#[tokio::test]
async fn repositories_are_filtered_by_the_acl_searched_and_paginated() {
    let t = setup().await;
    for i in 0..55 {
        t.push_image(&format!("pub/p{i:02}"), "1", false, plain_config())
            .await;
    }
    for repo in ["team/app", "alice/own", "secret/x"] {
        t.push_image(repo, "1", false, plain_config()).await;
    }
    t.rule("user:alice", "team/*", "pull").await;
    t.rule("authenticated", "pub/**", "pull").await;
    t.rule("authenticated", "${account}/**", "*").await;

    // Anonymous: sign in first.
    let r = t.get("/registry", None).await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/signin"));

    // The admin sees all 58, 50 a page.
    let admin = t.signin("admin", PW).await;
    let r = t.get("/registry", Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("1–50 of 58"), "{}", r.body);
    assert!(r.body.contains("/registry/r/alice/own"));
    let r = t.get("/registry?page=2", Some(&admin)).await;
    assert!(r.body.contains("51–58 of 58"));
    assert!(r.body.contains("/registry/r/secret/x"));

    // Alice: pub/** (55), team/app, alice/own; never secret/x, whose pages are 404 for her.
    let alice = t.signin("alice", PW).await;
    let r = t.get("/registry?page=2", Some(&alice)).await;
    assert!(r.body.contains("51–57 of 57"), "{}", r.body);
    assert!(r.body.contains("/registry/r/team/app"));
    let first = t.get("/registry", Some(&alice)).await;
    assert!(first.body.contains("/registry/r/alice/own"));
    assert!(!r.body.contains("secret/x"));
    assert_eq!(
        t.get("/registry/r/secret/x", Some(&alice)).await.status,
        StatusCode::NOT_FOUND
    );
    // Search: a case-insensitive substring; the pager keeps it.
    let r = t.get("/registry?q=TEAM", Some(&alice)).await;
    assert!(r.body.contains("1–1 of 1") && r.body.contains("team/app"));
    let r = t.get("/registry?q=p0", Some(&alice)).await;
    assert!(r.body.contains("1–10 of 10"));
    let r = t.get("/registry?q=secret", Some(&alice)).await;
    assert!(r.body.contains("No repository matches"));
    let r = t.get("/registry?q=p", Some(&alice)).await;
    assert!(
        r.body.contains("href=\"/registry?q=p&#38;page=2\""),
        "{}",
        r.body
    );

    // Bob sees pub/** only.
    let bob = t.signin("bob", PW).await;
    let r = t.get("/registry", Some(&bob)).await;
    assert!(r.body.contains("1–50 of 55"));
    assert!(!r.body.contains("team/app") && !r.body.contains("alice/own"));
}

#[tokio::test]
async fn repository_page_lists_tags_and_who_may_do_what() {
    let t = setup().await;
    let d = t
        .push_image("team/app", "t000", false, plain_config())
        .await;
    let repo = name("team/app");
    let manifest = t.pusher.manifest(&repo, "t000").await.unwrap();
    for i in 1..150 {
        t.pusher
            .push_manifest(
                &repo,
                &format!("t{i:03}"),
                OCI_MANIFEST,
                manifest.raw.clone(),
            )
            .await
            .unwrap();
    }
    assert_eq!(manifest.digest, d.digest);
    t.rule("user:alice", "team/app", "pull").await;
    t.rule("group:devs", "team/*", "pull,push").await;
    t.rule("anonymous", "team/**", "pull").await;
    t.rule("authenticated", "team/app", "pull").await;
    t.rule("authenticated", "${account}/**", "*").await;
    t.rule("user:carol", "other/*", "delete").await;
    t.push_image("carol/tools", "1", false, plain_config())
        .await;

    let alice = t.signin("alice", PW).await;
    let r = t.get("/registry/r/team/app", Some(&alice)).await;
    assert_eq!(r.status, StatusCode::OK);
    let b = &r.body;
    assert!(b.contains("all administrators"));
    assert!(b.contains("#1 user:alice team/app pull"), "{b}");
    assert!(b.contains("#2 group:devs team/* pull,push"));
    assert!(b.contains("everyone, signed in or not") && b.contains("#3 anonymous team/** pull"));
    assert!(b.contains("every signed-in user") && b.contains("#4 authenticated team/app pull"));
    assert!(
        !b.contains("other/*"),
        "a rule that does not match is not listed"
    );
    assert!(!b.contains("@mail.example"), "no e-mails for non-admins");
    assert!(
        !b.contains("/admin/users/"),
        "no admin links for non-admins"
    );
    // 150 tags, 100 a page; alice may not delete.
    assert!(b.contains("1–100 of 150") && b.contains("t099") && !b.contains("t100"));
    assert!(!b.contains("/delete"));
    let r = t.get("/registry/r/team/app?page=2", Some(&alice)).await;
    assert!(
        r.body.contains("101–150 of 150") && r.body.contains("/registry/r/team/app/-/tags/t149")
    );

    // ${account}: carol's namespace names carol, through the authenticated rule.
    let admin = t.signin("admin", PW).await;
    let r = t.get("/registry/r/carol/tools", Some(&admin)).await;
    assert!(
        r.body
            .contains("#5 authenticated ${account}/** pull,push,delete"),
        "{}",
        r.body
    );
    assert!(r.body.contains("${account} is carol"));
    assert!(!r.body.contains("${account} is alice"));
    assert!(
        r.body.contains("/admin/users/"),
        "admins get links to users"
    );
    assert!(!r.body.contains("@mail.example"));
}

#[tokio::test]
async fn tag_pages_show_images_indexes_and_escape_what_the_registry_says() {
    let t = setup().await;
    let xss = config(
        "amd64",
        "<script>alert('label')</script>",
        "EVIL=<img src=x onerror=alert(1)>",
        "/bin/sh -c echo \"<b>history</b>\" && rm -rf /tmp/x",
    );
    let oci = t.push_image("team/oci", "1.0", false, xss.clone()).await;
    t.pusher
        .push_manifest(&name("team/oci"), "same", OCI_MANIFEST, {
            let m = t.pusher.manifest(&name("team/oci"), "1.0").await.unwrap();
            m.raw
        })
        .await
        .unwrap();
    let docker = t
        .push_image("team/docker", "v2", true, plain_config())
        .await;
    // A multi-arch index of amd64 and arm64/v8.
    let mut entries = Vec::new();
    for (arch, variant) in [("amd64", None), ("arm64", Some("v8"))] {
        let mut cfg: serde_json::Value =
            serde_json::from_slice(&config(arch, "m", "M=1", "ADD m /")).unwrap();
        if let Some(v) = variant {
            cfg["variant"] = json!(v);
        }
        let mut d = t
            .push_image(
                "team/multi",
                &format!("tmp-{arch}"),
                false,
                Bytes::from(serde_json::to_vec(&cfg).unwrap()),
            )
            .await;
        d.platform = Some(Platform {
            os: "linux".into(),
            architecture: arch.into(),
            variant: variant.map(Into::into),
            os_version: None,
        });
        entries.push(d);
    }
    let index = Bytes::from(
        serde_json::to_vec(
            &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}),
        )
        .unwrap(),
    );
    t.pusher
        .push_manifest(&name("team/multi"), "latest", OCI_INDEX, index)
        .await
        .unwrap();
    t.rule("authenticated", "team/*", "pull").await;
    let alice = t.signin("alice", PW).await;

    let r = t.get("/registry/r/team/oci/-/tags/1.0", Some(&alice)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let b = &r.body;
    assert!(b.contains(OCI_MANIFEST) && b.contains(oci.digest.as_str()));
    assert!(b.contains("linux/amd64") && b.contains("2024-05-01 12:00:00 UTC"));
    assert!(b.contains("2.9 KiB"), "3000 B of layer + the config: {b}");
    assert!(b.contains(OCI_LAYER_GZIP) && b.contains("team") && b.contains("platform"));
    assert!(b.contains("LABEL team=platform") && b.contains(">empty<"));
    for raw in ["<script>alert(", "<img src=x", "<b>history</b>"] {
        assert!(!b.contains(raw), "{raw} must be escaped");
    }
    assert!(b.contains("&#60;script&#62;alert(") && b.contains("&#60;img src=x"));
    assert!(b.contains("&#60;b&#62;history&#60;/b&#62;"));
    assert!(!b.contains("Delete this tag"), "alice may not delete");

    let r = t
        .get("/registry/r/team/docker/-/tags/v2", Some(&alice))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains(DOCKER_MANIFEST_V2) && r.body.contains(docker.digest.as_str()));
    assert!(r.body.contains(DOCKER_LAYER_GZIP) && r.body.contains("linux/amd64"));

    let r = t
        .get("/registry/r/team/multi/-/tags/latest", Some(&alice))
        .await;
    assert!(r.body.contains(OCI_INDEX) && r.body.contains("linux/arm64/v8"));
    let link = format!("/registry/r/team/multi/-/manifests/{}", entries[1].digest);
    assert!(r.body.contains(&link), "{}", r.body);
    let r = t.get(&link, Some(&alice)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("linux/arm64/v8") && r.body.contains(OCI_LAYER_GZIP));

    // Missing things are 404 pages, odd paths too.
    for path in [
        "/registry/r/team/oci/-/tags/nope",
        "/registry/r/team/none",
        "/registry/r/team/oci/-/tags/%3Cx%3E",
        "/registry/r/team/oci/-/manifests/sha256:00",
    ] {
        let r = t.get(path, Some(&alice)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
    }
}

#[tokio::test]
async fn deleting_a_tag_needs_the_right_and_the_csrf_token_and_names_its_siblings() {
    let t = setup().await;
    let d = t.push_image("team/app", "1.0", false, plain_config()).await;
    let raw = t
        .pusher
        .manifest(&name("team/app"), "1.0")
        .await
        .unwrap()
        .raw;
    for tag in ["latest", "stable"] {
        t.pusher
            .push_manifest(&name("team/app"), tag, OCI_MANIFEST, raw.clone())
            .await
            .unwrap();
    }
    t.push_image("team/app", "other", false, config("arm64", "o", "O=1", "x"))
        .await;
    t.rule("authenticated", "team/*", "pull").await;
    t.rule("user:carol", "team/*", "delete").await;

    // Alice: no button, 403 on the confirmation and the POST; nothing deleted.
    let alice = t.signin("alice", PW).await;
    let path = "/registry/r/team/app/-/tags/latest/delete";
    assert!(
        !t.get("/registry/r/team/app", Some(&alice))
            .await
            .body
            .contains("/delete")
    );
    assert_eq!(
        t.get(path, Some(&alice)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        t.post(path, Some(&alice), &[]).await.status,
        StatusCode::FORBIDDEN
    );

    // Carol: the button, the confirmation naming the other tags on that digest.
    let carol = t.signin("carol", PW).await;
    let page = t.get("/registry/r/team/app", Some(&carol)).await;
    assert!(page.body.contains(path));
    let r = t.get(path, Some(&carol)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains(d.digest.as_str()));
    assert!(r.body.contains("<code>1.0</code>") && r.body.contains("<code>stable</code>"));
    assert!(!r.body.contains("<code>other</code>"));
    // A POST without the CSRF token is refused before anything happens.
    let r = t.post(path, Some(&carol), &[("csrf", "forged")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(t.pusher.tags_all(&name("team/app")).await.unwrap().len(), 4);
    // A stale confirmation (the tag moved) is refused.
    let r = t
        .post(
            path,
            Some(&carol),
            &[("digest", Digest::sha256(b"x").as_str())],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = t
        .post(path, Some(&carol), &[("digest", d.digest.as_str())])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/registry/r/team/app?ok=deleted");
    assert_eq!(
        t.pusher.tags_all(&name("team/app")).await.unwrap(),
        ["other"]
    );
    let events = t
        .store
        .list_audit_events(&AuditQuery {
            action: Some("registry.tag.delete".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor.as_deref(), Some("carol"));
    assert_eq!(events[0].target.as_deref(), Some("team/app:latest"));
    assert!(
        events[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("1.0, latest, stable")
    );
    // Gone: a clear 404.
    assert_eq!(
        t.get("/registry/r/team/app/-/tags/latest", Some(&carol))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

/// Creating an account whose name is the first segment of existing repositories, while an
/// `${account}` rule exists, hands it those repositories: the UI and the API say which and
/// need an explicit confirmation (`force`).
#[tokio::test]
async fn a_new_account_does_not_silently_take_over_a_namespace() {
    let t = setup().await;
    t.rule("authenticated", "${account}/**", "*").await;
    t.push_image("dave/tools", "1", false, plain_config()).await;
    t.push_image("erin/app", "1", false, plain_config()).await;
    let admin = t.signin("admin", PW).await;

    // The UI: the form again, naming the repository, with a "create it anyway" box.
    let form = [("username", "dave"), ("password", "dave-password-1")];
    let r = t.post("/admin/users", Some(&admin), &form).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(
        r.body.contains("dave/tools") && r.body.contains("${account}"),
        "{}",
        r.body
    );
    assert!(r.body.contains("name=\"force\""));
    assert!(
        t.store.get_user_by_name("dave").await.is_err(),
        "not created"
    );
    let mut forced = form.to_vec();
    forced.push(("force", "on"));
    let r = t.post("/admin/users", Some(&admin), &forced).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(t.store.get_user_by_name("dave").await.is_ok());

    // The API: 409 with the message, then `force`.
    let api = |body: serde_json::Value| {
        Request::post("/api/v1/users")
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                header::COOKIE,
                format!("registryo_session={}", admin.cookie),
            )
            .header("x-csrf-token", admin.csrf.clone())
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let r = t
        .send(api(
            json!({"username": "erin", "password": "erin-password-1"}),
        ))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.body.contains("erin/app"), "{}", r.body);
    let r = t
        .send(api(
            json!({"username": "erin", "password": "erin-password-1", "force": true}),
        ))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    // A name that owns no existing repository needs nothing.
    let r = t
        .send(api(
            json!({"username": "frank", "password": "frank-password-1"}),
        ))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

#[tokio::test]
async fn a_registry_that_is_down_is_a_clear_message_not_a_500() {
    let down = format!("http://127.0.0.1:{}", free_port());
    let t = setup_with(&down, RegistryOptions::default()).await;
    let admin = t.signin("admin", PW).await;
    for path in [
        "/registry",
        "/registry/r/team/app",
        "/registry/r/team/app/-/tags/1",
    ] {
        let r = t.get(path, Some(&admin)).await;
        assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{path}");
        assert!(r.body.contains("cannot be reached"), "{path}: {}", r.body);
        assert!(r.body.contains(&down));
    }
}

/// A fake registry on 127.0.0.1 that counts the requests it reads: it answers each with a
/// two-repository catalog (and closes) while `answer` is set, and otherwise never answers.
struct FakeRegistry {
    url: String,
    requests: Arc<std::sync::atomic::AtomicUsize>,
    answer: Arc<std::sync::atomic::AtomicBool>,
}

fn fake_registry(answer: bool) -> FakeRegistry {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let answer = Arc::new(AtomicBool::new(answer));
    let (seen, answering) = (Arc::clone(&requests), Arc::clone(&answer));
    std::thread::spawn(move || {
        let held = Arc::new(std::sync::Mutex::new(Vec::new()));
        for mut stream in listener.incoming().flatten() {
            let (seen, answering, held) =
                (Arc::clone(&seen), Arc::clone(&answering), Arc::clone(&held));
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                seen.fetch_add(1, Ordering::SeqCst);
                if answering.load(Ordering::SeqCst) {
                    let body = r#"{"repositories":["team/app","team/web"]}"#;
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                } else {
                    held.lock().unwrap().push(stream); // open, never answered
                }
            });
        }
    });
    FakeRegistry {
        url,
        requests,
        answer,
    }
}

/// `n` concurrent views of `path`.
async fn concurrent_views(t: &T, b: &Browser, path: &str, n: usize) -> Vec<Resp> {
    let mut views = tokio::task::JoinSet::new();
    for i in 0..n {
        let req = Request::get(path)
            .header(header::ACCEPT, "text/html")
            .header(header::COOKIE, format!("registryo_session={}", b.cookie))
            .body(Body::empty())
            .unwrap();
        let app = t.app.clone();
        views.spawn(async move { (i, Resp::read(app.oneshot(req).await.unwrap()).await) });
    }
    let mut out: Vec<(usize, Resp)> = Vec::new();
    while let Some(done) = views.join_next().await {
        out.push(done.unwrap());
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

#[tokio::test]
async fn a_hanging_registry_holds_each_viewer_one_time_out_with_one_catalog_request() {
    use std::sync::atomic::Ordering;
    let fake = fake_registry(false);
    let options = RegistryOptions {
        timeout: Duration::from_secs(3),
        ..RegistryOptions::default()
    };
    let t = setup_with(&fake.url, options).await;
    let admin = t.signin("admin", PW).await;
    let views = concurrent_views(&t, &admin, "/registry", 4).await;
    for r in &views {
        assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.body);
        assert!(r.body.contains("did not answer in time"), "{}", r.body);
    }
    assert_eq!(
        fake.requests.load(Ordering::SeqCst),
        1,
        "one catalog fetch for every viewer waiting"
    );
}

#[tokio::test]
async fn the_last_catalog_is_served_while_a_refresh_hangs() {
    use std::sync::atomic::Ordering;
    let fake = fake_registry(true);
    // Every view finds the catalog stale and waits 200 ms for a refresh that hangs for as
    // long as the test runs.
    let options = RegistryOptions {
        timeout: Duration::from_secs(60),
        catalog_ttl: Duration::ZERO,
        refresh_wait: Duration::from_millis(200),
    };
    let t = setup_with(&fake.url, options).await;
    let admin = t.signin("admin", PW).await;
    let r = t.get("/registry", Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("/registry/r/team/web"), "{}", r.body);
    assert_eq!(fake.requests.load(Ordering::SeqCst), 1);

    fake.answer.store(false, Ordering::SeqCst);
    for round in 0..2 {
        for r in concurrent_views(&t, &admin, "/registry", 4).await {
            assert_eq!(r.status, StatusCode::OK, "round {round}: {}", r.body);
            assert!(r.body.contains("/registry/r/team/web"), "round {round}");
        }
        let start = Instant::now();
        while fake.requests.load(Ordering::SeqCst) < 2 {
            assert!(start.elapsed() < Duration::from_secs(30), "no refresh");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            fake.requests.load(Ordering::SeqCst),
            2,
            "round {round}: one refresh in flight, shared"
        );
    }
}

/// Issue 4's sizes against the real registry: 5,000 repositories (catalog pages of 1,000,
/// filtered by the ACL, paginated and searched in memory) and 2,000 tags on one repository.
#[tokio::test]
async fn five_thousand_repositories_and_two_thousand_tags() {
    let t = setup().await;
    // One manifest, pushed once; every repository mounts its blobs and gets the manifest.
    let first = t
        .push_image("scale/r0000", "1", false, plain_config())
        .await;
    let manifest = t.pusher.manifest(&name("scale/r0000"), "1").await.unwrap();
    assert_eq!(manifest.digest.to_string(), first.digest.to_string());
    let mut jobs = tokio::task::JoinSet::new();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    for i in 1..5000 {
        tx.send(format!("scale/r{i:04}")).unwrap();
    }
    drop(tx);
    let rx = Arc::new(std::sync::Mutex::new(rx));
    for _ in 0..8 {
        let (p, rx, raw) = (t.pusher.clone(), Arc::clone(&rx), manifest.raw.clone());
        let media_type = manifest.media_type.clone();
        let registryo_core::client::Manifest::Image(image) = manifest.manifest.clone() else {
            panic!("an image manifest")
        };
        jobs.spawn(async move {
            loop {
                let next = rx.lock().unwrap().recv();
                let Ok(repo) = next else { break };
                let repo = name(&repo);
                for blob in std::iter::once(&image.config).chain(&image.layers) {
                    let mounted = p
                        .mount_blob(&repo, &name("scale/r0000"), &blob.digest)
                        .await
                        .unwrap();
                    assert!(mounted, "{repo}: {} not mounted", blob.digest);
                }
                p.push_manifest(&repo, "1", &media_type, raw.clone())
                    .await
                    .unwrap();
            }
        });
    }
    while let Some(done) = jobs.join_next().await {
        done.unwrap();
    }
    // 2,000 tags on one repository.
    for i in 1..2000 {
        t.pusher
            .push_manifest(
                &name("scale/r0000"),
                &format!("t{i:04}"),
                &manifest.media_type,
                manifest.raw.clone(),
            )
            .await
            .unwrap();
    }
    t.rule("authenticated", "scale/r1*", "pull").await;

    let admin = t.signin("admin", PW).await;
    let r = t.get("/registry", Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body.contains("1–50 of 5000"),
        "{}",
        &r.body[..r.body.len().min(3000)]
    );
    let r = t.get("/registry?page=100", Some(&admin)).await;
    assert!(r.body.contains("4951–5000 of 5000") && r.body.contains("scale/r4999"));
    let r = t.get("/registry?q=r42", Some(&admin)).await;
    assert!(
        r.body.contains("1–50 of 100"),
        "{}",
        &r.body[..r.body.len().min(3000)]
    );

    // alice may pull scale/r1000 … scale/r1999 only.
    let alice = t.signin("alice", PW).await;
    let r = t.get("/registry?page=20", Some(&alice)).await;
    assert!(r.body.contains("951–1000 of 1000") && r.body.contains("scale/r1999"));
    assert!(!r.body.contains("scale/r2000"));

    let r = t.get("/registry/r/scale/r0000?page=20", Some(&admin)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body.contains("1901–2000 of 2000"),
        "{}",
        &r.body[..r.body.len().min(3000)]
    );
}
