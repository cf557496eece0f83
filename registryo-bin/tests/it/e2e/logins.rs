//! Logging in: identity tokens, wrong passwords, revoked and ended logins, refused requests' reasons.

use super::*;

/// docker login keeps an identity (refresh) token, not the password, and push and pull then
/// go through `POST /token grant_type=refresh_token`.
async fn docker_login_stores_an_identity_token_then_pushes_and_pulls(target: &str) {
    let t = T::on("login", target);
    let (user, pw) = t.pusher("alice").await;

    t.docker_login("a", &user, &pw).ok();
    let config = std::fs::read_to_string(t.dir.path().join("docker-a/config.json")).unwrap();
    let json: Value = serde_json::from_str(&config).unwrap();
    let entry = &json["auths"][t.host()];
    assert!(
        entry["identitytoken"]
            .as_str()
            .is_some_and(|s| s.len() >= 32),
        "no identitytoken in docker's config.json: {config}"
    );
    // docker keeps the username beside the token, with an empty password.
    let auth = entry["auth"].as_str().unwrap_or_default();
    let decoded = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(auth)
            .unwrap_or_default()
    };
    assert!(
        (auth.is_empty() || decoded == format!("{user}:").as_bytes()) && !config.contains(&pw),
        "docker stored the password: {config}"
    );

    let image = t.image("app:1");
    t.docker_import("a", &image);
    t.docker("a", &["push", &image], None).ok();
    t.docker("a", &["rmi", &image], None).ok();
    t.docker("a", &["pull", &image], None).ok();
}

/// A wrong password: docker login prints our message.
async fn docker_login_with_a_wrong_password_shows_our_message(target: &str) {
    let t = T::on("badpw", target);
    let (user, _) = t.user("alice");
    t.docker_login("a", &user, "not-the-password")
        .fails_with("invalid username or password");
    t.docker_login("b", &format!("{}-nobody", t.prefix), "whatever-password")
        .fails_with("invalid username or password");
}

/// `registryo token revoke` ends docker's login; `registryo user disable` ends pulls.
async fn revoked_refresh_tokens_and_disabled_users_are_refused(target: &str) {
    let t = T::on("revoke", target);
    let (user, pw) = t.user("alice");
    t.acl(
        &format!("user:{user}"),
        &format!("{}/**", t.prefix),
        "pull,push",
    );
    let scope = format!("repository:{}/app:pull,push", t.prefix);
    t.wait_grant(Some((&user, &pw)), &scope, "pull,push").await;

    let image = t.image("app:1");
    t.docker_import("a", &image);
    t.docker_login("a", &user, &pw).ok();
    t.docker("a", &["push", &image], None).ok();

    let out = t.cli(&["token", "revoke", &user], None).ok();
    assert!(
        out.stdout.contains("revoked 1 refresh token"),
        "{}",
        out.describe()
    );
    let image2 = t.image("app:2");
    t.docker("a", &["tag", &image, &image2], None).ok();
    // The server remembers docker's refresh token; another process's revocation reaches it
    // within a second (it polls the store's login revision).
    eventually("docker's revoked login is refused", || async {
        !t.docker("a", &["push", &image2], None).success()
    })
    .await;
    t.docker("a", &["push", &image2], None)
        .fails_with("unauthorized");

    // Log in again; pulls work until the user is disabled.
    t.docker_login("a", &user, &pw).ok();
    t.docker("a", &["pull", &image], None).ok();
    let auth = t.authfile("alice");
    t.skopeo(&[
        "login",
        "--authfile",
        &auth,
        "-u",
        &user,
        "-p",
        &pw,
        t.host(),
    ])
    .ok();
    t.skopeo(&["inspect", "--authfile", &auth, &format!("docker://{image}")])
        .ok();

    t.cli(&["user", "disable", &user], None).ok();
    eventually("the disabled user is refused a token", || async {
        t.grant(Some((&user, &pw)), &scope).await.0 == 401
    })
    .await;
    t.docker("a", &["pull", &image], None)
        .fails_with("unauthorized");
    t.skopeo(&["inspect", "--authfile", &auth, &format!("docker://{image}")])
        .fails_with("invalid username or password");
}

/// A password change ends every docker login of the account (docker keeps only its refresh
/// token after `docker login`), and a service account's new secret ends its logins too.
async fn a_password_change_logs_docker_out(target: &str) {
    let t = T::on("pwchange", target);
    let (user, pw) = t.user("alice");
    t.acl(
        &format!("user:{user}"),
        &format!("{}/**", t.prefix),
        "pull,push",
    );
    let scope = format!("repository:{}/app:pull,push", t.prefix);
    t.wait_grant(Some((&user, &pw)), &scope, "pull,push").await;
    let image = t.image("app:1");
    t.docker_import("a", &image);
    t.docker_login("a", &user, &pw).ok();
    t.docker("a", &["push", &image], None).ok();

    t.cli(
        &["user", "passwd", &user, "--password-stdin"],
        Some("a-new-password-1"),
    )
    .ok();
    // Seen by the server within a second: the CLI is another process.
    eventually("docker's login ends with the password change", || async {
        !t.docker("a", &["pull", &image], None).success()
    })
    .await;
    t.docker("a", &["pull", &image], None)
        .fails_with("unauthorized");
    // The new password logs in again.
    t.docker_login("a", &user, "a-new-password-1").ok();
    t.docker("a", &["pull", &image], None).ok();
}

/// A refused token request names its reason in registryo's log (clients show only "400 (Bad
/// Request)"), and never a secret.
#[tokio::test]
#[ignore = "needs the real registry and clients: run ./scripts/test"]
async fn refused_token_requests_name_their_reason_in_the_log() {
    let t = T::new("why400");
    let service = format!("{}-other-service", t.prefix);
    let secret = format!("{}-not-logged", t.prefix);
    let resp = t
        .http
        .get(format!("{}/token", env().registryo_url()))
        .query(&[("service", service.as_str())])
        .basic_auth("admin", Some(&secret))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let log_path = t.target.log.clone();
    eventually("the reason in the log", || {
        let log_path = log_path.clone();
        let service = service.clone();
        async move {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            // The warning of a request for another service names both services.
            log.lines().any(|l| {
                l.contains(&format!("for service \"{service}\""))
                    && l.contains("but this server issues tokens for service")
            })
        }
    })
    .await;
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(!log.contains(&secret), "a password reached the log");
}

both_versions!(
    docker_login_stores_an_identity_token_then_pushes_and_pulls,
    docker_login_with_a_wrong_password_shows_our_message,
    revoked_refresh_tokens_and_disabled_users_are_refused,
    a_password_change_logs_docker_out,
);
