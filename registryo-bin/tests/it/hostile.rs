//! The `registryo` binary under hostile traffic (issue 8), run for real like `server`:
//! idle and slowloris connections, a connection cap, SIGTERM with stalled clients, the
//! database after a clean stop, forwarded addresses from trusted proxies only, and HSTS.
//!
//! Every assertion is on outcomes and counts; the only waits are generous deadlines.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::binary::{BIN, Server, clean_env, registryo, started};
use crate::support::command::output;
use crate::support::cookies::{no_redirects, set_cookie, sign_in};

const ADMIN_PW: &str = "admin-password-1";

/// `registryo serve` on port 0 with a fresh data directory and these extra settings; with
/// `soft_nofile`, under that soft open-files limit (the hard one unchanged).
fn start(settings: &[(&str, &str)], soft_nofile: Option<u32>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    start_in(dir.path(), settings, soft_nofile).owning(dir)
}

/// [`start`] on an existing data directory.
fn start_in(data: &Path, settings: &[(&str, &str)], soft_nofile: Option<u32>) -> Server {
    let mut cmd = match soft_nofile {
        Some(n) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("ulimit -Sn {n} && exec \"$0\" \"$@\""))
                .arg(BIN);
            c
        }
        None => Command::new(BIN),
    };
    clean_env(&mut cmd, data)
        .env("REGISTRYO_DATA", data)
        .env("REGISTRYO_ADMIN_PASSWORD", ADMIN_PW)
        .env("REGISTRYO_LOG", "warn");
    for (k, v) in settings {
        cmd.env(k, v);
    }
    started(cmd)
}

impl Server {
    /// A raw connection that has sent `bytes`.
    fn raw(&self, bytes: &str) -> TcpStream {
        let mut s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(10)).unwrap();
        s.write_all(bytes.as_bytes()).unwrap();
        s
    }

    async fn token_status(&self, client: &reqwest::Client) -> Option<u16> {
        let resp = client
            .get(self.url("/token?service=registry.test"))
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .ok()?;
        Some(resp.status().as_u16())
    }

    /// The newest audit event with this action and actor, through the admin API.
    async fn last_audit(&self, action: &str, actor: &str) -> Value {
        let path = format!("/api/v1/audit?action={action}&actor={actor}&limit=1");
        let json = self.admin_api(&path, ADMIN_PW).await;
        json["events"][0].clone()
    }

    /// A `/token` request with a wrong password for `user` (audited as `auth.failed`).
    async fn refused_token(&self, user: &str, headers: &[(&str, &str)]) {
        let mut req = reqwest::Client::new()
            .get(self.url("/token"))
            .basic_auth(user, Some("wrong"));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        assert_eq!(req.send().await.unwrap().status(), 401);
    }

    /// A failed UI sign-in with this wrong password; returns the status.
    async fn failed_signin(&self, username: &str, password: &str, headers: &[(&str, &str)]) -> u16 {
        sign_in(&no_redirects(), &self.url(""), username, password, headers)
            .await
            .status()
            .as_u16()
    }
}

/// Whether the server closed `s` (EOF or reset) within `deadline`, reading and dropping
/// whatever it sent first.
fn closed_by_server(s: &mut TcpStream, deadline: Duration) -> bool {
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while start.elapsed() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return true, // reset
        }
    }
    false
}

/// What arrives on `s` within `wait` (nothing: empty).
fn read_some(s: &mut TcpStream, wait: Duration) -> String {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 4096];
    match s.read(&mut buf) {
        Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
        Err(_) => String::new(),
    }
}

/// The test process holds thousands of sockets: lift its own soft open-files limit.
fn raise_own_nofile() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let l = getrlimit(Resource::Nofile);
    if l.current.is_some_and(|c| c < 8192) {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: l.maximum.map(|m| m.min(65_536)),
                maximum: l.maximum,
            },
        );
    }
}

/// Soft and hard "Max open files" of a process.
fn nofile_of(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let f: Vec<&str> = line.split_whitespace().collect();
    (f[3].to_owned(), f[4].to_owned())
}

