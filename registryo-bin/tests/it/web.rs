//! The web UI and the admin API, driven through `router(state)` with `oneshot`: a fresh
//! SQLite store per test, no socket.

use registryo_core::storage::prelude::*;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine;
use registryo_core::app::accounts::hash_password_blocking;
use registryo_core::service::TokenConfig;
use registryo_http::app::{AppState, router};
use registryo_store::{AuditQuery, NewUser, Store, UserKind};
use serde_json::{Value, json};

use crate::support::oneshot::{Oneshot, Resp, accounts, signing_keys};
use crate::support::sqlite_store;
use registryo_core::testing::jwt;

mod activity;
mod admin;
mod imports;
mod lists;
mod logins;
mod pages;

const ADMIN_PW: &str = "admin-pass-1";
const ALICE_PW: &str = "alice-pass-1";

struct T {
    app: Router,
    store: Store,
    /// The server's accounts (to write the refresh tokens' uses, as its watcher does).
    accounts: registryo_core::app::accounts::Accounts,
    _dir: tempfile::TempDir,
}

async fn setup() -> T {
    setup_with(registryo_http::session::WebConfig::default()).await
}

/// [`setup`] with these web UI settings.
async fn setup_with(web: registryo_http::session::WebConfig) -> T {
    let (dir, store) = sqlite_store().await;
    for (name, pw, admin) in [("admin", ADMIN_PW, true), ("alice", ALICE_PW, false)] {
        let hash = hash_password_blocking(pw).unwrap();
        store
            .create_user(
                &NewUser::new(name.parse().unwrap(), UserKind::Human)
                    .password_hash(hash)
                    .admin(admin)
                    .email(format!("{name}@example.test")),
                &|_| Vec::new(),
            )
            .await
            .unwrap();
    }
    let accounts = accounts(&store).await;
    let state = AppState::new(
        accounts.clone(),
        signing_keys("test"),
        TokenConfig::new("registryo", "registryo"),
    )
    .with_web_config(web);
    T {
        app: router(state),
        store,
        accounts,
        _dir: dir,
    }
}

impl Oneshot for T {
    fn router(&self) -> &Router {
        &self.app
    }
}

impl T {
    async fn api(
        &self,
        method: Method,
        path: &str,
        auth: Option<(&str, &str)>,
        body: Option<Value>,
    ) -> Resp {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("/api/v1{path}"));
        if let Some((u, p)) = auth {
            let v = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
            req = req.header(header::AUTHORIZATION, format!("Basic {v}"));
        }
        let body = match body {
            Some(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        self.send(req.body(body).unwrap()).await
    }

    async fn admin_api(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        self.api(method, path, Some(("admin", ADMIN_PW)), body)
            .await
    }

    async fn token(&self, user: &str, pw: &str, scope: &str) -> (StatusCode, Value) {
        let v = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"));
        let req = Request::get(format!("/token?service=registryo&scope={scope}"))
            .header(header::AUTHORIZATION, format!("Basic {v}"))
            .body(Body::empty())
            .unwrap();
        let r = self.send(req).await;
        (r.status, r.json())
    }

    async fn user_id(&self, name: &str) -> i64 {
        self.store.get_user_by_name(name).await.unwrap().id
    }
}

/// The claims of the JWT in a /token answer.
fn claims(tok: &Value) -> Value {
    jwt::claims(tok["token"].as_str().unwrap())
}

const ADMIN_PAGES: &[&str] = &[
    "/admin/users",
    "/admin/groups",
    "/admin/rules",
    "/admin/explain",
    "/admin/explain?user=alice&scope=repository:team/app:pull",
    "/admin/audit",
    "/admin/audit?actor=admin&action=ui.signin",
];
const USER_PAGES: &[&str] = &["/", "/profile", "/registry"];

fn urlenc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn refresh_token(t: &T, user: &str, pw: &str) -> String {
    let body = serde_urlencoded::to_string([
        ("grant_type", "password"),
        ("username", user),
        ("password", pw),
        ("service", "registryo"),
        ("client_id", "docker"),
        ("access_type", "offline"),
    ])
    .unwrap();
    let req = Request::post("/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    let r = t.send(req).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.json()["refresh_token"].as_str().unwrap().to_owned()
}

/// A refresh-token grant, as docker makes after `docker login`: the status.
async fn refresh(t: &T, token: &str, client_id: &str) -> StatusCode {
    let body = serde_urlencoded::to_string([
        ("grant_type", "refresh_token"),
        ("refresh_token", token),
        ("service", "registryo"),
        ("client_id", client_id),
        ("scope", "repository:a/b:pull"),
    ])
    .unwrap();
    let req = Request::post("/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    t.send(req).await.status
}
