//! Settings, the policy revision, and the store as a handle (concurrency, reconnecting).

use crate::prelude::*;

pub(crate) async fn settings(ctx: &Ctx) {
    let store = &ctx.store;
    assert_eq!(store.get_setting("cookie_secret").await.unwrap(), None);
    store
        .set_setting("cookie_secret", "one", &|_| Vec::new())
        .await
        .unwrap();
    assert_eq!(
        store.get_setting("cookie_secret").await.unwrap().as_deref(),
        Some("one")
    );
    store
        .set_setting("cookie_secret", "two", &|_| Vec::new())
        .await
        .unwrap();
    assert_eq!(
        store
            .get_or_init_setting("cookie_secret", "three")
            .await
            .unwrap(),
        "two"
    );
    assert_eq!(
        store.get_or_init_setting("instance", "abc").await.unwrap(),
        "abc"
    );
    assert_eq!(
        store.get_or_init_setting("instance", "def").await.unwrap(),
        "abc"
    );
    assert!(store.delete_setting("instance").await.unwrap());
    assert!(!store.delete_setting("instance").await.unwrap());
    assert_eq!(store.get_setting("instance").await.unwrap(), None);
    assert!(matches!(
        store.set_setting("", "x", &|_| Vec::new()).await,
        Err(StoreError::Invalid(_))
    ));
}

/// `replace_setting` writes only over the value it expects, with its event; of two writers
/// starting from the same value exactly one wins, and the loser writes neither value nor event.
pub(crate) async fn a_setting_is_replaced_only_over_what_was_read(ctx: &Ctx) {
    use crate::audited::{by_admin, new_events};
    let store = &ctx.store;
    let mut seen = new_events(store, &mut 0).await.len();
    let event = |n: &str| vec![by_admin("keys.rotate", "signing keys", Some(n.to_owned()))];
    // Unset: nothing to replace.
    assert!(
        !store
            .replace_setting("keys", "", "a", &|()| event("a"))
            .await
            .unwrap()
    );
    assert_eq!(store.get_setting("keys").await.unwrap(), None);
    store
        .set_setting("keys", "one", &|_| Vec::new())
        .await
        .unwrap();
    assert!(
        !store
            .replace_setting("keys", "stale", "x", &|()| event("x"))
            .await
            .unwrap()
    );
    assert_eq!(
        store.get_setting("keys").await.unwrap().as_deref(),
        Some("one")
    );
    assert!(new_events(store, &mut seen).await.is_empty());
    assert!(
        store
            .replace_setting("keys", "one", "two", &|()| event("two"))
            .await
            .unwrap()
    );
    assert_eq!(
        store.get_setting("keys").await.unwrap().as_deref(),
        Some("two")
    );
    assert_eq!(new_events(store, &mut seen).await, event("two"));

    // Eight writers read "two" and race: one value and one event land.
    let mut racers = tokio::task::JoinSet::new();
    for i in 0..8 {
        let store = store.clone();
        racers.spawn(async move {
            let value = format!("racer-{i}");
            let won = store
                .replace_setting("keys", "two", &value, &|()| {
                    vec![by_admin("keys.rotate", "signing keys", Some(value.clone()))]
                })
                .await
                .unwrap();
            won.then_some(value)
        });
    }
    let winners: Vec<String> = racers.join_all().await.into_iter().flatten().collect();
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(
        store.get_setting("keys").await.unwrap().as_deref(),
        Some(winners[0].as_str())
    );
    assert_eq!(new_events(store, &mut seen).await, event(&winners[0]));
    assert!(matches!(
        store.replace_setting("", "a", "b", &|_| Vec::new()).await,
        Err(StoreError::Invalid(_))
    ));
}

