//! The registry's activity: each event recorded once, pulls counted per day, pages, filters,
//! the latest push per tag, pruning.

use crate::prelude::*;
use registryo_store::{ActivityQuery, NewRegistryEvent};

fn event(id: &str, action: &str, repository: &str, tag: Option<&str>) -> NewRegistryEvent {
    NewRegistryEvent {
        event_id: id.into(),
        at: 1_795_937_217,
        action: action.into(),
        subject: "manifest".into(),
        repository: repository.into(),
        tag: tag.map(str::to_owned),
        digest: Some(format!("sha256:{}", hash(7))),
        media_type: Some("application/vnd.oci.image.manifest.v1+json".into()),
        size: Some(500),
        actor: Some("alice".into()),
        remote_addr: Some("127.0.0.1".into()),
        user_agent: Some("docker/28".into()),
        ..NewRegistryEvent::default()
    }
}

pub(crate) async fn registry_events_are_recorded_once(ctx: &Ctx) {
    let store = &ctx.store;
    let push = event("e1", "push", "team/app", Some("1.0"));
    let mut mount = event("e2", "mount", "team/app", None);
    mount.subject = "blob".into();
    mount.from_repository = Some("team/base".into());
    let done = store
        .record_registry_events(&[push.clone(), mount.clone()])
        .await
        .unwrap();
    assert_eq!((done.recorded, done.duplicates), (2, 0));
    // Delivered again, alone and beside a new one: only the new one is recorded.
    let delete = NewRegistryEvent {
        subject: "tag".into(),
        digest: None,
        actor: None,
        ..event("e3", "delete", "team/app", Some("1.0"))
    };
    let again = store
        .record_registry_events(&[push.clone(), delete.clone()])
        .await
        .unwrap();
    assert_eq!((again.recorded, again.duplicates), (1, 1));
    let all = store
        .list_registry_events(&ActivityQuery::default())
        .await
        .unwrap();
    let ids: Vec<_> = all.iter().filter_map(|e| e.event_id.as_deref()).collect();
    assert_eq!(ids, ["e3", "e2", "e1"], "newest first, each once");
    let first = &all[2];
    assert_eq!(
        (
            first.action.as_str(),
            first.tag.as_deref(),
            first.size,
            first.count
        ),
        ("push", Some("1.0"), Some(500), 1)
    );
    assert_eq!(first.user_agent.as_deref(), Some("docker/28"));
    assert_eq!(all[1].from_repository.as_deref(), Some("team/base"));
    assert_eq!(all[0].actor, None);

    // A refused event refuses the whole call: nothing of it is recorded.
    let long = NewRegistryEvent {
        tag: Some("t".repeat(129)),
        ..event("e4", "push", "team/app", None)
    };
    let bad = store
        .record_registry_events(&[event("e5", "push", "team/x", Some("a")), long])
        .await;
    assert!(matches!(bad, Err(StoreError::Invalid(_))), "{bad:?}");
    let unknown = event("e6", "promote", "team/app", None);
    assert!(matches!(
        store.record_registry_events(&[unknown]).await,
        Err(StoreError::Invalid(_))
    ));
    let count = store
        .list_registry_events(&ActivityQuery::default())
        .await
        .unwrap()
        .len();
    assert_eq!(count, 3);
}

