//! The server as a process: its first start, hostile requests, SIGTERM, its logs, the guessing limits over HTTP.

use super::*;

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
async fn sigterm_stops_the_server_cleanly() {
    let mut server = start(Some("admin-password-1"));
    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(10));
    let status = status.expect("still running");
    assert!(status.success(), "exit status {status}");
}

/// A docker login's uses are written in batches: the last ones when the server stops.
#[tokio::test]
async fn a_stopping_server_writes_the_last_uses() {
    use registryo_core::storage::prelude::*;
    let mut server = start(Some("admin-password-1"));
    let (status, login) = server
        .post(&[
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", "admin-password-1"),
            ("client_id", "docker"),
            ("service", "registry.test"),
            ("access_type", "offline"),
        ])
        .await;
    assert_eq!(status, 200, "{login}");
    let refresh = login["refresh_token"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        let (status, _) = server
            .post(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.as_str()),
                ("client_id", "docker"),
                ("service", "registry.test"),
            ])
            .await;
        assert_eq!(status, 200);
    }
    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(10));
    assert!(status.expect("still running").success());
    let url = format!("sqlite://{}", server.data().join("registryo.db").display());
    let store = registryo_store::Store::connect(&url).await.unwrap();
    let admin = store.get_user_by_name("admin").await.unwrap();
    let logins = store.list_refresh_tokens(admin.id).await.unwrap();
    assert_eq!(logins.len(), 1);
    assert!(logins[0].last_used_at.is_some(), "{:?}", logins[0]);
    assert_eq!(logins[0].last_used_addr.as_deref(), Some("127.0.0.1"));
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

/// `log_format = json`: every line of standard output is a JSON object; a request's lines carry
/// its id (the one the client sent in `X-Request-Id`, or a new one, echoed in the reply), method,
/// path (never the query), the user once known, the status and latency; no password.
#[tokio::test]
async fn json_logs_are_one_object_a_line_with_the_request() {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = base_command(data.path());
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .env("REGISTRYO_LOG", "info")
        .env("REGISTRYO_LOG_FORMAT", "json")
        .env("REGISTRYO_ADMIN_PASSWORD", "admin-password-1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    /// Killed when dropped, also when the test fails.
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Killed(cmd.spawn().unwrap());
    let mut reader = BufReader::new(child.0.stdout.take().unwrap());
    let mut next = || -> Value {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "the log ended");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
    };
    let addr: SocketAddr = loop {
        let event = next();
        let message = event["message"].as_str().unwrap_or_default();
        if let Some(a) = message.strip_prefix("registryo listening on http://") {
            break a.parse().unwrap();
        }
    };
    let http = reqwest::Client::new();
    let resp = http
        .get(format!(
            "http://{addr}/token?service=registry.test&scope=repository:a/b:pull&secret=hidden"
        ))
        .basic_auth("admin", Some("admin-password-1"))
        .header("X-Request-Id", "req-42.a_b")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"], "req-42.a_b");
    // A request id that is not plain is replaced by one of the server's.
    let resp = http
        .get(format!("http://{addr}/healthz"))
        .header("X-Request-Id", "not plain: spaces and a colon")
        .send()
        .await
        .unwrap();
    let fresh = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(
        fresh.len() == 16 && fresh.bytes().all(|b| b.is_ascii_hexdigit()),
        "{fresh}"
    );
    let mut served = Vec::new();
    let mut all = Vec::new();
    while served.len() < 2 {
        let event = next();
        all.push(event.to_string());
        if event["message"] == "served" {
            served.push(event);
        }
    }
    drop(child);
    let _ = std::fs::remove_dir_all(public_dir(data.path()));
    let token = &served[0];
    assert_eq!(token["span"]["id"], "req-42.a_b", "{token}");
    assert_eq!(token["span"]["method"], "GET");
    assert_eq!(token["span"]["path"], "/token");
    assert_eq!(token["span"]["user"], "admin");
    assert_eq!(token["status"], 200);
    assert!(token["micros"].as_u64().is_some(), "{token}");
    assert_eq!(served[1]["span"]["id"], fresh.as_str());
    assert!(
        served[1]["span"].get("user").is_none(),
        "anonymous: {}",
        served[1]
    );
    for line in &all {
        assert!(
            !line.contains("admin-password-1") && !line.contains("hidden"),
            "{line}"
        );
    }
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

/// A token request naming another service than the server's (a registry configured with
/// another `auth.token.service`) is a 400 whose reason the client does not show: the server
/// logs a warning naming both services and the client's address, once per wrong name per
/// minute however often it is repeated.
#[tokio::test]
async fn a_request_for_another_service_is_warned_once_per_name_with_both_names() {
    let server = start(Some("admin-password-1"));
    let url = server.url("/token?service=registry.other&scope=repository:a/b:pull");
    for from in [7, 7, 7, 9] {
        let r = client_from(from).get(&url).send().await.unwrap();
        assert_eq!(r.status(), 400);
        let body = r.text().await.unwrap();
        assert!(
            body.contains("registry.test") && body.contains("registry.other"),
            "{body}"
        );
    }
    let r = client_from(8)
        .post(server.url("/token"))
        .form(&[
            ("grant_type", "password"),
            ("service", "third.example"),
            ("username", "admin"),
            ("password", "admin-password-1"),
            ("client_id", "test"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // The log is written in order: once the second name is there, so is the first.
    let log = crate::support::poll(
        "the warning for third.example",
        50,
        crate::support::PAUSE,
        || async {
            let log = server.log();
            log.iter()
                .any(|l| l.contains("third.example"))
                .then_some(log)
        },
    )
    .await;
    let other: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("for service \"registry.other\""))
        .collect();
    assert_eq!(other.len(), 1, "once for four requests: {log:#?}");
    for needle in [
        "WARN",
        "127.0.0.7",
        "\"registry.test\"",
        "auth.token.service",
    ] {
        assert!(other[0].contains(needle), "{needle}: {}", other[0]);
    }
    let third: Vec<&String> = log.iter().filter(|l| l.contains("third.example")).collect();
    assert_eq!(third.len(), 1, "{log:#?}");
    assert!(third[0].contains("127.0.0.8") && third[0].contains("registry.test"));
    assert!(!log.iter().any(|l| l.contains("127.0.0.9")), "{log:#?}");
}