#[tokio::test]
async fn idle_and_slowloris_connections_leave_token_answering() {
    raise_own_nofile();
    let server = start(&[], Some(1024));
    let (soft, hard) = nofile_of(server.child.id());
    assert_eq!(
        soft, hard,
        "serve raises its soft open-files limit to the hard one"
    );
    let addr = server.addr;
    let held = tokio::task::spawn_blocking(move || {
        let mut held = Vec::new();
        for i in 0..2100 {
            // A refused or unanswered connection: the server is unreachable already.
            let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
                break;
            };
            if i >= 1100 {
                // Slowloris: half a request line, then nothing.
                let _ = s.write_all(b"GET /token?service=registry.te");
            }
            held.push(s);
        }
        held
    })
    .await
    .unwrap();
    assert_eq!(held.len(), 2100, "every connection was accepted");
    let client = reqwest::Client::new();
    let mut ok = 0;
    for _ in 0..20 {
        if server.token_status(&client).await == Some(200) {
            ok += 1;
        }
    }
    assert_eq!(ok, 20, "/token answers with 2,100 connections held");
    drop(held);
}

#[tokio::test]
async fn slow_heads_are_cut_and_idle_connections_live_their_idle_timeout() {
    let server = start(
        &[
            ("REGISTRYO_HEADER_READ_TIMEOUT_SECS", "1"),
            ("REGISTRYO_IDLE_TIMEOUT_SECS", "5"),
        ],
        None,
    );
    let deadline = Duration::from_secs(30);
    let mut slowloris = server.raw("GET /token HTTP/1.1\r\nHost: x");
    let mut silent = server.raw("");
    let mut trickle = server.raw("GET /healthz HTTP/1.1\r\n");
    std::thread::sleep(Duration::from_millis(600));
    let _ = trickle.write_all(b"Host: x\r\n");
    assert!(closed_by_server(&mut slowloris, deadline), "half a head");
    assert!(closed_by_server(&mut silent, deadline), "nothing sent");
    assert!(
        closed_by_server(&mut trickle, deadline),
        "a head that trickles"
    );

    // A kept-alive connection between requests has the idle timeout, not the head one.
    let request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut kept = server.raw(request);
    assert!(read_some(&mut kept, deadline).starts_with("HTTP/1.1 200"));
    std::thread::sleep(Duration::from_millis(2500));
    kept.write_all(request.as_bytes()).unwrap();
    assert!(
        read_some(&mut kept, deadline).starts_with("HTTP/1.1 200"),
        "still open after more than twice the head timeout"
    );
    assert!(closed_by_server(&mut kept, deadline), "closed once idle");
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_after_the_idle_timeout() {
    let server = start(&[("REGISTRYO_IDLE_TIMEOUT_SECS", "2")], None);
    // Far more pipelined requests for the style sheet (8 KB each) than the socket buffers
    // hold: the server's writes stall while this client reads nothing.
    const REQUESTS: usize = 20_000;
    let mut s = TcpStream::connect(server.addr).unwrap();
    let mut writer = s.try_clone().unwrap();
    let sent = std::thread::spawn(move || {
        writer
            .set_write_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let request = b"GET /static/style.css HTTP/1.1\r\nHost: x\r\n\r\n";
        (0..REQUESTS)
            .take_while(|_| writer.write_all(request).is_ok())
            .count()
    });
    // Long enough for the stall to outlast the idle timeout several times over.
    std::thread::sleep(Duration::from_secs(8));
    // Then read what was answered: the server gave up before answering everything.
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let (mut answered, mut tail) = (0usize, Vec::new());
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.extend_from_slice(&buf[..n]);
                answered += tail.windows(15).filter(|w| w == b"HTTP/1.1 200 OK").count();
                let keep = tail.len().min(14);
                tail.drain(..tail.len() - keep);
            }
        }
    }
    let sent = sent.join().unwrap();
    assert!(answered > 0, "some answers arrived before the stall");
    assert!(
        answered < sent.min(REQUESTS),
        "the stalled connection was kept: {answered} answers for {sent} requests"
    );
}

