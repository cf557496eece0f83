//! The `registryo` binary, run for real: `serve` on port 0 with a fresh data directory, and
//! the CLI on the same directory while it runs.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::binary::{Server, public_dir, registryo, started};
use crate::support::command::output;
use crate::support::cookies::{no_redirects, set_cookie, sign_in};
use crate::support::eventually;
use registryo_core::testing::jwt;

/// `registryo` on the data directory `data`, run from there.
fn base_command(data: &Path) -> Command {
    let mut c = registryo(data);
    c.env("REGISTRYO_DATA", data);
    c
}

/// `serve` with a fresh data directory of its own; the first admin's password given, or
/// generated and printed.
fn start(admin_password: Option<&str>) -> Server {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = base_command(data.path());
    cmd.env("REGISTRYO_LOG", "warn");
    if let Some(pw) = admin_password {
        cmd.env("REGISTRYO_ADMIN_PASSWORD", pw);
    }
    started(cmd).owning(data)
}

impl Server {
    fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = base_command(self.data());
        cmd.args(args);
        output(cmd, stdin)
    }

    fn cli_ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.cli(args, stdin);
        assert!(
            out.status.success(),
            "registryo {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn cli_err(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.cli(args, stdin);
        assert!(!out.status.success(), "registryo {args:?} should fail");
        String::from_utf8(out.stderr).unwrap()
    }

    async fn token(&self, query: &str, auth: Option<(&str, &str)>) -> (u16, Value) {
        let client = reqwest::Client::new();
        let mut req = client.get(self.url(&format!("/token?{query}")));
        if let Some((u, p)) = auth {
            req = req.basic_auth(u, Some(p));
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap();
        let json = serde_json::from_str(&body).unwrap_or(Value::String(body));
        (status, json)
    }

    async fn post(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let resp = reqwest::Client::new()
            .post(self.url("/token"))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

/// The access claim of a token, without checking the signature (the core's tests do that).
fn access(json: &Value) -> Vec<(String, Vec<String>)> {
    let token = json["token"].as_str().expect("a token");
    jwt::claims(token)["access"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_owned(),
                a["actions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

#[tokio::test]
async fn first_start_creates_admin_with_a_generated_password_shown_once() {
    let server = start(None);
    let pw_line = server
        .lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("password: "))
        .expect("the generated password is printed")
        .to_owned();
    assert!(pw_line.len() >= 20);
    let (status, json) = server
        .token("scope=registry:catalog:*", Some(("admin", &pw_line)))
        .await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(
        access(&json),
        vec![("catalog".to_owned(), vec!["*".to_owned()])]
    );
    assert!(
        server.lines.iter().any(|l| l.contains("rootcertbundle:")),
        "serve prints what the registry needs"
    );
    // The bundle is public, outside the owner-only data directory.
    let bundle = public_dir(server.data()).join("registry-bundle.pem");
    assert!(
        server
            .lines
            .iter()
            .any(|l| l.trim() == format!("rootcertbundle: {}", bundle.display())),
        "{:?}",
        server.lines
    );
    assert!(
        std::fs::read_to_string(bundle)
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    // The health check command answers for the running server.
    let out = server.cli_ok(&["healthcheck", "--listen", &server.addr.to_string()], None);
    assert_eq!(out.trim(), "ok");
}

#[tokio::test]
async fn cli_changes_reach_the_running_server() {
    let server = start(Some("admin-password-1"));
    server.cli_ok(
        &["user", "add", "alice", "--password-stdin"],
        Some("alice-password\n"),
    );
    server.cli_ok(&["group", "add", "devs"], None);
    server.cli_ok(&["group", "member", "add", "devs", "alice"], None);
    server.cli_ok(&["acl", "add", "group:devs", "team/*", "pull,push"], None);
    let out = server.cli_ok(&["acl", "add", "authenticated", "${account}/**", "*"], None);
    assert!(out.contains("added rule"));

    let alice = Some(("alice", "alice-password"));
    eventually("alice's rules apply", || async {
        let (s, j) = server
            .token(
                "scope=repository:team/app:pull,push,delete&scope=repository:alice/x/y:*&scope=repository:bob/z:pull",
                alice,
            )
            .await;
        s == 200
            && access(&j)
                == vec![
                    ("team/app".to_owned(), vec!["pull".to_owned(), "push".to_owned()]),
                    (
                        "alice/x/y".to_owned(),
                        vec!["pull".to_owned(), "push".to_owned(), "delete".to_owned()],
                    ),
                ]
    })
    .await;

    // explain says which rule granted what.
    let out = server.cli_ok(
        &["acl", "explain", "alice", "repository:team/app:pull,delete"],
        None,
    );
    assert!(out.contains("group:devs team/* pull,push -> pull"), "{out}");
    assert!(out.contains("granted: pull"), "{out}");
    let out = server.cli_ok(
        &["acl", "explain", "anonymous", "repository:team/app:pull"],
        None,
    );
    assert!(
        out.contains("no rule matches") && out.contains("granted: nothing"),
        "{out}"
    );

    // A password change (credentials were cached) takes effect.
    server.cli_ok(
        &["user", "passwd", "alice", "--password-stdin"],
        Some("new-password-2\n"),
    );
    eventually("the old password is refused", || async {
        server.token("", alice).await.0 == 401
    })
    .await;
    assert_eq!(
        server.token("", Some(("alice", "new-password-2"))).await.0,
        200
    );

    // Disabling refuses the password and the refresh tokens.
    let (_, j) = server
        .token(
            "offline_token=true&client_id=docker&service=registry.test",
            Some(("alice", "new-password-2")),
        )
        .await;
    let refresh = j["refresh_token"].as_str().unwrap().to_owned();
    let refresh_form = [
        ("grant_type", "refresh_token"),
        ("client_id", "docker"),
        ("service", "registry.test"),
        ("refresh_token", refresh.as_str()),
        ("scope", "repository:alice/a:pull"),
    ];
    assert_eq!(server.post(&refresh_form).await.0, 200);
    server.cli_ok(&["user", "disable", "alice"], None);
    eventually("a disabled user gets no token", || async {
        server.token("", Some(("alice", "new-password-2"))).await.0 == 401
    })
    .await;
    assert_eq!(server.post(&refresh_form).await.0, 401);
    server.cli_ok(&["user", "enable", "alice"], None);
    eventually("re-enabled", || async {
        server.post(&refresh_form).await.0 == 200
    })
    .await;

    // Revoking the refresh tokens.
    let out = server.cli_ok(&["token", "revoke", "alice", "--client-id", "docker"], None);
    assert!(out.contains("revoked 1"), "{out}");
    assert_eq!(server.post(&refresh_form).await.0, 401);

    // Removing the user.
    server.cli_ok(&["user", "rm", "alice"], None);
    eventually("a removed user gets no token", || async {
        server.token("", Some(("alice", "new-password-2"))).await.0 == 401
    })
    .await;
    let users = server.cli_ok(&["user", "list"], None);
    assert!(
        users.contains("admin") && !users.contains("alice"),
        "{users}"
    );
}

#[tokio::test]
async fn cli_refuses_bad_input_with_a_message_and_no_change() {
    let server = start(Some("admin-password-1"));
    let cases: &[(&[&str], Option<&str>, &str)] = &[
        (
            &["user", "add", "bad:name", "--password-stdin"],
            Some("longenough"),
            "':'",
        ),
        (
            &["user", "add", "short", "--password-stdin"],
            Some("x"),
            "at least 8",
        ),
        (
            &["user", "add", "same-as-name", "--password-stdin"],
            Some("same-as-name"),
            "username",
        ),
        (
            &["user", "add", "admin", "--password-stdin"],
            Some("longenough"),
            "already exists",
        ),
        // Names are unique without regard to case, and only ASCII letters, digits, . _ -.
        (
            &["user", "add", "Admin", "--password-stdin"],
            Some("longenough"),
            "already exists",
        ),
        (
            &["user", "add", "\u{430}dmin", "--password-stdin"],
            Some("longenough"),
            "U+0430",
        ),
        (
            &["user", "add", "ad\u{200b}min", "--password-stdin"],
            Some("longenough"),
            "U+200B",
        ),
        (
            &["user", "add", "\u{202e}nimda", "--password-stdin"],
            Some("longenough"),
            "U+202E",
        ),
        (&["group", "add", "dev\u{200d}s"], None, "U+200D"),
        (
            &["user", "add", "e", "--email", "nope", "--password-stdin"],
            Some("longenough"),
            "e-mail",
        ),
        (
            &["user", "passwd", "ghost", "--password-stdin"],
            Some("longenough"),
            "no user",
        ),
        (&["user", "disable", "ghost"], None, "no user"),
        (
            &["group", "member", "add", "nogroup", "admin"],
            None,
            "no group",
        ),
        (
            &["acl", "add", "user:admin", "Team/*", "pull"],
            None,
            "invalid rule",
        ),
        (
            &["acl", "add", "somebody", "a/*", "pull"],
            None,
            "invalid rule",
        ),
        (
            &["acl", "add", "user:admin", "a/*", "fly"],
            None,
            "invalid rule",
        ),
        (
            &["acl", "add", "user:admin", "a/***", "pull"],
            None,
            "invalid rule",
        ),
        (&["acl", "rm", "9999"], None, "no rule"),
        (
            &["acl", "explain", "admin", "repository:A:pull"],
            None,
            "invalid scope",
        ),
        (&["token", "revoke", "ghost"], None, "no user"),
    ];
    for (args, stdin, needle) in cases {
        let err = server.cli_err(args, *stdin);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert_eq!(
        server.cli_ok(&["user", "list"], None).lines().count(),
        2,
        "only the header and admin"
    );
    assert_eq!(server.cli_ok(&["acl", "list"], None).lines().count(), 1);
}

#[tokio::test]
async fn hostile_http_requests_get_4xx_never_5xx() {
    let server = start(Some("admin-password-1"));
    let client = reqwest::Client::new();
    let long = "a".repeat(20_000);
    let queries = [
        "scope=repository:UPPER:pull".to_owned(),
        "scope=repository:a:pull,fly".to_owned(),
        "scope=nonsense".to_owned(),
        "scope=%FF%FE".to_owned(),
        "scope=%ZZ".to_owned(),
        format!("scope=repository:{long}:pull"),
        format!("account={long}"),
        "service=another-registry".to_owned(),
    ];
    for q in &queries {
        let resp = client
            .get(server.url(&format!("/token?{q}")))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        assert!((400..500).contains(&status), "{q}: {status}");
    }
    let headers = [
        "Basic !!!",
        "Basic Og==",
        "Bearer x",
        "Digest abc",
        "Basic YWRtaW46", // admin: (empty password)
    ];
    for h in headers {
        let resp = client
            .get(server.url("/token"))
            .header("authorization", h)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        assert!((400..500).contains(&status), "{h}: {status}");
    }
    // Unknown user, very long username and password.
    let (s, j) = server.token("", Some(("nobody", "whatever"))).await;
    assert_eq!(s, 401);
    assert_eq!(j["errors"][0]["message"], "invalid username or password");
    let (s, _) = server.token("", Some((&"u".repeat(300), "p"))).await;
    assert_eq!(s, 400);
    let (s, _) = server.token("", Some(("admin", &"p".repeat(5000)))).await;
    assert_eq!(s, 400);
    // Forms.
    let bodies = [
        "grant_type=password".to_owned(),
        "grant_type=nope&client_id=x".to_owned(),
        "%%%".to_owned(),
        "a".repeat(100_000),
    ];
    for b in &bodies {
        let resp = client
            .post(server.url("/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(b.clone())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        assert!(
            (400..500).contains(&status),
            "{}: {status}",
            &b[..b.len().min(40)]
        );
    }
    let resp = client
        .post(server.url("/token"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 415);
    let resp = client.delete(server.url("/token")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    let resp = client.get(server.url("/nope")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    // Still alive.
    assert_eq!(
        server
            .token("", Some(("admin", "admin-password-1")))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn registry_config_and_keys() {
    let server = start(Some("admin-password-1"));
    let yml = server.cli_ok(
        &[
            "registry-config",
            "--realm",
            "http://127.0.0.1:5001/token",
            "--service",
            "registry.test",
        ],
        None,
    );
    for needle in [
        "realm: \"http://127.0.0.1:5001/token\"",
        "service: \"registry.test\"",
        "issuer: \"registryo-test\"",
        "rootcertbundle: ",
        "enabled: true",
    ] {
        assert!(yml.contains(needle), "{needle} missing in:\n{yml}");
    }
    let secret = yml
        .lines()
        .find_map(|l| l.trim().strip_prefix("secret: "))
        .unwrap_or_else(|| panic!("no http.secret in:\n{yml}"));
    assert_eq!(secret.len(), 66, "a quoted 64-digit hex secret: {secret}");
    let err = server.cli_err(&["registry-config", "--realm", "ftp://x"], None);
    assert!(err.contains("--realm"), "{err}");

    let show = server.cli_ok(&["keys", "show"], None);
    assert_eq!(show.lines().count(), 1, "{show}");
    assert!(show.starts_with("signing"), "{show}");
    let kid = show
        .split("kid(libtrust)=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(kid.len(), 59, "libtrust kid: 12 groups of 4 with colons");

    // Two-step rotation: staged keys are published but do not sign.
    server.cli_ok(&["keys", "rotate"], None);
    let show = server.cli_ok(&["keys", "show"], None);
    assert!(show.lines().any(|l| l.starts_with("staged")), "{show}");
    let err = server.cli_err(&["keys", "rotate"], None);
    assert!(err.contains("staged key exists"), "{err}");
    let jwks: Value = serde_json::from_str(&server.cli_ok(&["keys", "jwks"], None)).unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    let bundle =
        std::fs::read_to_string(public_dir(server.data()).join("registry-bundle.pem")).unwrap();
    assert_eq!(bundle.matches("BEGIN CERTIFICATE").count(), 2);
    server.cli_ok(&["keys", "rotate", "--activate"], None);
    let show = server.cli_ok(&["keys", "show"], None);
    assert!(show.starts_with("signing"), "{show}");
    // The running server takes the new key up (polled every 5 s): the token header's kid.
    let new_kid = show
        .split("kid(libtrust)=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    assert_ne!(new_kid, kid);
    eventually("the server signs with the new key", || async {
        let (_, j) = server.token("", None).await;
        jwt::header(j["token"].as_str().unwrap())["kid"] == new_kid.as_str()
    })
    .await;
    // Both steps are audited as the CLI's, the detail naming what is published.
    for action in ["keys.stage", "keys.activate"] {
        let audit = server
            .admin_api(
                &format!("/api/v1/audit?action={action}"),
                "admin-password-1",
            )
            .await;
        assert_eq!(audit["events"][0]["actor"], "cli", "{audit}");
        let detail = audit["events"][0]["detail"].as_str().unwrap_or_default();
        assert!(detail.starts_with("2 key(s) published"), "{audit}");
    }
}

#[tokio::test]
async fn sigterm_stops_the_server_cleanly() {
    let mut server = start(Some("admin-password-1"));
    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(10));
    let status = status.expect("still running");
    assert!(status.success(), "exit status {status}");
}

/// Logs written to a pipe or file carry no terminal colour codes.
#[tokio::test]
async fn logs_to_a_pipe_are_plain_text() {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = base_command(data.path());
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .env("REGISTRYO_LOG", "info")
        .env("REGISTRYO_ADMIN_PASSWORD", "admin-password-1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    let mut addr = None;
    while addr.is_none() {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "{lines:?}");
        addr = line
            .trim_end()
            .strip_prefix("registryo listening on http://")
            .map(|a| a.parse::<SocketAddr>().unwrap());
        lines.push(line);
    }
    let resp = reqwest::get(format!("http://{}/healthz", addr.unwrap()))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let served = loop {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "{lines:?}");
        if line.contains("served") {
            break line;
        }
        lines.push(line);
    };
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(public_dir(data.path()));
    lines.push(served);
    for l in &lines {
        assert!(!l.contains('\x1b'), "colour codes in a piped log: {l:?}");
    }
}

/// `registryo user list | head` and the like: a command whose reader went away exits quietly
/// (status 0, nothing on stderr) instead of panicking on the closed pipe.
#[tokio::test]
async fn commands_exit_quietly_when_their_output_is_closed() {
    let server = start(Some("admin-password-1"));
    for args in [
        &["user", "list"][..],
        &["acl", "list"],
        &["group", "list"],
        &["config-example"],
        &["keys", "jwks"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = base_command(server.data())
            .args(args)
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}

/// A client whose requests come from `127.0.0.N` (every 127/8 address is loopback on Linux).
fn client_from(n: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, n]))
        .build()
        .unwrap()
}

async fn basic_token(server: &Server, from: u8, user: &str, pw: &str) -> reqwest::Response {
    client_from(from)
        .get(server.url("/token?service=registry.test&scope=repository:a/b:pull"))
        .basic_auth(user, Some(pw))
        .send()
        .await
        .unwrap()
}

/// The guessing limits over real HTTP, with their defaults (10 failures per account and
/// address, 100 per account): counted per address with real requests, past a limit every
/// check is a 429 with Retry-After — `GET /token`, `POST /token`, the admin API's Basic and
/// the sign-in form alike — and the owner's usual address still gets in.
#[tokio::test]
async fn guessing_limits_hold_over_http() {
    let server = start(Some("admin-password-1"));
    server.cli_ok(
        &["user", "add", "alice", "--password-stdin"],
        Some("alice-password"),
    );
    // The owner signs in from home (127.0.0.3): a usual address.
    assert_eq!(
        basic_token(&server, 3, "alice", "alice-password")
            .await
            .status(),
        200
    );

    // One attacker address, 15 distinct wrong guesses: 10 are checked, 5 refused unchecked.
    let (mut refused, mut throttled) = (0, 0);
    for i in 0..15 {
        let r = basic_token(&server, 2, "alice", &format!("guess-{i}")).await;
        match r.status().as_u16() {
            401 => refused += 1,
            429 => {
                throttled += 1;
                let wait: u64 = r.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!((1..=120).contains(&wait), "{wait}");
                let body: Value = r.json().await.unwrap();
                assert_eq!(body["errors"][0]["code"], "TOOMANYREQUESTS", "{body}");
            }
            s => panic!("unexpected {s}"),
        }
    }
    assert_eq!((refused, throttled), (10, 5));
    // Every way of checking a password is closed to that address for alice, the right
    // password included.
    assert_eq!(
        basic_token(&server, 2, "alice", "alice-password")
            .await
            .status(),
        429
    );
    let post = client_from(2)
        .post(server.url("/token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", "containerd-client"),
            ("username", "alice"),
            ("password", "alice-password"),
            ("service", "registry.test"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 429);
    let api = client_from(2)
        .get(server.url("/api/v1/users"))
        .basic_auth("alice", Some("alice-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 429);
    // The admin, from the same address, is not affected.
    let api = client_from(2)
        .get(server.url("/api/v1/users"))
        .basic_auth("admin", Some("admin-password-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 200);

    // Ten more addresses, ten guesses each: the account-wide limit (100) closes in.
    let (mut refused, mut throttled) = (0, 0);
    for from in 4..14u8 {
        for i in 0..10 {
            match basic_token(&server, from, "alice", &format!("g{from}-{i}"))
                .await
                .status()
                .as_u16()
            {
                401 => refused += 1,
                429 => throttled += 1,
                s => panic!("unexpected {s}"),
            }
        }
    }
    assert_eq!((refused, throttled), (90, 10));
    // A new address is refused even with the right password; the usual one is not.
    assert_eq!(
        basic_token(&server, 14, "alice", "alice-password")
            .await
            .status(),
        429
    );
    assert_eq!(
        basic_token(&server, 3, "alice", "alice-password")
            .await
            .status(),
        200
    );

    // 100 failures: a handful of audit rows (one per address and minute), counted.
    let audit = server
        .admin_api(
            "/api/v1/audit?action=auth.failed&actor=alice&limit=1000",
            "admin-password-1",
        )
        .await;
    let events = audit["events"].as_array().unwrap();
    let total: i64 = events.iter().map(|e| e["count"].as_i64().unwrap()).sum();
    assert_eq!(total, 100, "{audit}");
    assert!(
        events.len() <= 22,
        "one row per address and minute: {}",
        events.len()
    );
}

/// Sign in through the web form; the session cookie.
async fn web_signin(server: &Server, user: &str, pw: &str) -> Option<String> {
    let r = sign_in(&no_redirects(), &server.url(""), user, pw, &[]).await;
    set_cookie(&r, "registryo_session").filter(|c| !c.is_empty())
}

/// Whether a session cookie still opens the profile page.
async fn session_works(server: &Server, cookie: &str) -> bool {
    let r = no_redirects()
        .get(server.url("/profile"))
        .header("cookie", format!("registryo_session={cookie}"))
        .send()
        .await
        .unwrap();
    r.status() == 200
}

/// The CLI runs the same operations as the UI and the API: disabling ends the web sessions
/// (enabling revives none), a password change ends sessions and docker logins, and removing a
/// user removes the rules naming it, so an account made later under the name gets nothing.
#[tokio::test]
async fn cli_operations_are_the_uis() {
    let server = start(Some("admin-password-1"));
    server.cli_ok(
        &["user", "add", "alice", "--password-stdin"],
        Some("alice-password"),
    );
    let session = web_signin(&server, "alice", "alice-password")
        .await
        .unwrap();
    assert!(session_works(&server, &session).await);
    server.cli_ok(&["user", "disable", "alice"], None);
    server.cli_ok(&["user", "enable", "alice"], None);
    assert!(
        !session_works(&server, &session).await,
        "enable revived a session"
    );

    // A password change from the CLI ends the sessions and the docker logins.
    let session = web_signin(&server, "alice", "alice-password")
        .await
        .unwrap();
    let (s, login) = server
        .token(
            "account=alice&client_id=docker&offline_token=true&service=registry.test",
            Some(("alice", "alice-password")),
        )
        .await;
    assert_eq!(s, 200);
    let refresh = login["refresh_token"].as_str().unwrap().to_owned();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
        ("client_id", "docker"),
        ("service", "registry.test"),
    ];
    assert_eq!(server.post(&form).await.0, 200);
    let out = server.cli_ok(
        &["user", "passwd", "alice", "--password-stdin"],
        Some("another-password"),
    );
    assert!(out.contains("password of alice changed"), "{out}");
    assert!(!session_works(&server, &session).await);
    assert_eq!(
        server.post(&form).await.0,
        401,
        "the docker login was revoked"
    );

    // Removing a user removes its rules, audited with their text.
    server.cli_ok(&["acl", "add", "user:alice", "secret/**", "*"], None);
    let out = server.cli_ok(&["user", "rm", "alice"], None);
    assert!(
        out.contains("removed rule") && out.contains("user:alice secret/**"),
        "{out}"
    );
    server.cli_ok(
        &["user", "add", "Alice", "--password-stdin"],
        Some("new-alice-password"),
    );
    let alice = Some(("Alice", "new-alice-password"));
    eventually("the new Alice exists", || async {
        server.token("scope=repository:a/b:pull", alice).await.0 == 200
    })
    .await;
    let (_, j) = server.token("scope=repository:secret/x:pull", alice).await;
    assert!(access(&j).is_empty(), "inherited {j}");
    assert!(!server.cli_ok(&["acl", "list"], None).contains("secret/**"));
    let audit = server
        .admin_api("/api/v1/audit?action=acl.remove", "admin-password-1")
        .await;
    let detail = audit["events"][0]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("user:alice secret/** pull,push,delete"),
        "{audit}"
    );
    assert_eq!(audit["events"][0]["actor"], "cli");

    // `acl rm` audits the rule's text, as the UI does; `user add` audits what the UI's
    // creation does.
    let out = server.cli_ok(&["acl", "add", "user:Alice", "team/*", "pull"], None);
    let id = out
        .strip_prefix("added rule ")
        .and_then(|r| r.split(':').next())
        .unwrap_or_else(|| panic!("{out}"))
        .to_owned();
    server.cli_ok(&["acl", "rm", &id], None);
    let audit = server
        .admin_api("/api/v1/audit?action=acl.remove", "admin-password-1")
        .await;
    let ev = &audit["events"][0];
    assert_eq!(ev["target"], format!("rule {id}"), "{audit}");
    assert_eq!(ev["detail"], "user:Alice team/* pull", "{audit}");
    let audit = server
        .admin_api("/api/v1/audit?action=user.create", "admin-password-1")
        .await;
    let ev = &audit["events"][0];
    assert_eq!(
        (&ev["actor"], &ev["target"], &ev["detail"]),
        (&json!("cli"), &json!("Alice"), &json!("human admin=false")),
        "{audit}"
    );
}
