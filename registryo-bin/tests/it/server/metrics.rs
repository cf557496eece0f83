//! `/metrics` of the running server: who may read it (addresses, the bearer token, through
//! trusted proxies), what the token path, the caches, the guessing limits, the UI and the
//! registry client record, and that nothing a client sends adds a series.

use super::*;
use crate::support::metrics::Scrape;

const TOKEN: &str = "metrics-token-0123456789abcdef";

/// `serve` with a fresh data directory, the admin's password `admin-password-1` and these
/// settings.
fn start_with(vars: &[(&str, &str)]) -> Server {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = base_command(data.path());
    cmd.env("REGISTRYO_LOG", "warn")
        .env("REGISTRYO_ADMIN_PASSWORD", "admin-password-1")
        .envs(vars.iter().copied());
    started(cmd).owning(data)
}

/// `GET /metrics` from `127.0.0.N` with these headers: the status, and the body.
async fn get_metrics(server: &Server, from: u8, headers: &[(&str, &str)]) -> (u16, String) {
    let mut req = client_from(from).get(server.url("/metrics"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    if status == 401 {
        assert_eq!(
            resp.headers()["www-authenticate"],
            "Bearer realm=\"registryo metrics\""
        );
    }
    (status, resp.text().await.unwrap())
}

/// A scrape that must be served (from 127.0.0.1, no token).
async fn scrape(server: &Server) -> Scrape {
    let (status, body) = get_metrics(server, 1, &[]).await;
    assert_eq!(status, 200, "{body}");
    Scrape::parse(&body)
}

#[tokio::test]
async fn metrics_go_only_to_allowed_addresses_with_the_token() {
    let bearer = format!("Bearer {TOKEN}");
    let server = start_with(&[
        ("REGISTRYO_METRICS_ALLOW", "127.0.0.2,127.0.0.3"),
        ("REGISTRYO_METRICS_TOKEN", TOKEN),
        ("REGISTRYO_TRUSTED_PROXIES", "127.0.0.3"),
    ]);
    // Another address: refused whatever it sends.
    let (status, body) = get_metrics(&server, 1, &[("authorization", &bearer)]).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("metrics_allow"), "{body}");
    // An allowed address without the token, with a wrong one, with another scheme.
    for auth in [
        None,
        Some("Bearer wrong-token-0123456789abcdef"),
        Some("Bearer"),
        Some("Basic YWRtaW46YWRtaW4tcGFzc3dvcmQtMQ=="),
        Some(&format!("Bearer {TOKEN}x")[..]),
    ] {
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", *a)).collect();
        let (status, body) = get_metrics(&server, 2, &headers).await;
        assert_eq!(status, 401, "{auth:?}: {body}");
    }
    let (status, body) = get_metrics(&server, 2, &[("authorization", &bearer)]).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("# TYPE registryo_token_requests_total counter"),
        "{body}"
    );
    // The scheme in any case.
    let lower = format!("bearer {TOKEN}");
    assert_eq!(
        get_metrics(&server, 2, &[("authorization", &lower)])
            .await
            .0,
        200
    );
    // Through a trusted proxy the client it names is judged, not the proxy.
    let via = |client: &'static str| {
        [
            ("authorization", bearer.clone()),
            ("x-forwarded-for", client.to_owned()),
        ]
    };
    for (client, want) in [("127.0.0.1", 403), ("203.0.113.9", 403), ("127.0.0.2", 200)] {
        let headers = via(client);
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(get_metrics(&server, 3, &headers).await.0, want, "{client}");
    }
    // A proxy that is not trusted cannot name an allowed client.
    let (status, _) = get_metrics(
        &server,
        1,
        &[("authorization", &bearer), ("x-forwarded-for", "127.0.0.2")],
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn metrics_can_be_turned_off_and_bad_settings_are_refused() {
    let off = start_with(&[("REGISTRYO_METRICS", "false")]);
    assert_eq!(get_metrics(&off, 1, &[]).await.0, 404);
    drop(off);
    for (var, value, says) in [
        ("REGISTRYO_METRICS_ALLOW", "10.0.0.0/33", "metrics_allow"),
        ("REGISTRYO_METRICS_ALLOW", "localhost", "metrics_allow"),
        ("REGISTRYO_METRICS_TOKEN", "short", "metrics_token"),
        (
            "REGISTRYO_METRICS_TOKEN",
            "with a space 0123456789",
            "metrics_token",
        ),
    ] {
        let data = tempfile::tempdir().unwrap();
        let mut cmd = base_command(data.path());
        cmd.env(var, value);
        let out = crate::support::binary::refused(cmd);
        assert!(out.contains(says), "{var}={value}: {out}");
    }
}

#[tokio::test]
async fn token_requests_are_counted_by_grant_type_and_outcome() {
    let server = start_with(&[("REGISTRYO_MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS", "2")]);
    let admin = Some(("admin", "admin-password-1"));
    let repo = "service=registry.test&scope=repository:a/b:pull";
    // Anonymous: granted nothing of what it asked (denied), and a request without scopes (ok).
    assert_eq!(server.token(repo, None).await.0, 200);
    assert_eq!(server.token("service=registry.test", None).await.0, 200);
    // The admin, twice: one argon2 verification, then the credential cache.
    assert_eq!(server.token(repo, admin).await.0, 200);
    assert_eq!(server.token(repo, admin).await.0, 200);
    // Wrong passwords of an unknown account until the guessing limit throttles it.
    for pw in ["guess-1", "guess-2"] {
        assert_eq!(server.token(repo, Some(("mallory", pw))).await.0, 401);
    }
    assert_eq!(
        server.token(repo, Some(("mallory", "guess-3"))).await.0,
        429
    );
    // Malformed, and for another service.
    assert_eq!(server.token("scope=nonsense", None).await.0, 400);
    assert_eq!(server.token("service=another", None).await.0, 400);
    // A docker login, then a refresh with its token and with an unknown one.
    let login = "service=registry.test&client_id=docker&offline_token=true";
    let (status, json) = server.token(login, admin).await;
    assert_eq!(status, 200, "{json}");
    let refresh = json["refresh_token"].as_str().unwrap().to_owned();
    for token in [refresh.as_str(), refresh.as_str(), "unknown-token"] {
        server
            .post(&[
                ("grant_type", "refresh_token"),
                ("service", "registry.test"),
                ("client_id", "docker"),
                ("scope", "repository:a/b:pull"),
                ("refresh_token", token),
            ])
            .await;
    }

    let m = scrape(&server).await;
    let tokens = |grant: &str, outcome: &str| {
        m.count(
            "registryo_token_requests_total",
            &[("grant_type", grant), ("outcome", outcome)],
        )
    };
    assert_eq!(tokens("anonymous", "denied"), 1.0);
    assert_eq!(tokens("anonymous", "ok"), 1.0);
    // Two pulls and the login; mallory's two guesses and the throttled third.
    assert_eq!(tokens("password", "ok"), 3.0);
    assert_eq!(tokens("password", "unauthorized"), 2.0);
    assert_eq!(tokens("password", "throttled"), 1.0);
    assert_eq!(tokens("unparsed", "bad_request"), 1.0);
    assert_eq!(tokens("anonymous", "wrong_service"), 1.0);
    assert_eq!(tokens("refresh_token", "ok"), 2.0);
    assert_eq!(tokens("refresh_token", "unauthorized"), 1.0);
    let latency = |grant: &str| {
        m.count(
            "registryo_token_request_duration_seconds_count",
            &[("grant_type", grant)],
        )
    };
    assert_eq!(latency("password"), 6.0);
    assert_eq!(latency("refresh_token"), 3.0);
    let cache = |cache: &str, result: &str| {
        m.count(
            "registryo_credential_cache_lookups_total",
            &[("cache", cache), ("result", result)],
        )
    };
    // The admin's second pull and the login hit the cache; the first and mallory's two miss.
    assert_eq!(cache("password", "hit"), 2.0);
    assert_eq!(cache("password", "miss"), 3.0);
    // The login's token is looked up in the store once, then remembered.
    assert_eq!(cache("refresh_token", "miss"), 2.0);
    assert_eq!(cache("refresh_token", "hit"), 1.0);
    assert_eq!(
        m.count(
            "registryo_throttled_attempts_total",
            &[("channel", "token")]
        ),
        1.0
    );
    // argon2: the admin's one verification and mallory's two (against the dummy hash).
    let verified = m.count(
        "registryo_argon2_duration_seconds_count",
        &[("op", "verify")],
    );
    assert_eq!(verified, 3.0);
    assert_eq!(m.value("registryo_argon2_queue_length", &[]), Some(0.0));
    // The policy: the first admin, no rule.
    assert_eq!(m.value("registryo_policy_users", &[]), Some(1.0));
    assert_eq!(m.value("registryo_policy_rules", &[]), Some(0.0));
    // /token is not counted among the HTTP requests (its own series say more).
    assert!(
        !m.series().iter().any(|s| s.contains("route=/token")),
        "{:?}",
        m.series()
    );
}

#[tokio::test]
async fn policy_reloads_ui_requests_and_registry_errors_are_recorded() {
    // A registry that is not there: every request to it fails to connect.
    let port = registryo_core::testing::free_port();
    let registry = format!("http://127.0.0.1:{port}");
    let server = start_with(&[("REGISTRYO_REGISTRY_URL", &registry)]);
    server.cli_ok(
        &["acl", "add", "authenticated", "${account}/**", "pull"],
        None,
    );
    let cookie = web_signin(&server, "admin", "admin-password-1")
        .await
        .expect("signed in");
    let client = no_redirects();
    let page = |path: &str| {
        client
            .get(server.url(path))
            .header("cookie", format!("registryo_session={cookie}"))
            .send()
    };
    assert_eq!(page("/admin/users").await.unwrap().status(), 200);
    assert_eq!(page("/admin/users").await.unwrap().status(), 200);
    let browse = page("/registry").await.unwrap().status().as_u16();
    assert_eq!(browse, 502);
    assert_eq!(page("/no/such/page").await.unwrap().status(), 404);
    // The CLI's rule reaches the server through its one-second poll: a reload by the log.
    eventually("the rule in the policy gauge", || async {
        scrape(&server).await.value("registryo_policy_rules", &[]) == Some(1.0)
    })
    .await;
    let m = scrape(&server).await;
    let http = |route: &str, method: &str, status: &str| {
        m.count(
            "registryo_http_requests_total",
            &[("route", route), ("method", method), ("status", status)],
        )
    };
    assert_eq!(http("/admin/users", "GET", "2xx"), 2.0);
    assert_eq!(http("/registry", "GET", "5xx"), 1.0);
    assert_eq!(http("unmatched", "GET", "4xx"), 1.0);
    assert!(http("/signin", "POST", "3xx") >= 1.0, "{:?}", m.series());
    assert!(
        m.count(
            "registryo_http_request_duration_seconds_count",
            &[("route", "/admin/users")]
        ) >= 2.0
    );
    assert!(
        m.count(
            "registryo_registry_requests_total",
            &[("result", "unreachable")]
        ) >= 1.0,
        "{:?}",
        m.series()
    );
    assert!(
        m.count(
            "registryo_policy_reload_duration_seconds_count",
            &[("kind", "changes")]
        ) >= 1.0
    );
}

/// Random text for names and paths.
fn random() -> String {
    registryo_core::secret::random_hex::<6>().unwrap()
}

/// Requests a client chooses every part of: paths, usernames, scopes, services, methods.
async fn hostile_batch(server: &Server, words: &mut Vec<String>) {
    let client = reqwest::Client::new();
    for _ in 0..20 {
        let w = random();
        words.push(w.clone());
        for path in [
            format!("/{w}"),
            format!("/admin/users/{w}"),
            format!("/api/v1/users/{w}"),
            format!("/registry/r/{w}/-/tags/{w}"),
            format!("/static/{w}.css"),
        ] {
            client.get(server.url(&path)).send().await.unwrap();
        }
        let method = reqwest::Method::from_bytes(w.to_uppercase().as_bytes()).unwrap();
        client
            .request(method, server.url(&format!("/{w}")))
            .send()
            .await
            .unwrap();
        server
            .token(
                &format!("service=registry.test&scope=repository:{w}/x:pull"),
                Some((&w, &w)),
            )
            .await;
        server.token(&format!("service={w}"), None).await;
    }
}

#[tokio::test]
async fn nothing_a_client_sends_adds_a_series() {
    // No guessing limit, so that every random account is checked alike.
    let server = start_with(&[
        ("REGISTRYO_MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS", "0"),
        ("REGISTRYO_MAX_FAILURES_PER_ACCOUNT", "0"),
    ]);
    let mut words = Vec::new();
    // A first batch may add the series of its kinds of answer (an unmatched 404, …), and the
    // first scrape those of /metrics.
    scrape(&server).await;
    hostile_batch(&server, &mut words).await;
    let before = scrape(&server).await.series();
    hostile_batch(&server, &mut words).await;
    let after = scrape(&server).await.series();
    assert!(
        before == after,
        "new series: {:?}; gone: {:?}",
        after.difference(&before).collect::<Vec<_>>(),
        before.difference(&after).collect::<Vec<_>>()
    );
    for series in &after {
        for w in &words {
            assert!(!series.contains(w.as_str()), "{series} holds {w}");
        }
    }
}
