//! "Forgot password" and invitations through `router(state)` with `oneshot`: a fresh SQLite
//! store per test, e-mail kept in memory ([`MemorySender`]).

use registryo_core::storage::prelude::*;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use registryo_core::app::accounts::{Accounts, hash_password_blocking};
use registryo_core::app::mail::{Email, Mail, MailSender, MailSettings, MemorySender};
use registryo_core::service::TokenConfig;
use registryo_http::app::{AppState, router};
use registryo_store::{AuditQuery, NewRefreshToken, NewSession, NewUser, Store, UserKind};

use crate::support::mail::reset_token;
use crate::support::oneshot::{self, Oneshot, Resp, signing_keys};
use crate::support::sqlite_store;

const ALICE_PW: &str = "alice-pass-1";
const ADMIN_PW: &str = "admin-pass-1";

struct T {
    app: Router,
    store: Store,
    accounts: Accounts,
    sent: Arc<MemorySender>,
    _dir: tempfile::TempDir,
}

/// A store with `admin`, `alice` (e-mail), `robot` (service, e-mail) and `carol` (disabled,
/// e-mail); e-mail configured unless `mail` is `None`.
async fn setup(mail: Option<MailSettings>) -> T {
    let sent = Arc::new(MemorySender::default());
    setup_with(mail, sent.clone(), sent).await
}

/// [`setup`] with mail delivered by `sender`.
async fn setup_with(
    mail: Option<MailSettings>,
    sender: Arc<dyn MailSender>,
    sent: Arc<MemorySender>,
) -> T {
    let (dir, store) = sqlite_store().await;
    for (name, pw, kind, admin) in [
        ("admin", ADMIN_PW, UserKind::Human, true),
        ("alice", ALICE_PW, UserKind::Human, false),
        ("robot", "robot-secret-1", UserKind::Service, false),
        ("carol", "carol-pass-1", UserKind::Human, false),
    ] {
        let hash = hash_password_blocking(pw).unwrap();
        let u = store
            .create_user(
                &NewUser::new(name.parse().unwrap(), kind)
                    .password_hash(hash)
                    .admin(admin)
                    .email(format!("{name}@example.test")),
                &|_| Vec::new(),
            )
            .await
            .unwrap();
        if name == "carol" {
            store
                .set_disabled(u.id, true, &|_| Vec::new())
                .await
                .unwrap();
        }
    }
    let accounts = oneshot::accounts(&store).await;
    let mut state = AppState::new(
        accounts.clone(),
        signing_keys("test"),
        TokenConfig::new("registryo", "registryo"),
    );
    if let Some(settings) = mail {
        state = state.with_mail(Mail::new(settings, sender).unwrap());
    }
    T {
        app: router(state),
        store,
        accounts,
        sent,
        _dir: dir,
    }
}

fn settings() -> MailSettings {
    MailSettings::new(
        "Registryo <registryo@example.test>",
        "http://ro.example.test/",
    )
}

impl Oneshot for T {
    fn router(&self) -> &Router {
        &self.app
    }
}

