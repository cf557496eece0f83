//! Bulk imports through the API: all in one transaction, or nothing and the first bad item
//! named; the imported rules and users apply at once.

use super::*;

#[tokio::test]
async fn a_rule_import_is_all_or_nothing_and_applies_at_once() {
    let t = setup().await;
    let rules: Vec<Value> = (0..300)
        .map(|i| json!({"subject": "user:alice", "pattern": format!("team{i}/**"), "actions": "pull"}))
        .collect();
    let mut bad = rules.clone();
    bad[41] = json!({"subject": "user:alice", "pattern": "team/[", "actions": "pull"});
    let r = t
        .admin_api(Method::POST, "/rules/bulk", Some(json!({"rules": bad})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"]["field"], "pattern");
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.starts_with("item 42: "), "{message}");
    assert_eq!(
        t.store.list_acl_rules().await.unwrap().len(),
        0,
        "nothing written"
    );

    for (body, why) in [
        (json!({"rules": []}), "an empty import"),
        (
            json!({"rules": [{"subject": "user:alice"}]}),
            "a missing field",
        ),
        (json!({"rules": "no"}), "not a list"),
        (json!({"rules": [], "extra": 1}), "an unknown field"),
    ] {
        let r = t.admin_api(Method::POST, "/rules/bulk", Some(body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{why}");
        assert!(r.json()["error"]["message"].is_string(), "{why}");
    }

    let r = t
        .admin_api(Method::POST, "/rules/bulk", Some(json!({"rules": rules})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    assert_eq!(r.json()["added"], 300);
    // Applied before the answer: alice may pull at once.
    let (status, tok) = t
        .token("alice", ALICE_PW, "repository:team299/app:pull")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(claims(&tok)["access"][0]["actions"], json!(["pull"]));
    let events = t
        .store
        .list_audit_events(&AuditQuery {
            action: Some("acl.add".into()),
            limit: 1000,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        events.len(),
        300,
        "each rule audited as a single addition is"
    );
}

#[tokio::test]
async fn a_user_import_is_all_or_nothing() {
    let t = setup().await;
    let users = json!([
        {"username": "bob", "password": "bob-pass-123"},
        {"username": "carol"},
        {"username": "Bob", "password": "other-pass-1"},
    ]);
    let r = t
        .admin_api(Method::POST, "/users/bulk", Some(json!({"users": users})))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("item 3: ")
    );
    let r = t
        .admin_api(
            Method::POST,
            "/users/bulk",
            Some(json!({"users": [{"username": "dave", "password": "short"}]})),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["error"]["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("password"))
    );
    let r = t
        .admin_api(
            Method::POST,
            "/users/bulk",
            Some(json!({"users": [{"username": "alice"}]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "alice exists");
    assert_eq!(t.store.count_users().await.unwrap(), 2, "nothing written");

    let users = json!([{"username": "bob", "password": "bob-pass-123"}, {"username": "carol"}]);
    let r = t
        .admin_api(Method::POST, "/users/bulk", Some(json!({"users": users})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    assert_eq!(r.json()["created"], 2);
    // bob signs in at once; carol has no password.
    assert_eq!(
        t.token("bob", "bob-pass-123", "repository:x:pull").await.0,
        StatusCode::OK
    );
    assert_eq!(
        t.token("carol", "", "repository:x:pull").await.0,
        StatusCode::UNAUTHORIZED
    );
}
