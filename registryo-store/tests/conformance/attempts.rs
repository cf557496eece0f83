//! The guessing limits' counts.

use crate::prelude::*;

/// Failed password checks are counted per account, address and minute, into one row each and
/// one audit event each (its `count` grows); usual addresses are remembered.
pub(crate) async fn failed_sign_ins_are_counted(ctx: &Ctx) {
    let store = &ctx.store;
    let minute = now() / 60;
    let event = |addr: &str| NewAuditEvent {
        actor: Some("alice".into()),
        action: "auth.failed".into(),
        target: None,
        detail: Some("token".into()),
        remote_addr: Some(addr.into()),
    };
    for (addr, m, n) in [
        ("10.0.0.1", minute, 3),
        ("10.0.0.2", minute, 2),
        ("10.0.0.1", minute - 1, 4),
    ] {
        for _ in 0..n {
            let dedup = format!("auth.failed alice {addr} {m}");
            store
                .record_auth_failure("alice", addr, m, &event(addr), &dedup)
                .await
                .unwrap();
        }
    }
    let bob = NewAuditEvent {
        actor: Some("bob".into()),
        ..event("10.0.0.1")
    };
    store
        .record_auth_failure("bob", "10.0.0.1", minute, &bob, "bob")
        .await
        .unwrap();
    let counts = store
        .auth_failures("alice", "10.0.0.1", minute - 1)
        .await
        .unwrap();
    assert_eq!(
        counts,
        [
            registryo_store::FailureCount {
                minute: minute - 1,
                from_addr: 4,
                total: 4
            },
            registryo_store::FailureCount {
                minute,
                from_addr: 3,
                total: 5
            },
        ]
    );
    assert_eq!(
        store
            .auth_failures("alice", "10.0.0.2", minute)
            .await
            .unwrap()[0]
            .from_addr,
        2
    );
    // Three audit rows for alice (one per address and minute), counted.
    let events = store
        .list_audit_events(&AuditQuery {
            actor: Some("alice".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let mut counts: Vec<i64> = events.iter().map(|e| e.count).collect();
    counts.sort_unstable();
    assert_eq!(counts, [2, 3, 4]);
    // An ordinary event counts once.
    let plain = store
        .insert_audit_event(&NewAuditEvent {
            action: "user.create".into(),
            ..NewAuditEvent::default()
        })
        .await
        .unwrap();
    assert_eq!(plain.count, 1);

    assert_eq!(store.prune_auth_failures(minute).await.unwrap(), 1);
    assert_eq!(
        store
            .auth_failures("alice", "10.0.0.1", 0)
            .await
            .unwrap()
            .len(),
        1
    );

    let alice = store
        .create_user(&NewUser::new(name("alice"), UserKind::Human), &|_| {
            Vec::new()
        })
        .await
        .unwrap();
    assert!(
        !store
            .is_usual_address(alice.id, "10.0.0.1", 0)
            .await
            .unwrap()
    );
    store
        .record_user_address(alice.id, "10.0.0.1")
        .await
        .unwrap();
    store
        .record_user_address(alice.id, "10.0.0.1")
        .await
        .unwrap();
    assert!(
        store
            .is_usual_address(alice.id, "10.0.0.1", now() - 60)
            .await
            .unwrap()
    );
    assert!(
        !store
            .is_usual_address(alice.id, "10.0.0.1", now() + 60)
            .await
            .unwrap()
    );
    assert!(
        !store
            .is_usual_address(alice.id, "10.0.0.2", 0)
            .await
            .unwrap()
    );
    assert_eq!(store.prune_user_addresses(now() + 60).await.unwrap(), 1);
    assert!(matches!(
        store.record_user_address(999_999, "10.0.0.1").await,
        Err(StoreError::NotFound(_))
    ));
}