#[tokio::test]
async fn connections_over_the_cap_wait_to_be_accepted() {
    let server = start(
        &[
            ("REGISTRYO_MAX_CONNECTIONS", "5"),
            ("REGISTRYO_HEADER_READ_TIMEOUT_SECS", "120"),
        ],
        None,
    );
    let mut held: Vec<TcpStream> = (0..5).map(|_| server.raw("")).collect();
    // The kernel completes the handshake; the server does not accept, so no answer.
    let mut sixth = server.raw("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(read_some(&mut sixth, Duration::from_secs(1)), "");
    held.pop();
    assert!(read_some(&mut sixth, Duration::from_secs(30)).starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn sigterm_stops_within_the_grace_period_whatever_clients_do() {
    let mut server = start(
        &[
            ("REGISTRYO_SHUTDOWN_GRACE_SECS", "1"),
            ("REGISTRYO_HEADER_READ_TIMEOUT_SECS", "300"),
            ("REGISTRYO_IDLE_TIMEOUT_SECS", "300"),
        ],
        None,
    );
    let mut half_head = server.raw("GET /token?service=registry.test HTTP/1.1\r\nHost: x\r\n");
    let mut half_body = server.raw(
        "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: 100\r\n\r\ngrant_type",
    );
    let mut idle = server.raw("");
    // The server has the stalled body's head: its handler waits for the rest.
    std::thread::sleep(Duration::from_millis(500));
    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(30));
    assert!(
        status.is_some(),
        "still running 30 s after SIGTERM with a 1 s grace period"
    );
    assert!(status.unwrap().success());
    for (what, s) in [
        ("half head", &mut half_head),
        ("half body", &mut half_body),
        ("idle", &mut idle),
    ] {
        assert!(closed_by_server(s, Duration::from_secs(5)), "{what}");
    }
}

/// A registry that accepts connections, reads, and never answers; counts connections.
fn silent_registry() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            seen.fetch_add(1, Ordering::SeqCst);
            held.push(s);
        }
    });
    (url, count)
}

#[tokio::test]
async fn a_request_in_flight_at_sigterm_gets_its_answer() {
    let (registry, connections) = silent_registry();
    let mut server = start(
        &[
            ("REGISTRYO_REGISTRY_URL", &registry),
            ("REGISTRYO_REGISTRY_TIMEOUT_SECS", "2"),
            ("REGISTRYO_SHUTDOWN_GRACE_SECS", "20"),
        ],
        None,
    );
    // Sign in as the admin (the UI form, its double-submit cookie).
    let client = no_redirects();
    let signed_in = sign_in(&client, &server.url(""), "admin", ADMIN_PW, &[]).await;
    assert_eq!(signed_in.status(), 303);
    let session = set_cookie(&signed_in, "registryo_session").unwrap();
    let pending = tokio::spawn(
        client
            .get(server.url("/registry"))
            .header("cookie", format!("registryo_session={session}"))
            .header("accept", "text/html")
            .send(),
    );
    // The page is in flight once the server has called the registry.
    let start = Instant::now();
    while connections.load(Ordering::SeqCst) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no registry call"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.sigterm();
    let resp = pending.await.unwrap().unwrap();
    assert_eq!(resp.status(), 502);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("did not answer in time")
    );
    let status = server.wait_exit(Duration::from_secs(60));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
}

#[tokio::test]
async fn a_clean_stop_leaves_the_database_in_one_file() {
    let dir = tempfile::tempdir().unwrap();
    // Three stops: whether a process that does not close its pool leaves the log behind
    // depends on timing; one that checkpoints and closes never does.
    for round in 0..3 {
        let mut server = start_in(dir.path(), &[], None);
        let name = format!("user{round}");
        let mut add = registryo(dir.path());
        add.args(["user", "add", &name, "--password-stdin"])
            .env("REGISTRYO_DATA", dir.path());
        let add = output(add, Some("user-password-1\n")).status;
        assert!(add.success());
        // The server writes too (audit events for refused tokens), on several pooled
        // connections.
        let mut requests = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let url = server.url("/api/v1/users");
            requests.spawn(async move {
                let client = reqwest::Client::new();
                let users = client.get(&url).basic_auth("admin", Some(ADMIN_PW)).send();
                assert_eq!(users.await.unwrap().status(), 200);
                let token = url.replace("/api/v1/users", "/token");
                let refused = client
                    .get(&token)
                    .basic_auth("nobody", Some("wrong"))
                    .send();
                assert_eq!(refused.await.unwrap().status(), 401);
            });
        }
        while let Some(done) = requests.join_next().await {
            done.unwrap();
        }
        server.sigterm();
        assert!(
            server
                .wait_exit(Duration::from_secs(30))
                .is_some_and(|s| s.success())
        );
        assert!(
            !dir.path().join("registryo.db-wal").exists(),
            "round {round}: the write-ahead log is left behind"
        );
    }
    // The .db file alone, elsewhere, holds everything.
    let other = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir.path().join("registryo.db"),
        other.path().join("registryo.db"),
    )
    .unwrap();
    let list = cli_in(other.path(), &["user", "list"]);
    for name in ["admin", "user0", "user1", "user2"] {
        assert!(list.contains(name), "{name}: {list}");
    }
}

