//! The login revision: what servers poll to drop the docker logins they verified.

use crate::prelude::*;

/// Every change that ends or suspends docker logins moves the login revision, in its
/// transaction; what ends none leaves it.
pub(crate) async fn the_login_revision_moves_when_logins_end(ctx: &Ctx) {
    let store = &ctx.store;
    let alice = store
        .create_user(&NewUser::new(name("alice"), UserKind::Human), &|_| {
            Vec::new()
        })
        .await
        .unwrap();
    let login = |n: u32| NewRefreshToken {
        user_id: alice.id,
        token_hash: hash(n),
        client_id: "docker".into(),
        service: "registry.example".into(),
        created_addr: None,
    };
    let mut last = store.login_revision().await.unwrap();
    let mut moved = |now: i64, what: &str, expected: bool| {
        assert_eq!(now > last, expected, "{what}: {last} -> {now}");
        assert!(now >= last, "{what}: the revision went back");
        last = now;
    };
    let t1 = store
        .insert_refresh_token(&login(1), &|_| Vec::new())
        .await
        .unwrap();
    moved(store.login_revision().await.unwrap(), "a new login", false);
    store
        .record_refresh_token_uses(&[RefreshTokenUse {
            id: t1.id,
            at: now(),
            addr: None,
        }])
        .await
        .unwrap();
    moved(store.login_revision().await.unwrap(), "a use", false);
    store
        .revoke_refresh_token(t1.id, &|_| Vec::new())
        .await
        .unwrap();
    moved(store.login_revision().await.unwrap(), "a revocation", true);
    store
        .revoke_refresh_token(t1.id, &|_| Vec::new())
        .await
        .unwrap();
    moved(
        store.login_revision().await.unwrap(),
        "nothing revoked",
        false,
    );
    store
        .insert_refresh_token(&login(2), &|_| Vec::new())
        .await
        .unwrap();
    store
        .revoke_refresh_tokens_of_user(alice.id, None, &|_| Vec::new())
        .await
        .unwrap();
    moved(store.login_revision().await.unwrap(), "revoke all", true);
    store
        .insert_refresh_token(&login(3), &|_| Vec::new())
        .await
        .unwrap();
    let keep = PasswordChange {
        keep_session: None,
        keep_docker_logins: true,
    };
    store
        .set_password_hash(alice.id, Some("$argon2id$x"), &keep, &|_| Vec::new())
        .await
        .unwrap();
    moved(
        store.login_revision().await.unwrap(),
        "a password change keeping the logins",
        false,
    );
    store
        .set_password_hash(
            alice.id,
            Some("$argon2id$y"),
            &PasswordChange::default(),
            &|_| Vec::new(),
        )
        .await
        .unwrap();
    moved(
        store.login_revision().await.unwrap(),
        "a password change",
        true,
    );
    store
        .set_disabled(alice.id, true, &|_| Vec::new())
        .await
        .unwrap();
    moved(store.login_revision().await.unwrap(), "disabling", true);
    store
        .set_disabled(alice.id, false, &|_| Vec::new())
        .await
        .unwrap();
    moved(store.login_revision().await.unwrap(), "enabling", false);
    store.delete_user(alice.id, &|_| Vec::new()).await.unwrap();
    moved(store.login_revision().await.unwrap(), "removal", true);
    // Another handle on the same database sees the same revision (what replicas poll).
    let other = Store::connect(&ctx.url).await.unwrap();
    assert_eq!(other.login_revision().await.unwrap(), last);
}
