//! The registry's notifications (`POST /registry/events`) and the activity they make
//! (`GET /api/v1/activity`), through the router over a real SQLite store.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use registryo_http::app::EdgeConfig;
use registryo_http::forwarded::TrustedProxies;

use super::*;

const SECRET: &str = "the-notification-secret";
const DIGEST: &str = "sha256:4b8c2e2a6f0d55f7c2a8a3f1b3e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a39281";

/// The router of [`setup`] receiving notifications with [`SECRET`] from loopback only.
async fn notified() -> T {
    let mut t = setup().await;
    t.store
        .add_acl_rule(
            &registryo_store::NewAclRule {
                subject: "user:alice".into(),
                pattern: "alice/**".into(),
                actions: "pull".into(),
                created_by: None,
            },
            &|_| Vec::new(),
        )
        .await
        .unwrap();
    t.accounts.reload(true).await.unwrap();
    let mut state = AppState::new(
        t.accounts.clone(),
        signing_keys("test"),
        TokenConfig::new("registryo", "registryo"),
    )
    .with_edge(EdgeConfig {
        notifications_from: TrustedProxies::parse(&["127.0.0.0/8"]).unwrap(),
        ..EdgeConfig::default()
    });
    state.app = state.app.with_notifications(SECRET.to_owned());
    t.app = router(state);
    t
}

fn event(id: &str, action: &str, repository: &str, tag: Option<&str>) -> Value {
    json!({
        "id": id, "timestamp": "2026-11-29T07:26:57.123Z", "action": action,
        "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 525,
                   "digest": DIGEST, "repository": repository, "tag": tag,
                   "url": format!("http://r/v2/{repository}/manifests/{DIGEST}")},
        "request": {"addr": "10.1.2.3:5555", "method": "PUT", "useragent": "docker/28.2.2"},
        "actor": {"name": "alice"},
    })
}

async fn post(t: &T, from: &str, auth: Option<&str>, body: String) -> Resp {
    let mut req = Request::post("/registry/events")
        .header(header::CONTENT_TYPE, registryo_core::notify::MEDIA_TYPE);
    if let Some(a) = auth {
        req = req.header(header::AUTHORIZATION, a);
    }
    let mut req = req.body(Body::from(body)).unwrap();
    let peer: SocketAddr = from.parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(peer));
    t.send(req).await
}

async fn envelope(t: &T, events: Vec<Value>) -> Resp {
    let body = json!({ "events": events }).to_string();
    post(
        t,
        "127.0.0.1:40000",
        Some(&format!("Bearer {SECRET}")),
        body,
    )
    .await
}

#[tokio::test]
async fn events_are_taken_with_the_secret_from_allowed_addresses_only_and_stored_once() {
    let t = notified().await;
    let push = event("e1", "push", "alice/app", Some("1.0"));
    let body = json!({ "events": [push.clone()] }).to_string();
    for (from, auth, want) in [
        ("127.0.0.1:1", None, StatusCode::UNAUTHORIZED),
        (
            "127.0.0.1:1",
            Some("Bearer wrong"),
            StatusCode::UNAUTHORIZED,
        ),
        ("127.0.0.1:1", Some(SECRET), StatusCode::UNAUTHORIZED),
        (
            "127.0.0.1:1",
            Some("Basic dGhlOnNlY3JldA=="),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "192.0.2.7:1",
            Some(&format!("Bearer {SECRET}") as &str),
            StatusCode::FORBIDDEN,
        ),
    ] {
        let r = post(&t, from, auth, body.clone()).await;
        assert_eq!(r.status, want, "{from} {auth:?}: {}", r.body);
    }
    let none = t
        .store
        .list_registry_events(&Default::default())
        .await
        .unwrap();
    assert!(none.is_empty(), "a refused envelope stores nothing");

    let r = envelope(&t, vec![push.clone()]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["recorded"], 1);
    // The registry sends it again (it did not see our answer): stored once.
    let r = envelope(&t, vec![push.clone()]).await;
    assert_eq!(
        (r.json()["recorded"].clone(), r.json()["duplicates"].clone()),
        (json!(0), json!(1))
    );
    let stored = t
        .store
        .list_registry_events(&Default::default())
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    let e = &stored[0];
    assert_eq!(
        (
            e.action.as_str(),
            e.repository.as_str(),
            e.tag.as_deref(),
            e.actor.as_deref()
        ),
        ("push", "alice/app", Some("1.0"), Some("alice"))
    );
    assert_eq!(e.remote_addr.as_deref(), Some("10.1.2.3"));
    assert_eq!(e.user_agent.as_deref(), Some("docker/28.2.2"));
    assert_eq!(e.at, 1_795_937_217);
}

