//! The one conformance suite of the store, written once over a [`Store`] and run against
//! every backend:
//!
//! - SQLite always, each case on its own temporary file;
//! - PostgreSQL when `REGISTRYO_TEST_POSTGRES_URL` is set (and the `postgres` feature is on):
//!   each case creates, then drops, its own database through that URL. A URL that is set but
//!   unreachable fails the cases; when it is unset they print that they were not run.
//!
//! ```sh
//! eval "$(scripts/postgres-test-server)"
//! cargo test -p registryo-store --features postgres --test conformance
//! ```
// The cases are plain async functions, not `#[test]`s, so clippy's allow-unwrap-in-tests
// does not reach them.
#![allow(clippy::unwrap_used)]

use registryo_core::names::{GroupName, Username};
use registryo_core::storage::prelude::*;
use registryo_store::{
    AuditQuery, LoginsEnded, NewAclRule, NewAuditEvent, NewPasswordToken, NewRefreshToken,
    NewSession, NewUser, PasswordChange, Store, StoreError, TokenPurpose, UserKind, UserUpdate,
};

/// The environment variable naming the PostgreSQL server used by the suite.
const POSTGRES_ENV: &str = "REGISTRYO_TEST_POSTGRES_URL";

/// What a case gets: the store and the URL it was opened with (to open a second handle).
struct Ctx {
    store: Store,
    url: String,
}

// ---------------------------------------------------------------------------------------------
// The cases.
// ---------------------------------------------------------------------------------------------

fn name(s: &str) -> Username {
    Username::new(s).unwrap()
}

fn group(s: &str) -> GroupName {
    GroupName::new(s).unwrap()
}

