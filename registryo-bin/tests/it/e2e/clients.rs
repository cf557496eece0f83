//! The other clients (podman, containerd's ctr) and malformed requests.

use super::*;

/// podman login, push and pull.
async fn podman_logs_in_pushes_and_pulls(target: &str) {
    let t = T::on("podman", target);
    t.seed("seed:1");
    let (user, pw) = t.pusher("alice").await;

    let auth = t.authfile("alice");
    t.podman(
        &[
            "login",
            "--authfile",
            &auth,
            "-u",
            &user,
            "--password-stdin",
            t.host(),
        ],
        Some(&pw),
    )
    .ok();
    let seed = t.image("seed:1");
    let app = t.image("app:1");
    t.podman(&["pull", "--authfile", &auth, &seed], None).ok();
    t.podman(&["tag", &seed, &app], None).ok();
    t.podman(&["push", "--authfile", &auth, &app], None).ok();
    t.podman(&["rmi", &seed, &app], None).ok();
    t.podman(&["pull", "--authfile", &auth, &app], None).ok();
    let out = t
        .podman(&["image", "inspect", "--format", "{{.Labels}}", &app], None)
        .ok();
    assert!(
        out.stdout.contains("io.registryo.e2e"),
        "{}",
        out.describe()
    );
    t.podman(&["rmi", &app], None).ok();
    // A wrong password (podman words the 401 itself).
    t.podman(
        &[
            "login",
            "--authfile",
            &t.authfile("wrong"),
            "-u",
            &user,
            "--password-stdin",
            t.host(),
        ],
        Some("not-the-password"),
    )
    .fails_with("invalid username/password");
}

/// containerd's ctr (POST grant_type=password first) pushes and pulls with `--user U:P`.
async fn ctr_pushes_and_pulls_with_a_password(target: &str) {
    let t = T::on("ctr", target);
    t.seed("seed:1");
    let (user, pw) = t.pusher("alice").await;

    let creds = format!("{user}:{pw}");
    let seed = t.image("seed:1");
    let app = t.image("app:1");
    t.ctr(&["images", "pull", "--plain-http", "--user", &creds, &seed])
        .ok();
    t.ctr(&["images", "tag", &seed, &app]).ok();
    t.ctr(&["images", "push", "--plain-http", "--user", &creds, &app])
        .ok();
    t.ctr(&["images", "rm", "--sync", &seed, &app]).ok();
    t.ctr(&["images", "pull", "--plain-http", "--user", &creds, &app])
        .ok();
    // ctr keeps the manifest bytes: the pushed digest is the layout's.
    let out = t
        .skopeo(&[
            "inspect",
            "--creds",
            &creds,
            "--format",
            "{{.Digest}}",
            &format!("docker://{app}"),
        ])
        .ok();
    assert_eq!(
        out.stdout.trim(),
        env().get("E2E_IMAGE_SINGLE_DIGEST"),
        "{}",
        out.describe()
    );
    t.ctr(&["images", "rm", "--sync", &app]).ok();
    let bad = format!("{user}:not-the-password");
    t.ctr(&["images", "pull", "--plain-http", "--user", &bad, &app])
        .fails_with("401");
}

/// Bad input over HTTP gets a 4xx with a message, never a 500; the server keeps serving.
#[tokio::test]
#[ignore = "needs the real registry and clients: run ./scripts/test"]
async fn bad_requests_get_a_clear_4xx() {
    let t = T::new("bad");
    let url = format!("{}/token", env().registryo_url());
    let service = env().service().to_owned();
    let admin = ("admin", env().admin_password().to_owned());
    let long = "a".repeat(20_000);
    let cases: Vec<(&str, reqwest::RequestBuilder)> = vec![
        (
            "upper-case name",
            t.http.get(&url).query(&[
                ("service", &service[..]),
                ("scope", "repository:Bad/Name:pull"),
            ]),
        ),
        (
            "scope without actions",
            t.http
                .get(&url)
                .query(&[("service", &service[..]), ("scope", "repository:a/b")]),
        ),
        (
            "unknown action",
            t.http
                .get(&url)
                .query(&[("service", &service[..]), ("scope", "repository:a/b:fly")]),
        ),
        (
            "oversized scope",
            t.http.get(&url).query(&[
                ("service", &service[..]),
                ("scope", &format!("repository:{long}:pull")),
            ]),
        ),
        (
            "wrong service",
            t.http.get(&url).query(&[("service", "someone-else")]),
        ),
        (
            "garbage Basic",
            t.http
                .get(&url)
                .query(&[("service", &service[..])])
                .header("authorization", "Basic !!!not-base64"),
        ),
        (
            "unknown user",
            t.http
                .get(&url)
                .query(&[("service", &service[..])])
                .basic_auth(format!("{}-nobody", t.prefix), Some("password123")),
        ),
        (
            "POST unknown grant_type",
            t.http
                .post(&url)
                .form(&[("grant_type", "magic"), ("service", &service[..])]),
        ),
        (
            "POST refresh_token unknown",
            t.http.post(&url).form(&[
                ("grant_type", "refresh_token"),
                ("service", &service[..]),
                ("client_id", "docker"),
                ("refresh_token", "nope"),
            ]),
        ),
        (
            "POST password without username",
            t.http.post(&url).form(&[
                ("grant_type", "password"),
                ("service", &service[..]),
                ("client_id", "e2e"),
                ("password", "x"),
            ]),
        ),
        (
            "POST JSON body",
            t.http
                .post(&url)
                .header("content-type", "application/json")
                .body(r#"{"grant_type":"password"}"#),
        ),
        (
            "POST form not UTF-8",
            t.http
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(b"grant_type=%ff%fe&service=\xff".to_vec()),
        ),
        (
            "POST oversized form",
            t.http.post(&url).form(&[
                ("grant_type", "password"),
                ("service", &service[..]),
                ("username", "admin"),
                ("password", &admin.1[..]),
                ("scope", &"repository:a/b:pull ".repeat(2_000)),
            ]),
        ),
    ];
    for (what, req) in cases {
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        assert!(
            (400..500).contains(&status),
            "{what}: expected a 4xx, got {status}: {body}"
        );
        assert!(
            body.contains("\"message\"") || status == 413 || status == 414 || status == 431,
            "{what}: {status} without a message: {body}"
        );
    }
    // Still serving.
    let (status, got) = t
        .grant(Some(("admin", &admin.1)), "repository:anything/at-all:pull")
        .await;
    assert_eq!((status, got), (200, vec!["pull".to_owned()]));
}

both_versions!(
    podman_logs_in_pushes_and_pulls,
    ctr_pushes_and_pulls_with_a_password,
);
