//! Audited changes write their events in their own transaction: both commit or neither.

use crate::prelude::*;

/// An event of `admin`'s, from 192.0.2.1.
pub(crate) fn by_admin(action: &str, target: &str, detail: Option<String>) -> NewAuditEvent {
    NewAuditEvent {
        actor: Some("admin".into()),
        action: action.into(),
        target: Some(target.into()),
        detail,
        remote_addr: Some("192.0.2.1".into()),
    }
}

/// The events written since the last call (`seen` counts the ones already returned), oldest
/// first, as they were given.
pub(crate) async fn new_events(store: &Store, seen: &mut usize) -> Vec<NewAuditEvent> {
    let mut all = store
        .list_audit_events(&AuditQuery {
            limit: 1000,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    all.reverse();
    let new: Vec<NewAuditEvent> = all
        .into_iter()
        .skip(*seen)
        .map(|e| NewAuditEvent {
            actor: e.actor,
            action: e.action,
            target: e.target,
            detail: e.detail,
            remote_addr: e.remote_addr,
        })
        .collect();
    *seen += new.len();
    new
}

/// A detail the log refuses: one byte over its limit.
pub(crate) fn too_long() -> Option<String> {
    Some("x".repeat(8193))
}

pub(crate) async fn audited_changes_write_their_events(ctx: &Ctx) {
    let store = &ctx.store;
    let mut seen = 0;

    let alice = store
        .create_user(&NewUser::new(name("alice"), UserKind::Human), &|u| {
            vec![by_admin(
                "user.create",
                &u.username,
                Some(format!("id {}", u.id)),
            )]
        })
        .await
        .unwrap();
    assert_eq!(
        new_events(store, &mut seen).await,
        [by_admin(
            "user.create",
            "alice",
            Some(format!("id {}", alice.id))
        )]
    );

    // Several events of one change, in order.
    let update = UserUpdate {
        first_name: Some("Alice".into()),
        is_admin: Some(true),
        ..UserUpdate::default()
    };
    store
        .update_user(alice.id, &update, &|u| {
            vec![
                by_admin("user.update", &u.username, None),
                by_admin("user.admin", &u.username, Some(u.is_admin.to_string())),
            ]
        })
        .await
        .unwrap();
    assert_eq!(
        new_events(store, &mut seen).await,
        [
            by_admin("user.update", "alice", None),
            by_admin("user.admin", "alice", Some("true".into())),
        ]
    );
    store
        .set_disabled(alice.id, true, &|_| {
            vec![by_admin("user.disable", "alice", None)]
        })
        .await
        .unwrap();
    store
        .set_admin(alice.id, false, &|_| {
            vec![by_admin("user.unadmin", "alice", None)]
        })
        .await
        .unwrap();
    assert_eq!(
        new_events(store, &mut seen).await,
        [
            by_admin("user.disable", "alice", None),
            by_admin("user.unadmin", "alice", None),
        ]
    );

    // Made of what the change did.
    let session = NewSession {
        id_hash: hash(1),
        user_id: alice.id,
        csrf_token: "csrf".into(),
        expires_at: now() + 3600,
    };
    store
        .update_user(
            alice.id,
            &UserUpdate {
                disabled: Some(false),
                ..UserUpdate::default()
            },
            &|_| Vec::new(),
        )
        .await
        .unwrap();
    store
        .create_session(&session, &|_| Vec::new())
        .await
        .unwrap();
    store
        .set_password_hash(alice.id, Some("h"), &PasswordChange::default(), &|ended| {
            vec![by_admin(
                "user.password",
                "alice",
                Some(format!("{ended:?}")),
            )]
        })
        .await
        .unwrap();
    let ended = LoginsEnded {
        sessions: 1,
        docker_logins: 0,
    };
    assert_eq!(
        new_events(store, &mut seen).await,
        [by_admin(
            "user.password",
            "alice",
            Some(format!("{ended:?}"))
        )]
    );

    let devs = store
        .create_group(&group("devs"), &|g| {
            vec![by_admin("group.create", &g.name, None)]
        })
        .await
        .unwrap();
    let member = |added: &bool| {
        if *added {
            vec![by_admin(
                "group.add_member",
                "devs",
                Some("user=alice".into()),
            )]
        } else {
            Vec::new()
        }
    };
    assert!(
        store
            .add_group_member(devs.id, alice.id, &member)
            .await
            .unwrap()
    );
    assert!(
        !store
            .add_group_member(devs.id, alice.id, &member)
            .await
            .unwrap()
    );
    assert!(
        store
            .remove_group_member(devs.id, alice.id, &|removed| {
                vec![by_admin(
                    "group.remove_member",
                    "devs",
                    Some(removed.to_string()),
                )]
            })
            .await
            .unwrap()
    );
    assert_eq!(
        new_events(store, &mut seen).await,
        [
            by_admin("group.create", "devs", None),
            by_admin("group.add_member", "devs", Some("user=alice".into())),
            by_admin("group.remove_member", "devs", Some("true".into())),
        ]
    );

    let rule = NewAclRule {
        subject: "group:devs".into(),
        pattern: "team/**".into(),
        actions: "pull".into(),
        created_by: Some("admin".into()),
    };
    let text = |r: &registryo_store::AclRule| Some(format!("{} {}", r.subject, r.pattern));
    let added = store
        .add_acl_rule(&rule, &|r| {
            vec![by_admin("acl.add", &format!("rule {}", r.id), text(r))]
        })
        .await
        .unwrap();
    store
        .delete_acl_rule(added.id, &|r| {
            vec![by_admin("acl.remove", &format!("rule {}", r.id), text(r))]
        })
        .await
        .unwrap();
    let target = format!("rule {}", added.id);
    let detail = Some("group:devs team/**".to_owned());
    assert_eq!(
        new_events(store, &mut seen).await,
        [
            by_admin("acl.add", &target, detail.clone()),
            by_admin("acl.remove", &target, detail),
        ]
    );

    let login = |n: u32| NewRefreshToken {
        user_id: alice.id,
        token_hash: hash(n),
        client_id: "docker".into(),
        service: "registry.example".into(),
        created_addr: None,
    };
    let t = store
        .insert_refresh_token(&login(2), &|t| {
            vec![by_admin("token.login", "alice", Some(t.client_id.clone()))]
        })
        .await
        .unwrap();
    store
        .insert_refresh_token(&login(3), &|_| Vec::new())
        .await
        .unwrap();
    let revoked = |n: &u64| vec![by_admin("token.revoke", "alice", Some(n.to_string()))];
    assert_eq!(store.revoke_refresh_token(t.id, &revoked).await.unwrap(), 1);
    assert_eq!(
        store
            .revoke_refresh_tokens_of_user(alice.id, None, &revoked)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        new_events(store, &mut seen).await,
        [
            by_admin("token.login", "alice", Some("docker".into())),
            by_admin("token.revoke", "alice", Some("1".into())),
            by_admin("token.revoke", "alice", Some("1".into())),
        ]
    );

    let reset = NewPasswordToken {
        user_id: alice.id,
        token_hash: hash(4),
        purpose: TokenPurpose::Reset,
        expires_at: now() + 3600,
    };
    store
        .insert_password_token(&reset, &|t| {
            vec![by_admin(
                "user.password.reset_requested",
                "alice",
                Some(t.purpose.as_str().into()),
            )]
        })
        .await
        .unwrap();
    store
        .redeem_password_token(&hash(4), "new-hash", true, &|(token, user, ended)| {
            let detail = format!(
                "{} {} {}",
                token.purpose.as_str(),
                user.username,
                ended.docker_logins
            );
            vec![by_admin("user.password.reset", "alice", Some(detail))]
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        new_events(store, &mut seen).await,
        [
            by_admin(
                "user.password.reset_requested",
                "alice",
                Some("reset".into())
            ),
            by_admin("user.password.reset", "alice", Some("reset alice 0".into())),
        ]
    );

    store
        .set_setting("signing_keys", "[]", &|()| {
            vec![by_admin("keys.stage", "signing keys", None)]
        })
        .await
        .unwrap();
    assert_eq!(
        new_events(store, &mut seen).await,
        [by_admin("keys.stage", "signing keys", None)]
    );

    store
        .delete_group(devs.id, &|removed| {
            vec![by_admin(
                "group.delete",
                "devs",
                Some(removed.len().to_string()),
            )]
        })
        .await
        .unwrap();
    store
        .delete_user(alice.id, &|removed| {
            vec![by_admin(
                "user.delete",
                "alice",
                Some(removed.len().to_string()),
            )]
        })
        .await
        .unwrap();
    assert_eq!(
        new_events(store, &mut seen).await,
        [
            by_admin("group.delete", "devs", Some("0".into())),
            by_admin("user.delete", "alice", Some("0".into())),
        ]
    );
}

pub(crate) async fn refused_changes_write_no_event(ctx: &Ctx) {
    let store = &ctx.store;
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
    let any = |_: &dyn std::any::Any| vec![by_admin("refused", "x", None)];
    let missing = 999_999;

    let err = store
        .create_user(&NewUser::new(name("Alice"), UserKind::Human), &|u| any(u))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let err = store
        .create_group(&group("DEVS"), &|g| any(g))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let update = UserUpdate {
        is_admin: Some(true),
        ..UserUpdate::default()
    };
    let err = store
        .update_user(missing, &update, &|u| any(u))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    let err = store
        .set_password_hash(missing, Some("h"), &PasswordChange::default(), &|e| any(e))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    let err = store.delete_user(missing, &|_| any(&())).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    let err = store
        .delete_group(missing, &|_| any(&()))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    let err = store
        .delete_acl_rule(missing, &|r| any(r))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    let err = store
        .add_group_member(devs.id, missing, &|a| any(a))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    let bad_rule = NewAclRule {
        subject: String::new(),
        pattern: "x".into(),
        actions: "pull".into(),
        created_by: None,
    };
    let err = store
        .add_acl_rule(&bad_rule, &|r| any(r))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    let login = NewRefreshToken {
        user_id: missing,
        token_hash: hash(1),
        client_id: "docker".into(),
        service: "registry.example".into(),
        created_addr: None,
    };
    let err = store
        .insert_refresh_token(&login, &|t| any(t))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    let reset = NewPasswordToken {
        user_id: alice.id,
        token_hash: "not a hash".into(),
        purpose: TokenPurpose::Reset,
        expires_at: now() + 3600,
    };
    let err = store
        .insert_password_token(&reset, &|t| any(t))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    // A link that may not be honoured changes nothing, and writes nothing.
    let redeemed = store
        .redeem_password_token(&hash(2), "h", false, &|r| any(r))
        .await
        .unwrap();
    assert!(redeemed.is_none());

    assert!(
        store
            .list_audit_events(&AuditQuery::default())
            .await
            .unwrap()
            .is_empty(),
        "a refused change wrote an event"
    );
}

pub(crate) async fn a_refused_event_refuses_its_change(ctx: &Ctx) {
    let store = &ctx.store;
    let refused = |_: &dyn std::any::Any| vec![by_admin("refused", "x", too_long())];
    let alice = store
        .create_user(
            &NewUser::new(name("alice"), UserKind::Human).password_hash("old-hash"),
            &|_| Vec::new(),
        )
        .await
        .unwrap();
    let devs = store
        .create_group(&group("devs"), &|_| Vec::new())
        .await
        .unwrap();
    let rule = NewAclRule {
        subject: "user:alice".into(),
        pattern: "alice/**".into(),
        actions: "pull".into(),
        created_by: None,
    };
    let kept_rule = store.add_acl_rule(&rule, &|_| Vec::new()).await.unwrap();
    let session = NewSession {
        id_hash: hash(1),
        user_id: alice.id,
        csrf_token: "csrf".into(),
        expires_at: now() + 3600,
    };
    store
        .create_session(&session, &|_| Vec::new())
        .await
        .unwrap();
    let login = |n: u32| NewRefreshToken {
        user_id: alice.id,
        token_hash: hash(n),
        client_id: "docker".into(),
        service: "registry.example".into(),
        created_addr: None,
    };
    let kept_login = store
        .insert_refresh_token(&login(2), &|_| Vec::new())
        .await
        .unwrap();
    let reset = |n: u32| NewPasswordToken {
        user_id: alice.id,
        token_hash: hash(n),
        purpose: TokenPurpose::Reset,
        expires_at: now() + 3600,
    };
    store
        .insert_password_token(&reset(3), &|_| Vec::new())
        .await
        .unwrap();
    let rev = store.policy_revision().await.unwrap().revision;
    let invalid = |r: Result<(), StoreError>, what: &str| {
        assert!(matches!(r, Err(StoreError::Invalid(_))), "{what}: {r:?}");
    };

    // Each change is refused, and nothing of it stays.
    invalid(
        store
            .create_user(&NewUser::new(name("bob"), UserKind::Human), &|u| refused(u))
            .await
            .map(drop),
        "create_user",
    );
    assert!(matches!(
        store.get_user_by_name("bob").await,
        Err(StoreError::NotFound(_))
    ));
    let update = UserUpdate {
        first_name: Some("Alicia".into()),
        disabled: Some(true),
        ..UserUpdate::default()
    };
    invalid(
        store
            .update_user(alice.id, &update, &|u| refused(u))
            .await
            .map(drop),
        "update_user",
    );
    invalid(
        store.set_disabled(alice.id, true, &|u| refused(u)).await,
        "set_disabled",
    );
    invalid(
        store
            .set_password_hash(
                alice.id,
                Some("new-hash"),
                &PasswordChange::default(),
                &|e| refused(e),
            )
            .await
            .map(drop),
        "set_password_hash",
    );
    let same = store.get_user(alice.id).await.unwrap();
    assert_eq!((same.first_name.as_str(), same.disabled), ("", false));
    assert_eq!(same.password_hash.as_deref(), Some("old-hash"));
    assert!(
        store.get_session(&hash(1)).await.unwrap().is_some(),
        "the session ended"
    );

    invalid(
        store
            .create_group(&group("ops"), &|g| refused(g))
            .await
            .map(drop),
        "create_group",
    );
    assert!(store.get_group_by_name("ops").await.is_err());
    invalid(
        store
            .add_group_member(devs.id, alice.id, &|a| refused(a))
            .await
            .map(drop),
        "add_group_member",
    );
    assert!(store.group_members(devs.id).await.unwrap().is_empty());
    invalid(
        store.add_acl_rule(&rule, &|r| refused(r)).await.map(drop),
        "add_acl_rule",
    );
    invalid(
        store
            .delete_acl_rule(kept_rule.id, &|r| refused(r))
            .await
            .map(drop),
        "delete_acl_rule",
    );
    assert_eq!(store.list_acl_rules().await.unwrap(), [kept_rule]);

    invalid(
        store
            .insert_refresh_token(&login(4), &|t| refused(t))
            .await
            .map(drop),
        "insert_refresh_token",
    );
    invalid(
        store
            .revoke_refresh_token(kept_login.id, &|n| refused(n))
            .await
            .map(drop),
        "revoke_refresh_token",
    );
    invalid(
        store
            .revoke_refresh_tokens_of_user(alice.id, None, &|n| refused(n))
            .await
            .map(drop),
        "revoke_refresh_tokens_of_user",
    );
    let logins = store.list_refresh_tokens(alice.id).await.unwrap();
    assert_eq!(logins.len(), 1);
    assert_eq!(logins[0].revoked_at, None);

    invalid(
        store
            .insert_password_token(&reset(5), &|t| refused(t))
            .await
            .map(drop),
        "insert_password_token",
    );
    invalid(
        store
            .redeem_password_token(&hash(3), "new-hash", false, &|r| refused(r))
            .await
            .map(drop),
        "redeem_password_token",
    );
    assert_eq!(store.list_password_tokens(alice.id).await.unwrap().len(), 1);
    assert!(
        store.find_password_token(&hash(3)).await.unwrap().is_some(),
        "the link was used"
    );

    invalid(
        store.set_setting("k", "v", &|()| refused(&())).await,
        "set_setting",
    );
    assert_eq!(store.get_setting("k").await.unwrap(), None);

    // An empty action is refused as insert_audit_event refuses it.
    let empty = |_: &dyn std::any::Any| vec![NewAuditEvent::new("")];
    invalid(
        store.delete_group(devs.id, &|_| empty(&())).await.map(drop),
        "delete_group",
    );
    invalid(
        store
            .delete_user(alice.id, &|_| refused(&()))
            .await
            .map(drop),
        "delete_user",
    );
    assert!(store.get_group(devs.id).await.is_ok());
    assert!(store.get_user(alice.id).await.is_ok());

    assert_eq!(store.policy_revision().await.unwrap().revision, rev);
    assert!(
        store
            .list_audit_events(&AuditQuery::default())
            .await
            .unwrap()
            .is_empty()
    );
}

pub(crate) async fn deleting_a_subject_audits_its_rules_in_its_transaction(ctx: &Ctx) {
    let store = &ctx.store;
    let alice = store
        .create_user(&NewUser::new(name("alice"), UserKind::Human), &|_| {
            Vec::new()
        })
        .await
        .unwrap();
    let rule = |pattern: &str| NewAclRule {
        subject: "user:alice".into(),
        pattern: pattern.into(),
        actions: "pull".into(),
        created_by: None,
    };
    let first = store
        .add_acl_rule(&rule("a/**"), &|_| Vec::new())
        .await
        .unwrap();
    let second = store
        .add_acl_rule(&rule("b/**"), &|_| Vec::new())
        .await
        .unwrap();
    // Each removed rule gets its own event, made inside the deletion's transaction.
    let events = |rules: &[registryo_store::AclRule], detail: &dyn Fn(usize) -> Option<String>| {
        let mut events = vec![by_admin("user.delete", "alice", None)];
        events.extend(
            rules
                .iter()
                .enumerate()
                .map(|(i, r)| by_admin("acl.remove", &format!("rule {}", r.id), detail(i))),
        );
        events
    };

    // One refused event among them: the deletion is refused whole.
    let err = store
        .delete_user(alice.id, &|removed| {
            events(removed, &|i| if i == 1 { too_long() } else { None })
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert!(store.get_user(alice.id).await.is_ok());
    assert_eq!(
        store.list_acl_rules().await.unwrap(),
        [first.clone(), second.clone()]
    );
    assert!(
        store
            .list_audit_events(&AuditQuery::default())
            .await
            .unwrap()
            .is_empty()
    );

    let removed = store
        .delete_user(alice.id, &|removed| {
            events(removed, &|i| Some(format!("#{i}")))
        })
        .await
        .unwrap();
    assert_eq!(removed, [first.clone(), second.clone()]);
    let mut seen = 0;
    assert_eq!(
        new_events(store, &mut seen).await,
        [
            by_admin("user.delete", "alice", None),
            by_admin(
                "acl.remove",
                &format!("rule {}", first.id),
                Some("#0".into())
            ),
            by_admin(
                "acl.remove",
                &format!("rule {}", second.id),
                Some("#1".into())
            ),
        ]
    );
}

/// A session is created with its sign-in event, or neither is: an unknown user writes no
/// event, a refused event leaves no session.
pub(crate) async fn a_session_and_its_event_commit_together(ctx: &Ctx) {
    let store = &ctx.store;
    let mut seen = 0;
    let erin = store
        .create_user(&NewUser::new(name("erin"), UserKind::Human), &|_| {
            Vec::new()
        })
        .await
        .unwrap();
    let session = |n: u32, user_id: i64| NewSession {
        id_hash: hash(n),
        user_id,
        csrf_token: "csrf".into(),
        expires_at: now() + 3600,
    };
    let _ = new_events(store, &mut seen).await;
    store
        .create_session(&session(1, erin.id), &|s| {
            vec![by_admin(
                "ui.signin",
                "erin",
                Some(format!("{}", s.user_id)),
            )]
        })
        .await
        .unwrap();
    assert_eq!(
        new_events(store, &mut seen).await,
        [by_admin("ui.signin", "erin", Some(erin.id.to_string()))]
    );
    assert!(store.get_session(&hash(1)).await.unwrap().is_some());

    let err = store
        .create_session(&session(2, 999_999), &|_| {
            vec![by_admin("ui.signin", "ghost", None)]
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    let _ = store
        .create_session(&session(3, erin.id), &|_| {
            vec![by_admin("ui.signin", "erin", too_long())]
        })
        .await
        .unwrap_err();
    assert!(store.get_session(&hash(3)).await.unwrap().is_none());
    assert!(new_events(store, &mut seen).await.is_empty());
}
