//! The policy change log: every change names what it touched, bulk writes are all or nothing.

use crate::prelude::*;

fn rule(subject: &str, pattern: &str) -> NewAclRule {
    NewAclRule {
        subject: subject.into(),
        pattern: pattern.into(),
        actions: "pull".into(),
        created_by: None,
    }
}

/// The rule and user ids changed since `since`, and the ids of those that still exist.
async fn changed(store: &Store, since: i64) -> (Vec<i64>, Vec<i64>, Vec<i64>, Vec<i64>) {
    let d = store.policy_changes(since, 1000).await.unwrap().unwrap();
    let rules = d.rules.iter().map(|r| r.id).collect();
    let mut users: Vec<i64> = d.users.iter().map(|u| u.id).collect();
    users.sort_unstable();
    (d.rule_ids, rules, d.user_ids, users)
}

async fn revision(store: &Store) -> i64 {
    store.policy_revision().await.unwrap().revision
}

pub(crate) async fn every_policy_change_names_what_it_touched(ctx: &Ctx) {
    let store = &ctx.store;
    let start = revision(store).await;
    let none = (vec![], vec![], vec![], vec![]);
    assert_eq!(changed(store, start).await, none);

    let alice = store
        .create_user(&NewUser::new(name("alice"), UserKind::Human), &|_| {
            Vec::new()
        })
        .await
        .unwrap();
    let bob = store
        .create_user(&NewUser::new(name("bob"), UserKind::Human), &|_| Vec::new())
        .await
        .unwrap();
    let (a, b) = (alice.id, bob.id);
    let mut ab = vec![a, b];
    ab.sort_unstable();
    assert_eq!(
        changed(store, start).await,
        (vec![], vec![], ab.clone(), ab.clone())
    );

    let r = revision(store).await;
    let devs = store
        .create_group(&group("devs"), &|_| Vec::new())
        .await
        .unwrap();
    assert_eq!(changed(store, r).await, none, "a new group changes no user");
    store
        .add_group_member(devs.id, a, &|_| Vec::new())
        .await
        .unwrap();
    let d = store.policy_changes(r, 1000).await.unwrap().unwrap();
    assert_eq!(d.user_ids, vec![a]);
    assert_eq!(d.memberships, vec![(a, "devs".to_owned())]);
    assert_eq!(d.revision, revision(store).await);

    let r = revision(store).await;
    let g_rule = store
        .add_acl_rule(&rule("group:devs", "team/**"), &|_| Vec::new())
        .await
        .unwrap();
    let u_rule = store
        .add_acl_rule(&rule("user:bob", "bob/**"), &|_| Vec::new())
        .await
        .unwrap();
    let (g, u) = (g_rule.id, u_rule.id);
    assert_eq!(
        changed(store, r).await,
        (vec![g, u], vec![g, u], vec![], vec![])
    );

    // Flags, passwords, memberships: the user changed.
    let r = revision(store).await;
    store.set_disabled(b, true, &|_| Vec::new()).await.unwrap();
    assert_eq!(changed(store, r).await, (vec![], vec![], vec![b], vec![b]));
    let r = revision(store).await;
    store
        .set_password_hash(a, Some("h"), &PasswordChange::default(), &|_| Vec::new())
        .await
        .unwrap();
    assert_eq!(changed(store, r).await, (vec![], vec![], vec![a], vec![a]));

    // Removing a group changes its members and removes its rules; removing a user too.
    let r = revision(store).await;
    store.delete_group(devs.id, &|_| Vec::new()).await.unwrap();
    let d = store.policy_changes(r, 1000).await.unwrap().unwrap();
    assert_eq!((d.rule_ids.clone(), d.rules.len()), (vec![g], 0));
    assert_eq!(d.user_ids, vec![a]);
    assert!(d.memberships.is_empty(), "alice is in no group any more");
    let r = revision(store).await;
    store.delete_user(b, &|_| Vec::new()).await.unwrap();
    assert_eq!(changed(store, r).await, (vec![u], vec![], vec![b], vec![]));

    // From the start: every id touched, and only what exists now.
    let d = store.policy_changes(start, 1000).await.unwrap().unwrap();
    assert_eq!(d.rule_ids, vec![g, u]);
    assert!(d.rules.is_empty());
    assert_eq!(d.user_ids, ab);
    assert_eq!(d.users.iter().map(|u| u.id).collect::<Vec<_>>(), vec![a]);

    // Too many changes, or a revision the store has not reached: rebuild instead.
    assert_eq!(store.policy_changes(start, 2).await.unwrap(), None);
    let now_rev = revision(store).await;
    assert_eq!(store.policy_changes(now_rev + 1, 1000).await.unwrap(), None);

    // Pruning: a policy older than what is left must be rebuilt; a newer one need not.
    assert!(store.prune_policy_changes(now() + 10).await.unwrap() > 0);
    assert_eq!(store.policy_changes(start, 1000).await.unwrap(), None);
    let d = store.policy_changes(now_rev, 1000).await.unwrap().unwrap();
    assert_eq!((d.revision, d.rule_ids.len()), (now_rev, 0));
    store
        .add_acl_rule(&rule("authenticated", "x/**"), &|_| Vec::new())
        .await
        .unwrap();
    assert_eq!(changed(store, now_rev).await.0.len(), 1);
}

pub(crate) async fn bulk_writes_are_all_or_nothing(ctx: &Ctx) {
    let store = &ctx.store;
    let r = revision(store).await;
    let rules: Vec<NewAclRule> = (0..50)
        .map(|i| rule("authenticated", &format!("r{i}/**")))
        .collect();
    let stored = store
        .add_acl_rules(&rules, &|stored| {
            vec![NewAuditEvent {
                detail: Some(format!("{} rules", stored.len())),
                ..NewAuditEvent::new("acl.import")
            }]
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), 50);
    assert_eq!(revision(store).await, r + 1, "one revision for the import");
    let d = store.policy_changes(r, 1000).await.unwrap().unwrap();
    assert_eq!(d.rule_ids.len(), 50);
    let events = store
        .list_audit_events(&AuditQuery::default())
        .await
        .unwrap();
    assert!(events.iter().any(|e| e.action == "acl.import"));

    // A bad rule in the middle: nothing written, and its position named.
    let mut bad = rules.clone();
    bad[7].pattern = String::new();
    let e = store
        .add_acl_rules(&bad, &|_| Vec::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::Invalid(m) if m.starts_with("rule 8:")),
        "{e:?}"
    );
    assert_eq!(store.list_acl_rules().await.unwrap().len(), 50);

    let users: Vec<NewUser> = ["u1", "u2", "U1"]
        .iter()
        .map(|n| NewUser::new(name(n), UserKind::Human))
        .collect();
    let r = revision(store).await;
    let e = store
        .create_users(&users, &|_| Vec::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::Conflict(m) if m.contains("U1")),
        "{e:?}"
    );
    assert_eq!(store.count_users().await.unwrap(), 0);
    assert_eq!(revision(store).await, r, "a refused import changes nothing");
    let made = store
        .create_users(&users[..2], &|_| Vec::new())
        .await
        .unwrap();
    assert_eq!(made.len(), 2);
    assert_eq!(
        store
            .policy_changes(r, 10)
            .await
            .unwrap()
            .unwrap()
            .user_ids
            .len(),
        2
    );
}