impl T {
    /// The double-submit token the forms use.
    async fn csrf(&self) -> String {
        let page = self.get("/forgot", None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        page.cookie("registryo_signin").unwrap()
    }

    async fn forgot(&self, login: &str) -> Resp {
        let csrf = self.csrf().await;
        let r = self
            .post_anonymous("/forgot", Some(&csrf), &[("csrf", &csrf), ("login", login)])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r
    }

    /// Wait until `n` messages were sent in all.
    async fn wait_sent(&self, n: usize) -> Vec<Email> {
        for _ in 0..100 {
            let sent = self.sent.sent();
            if sent.len() >= n {
                return sent;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{n} message(s) expected, {} sent", self.sent.sent().len());
    }

    /// Let background tasks finish, then the number of messages sent.
    async fn settled_count(&self) -> usize {
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.sent.sent().len()
    }

    async fn api(&self, method: &str, path: &str, body: serde_json::Value) -> Resp {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("admin:{ADMIN_PW}"));
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Basic {basic}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        self.send(req).await
    }
}

/// The token in a message's link (checked in both bodies).
fn token_of(email: &Email) -> String {
    let prefix = "http://ro.example.test/reset?token=";
    let token = reset_token(&email.text);
    assert!(email.text.contains(&format!("{prefix}{token}")));
    assert!(email.html.contains(&format!("{prefix}{token}")));
    token
}

#[tokio::test]
async fn without_smtp_there_is_no_link_and_no_page() {
    let t = setup(None).await;
    let signin = t.get("/signin", None).await;
    assert!(!signin.body.contains("/forgot"), "{}", signin.body);
    assert_eq!(t.get("/forgot", None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        t.get("/reset?token=x", None).await.status,
        StatusCode::NOT_FOUND
    );
    // Invitations need e-mail too.
    let r = t
        .api(
            "POST",
            "/api/v1/users",
            serde_json::json!({"username": "dave", "email": "dave@example.test", "invite": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);

    let t = setup(Some(settings())).await;
    let signin = t.get("/signin", None).await;
    assert!(signin.body.contains("href=\"/forgot\""), "{}", signin.body);
}

#[tokio::test]
async fn a_reset_link_sets_the_password_once_and_ends_sessions_and_docker_logins() {
    let t = setup(Some(settings())).await;
    let alice = t.store.get_user_by_name("alice").await.unwrap();
    t.store
        .create_session(
            &NewSession {
                id_hash: format!("{:064x}", 1),
                user_id: alice.id,
                csrf_token: "c".into(),
                expires_at: i64::MAX / 2,
            },
            &|_| Vec::new(),
        )
        .await
        .unwrap();
    t.store
        .insert_refresh_token(
            &NewRefreshToken {
                user_id: alice.id,
                token_hash: format!("{:064x}", 2),
                client_id: "docker".into(),
                service: "registryo".into(),
                created_addr: None,
            },
            &|_| Vec::new(),
        )
        .await
        .unwrap();

    t.forgot("alice").await;
    let sent = t.wait_sent(1).await;
    assert_eq!(sent[0].to, "alice@example.test");
    let token = token_of(&sent[0]);

    let form = t.get(&format!("/reset?token={token}"), None).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("alice") && form.body.contains("keep_docker"));
    let csrf = form.cookie("registryo_signin").unwrap();

    // CSRF: no token, or a wrong one, is refused before anything happens.
    let r = t
        .post_anonymous(
            "/reset",
            None,
            &[
                ("token", &token),
                ("new", "n3w-password"),
                ("confirm", "n3w-password"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = t
        .post_anonymous(
            "/reset",
            Some(&csrf),
            &[
                ("csrf", "wrong"),
                ("token", &token),
                ("new", "n3w-password"),
                ("confirm", "n3w-password"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Strength: at least 8 characters, not the username; both fields the same.
    for (new, confirm, needle) in [
        ("short", "short", "at least 8"),
        ("alice", "alice", "at least 8"),
        ("n3w-password", "other-password", "differ"),
    ] {
        let r = t
            .post_anonymous(
                "/reset",
                Some(&csrf),
                &[
                    ("csrf", &csrf),
                    ("token", &token),
                    ("new", new),
                    ("confirm", confirm),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{new}");
        assert!(r.body.contains(needle), "{new}: {}", r.body);
    }
    assert!(signs_in(&t.accounts, "alice", ALICE_PW).await);

    let r = t
        .post_anonymous(
            "/reset",
            Some(&csrf),
            &[
                ("csrf", &csrf),
                ("token", &token),
                ("new", "n3w-password"),
                ("confirm", "n3w-password"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("Your password is set"));
    assert!(!signs_in(&t.accounts, "alice", ALICE_PW).await);
    assert!(signs_in(&t.accounts, "alice", "n3w-password").await);
    assert_eq!(
        t.store.get_session(&format!("{:064x}", 1)).await.unwrap(),
        None
    );
    assert!(
        t.store
            .list_refresh_tokens(alice.id)
            .await
            .unwrap()
            .iter()
            .all(|r| r.revoked_at.is_some()),
        "docker logins revoked"
    );
    let events = t
        .store
        .list_audit_events(&AuditQuery {
            action: Some("user.password.reset".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1);

    // Once only.
    let again = t.get(&format!("/reset?token={token}"), None).await;
    assert_eq!(again.status, StatusCode::GONE);
    assert!(again.body.contains("invalid or has expired"));
    let r = t
        .post_anonymous(
            "/reset",
            Some(&csrf),
            &[
                ("csrf", &csrf),
                ("token", &token),
                ("new", "an0ther-pass"),
                ("confirm", "an0ther-pass"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::GONE);
    assert!(signs_in(&t.accounts, "alice", "n3w-password").await);
}

#[tokio::test]
async fn keeping_docker_logins_is_a_choice() {
    let t = setup(Some(settings())).await;
    let alice = t.store.get_user_by_name("alice").await.unwrap();
    t.store
        .insert_refresh_token(
            &NewRefreshToken {
                user_id: alice.id,
                token_hash: format!("{:064x}", 2),
                client_id: "docker".into(),
                service: "registryo".into(),
                created_addr: None,
            },
            &|_| Vec::new(),
        )
        .await
        .unwrap();
    t.forgot("alice@EXAMPLE.test").await;
    let token = token_of(&t.wait_sent(1).await[0]);
    let csrf = t.csrf().await;
    let r = t
        .post_anonymous(
            "/reset",
            Some(&csrf),
            &[
                ("csrf", &csrf),
                ("token", &token),
                ("new", "n3w-password"),
                ("confirm", "n3w-password"),
                ("keep_docker", "on"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        t.store.list_refresh_tokens(alice.id).await.unwrap()[0]
            .revoked_at
            .is_none()
    );
}

#[tokio::test]
async fn unknown_accounts_service_accounts_and_disabled_users_get_nothing_and_the_same_page() {
    let t = setup(Some(settings())).await;
    let csrf = t.csrf().await;
    let ask = |login: &'static str| {
        let csrf = csrf.clone();
        let t = &t;
        async move {
            t.post_anonymous("/forgot", Some(&csrf), &[("csrf", &csrf), ("login", login)])
                .await
        }
    };
    let known = ask("alice").await;
    assert_eq!(t.wait_sent(1).await.len(), 1);
    for login in [
        "nobody",
        "nobody@example.test",
        "robot",
        "robot@example.test",
        "carol",
        "carol@example.test",
        "",
    ] {
        let r = ask(login).await;
        assert_eq!(r.status, known.status, "{login}");
        assert_eq!(r.body, known.body, "{login}: the same page");
    }
    assert_eq!(t.settled_count().await, 1, "only alice got a message");
}

#[tokio::test]
async fn a_link_expires() {
    let mut s = settings();
    s.reset_ttl = Duration::from_secs(1);
    let t = setup(Some(s)).await;
    t.forgot("alice").await;
    let email = &t.wait_sent(1).await[0];
    assert!(email.text.contains("1 second"));
    let token = token_of(email);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = t.get(&format!("/reset?token={token}"), None).await;
    assert_eq!(r.status, StatusCode::GONE);
    assert!(r.body.contains("invalid or has expired"));
}

#[tokio::test]
async fn a_link_dies_when_the_password_changes_another_way() {
    let t = setup(Some(settings())).await;
    t.forgot("alice").await;
    let token = token_of(&t.wait_sent(1).await[0]);
    assert_eq!(
        t.get(&format!("/reset?token={token}"), None).await.status,
        StatusCode::OK
    );
    // The admin API sets a password: the link dies.
    let r = t
        .api(
            "PUT",
            "/api/v1/users/alice/password",
            serde_json::json!({"password": "admin-set-pw"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(
        t.get(&format!("/reset?token={token}"), None).await.status,
        StatusCode::GONE
    );
}

#[tokio::test]
async fn requests_are_throttled_per_account_and_per_address_silently() {
    let mut s = settings();
    s.max_per_addr = 5;
    let t = setup(Some(s)).await;
    let first = t.forgot("alice").await;
    t.wait_sent(1).await;
    for _ in 0..3 {
        let r = t.forgot("alice").await;
        assert_eq!(r.body, first.body);
    }
    assert_eq!(t.settled_count().await, 3, "3 per account");
    // The address made 4 requests; the 5th passes, the 6th is dropped.
    t.forgot("admin").await;
    assert_eq!(t.wait_sent(4).await.len(), 4);
    let r = t.forgot("admin").await;
    assert_eq!(r.body, first.body);
    assert_eq!(t.settled_count().await, 4, "the address is over its limit");
}

#[tokio::test]
async fn an_invitation_leads_to_a_first_sign_in() {
    let t = setup(Some(settings())).await;
    // Needs an address; a password and an invitation exclude each other.
    for body in [
        serde_json::json!({"username": "dave", "invite": true}),
        serde_json::json!({"username": "dave", "email": "dave@example.test", "password": "some-password", "invite": true}),
    ] {
        let r = t.api("POST", "/api/v1/users", body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    }
    let r = t
        .api(
            "POST",
            "/api/v1/users",
            serde_json::json!({"username": "dave", "email": "dave@example.test", "invite": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let dave = t.store.get_user_by_name("dave").await.unwrap();
    assert_eq!(dave.password_hash, None);
    let email = &t.wait_sent(1).await[0];
    assert_eq!(email.to, "dave@example.test");
    assert!(email.subject.contains("choose your password"));
    let token = token_of(email);
    let tokens = t.store.list_password_tokens(dave.id).await.unwrap();
    assert!(tokens[0].expires_at - tokens[0].created_at >= 7 * 86_400 - 1);

    let form = t.get(&format!("/reset?token={token}"), None).await;
    assert!(form.body.contains("Choose your password"));
    assert!(!form.body.contains("keep_docker"));
    let csrf = form.cookie("registryo_signin").unwrap();
    let r = t
        .post_anonymous(
            "/reset",
            Some(&csrf),
            &[
                ("csrf", &csrf),
                ("token", &token),
                ("new", "dave-first-pw"),
                ("confirm", "dave-first-pw"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let signin = t
        .post_anonymous(
            "/signin",
            Some(&csrf),
            &[
                ("csrf", &csrf),
                ("username", "dave"),
                ("password", "dave-first-pw"),
            ],
        )
        .await;
    assert_eq!(signin.status, StatusCode::SEE_OTHER, "{}", signin.body);
    assert!(signin.cookie("registryo_session").is_some());
}

/// An invitation that cannot be sent (the SMTP server is down: nothing listens on its port)
/// creates no account, and says so; the creation and its undoing are both in the audit log.
#[tokio::test]
async fn an_invitation_that_cannot_be_sent_creates_no_account() {
    let smtp = registryo_http::mail::SmtpSender::new(&registryo_http::mail::SmtpConfig {
        host: "127.0.0.1".to_owned(),
        port: registryo_core::testing::free_port(),
        tls: registryo_http::mail::SmtpTls::None,
        username: None,
        password: None,
    })
    .unwrap();
    let t = setup_with(
        Some(settings()),
        Arc::new(smtp),
        Arc::new(MemorySender::default()),
    )
    .await;
    let r = t
        .api(
            "POST",
            "/api/v1/users",
            serde_json::json!({"username": "erin", "email": "erin@example.test", "invite": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("could not be sent"), "{}", r.body);
    assert!(t.store.get_user_by_name("erin").await.is_err());
    let events = t
        .store
        .list_audit_events(&AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let actions: Vec<(&str, Option<&str>)> = events
        .iter()
        .filter(|e| e.target.as_deref() == Some("erin"))
        .map(|e| (e.action.as_str(), e.detail.as_deref()))
        .collect();
    assert!(
        actions.contains(&("user.create", Some("human admin=false invited"))),
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|(a, d)| *a == "user.delete"
            && d.is_some_and(|d| d.contains("the invitation could not be sent"))),
        "{actions:?}"
    );
}

/// Whether the password is right (through the server's one password check).
async fn signs_in(accounts: &Accounts, user: &str, password: &str) -> bool {
    let name = user.parse().unwrap();
    matches!(
        accounts
            .check(
                &name,
                password,
                None,
                registryo_core::app::attempts::Channel::Token
            )
            .await
            .unwrap(),
        registryo_core::app::accounts::Checked::Valid { .. }
    )
}
