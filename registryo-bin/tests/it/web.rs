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

const ADMIN_PW: &str = "admin-pass-1";
const ALICE_PW: &str = "alice-pass-1";

struct T {
    app: Router,
    store: Store,
    _dir: tempfile::TempDir,
}

async fn setup() -> T {
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
    let state = AppState::new(
        accounts(&store).await,
        signing_keys("test"),
        TokenConfig::new("registryo", "registryo"),
    );
    T {
        app: router(state),
        store,
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

#[tokio::test]
async fn anonymous_visitors_are_sent_to_sign_in_and_every_response_has_security_headers() {
    let t = setup().await;
    for path in USER_PAGES
        .iter()
        .chain(ADMIN_PAGES)
        .chain(&["/admin/users/1", "/admin/groups/1"])
    {
        let r = t.get(path, None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.location(), "/signin", "{path}");
    }
    let r = t.get("/signin", None).await;
    assert_eq!(r.status, StatusCode::OK);
    let csp = r.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    assert_eq!(r.headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(r.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(r.headers.contains_key(header::REFERRER_POLICY));
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    assert!(!r.body.contains("<script"), "no script on the page");
    let css_href = r
        .body
        .split("href=\"/static/style.css?v=")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let css = t
        .get(&format!("/static/style.css?v={css_href}"), None)
        .await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(
        css.headers[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert!(
        css.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    // Anonymous POSTs change nothing.
    let r = t
        .post("/admin/groups", None, &[("name", "g"), ("csrf", "x")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(t.store.list_groups().await.unwrap().is_empty());
    // Unknown pages: HTML for browsers, JSON otherwise.
    assert_eq!(t.get("/nope", None).await.status, StatusCode::NOT_FOUND);
    let api = t.api(Method::GET, "/users", None, None).await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_admin_sees_every_page_uncached() {
    let t = setup().await;
    let admin = t.signin("admin", ADMIN_PW).await;
    t.admin_api(Method::POST, "/groups", Some(json!({"name": "devs"})))
        .await;
    let gid = t.store.get_group_by_name("devs").await.unwrap().id;
    let alice = t.user_id("alice").await;
    let extra = [
        format!("/admin/users/{alice}"),
        format!("/admin/users/{alice}/delete"),
        format!("/admin/groups/{gid}"),
        format!("/admin/groups/{gid}/delete"),
    ];
    for path in USER_PAGES
        .iter()
        .chain(ADMIN_PAGES)
        .copied()
        .chain(extra.iter().map(String::as_str))
    {
        let r = t.get(path, Some(&admin)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        assert_eq!(r.headers[header::CACHE_CONTROL], "no-store", "{path}");
        assert!(r.body.contains("Sign out"), "{path}");
    }
    assert_eq!(
        t.get("/admin/users/99999", Some(&admin)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.get("/admin/users/abc", Some(&admin)).await.status,
        StatusCode::NOT_FOUND
    );
    let reg = t.get("/registry", Some(&admin)).await;
    assert!(reg.body.contains("not configured"));
}

#[tokio::test]
async fn a_non_admin_gets_403_on_admin_pages_and_the_api_and_changes_nothing() {
    let t = setup().await;
    let alice = t.signin("alice", ALICE_PW).await;
    for path in USER_PAGES {
        assert_eq!(
            t.get(path, Some(&alice)).await.status,
            StatusCode::OK,
            "{path}"
        );
    }
    for path in ADMIN_PAGES {
        assert_eq!(
            t.get(path, Some(&alice)).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let admin_id = t.user_id("admin").await;
    let posts = [
        ("/admin/groups".to_owned(), vec![("name", "g")]),
        (
            "/admin/users".to_owned(),
            vec![("username", "mallory"), ("password", "longenough1")],
        ),
        (
            "/admin/service-accounts".to_owned(),
            vec![("username", "robot")],
        ),
        (
            "/admin/rules".to_owned(),
            vec![
                ("subject", "user:alice"),
                ("pattern", "**"),
                ("actions", "*"),
            ],
        ),
        (format!("/admin/users/{admin_id}/disable"), vec![]),
        (format!("/admin/users/{admin_id}/delete"), vec![]),
    ];
    for (path, form) in &posts {
        let r = t.post(path, Some(&alice), form).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert!(t.store.list_groups().await.unwrap().is_empty());
    assert!(t.store.list_acl_rules().await.unwrap().is_empty());
    assert_eq!(t.store.list_users().await.unwrap().len(), 2);
    assert!(!t.store.get_user(admin_id).await.unwrap().disabled);
    // The API: by Basic credentials and by session.
    let r = t
        .api(Method::GET, "/users", Some(("alice", ALICE_PW)), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["error"]["status"], 403);
    let req = Request::get("/api/v1/users")
        .header(
            header::COOKIE,
            format!("registryo_session={}", alice.cookie),
        )
        .body(Body::empty())
        .unwrap();
    assert_eq!(t.send(req).await.status, StatusCode::FORBIDDEN);
    // Alice's profile never shows another user's e-mail.
    let p = t.get("/profile", Some(&alice)).await;
    assert!(p.body.contains("alice@example.test") && !p.body.contains("admin@example.test"));
}

#[tokio::test]
async fn forms_without_the_right_csrf_token_are_refused_and_change_nothing() {
    let t = setup().await;
    let admin = t.signin("admin", ADMIN_PW).await;
    for csrf in ["", "wrong", &admin.csrf[..admin.csrf.len() - 1]] {
        let r = t
            .post(
                "/admin/groups",
                Some(&admin),
                &[("name", "g"), ("csrf", csrf)],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(r.body.contains("security token"), "a clear page");
    }
    // No field at all.
    let req = Request::post("/admin/groups")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(
            header::COOKIE,
            format!("registryo_session={}", admin.cookie),
        )
        .body(Body::from("name=g"))
        .unwrap();
    assert_eq!(t.send(req).await.status, StatusCode::FORBIDDEN);
    assert!(t.store.list_groups().await.unwrap().is_empty());
    // Sign-out too.
    let r = t.post("/signout", Some(&admin), &[("csrf", "nope")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        t.get("/", Some(&admin)).await.status,
        StatusCode::OK,
        "still signed in"
    );
    // Another session's token does not fit.
    let other = t.signin("admin", ADMIN_PW).await;
    let r = t
        .post(
            "/admin/groups",
            Some(&admin),
            &[("name", "g"), ("csrf", &other.csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // The sign-in form needs its double-submit cookie.
    let body = serde_urlencoded::to_string([
        ("username", "admin"),
        ("password", ADMIN_PW),
        ("csrf", "forged"),
    ])
    .unwrap();
    let req = Request::post("/signin")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    assert_eq!(t.send(req).await.status, StatusCode::FORBIDDEN);
    // The API by session wants the X-CSRF-Token header on unsafe methods.
    let api = |csrf: Option<&str>| {
        let mut req = Request::post("/api/v1/groups")
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                header::COOKIE,
                format!("registryo_session={}", admin.cookie),
            );
        if let Some(c) = csrf {
            req = req.header("x-csrf-token", c);
        }
        req.body(Body::from(json!({"name": "api-group"}).to_string()))
            .unwrap()
    };
    assert_eq!(t.send(api(None)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(t.send(api(Some("bad"))).await.status, StatusCode::FORBIDDEN);
    assert!(t.store.list_groups().await.unwrap().is_empty());
    assert_eq!(
        t.send(api(Some(&admin.csrf))).await.status,
        StatusCode::CREATED
    );
    // With the right token the form works, and sign-out ends the session.
    let r = t
        .post("/admin/groups", Some(&admin), &[("name", "g")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = t.post("/signout", Some(&admin), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(t.get("/", Some(&admin)).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn user_controlled_text_is_rendered_inert() {
    let t = setup().await;
    let admin = t.signin("admin", ADMIN_PW).await;
    let evil = "<script>alert(1)</script>";
    // Names cannot hold markup at all.
    for (path, body) in [
        (
            "/users",
            json!({"username": evil, "password": "long-enough-1"}),
        ),
        ("/groups", json!({"name": evil})),
    ] {
        let r = t.admin_api(Method::POST, path, Some(body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(r.body.contains("found '<'"), "{}", r.body);
    }
    let who = "evil.user";
    let r = t
        .admin_api(
            Method::POST,
            "/users",
            Some(
                json!({"username": who, "password": "long-enough-1", "first_name": evil,
                        "last_name": "<img src=x onerror=alert(2)>", "email": "<script>@x.test"}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = t
        .admin_api(Method::POST, "/groups", Some(json!({"name": "evil-group"})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let gid = r.json()["id"].as_i64().unwrap();
    let r = t
        .admin_api(
            Method::PUT,
            &format!("/groups/evil-group/members/{who}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = t
        .admin_api(
            Method::POST,
            "/rules",
            Some(json!({"subject": format!("user:{who}"), "pattern": "x/*", "actions": "pull"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let uid = t.user_id(who).await;
    let rejected = t
        .post(
            "/admin/rules",
            Some(&admin),
            &[
                ("subject", "group:x"),
                ("pattern", evil),
                ("actions", "pull"),
            ],
        )
        .await;
    assert_eq!(rejected.status, StatusCode::BAD_REQUEST);
    let explain = format!(
        "/admin/explain?user={}&scope=repository:x/a:pull",
        urlenc(evil)
    );
    let pages = [
        "/admin/users".to_owned(),
        format!("/admin/users/{uid}"),
        format!("/admin/users/{uid}/delete"),
        "/admin/groups".to_owned(),
        format!("/admin/groups/{gid}"),
        "/admin/rules".to_owned(),
        "/admin/audit".to_owned(),
        explain,
    ];
    let mut bodies: Vec<(String, String)> = Vec::new();
    for p in &pages {
        let r = t.get(p, Some(&admin)).await;
        // Explaining for a name no account can have: the form again, saying so.
        let want = if p.starts_with("/admin/explain") {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        };
        assert_eq!(r.status, want, "{p}");
        bodies.push((p.clone(), r.body));
    }
    bodies.push(("rejected rule form".to_owned(), rejected.body));
    // Pages that show the evil text (the person's names, the refused pattern, the name asked
    // for) show it escaped; no page holds it raw.
    let shows_it = |p: &str| {
        p == "/admin/users"
            || p == format!("/admin/users/{uid}")
            || p.starts_with("/admin/explain")
            || p == "rejected rule form"
    };
    for (p, body) in &bodies {
        assert!(!body.contains("<script"), "{p}: raw <script>");
        assert!(!body.contains("<img src=x"), "{p}: raw <img>");
        if shows_it(p) {
            assert!(
                body.contains("&lt;script&gt;") || body.contains("&#60;script&#62;"),
                "{p}: escaped form"
            );
        }
    }
    assert!(
        bodies[1].1.contains("&lt;img src=x onerror=alert(2)&gt;")
            || bodies[1].1.contains("&#60;img")
    );
}

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

#[tokio::test]
async fn a_service_account_cannot_sign_in_to_the_ui_but_gets_tokens() {
    let t = setup().await;
    let r = t
        .admin_api(
            Method::POST,
            "/service-accounts",
            Some(json!({"username": "ci", "expires_at": "2999-01-01"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let secret = r.json()["secret"].as_str().unwrap().to_owned();
    let r = t.try_signin("ci", &secret).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("Invalid username or password."));
    assert!(r.cookie("registryo_session").is_none());
    let (status, _) = t.token("ci", &secret, "repository:x/y:pull").await;
    assert_eq!(status, StatusCode::OK);
    // Rotating the secret: the old one stops, the new one works.
    let r = t
        .admin_api(Method::POST, "/service-accounts/ci/secret", Some(json!({})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let fresh = r.json()["secret"].as_str().unwrap().to_owned();
    assert_eq!(
        t.token("ci", &secret, "repository:x/y:pull").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        t.token("ci", &fresh, "repository:x/y:pull").await.0,
        StatusCode::OK
    );
    // And through the UI: the secret is shown once, on a 201 page.
    let admin = t.signin("admin", ADMIN_PW).await;
    let r = t
        .post(
            "/admin/service-accounts",
            Some(&admin),
            &[("username", "robot"), ("expires", "")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.body.contains("shown <strong>once</strong>"));
    let r = t
        .post(
            "/admin/service-accounts",
            Some(&admin),
            &[("username", "robot2"), ("expires", "2024-02-30")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("must be a date"));
}

#[tokio::test]
async fn a_disabled_users_session_stops_working_at_once() {
    let t = setup().await;
    let alice = t.signin("alice", ALICE_PW).await;
    let admin = t.signin("admin", ADMIN_PW).await;
    let id = t.user_id("alice").await;
    let r = t
        .post(&format!("/admin/users/{id}/disable"), Some(&admin), &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = t.get("/", Some(&alice)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/signin");
    assert_eq!(
        t.token("alice", ALICE_PW, "repository:a/b:pull").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        t.try_signin("alice", ALICE_PW).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The change is audited with the admin as actor.
    let ev = t
        .store
        .list_audit_events(&AuditQuery {
            action: Some("user.disable".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(ev[0].actor.as_deref(), Some("admin"));
    assert_eq!(ev[0].target.as_deref(), Some("alice"));
    // An admin cannot disable themselves.
    let me = t.user_id("admin").await;
    let r = t
        .post(&format!("/admin/users/{me}/disable"), Some(&admin), &[])
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // Enabling brings sign-in back.
    t.post(&format!("/admin/users/{id}/enable"), Some(&admin), &[])
        .await;
    t.signin("alice", ALICE_PW).await;
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_with_a_generic_message() {
    let t = setup().await;
    let unknown = t.try_signin("nobody", "whatever-1").await;
    let wrong = t.try_signin("alice", "wrong-password").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(
        unknown.body.contains("Invalid username or password.")
            && wrong.body.contains("Invalid username or password.")
    );
    // Ten failures per account and address (the default): the right password is refused too,
    // with Retry-After. A repeated wrong password counts once, so the guesses differ.
    for i in 2..=10 {
        let r = t.try_signin("alice", &format!("wrong-password-{i}")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "failure {i}");
    }
    let r = t.try_signin("alice", "wrong-password-11").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "the 11th guess");
    let r = t.try_signin("alice", ALICE_PW).await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the right password is refused too while throttled"
    );
    assert!(r.body.contains("try again in"), "{}", r.body);
    let wait: u64 = r.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=120).contains(&wait), "{wait}");
    assert!(r.cookie("registryo_session").is_none());
    // Another user from the same address is not blocked by alice's count.
    t.signin("admin", ADMIN_PW).await;
}

#[tokio::test]
async fn changing_ones_password_needs_the_current_one_and_the_old_one_then_fails() {
    let t = setup().await;
    let alice = t.signin("alice", ALICE_PW).await;
    assert_eq!(
        t.token("alice", ALICE_PW, "repository:a/b:pull").await.0,
        StatusCode::OK
    );
    let new = "brand-new-pass";
    let r = t
        .post(
            "/profile/password",
            Some(&alice),
            &[("current", "wrong"), ("new", new), ("confirm", new)],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("the current password is wrong"));
    let r = t
        .post(
            "/profile/password",
            Some(&alice),
            &[
                ("current", ALICE_PW),
                ("new", "short"),
                ("confirm", "short"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("at least 8 characters"));
    let r = t
        .post(
            "/profile/password",
            Some(&alice),
            &[
                ("current", ALICE_PW),
                ("new", "alice"),
                ("confirm", "alice"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = t
        .post(
            "/profile/password",
            Some(&alice),
            &[
                ("current", ALICE_PW),
                ("new", new),
                ("confirm", "other-one-1"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        t.token("alice", ALICE_PW, "repository:a/b:pull").await.0,
        StatusCode::OK,
        "unchanged so far"
    );
    let r = t
        .post(
            "/profile/password",
            Some(&alice),
            &[("current", ALICE_PW), ("new", new), ("confirm", new)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        t.token("alice", ALICE_PW, "repository:a/b:pull").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        t.token("alice", new, "repository:a/b:pull").await.0,
        StatusCode::OK
    );
    assert_eq!(
        t.try_signin("alice", ALICE_PW).await.status,
        StatusCode::UNAUTHORIZED
    );
    t.signin("alice", new).await;
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

#[tokio::test]
async fn one_can_revoke_ones_own_docker_logins_and_no_one_elses() {
    let t = setup().await;
    refresh_token(&t, "alice", ALICE_PW).await;
    refresh_token(&t, "admin", ADMIN_PW).await;
    let alice_id = t.user_id("alice").await;
    let admin_id = t.user_id("admin").await;
    let mine = t.store.list_refresh_tokens(alice_id).await.unwrap()[0].id;
    let theirs = t.store.list_refresh_tokens(admin_id).await.unwrap()[0].id;
    let alice = t.signin("alice", ALICE_PW).await;
    let p = t.get("/profile", Some(&alice)).await;
    assert!(p.body.contains("<code>docker</code>"));
    let r = t
        .post(
            &format!("/profile/tokens/{theirs}/revoke"),
            Some(&alice),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(
        t.store.list_refresh_tokens(admin_id).await.unwrap()[0]
            .revoked_at
            .is_none()
    );
    let r = t
        .post(&format!("/profile/tokens/{mine}/revoke"), Some(&alice), &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        t.store.list_refresh_tokens(alice_id).await.unwrap()[0]
            .revoked_at
            .is_some()
    );
    let p = t.get("/profile?ok=revoked", Some(&alice)).await;
    assert!(!p.body.contains("<code>docker</code>"));
    assert!(p.body.contains("The login is revoked."));
}

#[tokio::test]
async fn rules_are_validated_next_to_the_field_and_apply_at_once() {
    let t = setup().await;
    let admin = t.signin("admin", ADMIN_PW).await;
    let r = t
        .post(
            "/admin/rules",
            Some(&admin),
            &[
                ("subject", "robot:x"),
                ("pattern", "a/*"),
                ("actions", "pull"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("class=\"field-error\""));
    assert!(r.body.contains("value=\"robot:x\""), "the input is kept");
    let r = t
        .post(
            "/admin/rules",
            Some(&admin),
            &[
                ("subject", "user:alice"),
                ("pattern", "a/*"),
                ("actions", "fly"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(t.store.list_acl_rules().await.unwrap().is_empty());
    let (_, tok) = t.token("alice", ALICE_PW, "repository:team/app:pull").await;
    assert!(
        claims(&tok)["access"].as_array().is_none_or(Vec::is_empty),
        "{tok}"
    );
    let r = t
        .post(
            "/admin/rules",
            Some(&admin),
            &[
                ("subject", "group:devs"),
                ("pattern", "team/*"),
                ("actions", "pull,push"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    t.post("/admin/groups", Some(&admin), &[("name", "devs")])
        .await;
    let gid = t.store.get_group_by_name("devs").await.unwrap().id;
    let r = t
        .post(
            &format!("/admin/groups/{gid}/members"),
            Some(&admin),
            &[("username", "alice")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = t
        .post(
            &format!("/admin/groups/{gid}/members"),
            Some(&admin),
            &[("username", "ghost")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let (_, tok) = t
        .token("alice", ALICE_PW, "repository:team/app:pull,push")
        .await;
    assert_eq!(
        claims(&tok)["access"][0]["actions"],
        json!(["pull", "push"]),
        "{tok}"
    );
    let ex = t
        .get(
            "/admin/explain?user=alice&scope=repository:team/app:pull",
            Some(&admin),
        )
        .await;
    assert!(ex.body.contains("granted: pull"), "{}", ex.body);
    assert!(ex.body.contains("team/*"));
    let bad = t
        .get("/admin/explain?user=alice&scope=nonsense", Some(&admin))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let rule = t.store.list_acl_rules().await.unwrap()[0].id;
    let r = t
        .post(&format!("/admin/rules/{rule}/delete"), Some(&admin), &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let (_, tok) = t.token("alice", ALICE_PW, "repository:team/app:pull").await;
    assert!(
        claims(&tok)["access"].as_array().is_none_or(Vec::is_empty),
        "{tok}"
    );
    let audit = t.get("/admin/audit?action=acl.add", Some(&admin)).await;
    assert!(audit.body.contains("group:devs team/* pull,push"));
}

#[tokio::test]
async fn admin_ui_user_lifecycle() {
    let t = setup().await;
    let admin = t.signin("admin", ADMIN_PW).await;
    let r = t
        .post(
            "/admin/users",
            Some(&admin),
            &[("username", "bob"), ("password", "bob"), ("email", "x")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = t
        .post(
            "/admin/users",
            Some(&admin),
            &[
                ("username", "bob"),
                ("password", "bob-pass-1"),
                ("first_name", "Bob"),
                ("email", "bob@example.test"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = t
        .post(
            "/admin/users",
            Some(&admin),
            &[("username", "bob"), ("password", "bob-pass-1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let id = t.user_id("bob").await;
    let r = t
        .post(
            &format!("/admin/users/{id}/profile"),
            Some(&admin),
            &[("first_name", "Robert"), ("last_name", "B"), ("email", "")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let bob = t.store.get_user(id).await.unwrap();
    assert_eq!((bob.first_name.as_str(), bob.email), ("Robert", None));
    t.post(&format!("/admin/users/{id}/admin"), Some(&admin), &[])
        .await;
    assert!(t.store.get_user(id).await.unwrap().is_admin);
    t.post(&format!("/admin/users/{id}/unadmin"), Some(&admin), &[])
        .await;
    assert!(!t.store.get_user(id).await.unwrap().is_admin);
    let r = t
        .post(
            &format!("/admin/users/{id}/password"),
            Some(&admin),
            &[("password", "bob-pass-2")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        t.token("bob", "bob-pass-2", "repository:a/b:pull").await.0,
        StatusCode::OK
    );
    let r = t
        .post(
            &format!("/admin/users/{id}/expiry"),
            Some(&admin),
            &[("expires", "2000-01-01")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        t.token("bob", "bob-pass-2", "repository:a/b:pull").await.0,
        StatusCode::UNAUTHORIZED
    );
    let r = t
        .post(&format!("/admin/users/{id}/delete"), Some(&admin), &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(t.store.get_user(id).await.is_err());
}

#[tokio::test]
async fn the_api_answers_with_the_right_status_codes() {
    let t = setup().await;
    assert_eq!(
        t.api(Method::GET, "/users", None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        t.api(Method::GET, "/users", Some(("admin", "wrong")), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let r = t.admin_api(Method::GET, "/users", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["users"].as_array().unwrap().len(), 2);
    let r = t
        .admin_api(
            Method::POST,
            "/users",
            Some(json!({"username": "a b", "password": "long-enough"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"]["field"], "username");
    let r = t
        .admin_api(
            Method::POST,
            "/users",
            Some(json!({"username": "bob", "password": "short"})),
        )
        .await;
    assert_eq!(r.json()["error"]["field"], "password");
    let r = t
        .admin_api(
            Method::POST,
            "/users",
            Some(json!({"username": "alice", "password": "long-enough"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = t
        .admin_api(Method::POST, "/users", Some(json!({"username": 5})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["error"]["message"].is_string());
    let req = Request::post("/api/v1/users")
        .header(
            header::AUTHORIZATION,
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("admin:{ADMIN_PW}"))
            ),
        )
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("username=x&password=long-enough"))
        .unwrap();
    assert_eq!(
        t.send(req).await.status,
        StatusCode::BAD_REQUEST,
        "POST must be JSON"
    );
    assert_eq!(
        t.admin_api(Method::GET, "/users/ghost", None).await.status,
        StatusCode::NOT_FOUND
    );
    let r = t.admin_api(Method::GET, "/users/alice", None).await;
    assert_eq!(r.json()["email"], "alice@example.test");
    let r = t
        .admin_api(
            Method::PATCH,
            "/users/alice",
            Some(json!({"first_name": "Alice", "admin": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["admin"], true);
    let r = t
        .admin_api(
            Method::PATCH,
            "/users/alice",
            Some(json!({"expires_at": "tomorrow"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = t
        .admin_api(
            Method::PATCH,
            "/users/admin",
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = t
        .admin_api(
            Method::PUT,
            "/users/alice/password",
            Some(json!({"password": "alice"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = t
        .admin_api(
            Method::PUT,
            "/users/alice/password",
            Some(json!({"password": "alice-pass-9"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = t
        .admin_api(
            Method::POST,
            "/service-accounts/alice/secret",
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // Groups and members.
    assert_eq!(
        t.admin_api(Method::POST, "/groups", Some(json!({"name": "devs"})))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        t.admin_api(Method::POST, "/groups", Some(json!({"name": "devs"})))
            .await
            .status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        t.admin_api(Method::PUT, "/groups/devs/members/alice", None)
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        t.admin_api(Method::PUT, "/groups/devs/members/alice", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.admin_api(Method::PUT, "/groups/devs/members/ghost", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.admin_api(Method::PUT, "/groups/ghosts/members/alice", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let r = t.admin_api(Method::GET, "/groups/devs", None).await;
    assert_eq!(r.json()["members"], json!(["alice"]));
    // Rules and explain.
    let r = t
        .admin_api(
            Method::POST,
            "/rules",
            Some(json!({"subject": "group:devs", "pattern": "team/**", "actions": "pull"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let rule = r.json()["id"].as_i64().unwrap();
    let r = t
        .admin_api(
            Method::POST,
            "/rules",
            Some(json!({"subject": "group:devs", "pattern": "team/**", "actions": "jump"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"]["field"], "actions");
    let r = t
        .admin_api(
            Method::GET,
            "/explain?user=bob&scope=repository:team/x:pull",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    t.admin_api(Method::PATCH, "/users/alice", Some(json!({"admin": false})))
        .await;
    let r = t
        .admin_api(
            Method::GET,
            "/explain?user=alice&scope=repository:team/x/y:pull,push",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["granted"], "pull");
    assert_eq!(r.json()["rules"][0]["id"], rule);
    let r = t
        .admin_api(Method::GET, "/explain?scope=repository:team/x:pull", None)
        .await;
    assert_eq!(r.json()["principal"], "anonymous");
    assert_eq!(r.json()["granted"], "");
    assert_eq!(
        t.admin_api(Method::DELETE, &format!("/rules/{rule}"), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.admin_api(Method::DELETE, &format!("/rules/{rule}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.admin_api(Method::DELETE, "/rules/abc", None).await.status,
        StatusCode::NOT_FOUND
    );
    // Audit paging.
    let r = t
        .admin_api(Method::GET, "/audit?actor=admin&limit=2", None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let events = r.json()["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 2);
    let next = r.json()["next_before_id"].as_i64().unwrap();
    let r = t
        .admin_api(
            Method::GET,
            &format!("/audit?actor=admin&limit=2&before_id={next}"),
            None,
        )
        .await;
    assert!(r.json()["events"][0]["id"].as_i64().unwrap() < next);
    let r = t
        .admin_api(Method::GET, "/audit?action=group.create", None)
        .await;
    assert_eq!(r.json()["events"][0]["target"], "devs");
    assert_eq!(
        t.admin_api(Method::GET, "/audit?before_id=x", None)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    // Deletions.
    assert_eq!(
        t.admin_api(Method::DELETE, "/groups/devs/members/alice", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.admin_api(Method::DELETE, "/groups/devs/members/alice", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.admin_api(Method::DELETE, "/groups/devs", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.admin_api(Method::DELETE, "/users/admin", None)
            .await
            .status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        t.admin_api(Method::DELETE, "/users/alice", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.admin_api(Method::DELETE, "/users/alice", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.admin_api(Method::GET, "/nothing-here", None).await.status,
        StatusCode::NOT_FOUND
    );
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

/// Admins see each user's docker logins (client, times, address) in the UI and the API, and
/// revoke one or all; a refresh token works only for the client_id it was issued to.
#[tokio::test]
async fn admins_see_and_revoke_docker_logins() {
    let t = setup().await;
    let first = refresh_token(&t, "alice", ALICE_PW).await;
    let second = refresh_token(&t, "alice", ALICE_PW).await;
    assert_eq!(refresh(&t, &first, "docker").await, StatusCode::OK);
    // Another client_id cannot use it.
    assert_eq!(
        refresh(&t, &first, "containerd-client").await,
        StatusCode::UNAUTHORIZED
    );

    let r = t.admin_api(Method::GET, "/users/alice/logins", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let logins = r.json()["logins"].as_array().unwrap().clone();
    assert_eq!(logins.len(), 2);
    assert!(logins.iter().all(|l| l["client_id"] == "docker"));
    assert!(logins[0]["last_used_at"].is_i64(), "the first was used");
    assert!(!r.body.contains(&first) && !r.body.contains(&second));

    let admin = t.signin("admin", ADMIN_PW).await;
    let alice_id = t.user_id("alice").await;
    let page = t
        .get(&format!("/admin/users/{alice_id}"), Some(&admin))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body.matches("<code>docker</code>").count(), 2);
    assert!(page.body.contains("Revoke all"));
    let id = logins[0]["id"].as_i64().unwrap();
    let r = t
        .post(
            &format!("/admin/users/{alice_id}/logins/{id}/revoke"),
            Some(&admin),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        refresh(&t, &first, "docker").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(refresh(&t, &second, "docker").await, StatusCode::OK);
    // Revoking it again, or a login of someone else's through alice's page: 404.
    let r = t
        .post(
            &format!("/admin/users/{alice_id}/logins/{id}/revoke"),
            Some(&admin),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let r = t
        .admin_api(Method::DELETE, "/users/alice/logins", None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["revoked"], 1);
    assert_eq!(
        refresh(&t, &second, "docker").await,
        StatusCode::UNAUTHORIZED
    );
    // Audited, with the admin as actor.
    let ev = t
        .store
        .list_audit_events(&AuditQuery {
            action: Some("token.revoke".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(ev.len(), 2);
    assert!(
        ev.iter()
            .all(|e| e.actor.as_deref() == Some("admin") && e.target.as_deref() == Some("alice"))
    );
}

/// A password change by any path ends the other logins: the session that made it stays, the
/// others end, docker logins are revoked unless the person keeps their own.
#[tokio::test]
async fn a_password_change_ends_the_other_logins() {
    let t = setup().await;
    let here = t.signin("alice", ALICE_PW).await;
    let elsewhere = t.signin("alice", ALICE_PW).await;
    let docker = refresh_token(&t, "alice", ALICE_PW).await;

    // Her own change, without keeping the docker logins.
    let r = t
        .post(
            "/profile/password",
            Some(&here),
            &[
                ("current", ALICE_PW),
                ("new", "second-pass-1"),
                ("confirm", "second-pass-1"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(t.get("/profile", Some(&here)).await.status, StatusCode::OK);
    assert_eq!(
        t.get("/profile", Some(&elsewhere)).await.status,
        StatusCode::SEE_OTHER,
        "the other session ended"
    );
    assert_eq!(
        refresh(&t, &docker, "docker").await,
        StatusCode::UNAUTHORIZED
    );

    // Keeping them, on her own request.
    let docker = refresh_token(&t, "alice", "second-pass-1").await;
    let r = t
        .post(
            "/profile/password",
            Some(&here),
            &[
                ("current", "second-pass-1"),
                ("new", "third-pass-1"),
                ("confirm", "third-pass-1"),
                ("keep_docker", "on"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(refresh(&t, &docker, "docker").await, StatusCode::OK);

    // An admin's change, in the UI: every session and docker login of hers ends.
    let admin = t.signin("admin", ADMIN_PW).await;
    let alice_id = t.user_id("alice").await;
    let r = t
        .post(
            &format!("/admin/users/{alice_id}/password"),
            Some(&admin),
            &[("password", "fourth-pass-1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        t.get("/profile", Some(&here)).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        refresh(&t, &docker, "docker").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        t.get("/", Some(&admin)).await.status,
        StatusCode::OK,
        "the admin's stays"
    );

    // And through the API.
    let s = t.signin("alice", "fourth-pass-1").await;
    let docker = refresh_token(&t, "alice", "fourth-pass-1").await;
    let r = t
        .admin_api(
            Method::PUT,
            "/users/alice/password",
            Some(json!({"password": "fifth-pass-1"})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    assert_eq!(
        t.get("/profile", Some(&s)).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        refresh(&t, &docker, "docker").await,
        StatusCode::UNAUTHORIZED
    );

    // A service account's secret rotation revokes its docker logins too.
    let r = t
        .admin_api(
            Method::POST,
            "/service-accounts",
            Some(json!({"username": "ci"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let secret = r.json()["secret"].as_str().unwrap().to_owned();
    let docker = refresh_token(&t, "ci", &secret).await;
    let r = t
        .admin_api(Method::POST, "/service-accounts/ci/secret", Some(json!({})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        refresh(&t, &docker, "docker").await,
        StatusCode::UNAUTHORIZED
    );
}

/// Disabling an account by any path deletes its sessions: enabling it again revives none.
#[tokio::test]
async fn enabling_never_revives_old_sessions() {
    let t = setup().await;
    let alice = t.signin("alice", ALICE_PW).await;
    let r = t
        .admin_api(
            Method::PATCH,
            "/users/alice",
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = t
        .admin_api(
            Method::PATCH,
            "/users/alice",
            Some(json!({"disabled": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        t.get("/profile", Some(&alice)).await.status,
        StatusCode::SEE_OTHER
    );
    t.signin("alice", ALICE_PW).await;
}

/// A PATCH of a user is checked whole before anything is written: a refused one changes
/// nothing (it used to apply the names, then answer 409), an accepted one applies every part,
/// each audited.
#[tokio::test]
async fn a_refused_user_patch_changes_nothing() {
    let t = setup().await;
    let before = t.admin_api(Method::GET, "/users/admin", None).await.json();
    let r = t
        .admin_api(
            Method::PATCH,
            "/users/admin",
            Some(json!({"first_name": "Changed", "email": "new@example.test", "admin": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let after = t.admin_api(Method::GET, "/users/admin", None).await.json();
    assert_eq!(before, after);

    let before = t.admin_api(Method::GET, "/users/alice", None).await.json();
    for bad in [
        json!({"first_name": "Changed", "disabled": true, "expires_at": "tomorrow"}),
        json!({"last_name": "bell\u{7}", "disabled": true}),
        json!({"email": "no at sign", "admin": true}),
    ] {
        let r = t
            .admin_api(Method::PATCH, "/users/alice", Some(bad.clone()))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.body);
        let after = t.admin_api(Method::GET, "/users/alice", None).await.json();
        assert_eq!(before, after, "{bad}");
    }

    let r = t
        .admin_api(
            Method::PATCH,
            "/users/alice",
            Some(json!({"last_name": "Liddell", "disabled": true, "expires_at": "2099-01-02"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let j = r.json();
    assert_eq!(j["last_name"], "Liddell");
    assert_eq!(j["disabled"], true);
    assert_eq!(j["first_name"], before["first_name"]);
    let audit = t
        .admin_api(Method::GET, "/audit?actor=admin&limit=20", None)
        .await
        .json();
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"] == "alice")
        .filter_map(|e| e["action"].as_str())
        .collect();
    for want in ["user.update", "user.expiry", "user.disable"] {
        assert_eq!(
            actions.iter().filter(|a| **a == want).count(),
            1,
            "{want} in {actions:?}"
        );
    }
}
