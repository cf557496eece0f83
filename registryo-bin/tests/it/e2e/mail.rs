//! E-mail end to end: the shared `registryo serve` sends through the real SMTP server that
//! scripts/test starts (aiosmtpd, writing a Maildir named by `REGISTRYO_E2E_MAILDIR`); the
//! tests read the delivered messages and follow their links like a browser (a cookie, the
//! CSRF token), then use the new password with docker and `/token`.

use std::time::Duration;

use reqwest::StatusCode;

use super::T;
use crate::support::binary::{Server, registryo, started};
use crate::support::command::output;
use crate::support::cookies::{no_redirects, set_cookie, sign_in};
use crate::support::e2e_env::env;
use crate::support::mail::{messages, messages_to, reset_token, wait_message};

/// A browser without redirects, keeping the sign-in form's cookie.
struct Browser {
    http: reqwest::Client,
    csrf: Option<String>,
    base: String,
}

impl Browser {
    fn new() -> Browser {
        Browser::at(env().registryo_url())
    }

    /// A browser of another registryo server.
    fn at(base: &str) -> Browser {
        Browser {
            http: no_redirects(),
            csrf: None,
            base: base.to_owned(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&mut self, path: &str) -> (StatusCode, String) {
        let mut req = self.http.get(self.url(path));
        if let Some(c) = &self.csrf {
            req = req.header(reqwest::header::COOKIE, format!("registryo_signin={c}"));
        }
        let resp = req.send().await.unwrap();
        if let Some(c) = set_cookie(&resp, "registryo_signin") {
            self.csrf = Some(c);
        }
        let status = resp.status();
        (status, resp.text().await.unwrap())
    }

    /// POST a form with the CSRF token (the page must have been fetched first).
    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let csrf = self.csrf.clone().expect("GET a page first");
        let mut pairs = form.to_vec();
        pairs.push(("csrf", &csrf));
        self.http
            .post(self.url(path))
            .header(reqwest::header::COOKIE, format!("registryo_signin={csrf}"))
            .form(&pairs)
            .send()
            .await
            .unwrap()
    }

    async fn forgot(&mut self, login: &str) -> String {
        let (status, _) = self.get("/forgot").await;
        assert_eq!(status, StatusCode::OK);
        let resp = self.post("/forgot", &[("login", login)]).await;
        assert_eq!(resp.status(), StatusCode::OK);
        resp.text().await.unwrap()
    }

    /// Follow a link and set the password; returns the final page's status.
    async fn set_password(&mut self, token: &str, password: &str) -> StatusCode {
        let (status, body) = self.get(&format!("/reset?token={token}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let resp = self
            .post(
                "/reset",
                &[("token", token), ("new", password), ("confirm", password)],
            )
            .await;
        resp.status()
    }
}

/// A user `PREFIX-WHO` with an e-mail address; returns (name, password, address).
fn user_with_email(t: &T, who: &str) -> (String, String, String) {
    let name = format!("{}-{who}", t.prefix);
    let password = format!("pw-{name}-secret");
    let email = format!("{name}@example.test");
    t.cli(
        &["user", "add", &name, "--email", &email, "--password-stdin"],
        Some(&password),
    )
    .ok();
    (name, password, email)
}

#[tokio::test]
#[ignore = "needs ./scripts/test (REGISTRYO_E2E_ENV)"]
async fn a_reset_mail_leads_to_a_new_password_that_docker_login_takes() {
    let t = T::new("mail-reset");
    let (name, old, email) = user_with_email(&t, "ann");
    let mut b = Browser::new();
    b.forgot(&name).await;
    let message = wait_message(&email).await;
    assert!(message.contains("multipart/alternative"), "{message}");
    assert!(message.contains("text/plain") && message.contains("text/html"));
    let token = reset_token(&message);
    let new = format!("new-{name}-pw");
    assert_eq!(b.set_password(&token, &new).await, StatusCode::OK);

    t.docker_login("ann", &name, &new).ok();
    let refused = t.docker_login("ann-old", &name, &old);
    assert!(!refused.success(), "{}", refused.describe());

    // The same link fails the second time.
    let (status, body) = b.get(&format!("/reset?token={token}")).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(body.contains("invalid or has expired"));
}

#[tokio::test]
#[ignore = "needs ./scripts/test (REGISTRYO_E2E_ENV)"]
async fn a_reset_link_dies_when_the_cli_changes_the_password() {
    let t = T::new("mail-passwd");
    let (name, _, email) = user_with_email(&t, "bob");
    let mut b = Browser::new();
    b.forgot(&email).await;
    let token = reset_token(&wait_message(&email).await);
    let (status, _) = b.get(&format!("/reset?token={token}")).await;
    assert_eq!(status, StatusCode::OK);
    t.cli(
        &["user", "passwd", &name, "--password-stdin"],
        Some("cli-set-password"),
    )
    .ok();
    let (status, body) = b.get(&format!("/reset?token={token}")).await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    let resp = b
        .post(
            "/reset",
            &[
                ("token", &token),
                ("new", "too-late-pw"),
                ("confirm", "too-late-pw"),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::GONE);
    let (code, _) = t
        .grant(Some((&name, "cli-set-password")), "repository:x/y:pull")
        .await;
    assert_eq!(code, 200);
}

#[tokio::test]
#[ignore = "needs ./scripts/test (REGISTRYO_E2E_ENV)"]
async fn unknown_names_and_addresses_get_the_same_page_and_no_mail() {
    let t = T::new("mail-unknown");
    let (name, _, email) = user_with_email(&t, "cyd");
    let unknown_name = format!("{}-nobody", t.prefix);
    let unknown_email = format!("{}-nobody@example.test", t.prefix);
    let mut b = Browser::new();
    let known = b.forgot(&name).await;
    let by_name = b.forgot(&unknown_name).await;
    let by_email = b.forgot(&unknown_email).await;
    assert_eq!(by_name, known);
    assert_eq!(by_email, known);
    wait_message(&email).await;
    // The unknown requests were made before the known one was delivered; give them time.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(messages_to(&unknown_email).is_empty());
    assert!(
        messages().iter().all(|m| !m.contains(&unknown_name)),
        "a message mentions the unknown username"
    );
    assert_eq!(messages_to(&email).len(), 1);
}

#[tokio::test]
#[ignore = "needs ./scripts/test (REGISTRYO_E2E_ENV)"]
async fn an_invitation_leads_to_a_first_sign_in_and_a_token() {
    let t = T::new("mail-invite");
    let name = format!("{}-dee", t.prefix);
    let email = format!("{name}@example.test");
    let resp = t
        .http
        .post(format!("{}/api/v1/users", env().registryo_url()))
        .basic_auth("admin", Some(env().admin_password()))
        .json(&serde_json::json!({"username": name, "email": email, "invite": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let message = wait_message(&email).await;
    assert!(message.contains("choose your password"), "{message}");
    let token = reset_token(&message);
    let password = format!("first-{name}");
    let mut b = Browser::new();
    assert_eq!(b.set_password(&token, &password).await, StatusCode::OK);

    // UI sign-in: a redirect home with a session cookie.
    let resp = sign_in(&b.http, &b.base, &name, &password, &[]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(set_cookie(&resp, "registryo_session").is_some_and(|c| !c.is_empty()));
    // And /token.
    let (code, _) = t
        .grant(Some((&name, &password)), "repository:x/y:pull")
        .await;
    assert_eq!(code, 200);
}

/// A second `registryo serve` of the test's own, on the same real SMTP server, whose reset
/// links live two seconds; with its own data directory. Killed when dropped.
struct ShortLived(Server);

impl ShortLived {
    fn command(data: &std::path::Path) -> std::process::Command {
        let mut c = registryo(data);
        c.env("REGISTRYO_DATA", data)
            .env("REGISTRYO_SMTP_HOST", "127.0.0.1")
            .env("REGISTRYO_SMTP_PORT", env().get("REGISTRYO_E2E_SMTP_PORT"))
            .env("REGISTRYO_SMTP_TLS", "none")
            .env("REGISTRYO_SMTP_FROM", "Registryo <short@example.test>")
            .env("REGISTRYO_RESET_TOKEN_TTL_SECS", "2")
            .env("REGISTRYO_ADMIN_PASSWORD", "short-lived-admin")
            .env("REGISTRYO_LOG", "warn");
        c
    }

    fn start() -> ShortLived {
        let data = tempfile::tempdir().unwrap();
        ShortLived(started(Self::command(data.path())).owning(data))
    }

    fn add_user(&self, name: &str, email: &str, password: &str) {
        let mut cmd = Self::command(self.0.data());
        cmd.args(["user", "add", name, "--email", email, "--password-stdin"]);
        let out = output(cmd, Some(password));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test]
#[ignore = "needs ./scripts/test (REGISTRYO_E2E_ENV)"]
async fn an_expired_reset_link_fails() {
    let t = T::new("mail-expired");
    let server = ShortLived::start();
    let name = format!("{}-eve", t.prefix);
    let email = format!("{name}@example.test");
    server.add_user(&name, &email, "eve-first-password");
    let mut b = Browser::at(&server.0.url(""));
    b.forgot(&email).await;
    let token = reset_token(&wait_message(&email).await);
    // Valid at first …
    let (status, _) = b.get(&format!("/reset?token={token}")).await;
    assert_eq!(status, StatusCode::OK);
    // … and dead once its two seconds are over.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (status, body) = b.get(&format!("/reset?token={token}")).await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert!(body.contains("invalid or has expired"));
    let resp = b
        .post(
            "/reset",
            &[
                ("token", &token),
                ("new", "too-late-pw1"),
                ("confirm", "too-late-pw1"),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::GONE);
}
