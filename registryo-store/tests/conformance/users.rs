//! Accounts: creating, reading, updating, deleting.

use crate::prelude::*;

pub(crate) async fn users_crud(ctx: &Ctx) {
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