pub(crate) async fn pulls_are_counted_per_day_actor_and_repository(ctx: &Ctx) {
    let store = &ctx.store;
    let day = 1_795_910_400; // 2026-11-29T00:00:00Z
    let pull = |id: &str, at: i64, actor: Option<&str>, subject: &str, tag: Option<&str>| {
        NewRegistryEvent {
            at,
            actor: actor.map(str::to_owned),
            subject: subject.into(),
            size: Some(if subject == "blob" { 1000 } else { 500 }),
            ..event(id, "pull", "team/app", tag)
        }
    };
    let batch = [
        pull("p1", day + 10, Some("alice"), "manifest", Some("1.0")),
        pull("p2", day + 11, Some("alice"), "blob", None),
        pull("p3", day + 20, Some("alice"), "manifest", Some("2.0")),
        pull("p4", day + 30, None, "manifest", Some("1.0")),
        pull("p5", day + 86_400, Some("alice"), "manifest", Some("1.0")),
    ];
    let done = store.record_registry_events(&batch).await.unwrap();
    assert_eq!(done.recorded, 5);
    // Redelivered pulls are not counted twice.
    let again = store.record_registry_events(&batch[..2]).await.unwrap();
    assert_eq!((again.recorded, again.duplicates), (0, 2));
    let rows = store
        .list_registry_events(&ActivityQuery {
            action: Some("pull".into()),
            ..ActivityQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        rows.len(),
        3,
        "alice's two days and an anonymous day: {rows:?}"
    );
    let alice_first = rows
        .iter()
        .find(|r| r.actor.as_deref() == Some("alice") && r.at < day + 86_400)
        .unwrap();
    assert_eq!(
        alice_first.count, 2,
        "two manifests pulled, the blob only adds bytes"
    );
    assert_eq!(alice_first.size, Some(2000));
    assert_eq!(alice_first.at, day + 20);
    assert_eq!(
        alice_first.tag.as_deref(),
        Some("2.0"),
        "the latest manifest pull's"
    );
    let anonymous = store
        .list_registry_events(&ActivityQuery {
            actor: Some(String::new()),
            ..ActivityQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(anonymous.len(), 1);
    assert_eq!(anonymous[0].actor, None);
}

pub(crate) async fn activity_pages_filters_and_pruning(ctx: &Ctx) {
    let store = &ctx.store;
    let mut events = Vec::new();
    for i in 0..30_i64 {
        let repository = if i % 3 == 0 { "team/web" } else { "team/app" };
        let mut e = event(
            &format!("x{i}"),
            "push",
            repository,
            Some(&format!("t{}", i % 4)),
        );
        e.at = 1_000_000 + i * 100;
        e.actor = Some(if i % 2 == 0 { "alice" } else { "bob" }.into());
        events.push(e);
    }
    store.record_registry_events(&events).await.unwrap();
    let q = |f: &dyn Fn(&mut ActivityQuery)| {
        let mut q = ActivityQuery::default();
        f(&mut q);
        q
    };
    let web = store
        .list_registry_events(&q(&|q| q.repository = Some("team/web".into())))
        .await
        .unwrap();
    assert_eq!(web.len(), 10);
    let bob_web = store
        .list_registry_events(&q(&|q| {
            q.repository = Some("team/web".into());
            q.actor = Some("bob".into());
        }))
        .await
        .unwrap();
    assert_eq!(bob_web.len(), 5);
    let since = store
        .list_registry_events(&q(&|q| {
            q.since = Some(1_000_000 + 2500);
            q.until = Some(1_000_000 + 2800);
        }))
        .await
        .unwrap();
    let got: Vec<_> = since.iter().map(|e| e.at).collect();
    assert_eq!(got, [1_002_700, 1_002_600, 1_002_500]);
    // Pages of 7, each older than the last one's id, cover the whole list once.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .list_registry_events(&q(&|q| {
                q.limit = 7;
                q.before_id = before;
            }))
            .await
            .unwrap();
        seen.extend(page.iter().map(|e| e.id));
        match page.last() {
            Some(last) if page.len() == 7 => before = Some(last.id),
            _ => break,
        }
    }
    assert_eq!(seen.len(), 30);
    assert!(seen.windows(2).all(|w| w[0] > w[1]));
    // The latest push per tag of team/app.
    let latest = store.latest_tag_pushes("team/app", 100).await.unwrap();
    let tags: Vec<_> = latest.iter().filter_map(|e| e.tag.as_deref()).collect();
    assert_eq!(tags, ["t1", "t0", "t2", "t3"], "{latest:?}");
    assert_eq!(latest[0].event_id.as_deref(), Some("x29"));
    // Pruning: what is older than the age, then all but the newest `keep`.
    let removed = store
        .prune_registry_events(1_000_000 + 1000, u64::MAX, 0)
        .await
        .unwrap();
    assert_eq!(removed, 10);
    let removed = store.prune_registry_events(0, 5, 0).await.unwrap();
    assert_eq!(removed, 15);
    let left = store
        .list_registry_events(&ActivityQuery::default())
        .await
        .unwrap();
    let ids: Vec<_> = left.iter().filter_map(|e| e.event_id.as_deref()).collect();
    assert_eq!(ids, ["x29", "x28", "x27", "x26", "x25"]);
    // A kept event sent again is a duplicate.
    let again = store
        .record_registry_events(&[events[29].clone()])
        .await
        .unwrap();
    assert_eq!(again.duplicates, 1);
    // A pull's id is kept until `ids_before`: a late redelivery counts once, then again.
    let pull = NewRegistryEvent {
        at: now(),
        ..event("late-pull", "pull", "team/app", Some("t0"))
    };
    let pulls = |store: &Store| {
        let store = store.clone();
        async move {
            store
                .list_registry_events(&ActivityQuery {
                    action: Some("pull".into()),
                    ..ActivityQuery::default()
                })
                .await
                .unwrap()[0]
                .count
        }
    };
    store
        .record_registry_events(std::slice::from_ref(&pull))
        .await
        .unwrap();
    store
        .prune_registry_events(0, u64::MAX, now() - 10)
        .await
        .unwrap();
    let late = store
        .record_registry_events(std::slice::from_ref(&pull))
        .await
        .unwrap();
    assert_eq!(late.duplicates, 1);
    assert_eq!(pulls(store).await, 1);
    store
        .prune_registry_events(0, u64::MAX, now() + 10)
        .await
        .unwrap();
    let late = store.record_registry_events(&[pull]).await.unwrap();
    assert_eq!(late.recorded, 1);
    assert_eq!(pulls(store).await, 2);
}
