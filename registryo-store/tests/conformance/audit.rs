//! The audit log: writing, listing, counting and pruning events.

use crate::prelude::*;

pub(crate) async fn audit_events(ctx: &Ctx) {
    let store = &ctx.store;
    let event = |actor: Option<&str>, action: &str, target: &str| NewAuditEvent {
        actor: actor.map(str::to_owned),
        action: action.into(),
        target: Some(target.into()),
        detail: Some("detail".into()),
        remote_addr: Some("127.0.0.1".into()),
    };
    let mut ids = Vec::new();
    for i in 0..10 {
        let actor = if i % 2 == 0 { Some("alice") } else { None };
        let action = if i % 3 == 0 { "login" } else { "token.refused" };
        let e = store
            .insert_audit_event(&event(actor, action, &format!("t{i}")))
            .await
            .unwrap();
        assert_eq!(e.action, action);
        assert!(e.at > 0);
        ids.push(e.id);
    }
    assert!(matches!(
        store.insert_audit_event(&event(None, "", "x")).await,
        Err(StoreError::Invalid(_))
    ));

    let all = store
        .list_audit_events(&AuditQuery::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 10);
    assert_eq!(all[0].target.as_deref(), Some("t9"), "newest first");
    assert_eq!(all[0].remote_addr.as_deref(), Some("127.0.0.1"));

    let by_alice = store
        .list_audit_events(&AuditQuery {
            actor: Some("alice".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(by_alice.len(), 5);
    assert!(by_alice.iter().all(|e| e.actor.as_deref() == Some("alice")));

    let logins = store
        .list_audit_events(&AuditQuery {
            action: Some("login".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let targets: Vec<_> = logins.iter().filter_map(|e| e.target.as_deref()).collect();
    assert_eq!(targets, ["t9", "t6", "t3", "t0"]);

    let both = store
        .list_audit_events(&AuditQuery {
            actor: Some("alice".into()),
            action: Some("login".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(both.len(), 2);

    // By target prefix (a repository's tags: `team/app:`) and time.
    let prefixed = store
        .list_audit_events(&AuditQuery {
            target_prefix: Some("t1".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(prefixed.len(), 1, "t1 only: the prefix is not a pattern");
    let odd = store
        .list_audit_events(&AuditQuery {
            target_prefix: Some("t_".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert!(odd.is_empty(), "_ is no wildcard");
    let timed = |since, until| AuditQuery {
        since,
        until,
        ..AuditQuery::default()
    };
    let all_now = store
        .list_audit_events(&timed(Some(now() - 60), Some(now() + 60)))
        .await
        .unwrap();
    assert_eq!(all_now.len(), 10);
    let later = store
        .list_audit_events(&timed(Some(now() + 60), None))
        .await
        .unwrap();
    assert!(later.is_empty());

    // Paging.
    let mut seen = Vec::new();
    let mut before_id = None;
    loop {
        let page = store
            .list_audit_events(&AuditQuery {
                before_id,
                limit: 3,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 3);
        before_id = page.last().map(|e| e.id);
        seen.extend(page.into_iter().map(|e| e.id));
    }
    ids.reverse();
    assert_eq!(seen, ids);

    assert_eq!(store.prune_audit_events(now() - 3600).await.unwrap(), 0);
    assert_eq!(store.prune_audit_events(now() + 10).await.unwrap(), 10);
    assert!(
        store
            .list_audit_events(&AuditQuery::default())
            .await
            .unwrap()
            .is_empty()
    );
}
