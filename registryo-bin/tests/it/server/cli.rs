//! The CLI against a running server: its changes reach it, bad input changes nothing, registry-config and the keys, closed output, and the UI's operations.

use super::*;

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

    // Revoking the refresh tokens: the server remembers the one it checked, and sees the
    // CLI's revocation within a second (the store's login revision).
    let out = server.cli_ok(&["token", "revoke", "alice", "--client-id", "docker"], None);
    assert!(out.contains("revoked 1"), "{out}");
    eventually("the revoked refresh token is refused", || async {
        server.post(&refresh_form).await.0 == 401
    })
    .await;

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
    // The notifications: to the realm's origin, with the store's secret, the same every time.
    assert!(
        yml.contains("url: \"http://127.0.0.1:5001/registry/events\""),
        "{yml}"
    );
    let bearer = |yml: &str| {
        yml.lines()
            .find_map(|l| l.trim().strip_prefix("Authorization: [\"Bearer "))
            .map(|s| s.trim_end_matches("\"]").to_owned())
            .unwrap_or_else(|| panic!("no notification secret in:\n{yml}"))
    };
    let events_secret = bearer(&yml);
    assert!(events_secret.len() >= 40, "{events_secret}");
    let again = server.cli_ok(
        &[
            "registry-config",
            "--realm",
            "http://127.0.0.1:5001/token",
            "--registry-version",
            "3",
            "--events-url",
            "http://registryo:5001/registry/events",
        ],
        None,
    );
    assert_eq!(
        bearer(&again),
        events_secret,
        "one secret, kept in the store"
    );
    assert!(
        again.contains("url: \"http://registryo:5001/registry/events\""),
        "{again}"
    );
    let none = server.cli_ok(
        &[
            "registry-config",
            "--realm",
            "http://127.0.0.1:5001/token",
            "--no-events",
        ],
        None,
    );
    assert!(!none.contains("notifications:"), "{none}");
    let err = server.cli_err(
        &[
            "registry-config",
            "--realm",
            "http://127.0.0.1:5001/token",
            "--events-url",
            "registryo:5001",
        ],
        None,
    );
    assert!(err.contains("--events-url"), "{err}");
    let out = server.cli_ok(&["activity", "--since", "1h"], None);
    assert!(out.trim().is_empty(), "no registry events yet: {out}");
    let err = server.cli_err(&["activity", "--action", "promote"], None);
    assert!(
        err.contains("action") && err.contains("push, pull, mount or delete"),
        "{err}"
    );
    // Another service than the server's: printed as asked, with a warning naming both.
    let out = server.cli(
        &[
            "registry-config",
            "--realm",
            "http://127.0.0.1:5001/token",
            "--service",
            "registry.other",
        ],
        None,
    );
    assert!(out.status.success());
    let (yml, err) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(yml.contains("service: \"registry.other\""), "{yml}");
    assert!(
        err.contains("warning: --service \"registry.other\" differs from this server's service setting \"registry.test\"")
            && err.contains("REGISTRYO_SERVICE=registry.other"),
        "{err}"
    );
    // The same service: no warning.
    let out = server.cli(
        &["registry-config", "--realm", "http://127.0.0.1:5001/token"],
        None,
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));
    // --output: the same config in a file (0644; compose.yaml's registry-config has no shell
    // to redirect with), nothing on standard output, where it went on standard error.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yml");
    let out = server.cli(
        &[
            "registry-config",
            "--realm",
            "http://127.0.0.1:5001/token",
            "--output",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert!(out.status.success() && out.stdout.is_empty(), "{out:?}");
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(
        written.contains("realm: \"http://127.0.0.1:5001/token\"") && written.ends_with('\n'),
        "{written}"
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("wrote the registry config {}", file.display())),
        "{err}"
    );

    // jwks mode is v3's alone: asking for a 2.8 config is refused with the way out.
    let out = server.cli_with_env(
        &["registry-config", "--realm", "http://127.0.0.1:5001/token"],
        &[("REGISTRYO_REGISTRY_KEYS", "jwks")],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--registry-version 3"), "{err}");
    let out = server.cli_with_env(
        &[
            "registry-config",
            "--realm",
            "http://127.0.0.1:5001/token",
            "--registry-version",
            "3",
        ],
        &[("REGISTRYO_REGISTRY_KEYS", "jwks")],
    );
    let v3 = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{v3}");
    assert!(v3.contains("jwks: \""), "{v3}");
    assert!(!v3.contains("rootcertbundle"), "{v3}");

    keys_rotate_in_one_step(&server).await;
}

/// The `kid(rfc7638)=` of the `keys show` line that starts with `state`.
fn kid_of(show: &str, state: &str) -> String {
    kid_in(show, state, "rfc7638")
}

/// The `kid(STYLE)=` of the `keys show` line that starts with `state`.
fn kid_in(show: &str, state: &str, style: &str) -> String {
    show.lines()
        .find(|l| l.starts_with(state))
        .and_then(|l| l.split(&format!("kid({style})=")).nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {state} key in:\n{show}"))
        .to_owned()
}

/// A CA in the bundle, a signing key and a next key; a rotation makes the next key (already in
/// the JWKS) sign, keeps the old one trusted, and leaves the bundle as it was; the running
/// server takes the new key up and writes its own files again.
async fn keys_rotate_in_one_step(server: &Server) {
    let show = server.cli_ok(&["keys", "show"], None);
    let states: Vec<&str> = show
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(states, ["CA", "signing", "next"], "{show}");
    let signing = kid_of(&show, "signing");
    let next = kid_of(&show, "next");
    let jwks_file = public_dir(server.data()).join("registry-jwks.json");
    let bundle_file = public_dir(server.data()).join("registry-bundle.pem");
    let kids = |jwks: &Value| -> Vec<String> {
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    let rfc = [("REGISTRYO_KID_STYLE", "rfc7638")];
    let out = server.cli_with_env(&["keys", "jwks"], &rfc);
    let jwks: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(kids(&jwks), [signing.clone(), next.clone()]);
    let bundle = std::fs::read_to_string(&bundle_file).unwrap();
    assert_eq!(
        bundle.matches("BEGIN CERTIFICATE").count(),
        1,
        "the CA alone"
    );

    // The server's own files must come back after the rotation: it rewrites them itself.
    std::fs::remove_file(&jwks_file).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let other_jwks = elsewhere.path().join("jwks.json");
    let out = server.cli_with_env(
        &["keys", "rotate"],
        &[
            ("REGISTRYO_JWKS_PATH", other_jwks.to_str().unwrap()),
            (
                "REGISTRYO_BUNDLE_PATH",
                elsewhere.path().join("b.pem").to_str().unwrap(),
            ),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let show = server.cli_ok(&["keys", "show"], None);
    assert_eq!(kid_of(&show, "signing"), next, "the next key signs: {show}");
    assert_eq!(kid_of(&show, "published"), signing, "{show}");
    let newest = kid_of(&show, "next");
    // The server's own JWKS names keys in its kid style, the default libtrust.
    let newest_libtrust = kid_in(&show, "next", "libtrust");
    eventually(
        "the server signs with the new key and rewrote its JWKS",
        || async {
            let (_, j) = server.token("", None).await;
            let header = jwt::header(j["token"].as_str().unwrap());
            let written = std::fs::read_to_string(&jwks_file).ok();
            header["x5c"].is_array()
                && written.is_some_and(|w| w.contains(&newest_libtrust))
                && registryo_core::token::Verifier::from_cert_bundle_pem(&bundle)
                    .unwrap()
                    .verify(
                        j["token"].as_str().unwrap(),
                        "registryo-test",
                        "registry.test",
                    )
                    .is_ok()
                && std::fs::read_to_string(&other_jwks).is_ok_and(|w| w.contains(&newest_libtrust))
        },
    )
    .await;
    // The bundle did not change: the registry needs nothing.
    assert_eq!(std::fs::read_to_string(&bundle_file).unwrap(), bundle);
    // `--activate` is still accepted (older scripts) and rotates once more.
    server.cli_ok(&["keys", "rotate", "--activate"], None);
    let show = server.cli_ok(&["keys", "show"], None);
    assert_eq!(kid_of(&show, "signing"), newest, "{show}");
    let audit = server
        .admin_api("/api/v1/audit?action=keys.rotate", "admin-password-1")
        .await;
    let events = audit["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{audit}");
    assert_eq!(events[0]["actor"], "cli", "{audit}");
    let detail = events[0]["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with("4 key(s) published"), "{audit}");
    assert!(detail.contains(&newest), "{audit}");
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
    eventually("the docker login was revoked", || async {
        server.post(&form).await.0 == 401
    })
    .await;

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

/// `user list`, `group list` and `acl list` take `--filter`, and `--limit` for one page whose
/// next key is printed on standard error for `--after`; without `--limit` everything is listed.
#[tokio::test]
async fn list_commands_page_and_filter() {
    let server = start(Some("admin-password-1"));
    for name in ["ana", "ben", "cleo", "dan", "eli"] {
        server.cli_ok(
            &["user", "add", name, "--password-stdin"],
            Some("password-123"),
        );
        server.cli_ok(
            &[
                "acl",
                "add",
                &format!("user:{name}"),
                &format!("{name}/**"),
                "pull",
            ],
            None,
        );
    }
    let names = |out: &str| -> Vec<String> {
        out.lines()
            .skip(1)
            .map(|l| l.split_whitespace().next().unwrap().to_owned())
            .collect()
    };
    let all = server.cli_ok(&["user", "list"], None);
    assert_eq!(names(&all), ["admin", "ana", "ben", "cleo", "dan", "eli"]);
    let out = server.cli(&["user", "list", "--limit", "2"], None);
    assert!(out.status.success());
    assert_eq!(
        names(&String::from_utf8_lossy(&out.stdout)),
        ["admin", "ana"]
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--after ana"), "{err}");
    let out = server.cli_ok(&["user", "list", "--limit", "2", "--after", "ana"], None);
    assert_eq!(names(&out), ["ben", "cleo"]);
    let out = server.cli_ok(&["user", "list", "--filter", "E"], None);
    assert_eq!(names(&out), ["ben", "cleo", "eli"]);
    let out = server.cli_ok(&["acl", "list", "--filter", "dan"], None);
    assert_eq!(out.lines().count(), 2, "{out}");
    let err = server.cli_err(&["user", "list", "--limit", "0"], None);
    assert!(err.contains("--limit must be from 1 to 1000"), "{err}");
    let err = server.cli_err(&["acl", "list", "--after", "x"], None);
    assert!(err.contains("after a rule id"), "{err}");
}

#[tokio::test]
async fn cli_imports_rules_and_users_from_stdin_all_or_nothing() {
    let server = start(Some("admin-password-1"));
    // A bad line anywhere: nothing imported, the line named.
    let err = server.cli_err(
        &["acl", "add", "--stdin"],
        Some("# team rules\nuser:alice team/** pull\n\nuser:alice team/[ pull\n"),
    );
    assert!(
        err.contains("nothing imported") && err.contains("line 4"),
        "{err}"
    );
    let err = server.cli_err(&["acl", "add", "--stdin"], Some("user:alice team/**\n"));
    assert!(
        err.contains("line 1") && err.contains("SUBJECT PATTERN ACTIONS"),
        "{err}"
    );
    let err = server.cli_err(
        &["user", "add", "--stdin"],
        Some("alice alice-password\nbob short\n"),
    );
    assert!(
        err.contains("nothing imported") && err.contains("line 2"),
        "{err}"
    );
    let err = server.cli_err(&["acl", "add", "--stdin", "user:x", "a", "pull"], None);
    assert!(err.contains("cannot be used with"), "{err}");
    assert_eq!(server.cli_ok(&["acl", "list"], None).lines().count(), 1);
    assert_eq!(server.cli_ok(&["user", "list"], None).lines().count(), 2);

    let rules: String = (0..200)
        .map(|i| format!("user:alice team{i}/** pull,push\n"))
        .collect();
    let out = server.cli_ok(&["acl", "add", "--stdin"], Some(&rules));
    assert!(out.contains("added 200 rule(s)"), "{out}");
    let out = server.cli_ok(
        &["user", "add", "--stdin"],
        Some("alice alice-password\n# no password yet\ncarol\n"),
    );
    assert!(out.contains("added 2 user(s)"), "{out}");
    let alice = Some(("alice", "alice-password"));
    eventually("the imported rules apply on the running server", || async {
        let (s, j) = server
            .token("scope=repository:team199/app:pull", alice)
            .await;
        s == 200 && access(&j) == vec![("team199/app".to_owned(), vec!["pull".to_owned()])]
    })
    .await;
}