#[tokio::test]
async fn bad_events_are_counted_never_stored_and_bad_envelopes_refused() {
    let t = notified().await;
    let mut bad_name = event("e2", "push", "alice/app", None);
    bad_name["target"]["repository"] = json!("Alice/App");
    let mut bad_action = event("e3", "promote", "alice/app", None);
    bad_action["actor"]["name"] = json!("x");
    let mut blob = event("e4", "push", "alice/app", None);
    blob["target"]["url"] = json!(format!("http://r/v2/alice/app/blobs/{DIGEST}"));
    let r = envelope(
        &t,
        vec![
            bad_name,
            bad_action,
            blob,
            event("e5", "push", "alice/app", None),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"recorded": 1, "duplicates": 0, "invalid": 2, "skipped": 1})
    );
    let stored = t
        .store
        .list_registry_events(&Default::default())
        .await
        .unwrap();
    let ids: Vec<_> = stored
        .iter()
        .filter_map(|e| e.event_id.as_deref())
        .collect();
    assert_eq!(ids, ["e5"]);
    let auth = format!("Bearer {SECRET}");
    for (body, want) in [
        ("not json".to_owned(), StatusCode::BAD_REQUEST),
        (r#"{"events": 3}"#.to_owned(), StatusCode::BAD_REQUEST),
        (
            " ".repeat(registryo_core::notify::MAX_BODY + 1),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ] {
        let r = post(&t, "127.0.0.1:1", Some(&auth), body).await;
        assert_eq!(r.status, want, "{}", r.body);
    }
}

#[tokio::test]
async fn the_activity_api_pages_filters_and_shows_only_what_one_may_pull() {
    let t = notified().await;
    let mut events = Vec::new();
    for i in 0..5 {
        events.push(event(
            &format!("a{i}"),
            "push",
            "alice/app",
            Some(&format!("t{i}")),
        ));
        events.push(event(&format!("s{i}"), "push", "secret/app", Some("1")));
    }
    let mut pull = event("p1", "pull", "alice/app", Some("t1"));
    pull["actor"]["name"] = json!("bob");
    events.push(pull);
    assert_eq!(envelope(&t, events).await.status, StatusCode::OK);

    let all = t.admin_api(Method::GET, "/activity", None).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert_eq!(all.json()["events"].as_array().unwrap().len(), 11);
    // Pages of 4 with a next cursor, each event once.
    let mut seen = Vec::new();
    let mut path = "/activity?limit=4".to_owned();
    loop {
        let page = t.admin_api(Method::GET, &path, None).await.json();
        for e in page["events"].as_array().unwrap() {
            seen.push(e["event_id"].as_str().unwrap().to_owned());
        }
        match page["next"].as_str() {
            Some(next) => path = format!("/activity?limit=4&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 11);
    let pulls = t
        .admin_api(
            Method::GET,
            "/activity?action=pull&actor=bob&repository=alice/app",
            None,
        )
        .await
        .json();
    let pulls = pulls["events"].as_array().unwrap();
    assert_eq!(pulls.len(), 1);
    assert_eq!(
        (pulls[0]["count"].clone(), pulls[0]["tag"].clone()),
        (json!(1), json!("t1"))
    );
    let since = t
        .admin_api(Method::GET, "/activity?since=2026-11-30", None)
        .await
        .json();
    assert!(since["events"].as_array().unwrap().is_empty());

    // alice may pull alice/** only: the other repository's events are left out, and asking
    // for it is refused.
    let alice = t
        .api(Method::GET, "/activity", Some(("alice", ALICE_PW)), None)
        .await;
    assert_eq!(alice.status, StatusCode::OK, "{}", alice.body);
    let repos: Vec<_> = alice.json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["repository"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(repos.len(), 6);
    assert!(repos.iter().all(|r| r == "alice/app"), "{repos:?}");
    let r = t
        .api(
            Method::GET,
            "/activity?repository=secret/app",
            Some(("alice", ALICE_PW)),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = t.api(Method::GET, "/activity", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    for (query, field) in [
        ("action=copy", "action"),
        ("repository=Bad", "repository"),
        ("since=soon", "since"),
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("after=-3", "before"),
    ] {
        let r = t
            .admin_api(Method::GET, &format!("/activity?{query}"), None)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {}", r.body);
        assert_eq!(r.json()["error"]["field"], field, "{query}");
    }
    let r = t.admin_api(Method::GET, "/activity?colour=red", None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

/// A tag deleted in the UI comes back from the registry as a deletion by registryo's own
/// token subject: it is recorded as the person's, linked to the audit event, and the audit
/// log shows it once, beside the registry's other events, filtered by repository, action and
/// date.
#[tokio::test]
async fn the_audit_log_shows_registry_events_beside_admin_events_and_links_ui_deletions() {
    let t = notified().await;
    let deletion = t
        .store
        .insert_audit_event(&registryo_store::NewAuditEvent {
            actor: Some("admin".into()),
            target: Some("alice/app:1".into()),
            detail: Some(format!("manifest {DIGEST} deleted with tags 1")),
            remote_addr: Some("127.0.0.1".into()),
            ..registryo_store::NewAuditEvent::new("registry.tag.delete")
        })
        .await
        .unwrap();
    let now = registryo_core::time::rfc3339(registryo_core::time::unix_now());
    let mut from_ui = json!({"id": "d1", "timestamp": now, "action": "delete",
        "target": {"repository": "alice/app", "digest": DIGEST},
        "request": {"addr": "127.0.0.1:1", "useragent": "registryo"},
        "actor": {"name": registryo_core::app::notifications::UI_SUBJECT}});
    let mut push = event("p1", "push", "alice/app", Some("2"));
    push["timestamp"] = json!(now);
    let mut other = event("p2", "push", "secret/app", Some("1"));
    other["timestamp"] = json!(now);
    assert_eq!(
        envelope(&t, vec![push, from_ui.clone(), other])
            .await
            .status,
        StatusCode::OK
    );
    let stored = t
        .store
        .list_registry_events(&registryo_store::ActivityQuery {
            action: Some("delete".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].actor.as_deref(),
        Some("admin"),
        "the person, not registryo-ui"
    );
    assert_eq!(stored[0].audit_id, Some(deletion.id));
    // An unrelated deletion by the UI's subject (no audit event for it) keeps that subject.
    from_ui["id"] = json!("d2");
    from_ui["target"]["repository"] = json!("alice/other");
    envelope(&t, vec![from_ui]).await;

    let b = t.signin("admin", ADMIN_PW).await;
    let page = t.get("/admin/audit?repository=alice/app", Some(&b)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("<code>registry.push</code>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("alice/app:2"));
    assert_eq!(
        page.body
            .matches("<code>registry.tag.delete</code>")
            .count(),
        1,
        "the UI's deletion once"
    );
    assert!(page.body.contains("the registry reported the deletion of"));
    assert!(
        !page.body.contains("<code>registry.delete</code>"),
        "not doubled: {}",
        page.body
    );
    assert!(!page.body.contains("secret/app"), "another repository");
    assert!(
        !page.body.contains("<code>ui.signin</code>"),
        "not a repository's event"
    );
    let pushes = t.get("/admin/audit?action=registry.push", Some(&b)).await;
    assert!(pushes.body.contains("secret/app:1") && pushes.body.contains("alice/app:2"));
    assert!(!pushes.body.contains("<code>registry.tag.delete</code>"));
    let admins = t.get("/admin/audit?action=ui.signin", Some(&b)).await;
    assert!(
        admins.body.contains("<code>ui.signin</code>")
            && !admins.body.contains("<code>registry.push</code>")
    );
    let later = t
        .get("/admin/audit?since=1h&until=2999-01-01", Some(&b))
        .await;
    assert!(later.body.contains("<code>registry.push</code>"));
    let none = t.get("/admin/audit?since=2999-01-01", Some(&b)).await;
    assert!(none.body.contains("No events."), "{}", none.body);
    for bad in ["since=soon", "repository=Bad", "before=x1"] {
        let r = t.get(&format!("/admin/audit?{bad}"), Some(&b)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

/// The timeline pages through both lists, each item once, newest first.
#[tokio::test]
async fn the_timeline_pages_through_both_lists() {
    let t = notified().await;
    let mut events = Vec::new();
    for i in 0..7 {
        let mut e = event(
            &format!("x{i}"),
            "push",
            "alice/app",
            Some(&format!("t{i}")),
        );
        e["timestamp"] = json!(registryo_core::time::rfc3339(
            registryo_core::time::unix_now() - 100 + i * 20
        ));
        events.push(e);
    }
    envelope(&t, events).await;
    for i in 0..5 {
        t.store
            .insert_audit_event(&registryo_store::NewAuditEvent {
                target: Some(format!("u{i}")),
                ..registryo_store::NewAuditEvent::new("user.create")
            })
            .await
            .unwrap();
    }
    let app = registryo_core::app::App::new(t.accounts.clone(), signing_keys("x"));
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = registryo_core::app::ops::timeline_page(
            &app,
            &registryo_core::app::ops::TimelineFilter {
                before: before.clone(),
                limit: Some(3),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items);
        match page.next {
            Some(n) => before = Some(n),
            None => break,
        }
    }
    assert_eq!(seen.len(), 12, "{seen:?}");
    assert!(
        seen.windows(2).all(|w| w[0].at() >= w[1].at()),
        "newest first"
    );
}
