//! Administration through the UI and the JSON API: rules, users, status codes, whole changes.

use super::*;

#[tokio::test]
async fn rules_are_validated_next_to_the_field_and_apply_at_once() {
    let t = setup().await;
    let admin = t.signin("admin", ADMIN_PW).await;
    let r = t
        .post(
            "/admin/rules",
            Some(&admin),
            &[
                ("subject", "robot:x"),
                ("pattern", "a/*"),
                ("actions", "pull"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("class=\"field-error\""));
    assert!(r.body.contains("value=\"robot:x\""), "the input is kept");
    let r = t
        .post(
            "/admin/rules",
            Some(&admin),
            &[
                ("subject", "user:alice"),
                ("pattern", "a/*"),
                ("actions", "fly"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(t.store.list_acl_rules().await.unwrap().is_empty());
    let (_, tok) = t.token("alice", ALICE_PW, "repository:team/app:pull").await;
    assert!(
        claims(&tok)["access"].as_array().is_none_or(Vec::is_empty),
        "{tok}"
    );
    let r = t
        .post(
            "/admin/rules",
            Some(&admin),
            &[
                ("subject", "group:devs"),
                ("pattern", "team/*"),
                ("actions", "pull,push"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    t.post("/admin/groups", Some(&admin), &[("name", "devs")])
        .await;
    let gid = t.store.get_group_by_name("devs").await.unwrap().id;
    let r = t
        .post(
            &format!("/admin/groups/{gid}/members"),
            Some(&admin),
            &[("username", "alice")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = t
        .post(
            &format!("/admin/groups/{gid}/members"),
            Some(&admin),
            &[("username", "ghost")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let (_, tok) = t
        .token("alice", ALICE_PW, "repository:team/app:pull,push")
        .await;
    assert_eq!(
        claims(&tok)["access"][0]["actions"],
        json!(["pull", "push"]),
        "{tok}"
    );
    let ex = t
        .get(
            "/admin/explain?user=alice&scope=repository:team/app:pull",
            Some(&admin),
        )
        .await;
    assert!(ex.body.contains("granted: pull"), "{}", ex.body);
    assert!(ex.body.contains("team/*"));
    let bad = t
        .get("/admin/explain?user=alice&scope=nonsense", Some(&admin))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let rule = t.store.list_acl_rules().await.unwrap()[0].id;
    // The list links to a confirmation naming the rule; removing it says which rule went.
    let list = t.get("/admin/rules", Some(&admin)).await;
    assert!(
        list.body
            .contains(&format!(r#"href="/admin/rules/{rule}/delete""#))
    );
    let confirm = t
        .get(&format!("/admin/rules/{rule}/delete"), Some(&admin))
        .await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(
        confirm.body.contains(&format!("Remove rule {rule}?")),
        "{}",
        confirm.body
    );
    assert!(
        confirm.body.contains("group:devs may pull,push on team/*"),
        "{}",
        confirm.body
    );
    assert!(
        confirm
            .body
            .contains(&format!(r#"action="/admin/rules/{rule}/delete""#))
    );
    // Looking at the confirmation changed nothing.
    assert_eq!(t.store.list_acl_rules().await.unwrap().len(), 1);
    let r = t
        .post(&format!("/admin/rules/{rule}/delete"), Some(&admin), &[])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body.contains(&format!(
            "Removed rule {rule}: group:devs may pull,push on team/*."
        )),
        "{}",
        r.body
    );
    let gone = t
        .get(&format!("/admin/rules/{rule}/delete"), Some(&admin))
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let (_, tok) = t.token("alice", ALICE_PW, "repository:team/app:pull").await;
    assert!(
        claims(&tok)["access"].as_array().is_none_or(Vec::is_empty),
        "{tok}"
    );
    let audit = t.get("/admin/audit?action=acl.add", Some(&admin)).await;
    assert!(audit.body.contains("group:devs team/* pull,push"));
}

#[tokio::test]
async fn admin_ui_user_lifecycle() {
    let t = setup().await;
    let admin = t.signin("admin", ADMIN_PW).await;
    let r = t
        .post(
            "/admin/users",
            Some(&admin),
            &[("username", "bob"), ("password", "bob"), ("email", "x")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = t
        .post(
            "/admin/users",
            Some(&admin),
            &[
                ("username", "bob"),
                ("password", "bob-pass-1"),
                ("first_name", "Bob"),
                ("email", "bob@example.test"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = t
        .post(
            "/admin/users",
            Some(&admin),
            &[("username", "bob"), ("password", "bob-pass-1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let id = t.user_id("bob").await;
    let r = t
        .post(
            &format!("/admin/users/{id}/profile"),
            Some(&admin),
            &[("first_name", "Robert"), ("last_name", "B"), ("email", "")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let bob = t.store.get_user(id).await.unwrap();
    assert_eq!((bob.first_name.as_str(), bob.email), ("Robert", None));
    // Making someone an administrator asks first, saying what the role gives.
    let page = t.get(&format!("/admin/users/{id}"), Some(&admin)).await;
    assert!(
        page.body
            .contains(&format!(r#"href="/admin/users/{id}/admin""#))
    );
    let confirm = t
        .get(&format!("/admin/users/{id}/admin"), Some(&admin))
        .await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(
        confirm.body.contains("an administrator?"),
        "{}",
        confirm.body
    );
    assert!(confirm.body.contains("manage every account"));
    assert!(!t.store.get_user(id).await.unwrap().is_admin);
    t.post(&format!("/admin/users/{id}/admin"), Some(&admin), &[])
        .await;
    assert!(t.store.get_user(id).await.unwrap().is_admin);
    t.post(&format!("/admin/users/{id}/unadmin"), Some(&admin), &[])
        .await;
    assert!(!t.store.get_user(id).await.unwrap().is_admin);
    let r = t
        .post(
            &format!("/admin/users/{id}/password"),
            Some(&admin),
            &[("password", "bob-pass-2")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        t.token("bob", "bob-pass-2", "repository:a/b:pull").await.0,
        StatusCode::OK
    );
    let r = t
        .post(
            &format!("/admin/users/{id}/expiry"),
            Some(&admin),
            &[("expires", "2000-01-01")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        t.token("bob", "bob-pass-2", "repository:a/b:pull").await.0,
        StatusCode::UNAUTHORIZED
    );
    let r = t
        .post(&format!("/admin/users/{id}/delete"), Some(&admin), &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(t.store.get_user(id).await.is_err());
}

#[tokio::test]
async fn the_api_answers_with_the_right_status_codes() {
    let t = setup().await;
    assert_eq!(
        t.api(Method::GET, "/users", None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        t.api(Method::GET, "/users", Some(("admin", "wrong")), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let r = t.admin_api(Method::GET, "/users", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["users"].as_array().unwrap().len(), 2);
    let r = t
        .admin_api(
            Method::POST,
            "/users",
            Some(json!({"username": "a b", "password": "long-enough"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"]["field"], "username");
    let r = t
        .admin_api(
            Method::POST,
            "/users",
            Some(json!({"username": "bob", "password": "short"})),
        )
        .await;
    assert_eq!(r.json()["error"]["field"], "password");
    let r = t
        .admin_api(
            Method::POST,
            "/users",
            Some(json!({"username": "alice", "password": "long-enough"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = t
        .admin_api(Method::POST, "/users", Some(json!({"username": 5})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["error"]["message"].is_string());
    let req = Request::post("/api/v1/users")
        .header(
            header::AUTHORIZATION,
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("admin:{ADMIN_PW}"))
            ),
        )
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("username=x&password=long-enough"))
        .unwrap();
    assert_eq!(
        t.send(req).await.status,
        StatusCode::BAD_REQUEST,
        "POST must be JSON"
    );
    assert_eq!(
        t.admin_api(Method::GET, "/users/ghost", None).await.status,
        StatusCode::NOT_FOUND
    );
    let r = t.admin_api(Method::GET, "/users/alice", None).await;
    assert_eq!(r.json()["email"], "alice@example.test");
    let r = t
        .admin_api(
            Method::PATCH,
            "/users/alice",
            Some(json!({"first_name": "Alice", "admin": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["admin"], true);
    let r = t
        .admin_api(
            Method::PATCH,
            "/users/alice",
            Some(json!({"expires_at": "tomorrow"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = t
        .admin_api(
            Method::PATCH,
            "/users/admin",
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = t
        .admin_api(
            Method::PUT,
            "/users/alice/password",
            Some(json!({"password": "alice"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = t
        .admin_api(
            Method::PUT,
            "/users/alice/password",
            Some(json!({"password": "alice-pass-9"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = t
        .admin_api(
            Method::POST,
            "/service-accounts/alice/secret",
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // Groups and members.
    assert_eq!(
        t.admin_api(Method::POST, "/groups", Some(json!({"name": "devs"})))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        t.admin_api(Method::POST, "/groups", Some(json!({"name": "devs"})))
            .await
            .status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        t.admin_api(Method::PUT, "/groups/devs/members/alice", None)
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        t.admin_api(Method::PUT, "/groups/devs/members/alice", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.admin_api(Method::PUT, "/groups/devs/members/ghost", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.admin_api(Method::PUT, "/groups/ghosts/members/alice", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let r = t.admin_api(Method::GET, "/groups/devs", None).await;
    assert_eq!(r.json()["members"], json!(["alice"]));
    // Rules and explain.
    let r = t
        .admin_api(
            Method::POST,
            "/rules",
            Some(json!({"subject": "group:devs", "pattern": "team/**", "actions": "pull"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let rule = r.json()["id"].as_i64().unwrap();
    let r = t
        .admin_api(
            Method::POST,
            "/rules",
            Some(json!({"subject": "group:devs", "pattern": "team/**", "actions": "jump"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"]["field"], "actions");
    let r = t
        .admin_api(
            Method::GET,
            "/explain?user=bob&scope=repository:team/x:pull",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    t.admin_api(Method::PATCH, "/users/alice", Some(json!({"admin": false})))
        .await;
    let r = t
        .admin_api(
            Method::GET,
            "/explain?user=alice&scope=repository:team/x/y:pull,push",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["granted"], "pull");
    assert_eq!(r.json()["rules"][0]["id"], rule);
    let r = t
        .admin_api(Method::GET, "/explain?scope=repository:team/x:pull", None)
        .await;
    assert_eq!(r.json()["principal"], "anonymous");
    assert_eq!(r.json()["granted"], "");
    assert_eq!(
        t.admin_api(Method::DELETE, &format!("/rules/{rule}"), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.admin_api(Method::DELETE, &format!("/rules/{rule}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.admin_api(Method::DELETE, "/rules/abc", None).await.status,
        StatusCode::NOT_FOUND
    );
    // Audit paging.
    let r = t
        .admin_api(Method::GET, "/audit?actor=admin&limit=2", None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let events = r.json()["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 2);
    let next = r.json()["next_before_id"].as_i64().unwrap();
    let r = t
        .admin_api(
            Method::GET,
            &format!("/audit?actor=admin&limit=2&before_id={next}"),
            None,
        )
        .await;
    assert!(r.json()["events"][0]["id"].as_i64().unwrap() < next);
    let r = t
        .admin_api(Method::GET, "/audit?action=group.create", None)
        .await;
    assert_eq!(r.json()["events"][0]["target"], "devs");
    assert_eq!(
        t.admin_api(Method::GET, "/audit?before_id=x", None)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    // Deletions.
    assert_eq!(
        t.admin_api(Method::DELETE, "/groups/devs/members/alice", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.admin_api(Method::DELETE, "/groups/devs/members/alice", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.admin_api(Method::DELETE, "/groups/devs", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.admin_api(Method::DELETE, "/users/admin", None)
            .await
            .status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        t.admin_api(Method::DELETE, "/users/alice", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.admin_api(Method::DELETE, "/users/alice", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.admin_api(Method::GET, "/nothing-here", None).await.status,
        StatusCode::NOT_FOUND
    );
}

/// A PATCH of a user is checked whole before anything is written: a refused one changes
/// nothing (it used to apply the names, then answer 409), an accepted one applies every part,
/// each audited.
#[tokio::test]
async fn a_refused_user_patch_changes_nothing() {
    let t = setup().await;
    let before = t.admin_api(Method::GET, "/users/admin", None).await.json();
    let r = t
        .admin_api(
            Method::PATCH,
            "/users/admin",
            Some(json!({"first_name": "Changed", "email": "new@example.test", "admin": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let after = t.admin_api(Method::GET, "/users/admin", None).await.json();
    assert_eq!(before, after);

    let before = t.admin_api(Method::GET, "/users/alice", None).await.json();
    for bad in [
        json!({"first_name": "Changed", "disabled": true, "expires_at": "tomorrow"}),
        json!({"last_name": "bell\u{7}", "disabled": true}),
        json!({"email": "no at sign", "admin": true}),
    ] {
        let r = t
            .admin_api(Method::PATCH, "/users/alice", Some(bad.clone()))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.body);
        let after = t.admin_api(Method::GET, "/users/alice", None).await.json();
        assert_eq!(before, after, "{bad}");
    }

    let r = t
        .admin_api(
            Method::PATCH,
            "/users/alice",
            Some(json!({"last_name": "Liddell", "disabled": true, "expires_at": "2099-01-02"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let j = r.json();
    assert_eq!(j["last_name"], "Liddell");
    assert_eq!(j["disabled"], true);
    assert_eq!(j["first_name"], before["first_name"]);
    let audit = t
        .admin_api(Method::GET, "/audit?actor=admin&limit=20", None)
        .await
        .json();
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"] == "alice")
        .filter_map(|e| e["action"].as_str())
        .collect();
    for want in ["user.update", "user.expiry", "user.disable"] {
        assert_eq!(
            actions.iter().filter(|a| **a == want).count(),
            1,
            "{want} in {actions:?}"
        );
    }
}
