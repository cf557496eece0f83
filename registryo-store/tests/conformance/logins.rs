//! Logins: refresh tokens, web sessions, reset and invitation tokens, and what a password change ends.

use crate::prelude::*;

pub(crate) async fn refresh_tokens(ctx: &Ctx) {
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
    // Uses are recorded in batches: the later use wins, whatever the order they arrive in.
    let at = now();
    let used = |id: i64, at: i64, addr: Option<&str>| RefreshTokenUse {
        id,
        at,
        addr: addr.map(str::to_owned),
    };
    assert_eq!(
        store
            .record_refresh_token_uses(&[
                used(t1.id, at, Some("10.0.0.1")),
                used(t2.id, at - 30, None),
                used(999_999, at, None),
            ])
            .await
            .unwrap(),
        2,
        "a missing token is skipped"
    );
    let active = store
        .find_active_refresh_token(&hash(1), now() - 5)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(active.token.last_used_at, Some(at));
    assert_eq!(active.token.last_used_addr.as_deref(), Some("10.0.0.1"));
    // An older use (another server's batch, late) moves nothing back.
    store
        .record_refresh_token_uses(&[used(t1.id, at - 100, Some("10.0.0.2"))])
        .await
        .unwrap();
    // A later use without an address keeps the last known one.
    store
        .record_refresh_token_uses(&[used(t1.id, at + 1, None)])
        .await
        .unwrap();
    let listed = store.list_refresh_tokens(alice.id).await.unwrap();
    assert_eq!(listed[0].last_used_at, Some(at + 1));
    assert_eq!(listed[0].last_used_addr.as_deref(), Some("10.0.0.1"));
    assert_eq!(listed[1].last_used_at, Some(at - 30));
    assert_eq!(store.record_refresh_token_uses(&[]).await.unwrap(), 0);
    let long = "x".repeat(300);
    assert!(matches!(
        store
            .record_refresh_token_uses(&[used(t1.id, at, Some(&long))])
            .await,
        Err(StoreError::Invalid(_))
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
pub(crate) async fn a_password_change_ends_other_logins(ctx: &Ctx) {
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
        store
            .create_session(&session(user, n), &|_| Vec::new())
            .await
            .unwrap();
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
    store
        .create_session(&session(alice.id, 4), &|_| Vec::new())
        .await
        .unwrap();
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

pub(crate) async fn sessions(ctx: &Ctx) {
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
        .create_session(&session(1, now() + 3600), &|_| Vec::new())
        .await
        .unwrap();
    assert_eq!((s1.user_id, s1.csrf_token.as_str()), (alice.id, "csrf-1"));
    assert!(
        !format!("{s1:?}").contains("csrf-1"),
        "Debug shows the CSRF token"
    );
    store
        .create_session(&session(2, now() + 3600), &|_| Vec::new())
        .await
        .unwrap();
    store
        .create_session(&session(3, now() - 1), &|_| Vec::new())
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_session(&session(1, now() + 3600), &|_| Vec::new())
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .create_session(
                &NewSession {
                    user_id: 999_999,
                    ..session(9, now() + 60)
                },
                &|_| Vec::new()
            )
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
        .create_session(&session(1, now() + 3600), &|_| Vec::new())
        .await
        .unwrap();
    store
        .create_session(&session(2, now() + 3600), &|_| Vec::new())
        .await
        .unwrap();
    store
        .create_session(&session(3, now() - 1), &|_| Vec::new())
        .await
        .unwrap();

    assert_eq!(store.delete_expired_sessions().await.unwrap(), 1);
    assert!(store.delete_session(&hash(1)).await.unwrap());
    assert!(!store.delete_session(&hash(1)).await.unwrap());
    store
        .create_session(&session(4, now() + 3600), &|_| Vec::new())
        .await
        .unwrap();
    assert_eq!(store.delete_sessions_of_user(alice.id).await.unwrap(), 2);
    assert_eq!(store.get_session(&hash(2)).await.unwrap(), None);

    store
        .create_session(&session(5, now() + 3600), &|_| Vec::new())
        .await
        .unwrap();
    store.delete_user(alice.id, &|_| Vec::new()).await.unwrap();
    assert_eq!(store.get_session(&hash(5)).await.unwrap(), None);
    assert!(!store.delete_session(&hash(5)).await.unwrap(), "cascaded");
}

pub(crate) async fn password_tokens(ctx: &Ctx) {
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