fn hash(n: u32) -> String {
    format!("{n:064x}")
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn users_crud(ctx: &Ctx) {
    let store = &ctx.store;
    assert_eq!(store.count_users().await.unwrap(), 0);
    let alice = store
        .create_user(
            &NewUser::new(name("alice"), UserKind::Human)
                .password_hash("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA")
                .names("Alice", "Liddell")
                .email("alice@example.com"),
            &|_| Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(alice.username, "alice");
    assert_eq!(alice.kind, UserKind::Human);
    assert!(!alice.is_admin && !alice.disabled);
    assert_eq!(alice.first_name, "Alice");
    assert_eq!(alice.email.as_deref(), Some("alice@example.com"));
    assert!(alice.password_changed_at.is_some());
    assert!(alice.created_at > 0 && alice.updated_at == alice.created_at);
    assert!(
        !format!("{alice:?}").contains("argon2id"),
        "Debug shows the hash"
    );

    // Usernames are unique without regard to case.
    for taken in ["alice", "Alice", "ALICE"] {
        let err = store
            .create_user(&NewUser::new(name(taken), UserKind::Service), &|_| {
                Vec::new()
            })
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{taken}: {err:?}");
        assert_eq!(err.to_string(), format!("user \"{taken}\" already exists"));
    }
    let upper = store
        .create_user(&NewUser::new(name("Bob"), UserKind::Human), &|_| Vec::new())
        .await
        .unwrap();
    assert_ne!(upper.id, alice.id);
    assert!(upper.password_hash.is_none() && upper.password_changed_at.is_none());

    let robot = store
        .create_user(
            &NewUser::new(name("ci-bot"), UserKind::Service)
                .admin(true)
                .expires_at(now() + 3600),
            &|_| Vec::new(),
        )
        .await
        .unwrap();
    assert!(robot.is_admin);
    assert_eq!(robot.kind, UserKind::Service);

    assert_eq!(store.get_user(alice.id).await.unwrap(), alice);
    assert_eq!(store.get_user_by_name("alice").await.unwrap(), alice);
    // Looked up without regard to case; the record keeps the name as created.
    assert_eq!(store.get_user_by_name("ALICE").await.unwrap(), alice);
    assert_eq!(store.get_user_by_name("bob").await.unwrap().username, "Bob");
    let err = store.get_user_by_name("alicia").await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    let err = store.get_user(999_999).await.unwrap_err();
    assert_eq!(err.to_string(), "user 999999 not found");

    let names: Vec<String> = store
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(names, ["Bob", "alice", "ci-bot"]);
    assert_eq!(store.count_users().await.unwrap(), 3);

    // Partial update: untouched fields stay, Some(None) clears.
    let updated = store
        .update_user(
            alice.id,
            &UserUpdate {
                last_name: Some("Pleasance".into()),
                email: Some(None),
                ..UserUpdate::default()
            },
            &|_| Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(updated.first_name, "Alice");
    assert_eq!(updated.last_name, "Pleasance");
    assert_eq!(updated.email, None);
    assert_eq!(updated.password_hash, alice.password_hash);
    let updated = store
        .update_user(
            robot.id,
            &UserUpdate {
                expires_at: Some(None),
                kind: Some(UserKind::Human),
                ..UserUpdate::default()
            },
            &|_| Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!((updated.expires_at, updated.kind), (None, UserKind::Human));
    // The flags change with the rest, in one update.
    let updated = store
        .update_user(
            robot.id,
            &UserUpdate {
                first_name: Some("Robbie".into()),
                disabled: Some(true),
                is_admin: Some(true),
                ..UserUpdate::default()
            },
            &|_| Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            updated.first_name.as_str(),
            updated.disabled,
            updated.is_admin
        ),
        ("Robbie", true, true)
    );
    let updated = store
        .update_user(
            robot.id,
            &UserUpdate {
                disabled: Some(false),
                ..UserUpdate::default()
            },
            &|_| Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!((updated.disabled, updated.is_admin), (false, true));
    let err = store
        .update_user(999_999, &UserUpdate::default(), &|_| Vec::new())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");

    store
        .set_password_hash(
            upper.id,
            Some("$argon2id$new"),
            &PasswordChange::default(),
            &|_| Vec::new(),
        )
        .await
        .unwrap();
    let got = store.get_user(upper.id).await.unwrap();
    assert_eq!(got.password_hash.as_deref(), Some("$argon2id$new"));
    assert!(got.password_changed_at.is_some());
    store
        .set_password_hash(upper.id, None, &PasswordChange::default(), &|_| Vec::new())
        .await
        .unwrap();
    assert_eq!(store.get_user(upper.id).await.unwrap().password_hash, None);
    assert!(matches!(
        store
            .set_password_hash(999_999, Some("x"), &PasswordChange::default(), &|_| {
                Vec::new()
            })
            .await,
        Err(StoreError::NotFound(_))
    ));

    store
        .set_admin(alice.id, true, &|_| Vec::new())
        .await
        .unwrap();
    store
        .set_disabled(alice.id, true, &|_| Vec::new())
        .await
        .unwrap();
    let got = store.get_user(alice.id).await.unwrap();
    assert!(got.is_admin && got.disabled && !got.is_active_at(now()));
    store
        .set_admin(alice.id, false, &|_| Vec::new())
        .await
        .unwrap();
    store
        .set_disabled(alice.id, false, &|_| Vec::new())
        .await
        .unwrap();
    let got = store.get_user(alice.id).await.unwrap();
    assert!(!got.is_admin && !got.disabled && got.is_active_at(now()));
    assert!(matches!(
        store.set_admin(999_999, true, &|_| Vec::new()).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.set_disabled(999_999, true, &|_| Vec::new()).await,
        Err(StoreError::NotFound(_))
    ));

    store.delete_user(upper.id, &|_| Vec::new()).await.unwrap();
    assert!(matches!(
        store.get_user(upper.id).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.delete_user(upper.id, &|_| Vec::new()).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.count_users().await.unwrap(), 2);
}

async fn groups_and_memberships(ctx: &Ctx) {
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
async fn removing_a_subject_removes_its_rules(ctx: &Ctx) {
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

async fn acl_rules(ctx: &Ctx) {
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

async fn refresh_tokens(ctx: &Ctx) {
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
    let token = |user_id: i64, n: u32, client: &str| NewRefreshToken {
        user_id,
        token_hash: hash(n),
        client_id: client.into(),
        service: "registry.example".into(),
        created_addr: Some("10.0.0.9".into()),
    };
    let t1 = store
        .insert_refresh_token(&token(alice.id, 1, "docker"), &|_| Vec::new())
        .await
        .unwrap();
    assert_eq!(
        (t1.user_id, t1.last_used_at, t1.revoked_at),
        (alice.id, None, None)
    );
    assert_eq!(t1.token_hash, hash(1));
    let t2 = store
        .insert_refresh_token(&token(alice.id, 2, "ci"), &|_| Vec::new())
        .await
        .unwrap();
    store
        .insert_refresh_token(&token(alice.id, 3, "docker"), &|_| Vec::new())
        .await
        .unwrap();
    let tb = store
        .insert_refresh_token(&token(bob.id, 4, "docker"), &|_| Vec::new())
        .await
        .unwrap();

    let err = store
        .insert_refresh_token(&token(alice.id, 1, "docker"), &|_| Vec::new())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(!err.to_string().contains(&hash(1)), "the hash leaks: {err}");
    let err = store
        .insert_refresh_token(&token(999_999, 5, "docker"), &|_| Vec::new())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "user 999999 not found");
    let err = store
        .insert_refresh_token(
            &NewRefreshToken {
                token_hash: "not-a-hash".into(),
                ..token(alice.id, 0, "docker")
            },
            &|_| Vec::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");

    // Found by hash (in any case of hex digits), with its owner.
    let active = store
        .find_active_refresh_token(&hash(1).to_uppercase(), 0)
        .await
        .unwrap()
        .expect("active token");
    assert_eq!(active.token, t1);
    assert_eq!(active.user, alice);
    assert!(
        store
            .find_active_refresh_token(&hash(99), 0)
            .await
            .unwrap()
            .is_none()
    );

    assert_eq!(active.token.created_addr.as_deref(), Some("10.0.0.9"));
    assert_eq!(active.token.last_used_addr, None);
    // Idle expiry: a token neither used nor issued since `idle_since` is not honoured.
    assert!(
        store
            .find_active_refresh_token(&hash(1), now() + 60)
            .await
            .unwrap()
            .is_none()
    );
    store
        .touch_refresh_token(t1.id, Some("10.0.0.1"))
        .await
        .unwrap();
    let active = store
        .find_active_refresh_token(&hash(1), now() - 5)
        .await
        .unwrap()
        .unwrap();
    assert!(active.token.last_used_at.is_some());
    assert_eq!(active.token.last_used_addr.as_deref(), Some("10.0.0.1"));
    store.touch_refresh_token(t1.id, None).await.unwrap();
    let listed = store.list_refresh_tokens(alice.id).await.unwrap();
    assert_eq!(listed[0].last_used_addr.as_deref(), Some("10.0.0.1"));
    assert!(matches!(
        store.touch_refresh_token(999_999, None).await,
        Err(StoreError::NotFound(_))
    ));

    // A disabled or expired owner makes the token inactive, without revoking it.
    store
        .set_disabled(alice.id, true, &|_| Vec::new())
        .await
        .unwrap();
    assert!(
        store
            .find_active_refresh_token(&hash(1), 0)
            .await
            .unwrap()
            .is_none()
    );
    store
        .set_disabled(alice.id, false, &|_| Vec::new())
        .await
        .unwrap();
    assert!(
        store
            .find_active_refresh_token(&hash(1), 0)
            .await
            .unwrap()
            .is_some()
    );
    store
        .update_user(
            alice.id,
            &UserUpdate {
                expires_at: Some(Some(now() - 10)),
                ..UserUpdate::default()
            },
            &|_| Vec::new(),
        )
        .await
        .unwrap();
    assert!(
        store
            .find_active_refresh_token(&hash(1), 0)
            .await
            .unwrap()
            .is_none()
    );
    store
        .update_user(
            alice.id,
            &UserUpdate {
                expires_at: Some(Some(now() + 3600)),
                ..UserUpdate::default()
            },
            &|_| Vec::new(),
        )
        .await
        .unwrap();
    assert!(
        store
            .find_active_refresh_token(&hash(1), 0)
            .await
            .unwrap()
            .is_some()
    );

    // Revocation.
    assert_eq!(
        store
            .revoke_refresh_token(t1.id, &|_| Vec::new())
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .revoke_refresh_token(t1.id, &|_| Vec::new())
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .revoke_refresh_token(999_999, &|_| Vec::new())
            .await
            .unwrap(),
        0
    );
    assert!(
        store
            .find_active_refresh_token(&hash(1), 0)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .revoke_refresh_tokens_of_user(alice.id, Some("ci"), &|_| Vec::new())
            .await
            .unwrap(),
        1
    );
    assert!(
        store
            .find_active_refresh_token(&hash(2), 0)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_active_refresh_token(&hash(3), 0)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store
            .revoke_refresh_tokens_of_user(alice.id, None, &|_| Vec::new())
            .await
            .unwrap(),
        1
    );
    assert!(
        store
            .find_active_refresh_token(&hash(3), 0)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_active_refresh_token(&hash(4), 0)
            .await
            .unwrap()
            .is_some()
    );

    let listed = store.list_refresh_tokens(alice.id).await.unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[1].id, t2.id);
    assert!(listed.iter().all(|t| t.revoked_at.is_some()));

    assert_eq!(
        store
            .purge_revoked_refresh_tokens(now() - 3600)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .purge_revoked_refresh_tokens(now() + 10)
            .await
            .unwrap(),
        3
    );
    assert!(
        store
            .list_refresh_tokens(alice.id)
            .await
            .unwrap()
            .is_empty()
    );

    // Deleting the owner deletes the tokens.
    store.delete_user(bob.id, &|_| Vec::new()).await.unwrap();
    assert!(
        store
            .find_active_refresh_token(&hash(4), 0)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.list_refresh_tokens(bob.id).await.unwrap().is_empty());
    assert_eq!(
        store
            .revoke_refresh_token(tb.id, &|_| Vec::new())
            .await
            .unwrap(),
        0
    );
}

/// A password change, by any path, ends the user's other logins in its transaction: every web
/// session but the one that made it, the docker logins unless kept, unused reset links.
/// Disabling an account deletes its sessions, so enabling it again revives none.
async fn a_password_change_ends_other_logins(ctx: &Ctx) {
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
    let session = |user_id: i64, n: u32| NewSession {
        id_hash: hash(n),
        user_id,
        csrf_token: "csrf".into(),
        expires_at: now() + 3600,
    };
    let login = |user_id: i64, n: u32| NewRefreshToken {
        user_id,
        token_hash: hash(n),
        client_id: "docker".into(),
        service: "registry.example".into(),
        created_addr: None,
    };
    for (user, n) in [(alice.id, 1), (alice.id, 2), (bob.id, 3)] {
        store.create_session(&session(user, n)).await.unwrap();
        store
            .insert_refresh_token(&login(user, n + 10), &|_| Vec::new())
            .await
            .unwrap();
    }

    // The profile's change: this session stays, the other ends, docker logins are revoked.
    let ended = store
        .set_password_hash(
            alice.id,
            Some("h1"),
            &PasswordChange {
                keep_session: Some(hash(1)),
                keep_docker_logins: false,
            },
            &|_| Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        ended,
        LoginsEnded {
            sessions: 1,
            docker_logins: 2
        }
    );
    assert!(store.get_session(&hash(1)).await.unwrap().is_some());
    assert!(store.get_session(&hash(2)).await.unwrap().is_none());
    assert!(
        store
            .find_active_refresh_token(&hash(11), 0)
            .await
            .unwrap()
            .is_none()
    );
    // Bob's logins are untouched.
    assert!(store.get_session(&hash(3)).await.unwrap().is_some());
    assert!(
        store
            .find_active_refresh_token(&hash(13), 0)
            .await
            .unwrap()
            .is_some()
    );

    // Keeping the docker logins, on the person's own request.
    store
        .insert_refresh_token(&login(alice.id, 20), &|_| Vec::new())
        .await
        .unwrap();
    let ended = store
        .set_password_hash(
            alice.id,
            Some("h2"),
            &PasswordChange {
                keep_session: Some(hash(1)),
                keep_docker_logins: true,
            },
            &|_| Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        ended,
        LoginsEnded {
            sessions: 0,
            docker_logins: 0
        }
    );
    assert!(
        store
            .find_active_refresh_token(&hash(20), 0)
            .await
            .unwrap()
            .is_some()
    );

    // An admin's change (no session of alice's to keep) ends them all.
    let ended = store
        .set_password_hash(alice.id, Some("h3"), &PasswordChange::default(), &|_| {
            Vec::new()
        })
        .await
        .unwrap();
    assert_eq!(
        ended,
        LoginsEnded {
            sessions: 1,
            docker_logins: 1
        }
    );
    assert!(store.get_session(&hash(1)).await.unwrap().is_none());

    // A reset link's redemption ends them too (docker logins kept only on request).
    store.create_session(&session(alice.id, 4)).await.unwrap();
    store
        .insert_refresh_token(&login(alice.id, 21), &|_| Vec::new())
        .await
        .unwrap();
    store
        .insert_password_token(
            &NewPasswordToken {
                user_id: alice.id,
                token_hash: hash(30),
                purpose: TokenPurpose::Reset,
                expires_at: now() + 3600,
            },
            &|_| Vec::new(),
        )
        .await
        .unwrap();
    let (_, _, ended) = store
        .redeem_password_token(&hash(30), "h4", false, &|_| Vec::new())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ended,
        LoginsEnded {
            sessions: 1,
            docker_logins: 1
        }
    );

    // Disabling deletes the sessions: enabling again revives none.
    assert!(store.get_session(&hash(3)).await.unwrap().is_some());
    store
        .set_disabled(bob.id, true, &|_| Vec::new())
        .await
        .unwrap();
    store
        .set_disabled(bob.id, false, &|_| Vec::new())
        .await
        .unwrap();
    assert!(store.get_session(&hash(3)).await.unwrap().is_none());
    // Bob's docker login is kept (refused while disabled, honoured again after).
    assert!(
        store
            .find_active_refresh_token(&hash(13), 0)
            .await
            .unwrap()
            .is_some()
    );
}

/// Failed password checks are counted per account, address and minute, into one row each and
/// one audit event each (its `count` grows); usual addresses are remembered.
async fn failed_sign_ins_are_counted(ctx: &Ctx) {
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

async fn audit_events(ctx: &Ctx) {
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

async fn sessions(ctx: &Ctx) {
    let store = &ctx.store;
    let alice = store
        .create_user(&NewUser::new(name("alice"), UserKind::Human), &|_| {
            Vec::new()
        })
        .await
        .unwrap();
    let session = |n: u32, expires_at: i64| NewSession {
        id_hash: hash(n),
        user_id: alice.id,
        csrf_token: format!("csrf-{n}"),
        expires_at,
    };
    let s1 = store
        .create_session(&session(1, now() + 3600))
        .await
        .unwrap();
    assert_eq!((s1.user_id, s1.csrf_token.as_str()), (alice.id, "csrf-1"));
    assert!(
        !format!("{s1:?}").contains("csrf-1"),
        "Debug shows the CSRF token"
    );
    store
        .create_session(&session(2, now() + 3600))
        .await
        .unwrap();
    store.create_session(&session(3, now() - 1)).await.unwrap();
    assert!(matches!(
        store.create_session(&session(1, now() + 3600)).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .create_session(&NewSession {
                user_id: 999_999,
                ..session(9, now() + 60)
            })
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.get_session("short").await,
        Err(StoreError::Invalid(_))
    ));

    assert_eq!(store.get_session(&hash(1)).await.unwrap(), Some(s1.clone()));
    assert_eq!(store.get_session(&hash(3)).await.unwrap(), None, "expired");
    assert_eq!(store.get_session(&hash(8)).await.unwrap(), None);

    store
        .set_disabled(alice.id, true, &|_| Vec::new())
        .await
        .unwrap();
    assert_eq!(
        store.get_session(&hash(1)).await.unwrap(),
        None,
        "user disabled"
    );
    store
        .set_disabled(alice.id, false, &|_| Vec::new())
        .await
        .unwrap();
    // Disabling deleted the sessions: enabling again revives none.
    assert_eq!(store.get_session(&hash(1)).await.unwrap(), None);
    assert_eq!(store.get_session(&hash(2)).await.unwrap(), None);
    store
        .create_session(&session(1, now() + 3600))
        .await
        .unwrap();
    store
        .create_session(&session(2, now() + 3600))
        .await
        .unwrap();
    store.create_session(&session(3, now() - 1)).await.unwrap();

    assert_eq!(store.delete_expired_sessions().await.unwrap(), 1);
    assert!(store.delete_session(&hash(1)).await.unwrap());
    assert!(!store.delete_session(&hash(1)).await.unwrap());
    store
        .create_session(&session(4, now() + 3600))
        .await
        .unwrap();
    assert_eq!(store.delete_sessions_of_user(alice.id).await.unwrap(), 2);
    assert_eq!(store.get_session(&hash(2)).await.unwrap(), None);

    store
        .create_session(&session(5, now() + 3600))
        .await
        .unwrap();
    store.delete_user(alice.id, &|_| Vec::new()).await.unwrap();
    assert_eq!(store.get_session(&hash(5)).await.unwrap(), None);
    assert!(!store.delete_session(&hash(5)).await.unwrap(), "cascaded");
}

async fn password_tokens(ctx: &Ctx) {
    let store = &ctx.store;
    let alice = store
        .create_user(
            &NewUser::new(name("alice"), UserKind::Human)
                .password_hash("old-hash")
                .email("Alice@Example.com"),
            &|_| Vec::new(),
        )
        .await
        .unwrap();
    let token = |n: u32, purpose: TokenPurpose, expires_at: i64| NewPasswordToken {
        user_id: alice.id,
        token_hash: hash(n),
        purpose,
        expires_at,
    };
    let t1 = store
        .insert_password_token(&token(1, TokenPurpose::Reset, now() + 3600), &|_| {
            Vec::new()
        })
        .await
        .unwrap();
    assert_eq!((t1.purpose, t1.used_at), (TokenPurpose::Reset, None));
    assert!(matches!(
        store
            .insert_password_token(&token(1, TokenPurpose::Reset, now() + 3600), &|_| Vec::new(
            ))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .insert_password_token(
                &NewPasswordToken {
                    user_id: 999_999,
                    ..token(9, TokenPurpose::Reset, now() + 60)
                },
                &|_| Vec::new()
            )
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.find_password_token("short").await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(
        store
            .count_password_tokens_since(alice.id, now() - 60)
            .await
            .unwrap(),
        1
    );

    // Found while live; an expired one (a TTL of 1 s, elapsed) is not, nor redeemable.
    let (found, user) = store.find_password_token(&hash(1)).await.unwrap().unwrap();
    assert_eq!((found.id, user.id), (t1.id, alice.id));
    store
        .insert_password_token(&token(2, TokenPurpose::Reset, now() + 1), &|_| Vec::new())
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(store.find_password_token(&hash(2)).await.unwrap(), None);
    assert_eq!(
        store
            .redeem_password_token(&hash(2), "h2", false, &|_| Vec::new())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .get_user(alice.id)
            .await
            .unwrap()
            .password_hash
            .as_deref(),
        Some("old-hash")
    );

    // A disabled user's token is neither found nor redeemable.
    store
        .set_disabled(alice.id, true, &|_| Vec::new())
        .await
        .unwrap();
    assert_eq!(store.find_password_token(&hash(1)).await.unwrap(), None);
    assert_eq!(
        store
            .redeem_password_token(&hash(1), "h", false, &|_| Vec::new())
            .await
            .unwrap(),
        None
    );
    store
        .set_disabled(alice.id, false, &|_| Vec::new())
        .await
        .unwrap();

    // Redeemed once: the password is set, the revision moves, other unused tokens die.
    store
        .insert_password_token(&token(3, TokenPurpose::Reset, now() + 3600), &|_| {
            Vec::new()
        })
        .await
        .unwrap();
    let rev = store.policy_revision().await.unwrap().revision;
    let (used, user, _) = store
        .redeem_password_token(&hash(1), "new-hash", false, &|_| Vec::new())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((used.id, user.id), (t1.id, alice.id));
    assert_eq!(user.password_hash.as_deref(), Some("new-hash"));
    assert!(store.policy_revision().await.unwrap().revision > rev);
    assert_eq!(
        store
            .redeem_password_token(&hash(1), "again", false, &|_| Vec::new())
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.find_password_token(&hash(3)).await.unwrap(), None);
    let listed = store.list_password_tokens(alice.id).await.unwrap();
    assert!(listed.iter().any(|t| t.id == t1.id && t.used_at.is_some()));

    // Any password change kills outstanding tokens.
    store
        .insert_password_token(&token(4, TokenPurpose::Invite, now() + 3600), &|_| {
            Vec::new()
        })
        .await
        .unwrap();
    assert!(store.find_password_token(&hash(4)).await.unwrap().is_some());
    store
        .set_password_hash(alice.id, Some("other"), &PasswordChange::default(), &|_| {
            Vec::new()
        })
        .await
        .unwrap();
    assert_eq!(store.find_password_token(&hash(4)).await.unwrap(), None);
    assert_eq!(
        store
            .redeem_password_token(&hash(4), "x", false, &|_| Vec::new())
            .await
            .unwrap(),
        None
    );

    // Lookup by e-mail ignores ASCII case.
    let by_mail = store
        .find_users_by_email("alice@example.COM")
        .await
        .unwrap();
    assert_eq!(by_mail.len(), 1);
    assert!(
        store
            .find_users_by_email("bob@example.com")
            .await
            .unwrap()
            .is_empty()
    );

    assert!(store.purge_password_tokens(now() + 7200).await.unwrap() >= 1);
    store.delete_user(alice.id, &|_| Vec::new()).await.unwrap();
    assert!(
        store
            .list_password_tokens(alice.id)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn settings(ctx: &Ctx) {
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

async fn policy_revision(ctx: &Ctx) {
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
async fn concurrent_handles(ctx: &Ctx) {
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
async fn reconnect_and_debug(ctx: &Ctx) {
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

/// An event of `admin`'s, from 192.0.2.1.
fn by_admin(action: &str, target: &str, detail: Option<String>) -> NewAuditEvent {
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
async fn new_events(store: &Store, seen: &mut usize) -> Vec<NewAuditEvent> {
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
fn too_long() -> Option<String> {
    Some("x".repeat(8193))
}

async fn audited_changes_write_their_events(ctx: &Ctx) {
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
    store.create_session(&session).await.unwrap();
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

async fn refused_changes_write_no_event(ctx: &Ctx) {
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

async fn a_refused_event_refuses_its_change(ctx: &Ctx) {
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
    store.create_session(&session).await.unwrap();
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

async fn deleting_a_subject_audits_its_rules_in_its_transaction(ctx: &Ctx) {
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

// ---------------------------------------------------------------------------------------------
// The harness: one test per (backend, case).
// ---------------------------------------------------------------------------------------------

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        #[cfg(feature = "sqlite")]
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let db = crate::harness::sqlite(stringify!($case)).await;
                    super::$case(&db.ctx).await;
                    db.finish().await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(db) = crate::harness::postgres(stringify!($case)).await else {
                        return;
                    };
                    super::$case(&db.ctx).await;
                    db.finish().await;
                }
            )*
        }
    };
}

conformance!(
    users_crud,
    groups_and_memberships,
    removing_a_subject_removes_its_rules,
    acl_rules,
    refresh_tokens,
    a_password_change_ends_other_logins,
    failed_sign_ins_are_counted,
    audit_events,
    sessions,
    password_tokens,
    settings,
    policy_revision,
    concurrent_handles,
    reconnect_and_debug,
    audited_changes_write_their_events,
    refused_changes_write_no_event,
    a_refused_event_refuses_its_change,
    deleting_a_subject_audits_its_rules_in_its_transaction,
);

#[tokio::test]
async fn refuses_unknown_url_schemes() {
    let err = Store::connect("mysql://localhost/x").await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    let err = Store::connect("").await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
}

#[cfg(not(feature = "postgres"))]
#[tokio::test]
async fn postgres_url_without_the_feature_is_invalid() {
    let err = Store::connect("postgres://u:secret@127.0.0.1:1/x")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
}

/// The CLI and the server starting at once on a file that does not exist yet: both migrate.
#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_start_on_a_fresh_sqlite_file() {
    let path = std::env::temp_dir().join(format!(
        "registryo-store-{}-first-start.db",
        std::process::id()
    ));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { Store::connect(&url).await })
        })
        .collect();
    for task in tasks {
        let store = task.await.unwrap().unwrap();
        assert_eq!(store.count_users().await.unwrap(), 0);
        store.close().await;
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn in_memory_sqlite_keeps_its_data() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    assert_eq!(store.backend_kind(), registryo_store::BackendKind::Sqlite);
    store
        .create_user(&NewUser::new(name("alice"), UserKind::Human), &|_| {
            Vec::new()
        })
        .await
        .unwrap();
    assert_eq!(store.count_users().await.unwrap(), 1);
}

mod harness {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU32, Ordering};

    use registryo_store::{BackendKind, Store};

    use super::{Ctx, POSTGRES_ENV};

    static COUNTER: AtomicU32 = AtomicU32::new(0);

    /// A case's database, removed by [`TestDb::finish`] (left behind if the case fails, for a
    /// look).
    pub struct TestDb {
        pub ctx: Ctx,
        cleanup: Cleanup,
    }

    enum Cleanup {
        #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
        Files(PathBuf),
        #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
        Database { admin_url: String, name: String },
    }

    impl TestDb {
        pub async fn finish(self) {
            self.ctx.store.close().await;
            match self.cleanup {
                Cleanup::Files(path) => {
                    for suffix in ["", "-wal", "-shm"] {
                        let mut file = path.clone().into_os_string();
                        file.push(suffix);
                        let _ = std::fs::remove_file(file);
                    }
                }
                Cleanup::Database { admin_url, name } => drop_database(&admin_url, &name).await,
            }
        }
    }

    #[cfg(feature = "sqlite")]
    pub async fn sqlite(case: &str) -> TestDb {
        let path = std::env::temp_dir().join(format!(
            "registryo-store-{}-{}-{case}.db",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        // Half the cases use the URL form, half the plain path.
        let url = if case.len().is_multiple_of(2) {
            format!("sqlite://{}?mode=rwc", path.display())
        } else {
            path.display().to_string()
        };
        let store = Store::connect(&url).await.expect("open SQLite");
        assert_eq!(store.backend_kind(), BackendKind::Sqlite);
        TestDb {
            ctx: Ctx { store, url },
            cleanup: Cleanup::Files(path),
        }
    }

    /// The admin URL, or `None` (after saying so) when the suite is not to run on PostgreSQL.
    fn admin_url(case: &str) -> Option<String> {
        match std::env::var(POSTGRES_ENV) {
            Ok(url) if !url.trim().is_empty() => Some(url),
            _ => {
                eprintln!("postgres::{case}: not run ({POSTGRES_ENV} is not set)");
                None
            }
        }
    }

    #[cfg(not(feature = "postgres"))]
    pub async fn postgres(case: &str) -> Option<TestDb> {
        if admin_url(case).is_some() {
            panic!(
                "{POSTGRES_ENV} is set but registryo-store was built without the `postgres` \
                 feature: run `cargo test -p registryo-store --features postgres`"
            );
        }
        None
    }

    #[cfg(feature = "postgres")]
    pub async fn postgres(case: &str) -> Option<TestDb> {
        use sqlx::Connection;

        let admin_url = admin_url(case)?;
        let name = format!(
            "registryo_t{}_{}_{case}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("{POSTGRES_ENV} is set but unreachable: {e}"));
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\""))
            .execute(&mut admin)
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
        admin.close().await.unwrap();

        let mut url = url::Url::parse(&admin_url).expect("REGISTRYO_TEST_POSTGRES_URL is a URL");
        url.set_path(&format!("/{name}"));
        let url = url.to_string();
        let store = Store::connect(&url).await.expect("open PostgreSQL");
        assert_eq!(store.backend_kind(), BackendKind::Postgres);
        Some(TestDb {
            ctx: Ctx { store, url },
            cleanup: Cleanup::Database { admin_url, name },
        })
    }

    #[cfg(feature = "postgres")]
    async fn drop_database(admin_url: &str, name: &str) {
        use sqlx::Connection;

        let mut admin = sqlx::PgConnection::connect(admin_url).await.unwrap();
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
    }

    #[cfg(not(feature = "postgres"))]
    async fn drop_database(_admin_url: &str, _name: &str) {}
}
