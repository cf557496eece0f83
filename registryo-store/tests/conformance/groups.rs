//! Groups, memberships and ACL rules.

use crate::prelude::*;

pub(crate) async fn groups_and_memberships(ctx: &Ctx) {
    let store = &ctx.store;
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
    let devs = store
        .create_group(&group("devs"), &|_| Vec::new())
        .await
        .unwrap();
    let ops = store
        .create_group(&group("ops"), &|_| Vec::new())
        .await
        .unwrap();
    for taken in ["devs", "Devs", "DEVS"] {
        let err = store
            .create_group(&group(taken), &|_| Vec::new())
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), format!("group \"{taken}\" already exists"));
    }
    store
        .create_group(&group("Qa"), &|_| Vec::new())
        .await
        .unwrap();

    assert_eq!(store.get_group(devs.id).await.unwrap(), devs);
    assert_eq!(store.get_group_by_name("ops").await.unwrap(), ops);
    assert_eq!(store.get_group_by_name("OPS").await.unwrap(), ops);
    assert!(matches!(
        store.get_group_by_name("nope").await,
        Err(StoreError::NotFound(_))
    ));
    let names: Vec<String> = store
        .list_groups()
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(names, ["Qa", "devs", "ops"]);

    assert!(
        store
            .add_group_member(devs.id, alice.id, &|_| Vec::new())
            .await
            .unwrap()
    );
    assert!(
        !store
            .add_group_member(devs.id, alice.id, &|_| Vec::new())
            .await
            .unwrap()
    );
    assert!(
        store
            .add_group_member(devs.id, bob.id, &|_| Vec::new())
            .await
            .unwrap()
    );
    assert!(
        store
            .add_group_member(ops.id, alice.id, &|_| Vec::new())
            .await
            .unwrap()
    );
    let err = store
        .add_group_member(devs.id, 999_999, &|_| Vec::new())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    let err = store
        .add_group_member(999_999, alice.id, &|_| Vec::new())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");

    let groups: Vec<String> = store
        .groups_of_user(alice.id)
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(groups, ["devs", "ops"]);
    let members: Vec<String> = store
        .group_members(devs.id)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(members, ["alice", "bob"]);
    assert_eq!(
        store.list_memberships().await.unwrap(),
        [
            ("devs".to_owned(), "alice".to_owned()),
            ("devs".to_owned(), "bob".to_owned()),
            ("ops".to_owned(), "alice".to_owned()),
        ]
    );

    assert!(
        store
            .remove_group_member(devs.id, bob.id, &|_| Vec::new())
            .await
            .unwrap()
    );
    assert!(
        !store
            .remove_group_member(devs.id, bob.id, &|_| Vec::new())
            .await
            .unwrap()
    );
    assert_eq!(store.group_members(devs.id).await.unwrap().len(), 1);

    // Deleting a user or a group removes their memberships.
    store.delete_user(alice.id, &|_| Vec::new()).await.unwrap();
    assert!(store.group_members(devs.id).await.unwrap().is_empty());
    assert!(
        store
            .add_group_member(ops.id, bob.id, &|_| Vec::new())
            .await
            .unwrap()
    );
    store.delete_group(ops.id, &|_| Vec::new()).await.unwrap();
    assert!(store.groups_of_user(bob.id).await.unwrap().is_empty());
    assert!(store.list_memberships().await.unwrap().is_empty());
    assert!(matches!(
        store.delete_group(ops.id, &|_| Vec::new()).await,
        Err(StoreError::NotFound(_))
    ));
}

/// Removing a user or a group removes, in the same transaction, the rules that name it (in
/// any case), so that an account made later under that name inherits nothing; other rules stay.
pub(crate) async fn removing_a_subject_removes_its_rules(ctx: &Ctx) {
    let store = &ctx.store;
    let rule = |subject: &str, pattern: &str| NewAclRule {
        subject: subject.into(),
        pattern: pattern.into(),
        actions: "pull,push,delete".into(),
        created_by: None,
    };
    let alice = store
        .create_user(&NewUser::new(name("alice"), UserKind::Human), &|_| {
            Vec::new()
        })
        .await
        .unwrap();
    let devs = store
        .create_group(&group("devs"), &|_| Vec::new())
        .await
        .unwrap();
    let mine = store
        .add_acl_rule(&rule("user:alice", "secret/**"), &|_| Vec::new())
        .await
        .unwrap();
    let mine_upper = store
        .add_acl_rule(&rule("user:Alice", "other"), &|_| Vec::new())
        .await
        .unwrap();
    let alicia = store
        .add_acl_rule(&rule("user:alicia", "x"), &|_| Vec::new())
        .await
        .unwrap();
    let team = store
        .add_acl_rule(&rule("group:devs", "team/**"), &|_| Vec::new())
        .await
        .unwrap();
    let everyone = store
        .add_acl_rule(&rule("authenticated", "alice/**"), &|_| Vec::new())
        .await
        .unwrap();
    let devs_user = store
        .add_acl_rule(&rule("user:devs", "y"), &|_| Vec::new())
        .await
        .unwrap();

    let rev = store.policy_revision().await.unwrap().revision;
    let removed = store.delete_user(alice.id, &|_| Vec::new()).await.unwrap();
    assert_eq!(removed, [mine, mine_upper]);
    assert!(store.policy_revision().await.unwrap().revision > rev);
    let removed = store.delete_group(devs.id, &|_| Vec::new()).await.unwrap();
    assert_eq!(removed, [team]);
    assert_eq!(
        store.list_acl_rules().await.unwrap(),
        [alicia, everyone, devs_user]
    );

    // A new alice starts with nothing.
    store
        .create_user(&NewUser::new(name("alice"), UserKind::Human), &|_| {
            Vec::new()
        })
        .await
        .unwrap();
    assert!(
        !store
            .list_acl_rules()
            .await
            .unwrap()
            .iter()
            .any(|r| r.subject.eq_ignore_ascii_case("user:alice"))
    );
}

pub(crate) async fn acl_rules(ctx: &Ctx) {
    let store = &ctx.store;
    let rule = |subject: &str, pattern: &str, actions: &str| NewAclRule {
        subject: subject.into(),
        pattern: pattern.into(),
        actions: actions.into(),
        created_by: Some("admin".into()),
    };
    let a = store
        .add_acl_rule(&rule("group:devs", "team/*", "pull,push"), &|_| Vec::new())
        .await
        .unwrap();
    let b = store
        .add_acl_rule(&rule("anonymous", "public/*", "pull"), &|_| Vec::new())
        .await
        .unwrap();
    let c = store
        .add_acl_rule(
            &NewAclRule {
                created_by: None,
                ..rule("authenticated", "*", "pull")
            },
            &|_| Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(a.subject, "group:devs");
    assert_eq!(a.actions, "pull,push");
    assert_eq!(a.created_by.as_deref(), Some("admin"));
    assert_eq!(c.created_by, None);
    assert_eq!(
        store.list_acl_rules().await.unwrap(),
        [a.clone(), b, c.clone()]
    );
    assert!(matches!(
        store
            .add_acl_rule(&rule("", "x", "pull"), &|_| Vec::new())
            .await,
        Err(StoreError::Invalid(_))
    ));

    store.delete_acl_rule(a.id, &|_| Vec::new()).await.unwrap();
    let err = store
        .delete_acl_rule(a.id, &|_| Vec::new())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), format!("ACL rule {} not found", a.id));
    let ids: Vec<i64> = store
        .list_acl_rules()
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids.last(), Some(&c.id));
    assert_eq!(ids.len(), 2);
}
