//! Signing in and the logins a person holds: service accounts, disabled users, throttling, password changes, docker logins.

use super::*;

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
    // Rotating a secret from the account's page asks first, saying what stops.
    let robot = t.admin_api(Method::GET, "/users/robot", None).await.json();
    let id = robot["id"].as_i64().unwrap();
    let page = t.get(&format!("/admin/users/{id}"), Some(&admin)).await;
    assert!(
        page.body
            .contains(&format!(r#"href="/admin/users/{id}/rotate""#))
    );
    let confirm = t
        .get(&format!("/admin/users/{id}/rotate"), Some(&admin))
        .await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(
        confirm.body.contains("Rotate the secret of robot?"),
        "{}",
        confirm.body
    );
    assert!(confirm.body.contains("stops working at once"));
    let rotated = t
        .post(&format!("/admin/users/{id}/rotate"), Some(&admin), &[])
        .await;
    assert_eq!(rotated.status, StatusCode::OK);
    assert!(
        rotated.body.contains("shown <strong>once</strong>"),
        "{}",
        rotated.body
    );
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

    // Uses are written in batches (the server's watcher every 10 s, and at shutdown).
    t.accounts.flush_token_uses().await.unwrap();
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

/// Sent to sign in from a page, a person comes back to it; never to another site.
#[tokio::test]
async fn signing_in_returns_to_the_page_asked_for_and_only_on_this_site() {
    let t = setup().await;
    let r = t.get("/admin/users?filter=al", None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/signin?next=%2Fadmin%2Fusers%3Ffilter%3Dal");
    // A form posted without a session is refused (no CSRF token), not returned to; the home
    // page needs no `next`.
    let r = t.post("/admin/users", None, &[("username", "x")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.headers.get("location").is_none());
    assert_eq!(t.get("/", None).await.location(), "/signin");

    let page = t
        .get("/signin?next=%2Fadmin%2Fusers%3Ffilter%3Dal", None)
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains(r#"<input type="hidden" name="next" value="/admin/users?filter=al">"#),
        "{}",
        page.body
    );
    let token = page.cookie("registryo_signin").unwrap();
    let sign_in = |next: &'static str, pw: &'static str| {
        let token = token.clone();
        let t = &t;
        async move {
            t.post_anonymous(
                "/signin",
                Some(&token),
                &[
                    ("username", "admin"),
                    ("password", pw),
                    ("csrf", &token),
                    ("next", next),
                ],
            )
            .await
        }
    };
    // A wrong password keeps the destination in the form.
    let r = sign_in("/admin/groups", "wrong-password").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains(r#"name="next" value="/admin/groups""#));
    let r = sign_in("/admin/users?filter=al", ADMIN_PW).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/admin/users?filter=al");
    for elsewhere in [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "x",
    ] {
        let r = sign_in(elsewhere, ADMIN_PW).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{elsewhere}");
        assert_eq!(r.location(), "/", "{elsewhere}");
    }
    // Signed in already: the sign-in page sends on to the destination.
    let admin = t.signin("admin", ADMIN_PW).await;
    let r = t.get("/signin?next=%2Fadmin%2Frules", Some(&admin)).await;
    assert_eq!(r.location(), "/admin/rules");
    let r = t.get("/signin?next=%2F%2Fevil.example", Some(&admin)).await;
    assert_eq!(r.location(), "/");
}
