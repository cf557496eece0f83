//! Pages: who may see what, security headers, CSRF, inert user text.

use super::*;

#[tokio::test]
async fn anonymous_visitors_are_sent_to_sign_in_and_every_response_has_security_headers() {
    let t = setup().await;
    for path in USER_PAGES
        .iter()
        .chain(ADMIN_PAGES)
        .chain(&["/admin/users/1", "/admin/groups/1"])
    {
        let r = t.get(path, None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        // Every page but home names itself, to come back to after signing in.
        let back = if *path == "/" {
            "/signin".to_owned()
        } else {
            format!(
                "/signin?{}",
                serde_urlencoded::to_string([("next", path)]).unwrap()
            )
        };
        assert_eq!(r.location(), back, "{path}");
    }
    let r = t.get("/signin", None).await;
    assert_eq!(r.status, StatusCode::OK);
    let csp = r.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    assert_eq!(r.headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(r.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(r.headers.contains_key(header::REFERRER_POLICY));
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    assert!(!r.body.contains("<script"), "no script on the page");
    let css_href = r
        .body
        .split("href=\"/static/style.css?v=")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let css = t
        .get(&format!("/static/style.css?v={css_href}"), None)
        .await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(
        css.headers[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert!(
        css.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    // Anonymous POSTs change nothing.
    let r = t
        .post("/admin/groups", None, &[("name", "g"), ("csrf", "x")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(t.store.list_groups().await.unwrap().is_empty());
    // Unknown pages: HTML for browsers, JSON otherwise.
    assert_eq!(t.get("/nope", None).await.status, StatusCode::NOT_FOUND);
    let api = t.api(Method::GET, "/users", None, None).await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_admin_sees_every_page_uncached() {
    let t = setup().await;
    let admin = t.signin("admin", ADMIN_PW).await;
    t.admin_api(Method::POST, "/groups", Some(json!({"name": "devs"})))
        .await;
    let gid = t.store.get_group_by_name("devs").await.unwrap().id;
    let alice = t.user_id("alice").await;
    let extra = [
        format!("/admin/users/{alice}"),
        format!("/admin/users/{alice}/delete"),
        format!("/admin/groups/{gid}"),
        format!("/admin/groups/{gid}/delete"),
        format!("/admin/users/{alice}/admin"),
    ];
    for path in USER_PAGES
        .iter()
        .chain(ADMIN_PAGES)
        .copied()
        .chain(extra.iter().map(String::as_str))
    {
        let r = t.get(path, Some(&admin)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        assert_eq!(r.headers[header::CACHE_CONTROL], "no-store", "{path}");
        assert!(r.body.contains("Sign out"), "{path}");
    }
    assert_eq!(
        t.get("/admin/users/99999", Some(&admin)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.get("/admin/users/abc", Some(&admin)).await.status,
        StatusCode::NOT_FOUND
    );
    let group = t
        .get(&format!("/admin/groups/{gid}/delete"), Some(&admin))
        .await;
    assert!(
        group
            .body
            .contains("every rule naming the group are removed"),
        "{}",
        group.body
    );
    // A person has no generated secret to rotate.
    assert_eq!(
        t.get(&format!("/admin/users/{alice}/rotate"), Some(&admin))
            .await
            .status,
        StatusCode::CONFLICT
    );
    let reg = t.get("/registry", Some(&admin)).await;
    assert!(reg.body.contains("not configured"));
}

#[tokio::test]
async fn a_non_admin_gets_403_on_admin_pages_and_the_api_and_changes_nothing() {
    let t = setup().await;
    let alice = t.signin("alice", ALICE_PW).await;
    for path in USER_PAGES {
        assert_eq!(
            t.get(path, Some(&alice)).await.status,
            StatusCode::OK,
            "{path}"
        );
    }
    for path in ADMIN_PAGES {
        assert_eq!(
            t.get(path, Some(&alice)).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let admin_id = t.user_id("admin").await;
    let posts = [
        ("/admin/groups".to_owned(), vec![("name", "g")]),
        (
            "/admin/users".to_owned(),
            vec![("username", "mallory"), ("password", "longenough1")],
        ),
        (
            "/admin/service-accounts".to_owned(),
            vec![("username", "robot")],
        ),
        (
            "/admin/rules".to_owned(),
            vec![
                ("subject", "user:alice"),
                ("pattern", "**"),
                ("actions", "*"),
            ],
        ),
        (format!("/admin/users/{admin_id}/disable"), vec![]),
        (format!("/admin/users/{admin_id}/delete"), vec![]),
    ];
    for (path, form) in &posts {
        let r = t.post(path, Some(&alice), form).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert!(t.store.list_groups().await.unwrap().is_empty());
    assert!(t.store.list_acl_rules().await.unwrap().is_empty());
    assert_eq!(t.store.list_users().await.unwrap().len(), 2);
    assert!(!t.store.get_user(admin_id).await.unwrap().disabled);
    // The API: by Basic credentials and by session.
    let r = t
        .api(Method::GET, "/users", Some(("alice", ALICE_PW)), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["error"]["status"], 403);
    let req = Request::get("/api/v1/users")
        .header(
            header::COOKIE,
            format!("registryo_session={}", alice.cookie),
        )
        .body(Body::empty())
        .unwrap();
    assert_eq!(t.send(req).await.status, StatusCode::FORBIDDEN);
    // Alice's profile never shows another user's e-mail.
    let p = t.get("/profile", Some(&alice)).await;
    assert!(p.body.contains("alice@example.test") && !p.body.contains("admin@example.test"));
}

#[tokio::test]
async fn forms_without_the_right_csrf_token_are_refused_and_change_nothing() {
    let t = setup().await;
    let admin = t.signin("admin", ADMIN_PW).await;
    for csrf in ["", "wrong", &admin.csrf[..admin.csrf.len() - 1]] {
        let r = t
            .post(
                "/admin/groups",
                Some(&admin),
                &[("name", "g"), ("csrf", csrf)],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(r.body.contains("security token"), "a clear page");
    }
    // No field at all.
    let req = Request::post("/admin/groups")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(
            header::COOKIE,
            format!("registryo_session={}", admin.cookie),
        )
        .body(Body::from("name=g"))
        .unwrap();
    assert_eq!(t.send(req).await.status, StatusCode::FORBIDDEN);
    assert!(t.store.list_groups().await.unwrap().is_empty());
    // Sign-out too.
    let r = t.post("/signout", Some(&admin), &[("csrf", "nope")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        t.get("/", Some(&admin)).await.status,
        StatusCode::OK,
        "still signed in"
    );
    // Another session's token does not fit.
    let other = t.signin("admin", ADMIN_PW).await;
    let r = t
        .post(
            "/admin/groups",
            Some(&admin),
            &[("name", "g"), ("csrf", &other.csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // The sign-in form needs its double-submit cookie.
    let body = serde_urlencoded::to_string([
        ("username", "admin"),
        ("password", ADMIN_PW),
        ("csrf", "forged"),
    ])
    .unwrap();
    let req = Request::post("/signin")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    assert_eq!(t.send(req).await.status, StatusCode::FORBIDDEN);
    // The API by session wants the X-CSRF-Token header on unsafe methods.
    let api = |csrf: Option<&str>| {
        let mut req = Request::post("/api/v1/groups")
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                header::COOKIE,
                format!("registryo_session={}", admin.cookie),
            );
        if let Some(c) = csrf {
            req = req.header("x-csrf-token", c);
        }
        req.body(Body::from(json!({"name": "api-group"}).to_string()))
            .unwrap()
    };
    assert_eq!(t.send(api(None)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(t.send(api(Some("bad"))).await.status, StatusCode::FORBIDDEN);
    assert!(t.store.list_groups().await.unwrap().is_empty());
    assert_eq!(
        t.send(api(Some(&admin.csrf))).await.status,
        StatusCode::CREATED
    );
    // With the right token the form works, and sign-out ends the session.
    let r = t
        .post("/admin/groups", Some(&admin), &[("name", "g")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = t.post("/signout", Some(&admin), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(t.get("/", Some(&admin)).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn user_controlled_text_is_rendered_inert() {
    let t = setup().await;
    let admin = t.signin("admin", ADMIN_PW).await;
    let evil = "<script>alert(1)</script>";
    // Names cannot hold markup at all.
    for (path, body) in [
        (
            "/users",
            json!({"username": evil, "password": "long-enough-1"}),
        ),
        ("/groups", json!({"name": evil})),
    ] {
        let r = t.admin_api(Method::POST, path, Some(body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
        assert!(r.body.contains("found '<'"), "{}", r.body);
    }
    let who = "evil.user";
    let r = t
        .admin_api(
            Method::POST,
            "/users",
            Some(
                json!({"username": who, "password": "long-enough-1", "first_name": evil,
                        "last_name": "<img src=x onerror=alert(2)>", "email": "<script>@x.test"}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = t
        .admin_api(Method::POST, "/groups", Some(json!({"name": "evil-group"})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let gid = r.json()["id"].as_i64().unwrap();
    let r = t
        .admin_api(
            Method::PUT,
            &format!("/groups/evil-group/members/{who}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = t
        .admin_api(
            Method::POST,
            "/rules",
            Some(json!({"subject": format!("user:{who}"), "pattern": "x/*", "actions": "pull"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let uid = t.user_id(who).await;
    let rejected = t
        .post(
            "/admin/rules",
            Some(&admin),
            &[
                ("subject", "group:x"),
                ("pattern", evil),
                ("actions", "pull"),
            ],
        )
        .await;
    assert_eq!(rejected.status, StatusCode::BAD_REQUEST);
    let explain = format!(
        "/admin/explain?user={}&scope=repository:x/a:pull",
        urlenc(evil)
    );
    let pages = [
        "/admin/users".to_owned(),
        format!("/admin/users/{uid}"),
        format!("/admin/users/{uid}/delete"),
        "/admin/groups".to_owned(),
        format!("/admin/groups/{gid}"),
        "/admin/rules".to_owned(),
        "/admin/audit".to_owned(),
        explain,
    ];
    let mut bodies: Vec<(String, String)> = Vec::new();
    for p in &pages {
        let r = t.get(p, Some(&admin)).await;
        // Explaining for a name no account can have: the form again, saying so.
        let want = if p.starts_with("/admin/explain") {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        };
        assert_eq!(r.status, want, "{p}");
        bodies.push((p.clone(), r.body));
    }
    bodies.push(("rejected rule form".to_owned(), rejected.body));
    // Pages that show the evil text (the person's names, the refused pattern, the name asked
    // for) show it escaped; no page holds it raw.
    let shows_it = |p: &str| {
        p == "/admin/users"
            || p == format!("/admin/users/{uid}")
            || p.starts_with("/admin/explain")
            || p == "rejected rule form"
    };
    for (p, body) in &bodies {
        assert!(!body.contains("<script"), "{p}: raw <script>");
        assert!(!body.contains("<img src=x"), "{p}: raw <img>");
        if shows_it(p) {
            assert!(
                body.contains("&lt;script&gt;") || body.contains("&#60;script&#62;"),
                "{p}: escaped form"
            );
        }
    }
    assert!(
        bodies[1].1.contains("&lt;img src=x onerror=alert(2)&gt;")
            || bodies[1].1.contains("&#60;img")
    );
}

/// With the registry's host known, home and a new secret's page show the commands to copy,
/// naming it; `${account}` rules read as the viewer's own repositories, on home and on the
/// user's page.
#[tokio::test]
async fn the_commands_shown_name_the_registry() {
    let web = registryo_http::session::WebConfig {
        registry_host: "registry.example.test:5000".to_owned(),
        ..Default::default()
    };
    let t = setup_with(web).await;
    t.admin_api(
        Method::POST,
        "/rules",
        Some(
            json!({"subject": "authenticated", "pattern": "${account}/**", "actions": "pull,push"}),
        ),
    )
    .await;
    let alice = t.signin("alice", ALICE_PW).await;
    let home = t.get("/", Some(&alice)).await;
    assert!(
        home.body
            .contains("docker login registry.example.test:5000 -u alice"),
        "{}",
        home.body
    );
    assert!(home.body.contains("<code>alice/**</code>"), "{}", home.body);
    let admin = t.signin("admin", ADMIN_PW).await;
    let r = t
        .post(
            "/admin/service-accounts",
            Some(&admin),
            &[("username", "ci"), ("expires", "")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(
        r.body
            .contains("docker login registry.example.test:5000 -u ci --password-stdin"),
        "{}",
        r.body
    );
    // An administrator sees the same rules on alice's page.
    let id = t.user_id("alice").await;
    let page = t.get(&format!("/admin/users/{id}"), Some(&admin)).await;
    assert!(page.body.contains("Rules that apply"), "{}", page.body);
    assert!(page.body.contains("<code>alice/**</code>"), "{}", page.body);
    let bare = t
        .get(
            &format!("/admin/users/{}", t.user_id("admin").await),
            Some(&admin),
        )
        .await;
    assert!(bare.body.contains("<code>admin/**</code>"), "{}", bare.body);
    // Without it, no host is invented.
    let t = setup().await;
    let alice = t.signin("alice", ALICE_PW).await;
    let home = t.get("/", Some(&alice)).await;
    assert!(!home.body.contains("docker login registry"));
    assert!(home.body.contains("<code>docker login</code>"));
}
