//! Registry browsing in the UI, through `router(state)` with `oneshot`, against the real
//! registry: Debian's `docker-registry` (distribution 2.8), and for what differs between
//! versions (deleting a tag, `untag`) distribution v3 too, started here on 127.0.0.1 with
//! token auth trusting the test's signing key. A fresh SQLite store per test.
//!
//! Needs `docker-registry` on the PATH (`scripts/e2e/install`) and the v3 binary
//! (`scripts/e2e/distribution-v3`); fails, never skips, without them.

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
    OCI_MANIFEST, Platform, RegistryAuth, RegistryClient, RegistryVersion, ReqwestTransport,
    SelfSignedTokens, VersionSetting,
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

mod pages;
mod registry;
mod untag;

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
/// real registry (distribution 2.8), trusting the app's key.
async fn setup() -> T {
    setup_version(RegistryVersion::V2, RegistryOptions::default()).await
}

/// [`setup`] with a registry of `version`, browsed with `options`.
async fn setup_version(version: RegistryVersion, options: RegistryOptions) -> T {
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
    let registry = TestRegistry::start_version(
        version,
        RegistryConfig {
            bundle_pem: &keys.current().cert_bundle_pem(),
            issuer: ISSUER,
            service: SERVICE,
            delete_enabled: true,
        },
    )
    .await;
    let url = registry.url().to_owned();
    browsing((dir, store), keys, &url, options, Some(registry)).await
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