fn cli_in(data: &Path, args: &[&str]) -> String {
    let mut cmd = registryo(data);
    cmd.args(args).env("REGISTRYO_DATA", data);
    let out = output(cmd, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    // 127.0.0.1 (this test) is a trusted proxy.
    let server = start(
        &[("REGISTRYO_TRUSTED_PROXIES", "10.9.9.9, 127.0.0.0/8")],
        None,
    );
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("x-forwarded-for", "203.0.113.7")], "203.0.113.7"),
        (
            &[("x-forwarded-for", "6.6.6.6, 203.0.113.8, 10.9.9.9")],
            "203.0.113.8",
        ),
        (
            &[("forwarded", "for=\"[2001:db8::7]:4711\";proto=https")],
            "2001:db8::7",
        ),
        // Two headers naming different clients: one is forged, the proxy's address is used.
        (
            &[
                ("x-forwarded-for", "203.0.113.7"),
                ("forwarded", "for=6.6.6.6"),
            ],
            "127.0.0.1",
        ),
        (&[], "127.0.0.1"),
    ];
    for (i, (headers, want)) in cases.iter().enumerate() {
        // One account per case: the audit log keeps one row per account, address and minute.
        let user = format!("nobody{i}");
        server.refused_token(&user, headers).await;
        let ev = server.last_audit("auth.failed", &user).await;
        assert_eq!(ev["remote_addr"], *want, "{headers:?}");
    }
    // The guessing limits count the forwarded address: 10 failures on an account from one
    // address (each with another password: a repeated one counts once) block that address
    // only.
    let a = [("x-forwarded-for", "198.51.100.1")];
    for i in 0..10 {
        let status = server
            .failed_signin("victim", &format!("wrong-{i}"), &a)
            .await;
        assert_eq!(status, 401, "attempt {i}");
    }
    let ev = server.last_audit("auth.failed", "victim").await;
    assert_eq!(ev["remote_addr"], "198.51.100.1");
    assert_eq!(server.failed_signin("victim", "wrong-x", &a).await, 429);
    let b = [("x-forwarded-for", "198.51.100.2")];
    assert_eq!(server.failed_signin("victim", "wrong-y", &b).await, 401);
    assert_eq!(
        server.last_audit("auth.failed", "victim").await["remote_addr"],
        "198.51.100.2"
    );

    // Not a trusted proxy: the header is ignored, the peer counts.
    let untrusted = start(&[("REGISTRYO_TRUSTED_PROXIES", "10.9.9.9")], None);
    untrusted
        .refused_token(
            "nobody",
            &[
                ("x-forwarded-for", "203.0.113.7"),
                ("forwarded", "for=203.0.113.7"),
            ],
        )
        .await;
    let ev = untrusted.last_audit("auth.failed", "nobody").await;
    assert_eq!(ev["remote_addr"], "127.0.0.1");
}

#[tokio::test]
async fn hsts_only_with_an_https_public_url() {
    let https = start(
        &[("REGISTRYO_PUBLIC_URL", "https://registry.example")],
        None,
    );
    let http = start(&[], None);
    for path in [
        "/healthz",
        "/token?service=registry.test",
        "/signin",
        "/nope",
    ] {
        let resp = reqwest::get(https.url(path)).await.unwrap();
        assert_eq!(
            resp.headers()
                .get("strict-transport-security")
                .map(|v| v.to_str().unwrap()),
            Some("max-age=31536000"),
            "{path}"
        );
        let resp = reqwest::get(http.url(path)).await.unwrap();
        assert!(
            resp.headers().get("strict-transport-security").is_none(),
            "{path}"
        );
    }
}