pub(crate) async fn policy_revision(ctx: &Ctx) {
    let store = &ctx.store;
    let mut last = store.policy_revision().await.unwrap().revision;
    let mut expect_bump = async |bumped: bool, what: &str| {
        let rev = store.policy_revision().await.unwrap();
        if bumped {
            assert!(rev.revision > last, "{what} did not bump the revision");
            assert!(rev.changed_at > 0);
        } else {
            assert_eq!(rev.revision, last, "{what} bumped the revision");
        }
        last = rev.revision;
    };

    let alice = store
        .create_user(&NewUser::new(name("alice"), UserKind::Human), &|_| {
            Vec::new()
        })
        .await
        .unwrap();
    expect_bump(true, "create_user").await;
    let _ = store
        .create_user(&NewUser::new(name("alice"), UserKind::Human), &|_| {
            Vec::new()
        })
        .await
        .unwrap_err();
    expect_bump(false, "a refused create_user").await;
    store
        .set_admin(alice.id, true, &|_| Vec::new())
        .await
        .unwrap();
    expect_bump(true, "set_admin").await;
    store
        .set_disabled(alice.id, true, &|_| Vec::new())
        .await
        .unwrap();
    expect_bump(true, "set_disabled").await;
    let _ = store
        .set_disabled(999_999, true, &|_| Vec::new())
        .await
        .unwrap_err();
    expect_bump(false, "set_disabled of a missing user").await;
    store
        .set_password_hash(alice.id, Some("h"), &PasswordChange::default(), &|_| {
            Vec::new()
        })
        .await
        .unwrap();
    expect_bump(true, "set_password_hash").await;
    let devs = store
        .create_group(&group("devs"), &|_| Vec::new())
        .await
        .unwrap();
    expect_bump(true, "create_group").await;
    store
        .add_group_member(devs.id, alice.id, &|_| Vec::new())
        .await
        .unwrap();
    expect_bump(true, "add_group_member").await;
    store
        .add_group_member(devs.id, alice.id, &|_| Vec::new())
        .await
        .unwrap();
    expect_bump(false, "add_group_member of a member").await;
    let _ = store
        .add_group_member(devs.id, 999_999, &|_| Vec::new())
        .await
        .unwrap_err();
    expect_bump(false, "add_group_member of a missing user").await;
    store
        .remove_group_member(devs.id, alice.id, &|_| Vec::new())
        .await
        .unwrap();
    expect_bump(true, "remove_group_member").await;
    let rule = store
        .add_acl_rule(
            &NewAclRule {
                subject: "group:devs".into(),
                pattern: "*".into(),
                actions: "pull".into(),
                created_by: None,
            },
            &|_| Vec::new(),
        )
        .await
        .unwrap();
    expect_bump(true, "add_acl_rule").await;
    store
        .delete_acl_rule(rule.id, &|_| Vec::new())
        .await
        .unwrap();
    expect_bump(true, "delete_acl_rule").await;
    store
        .insert_audit_event(&NewAuditEvent {
            action: "login".into(),
            ..NewAuditEvent::default()
        })
        .await
        .unwrap();
    store.set_setting("k", "v", &|_| Vec::new()).await.unwrap();
    expect_bump(false, "audit and settings").await;
    store.delete_group(devs.id, &|_| Vec::new()).await.unwrap();
    expect_bump(true, "delete_group").await;
    store.delete_user(alice.id, &|_| Vec::new()).await.unwrap();
    expect_bump(true, "delete_user").await;
}

/// Two handles on the same database (the CLI and the server) writing at once.
pub(crate) async fn concurrent_handles(ctx: &Ctx) {
    let other = Store::connect(&ctx.url).await.unwrap();
    let before = ctx.store.policy_revision().await.unwrap().revision;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = if i % 2 == 0 {
            ctx.store.clone()
        } else {
            other.clone()
        };
        tasks.push(tokio::spawn(async move {
            let user = store
                .create_user(
                    &NewUser::new(name(&format!("user{i}")), UserKind::Service),
                    &|_| Vec::new(),
                )
                .await?;
            store.set_admin(user.id, true, &|_| Vec::new()).await?;
            store
                .insert_audit_event(&NewAuditEvent {
                    actor: Some(user.username),
                    action: "user.create".into(),
                    ..NewAuditEvent::default()
                })
                .await?;
            Ok::<_, StoreError>(())
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(ctx.store.count_users().await.unwrap(), 16);
    assert_eq!(other.list_users().await.unwrap().len(), 16);
    let after = other.policy_revision().await.unwrap().revision;
    assert_eq!(after - before, 32);
    other.close().await;
}

/// Reconnecting applies no migration twice and keeps the data; the handle reports its backend
/// and hides secrets.
pub(crate) async fn reconnect_and_debug(ctx: &Ctx) {
    ctx.store
        .create_user(&NewUser::new(name("alice"), UserKind::Human), &|_| {
            Vec::new()
        })
        .await
        .unwrap();
    ctx.store.ping().await.unwrap();
    let again = Store::connect(&ctx.url).await.unwrap();
    again.migrate().await.unwrap();
    assert_eq!(
        again.get_user_by_name("alice").await.unwrap().username,
        "alice"
    );
    assert_eq!(again.backend_kind(), ctx.store.backend_kind());
    let debug = format!("{again:?}");
    assert!(debug.contains("Store"), "{debug}");
    again.close().await;
    assert!(matches!(again.ping().await, Err(StoreError::Database(_))));
    ctx.store.ping().await.unwrap();
}
