//! The accounts backend over a real SQLite store: argon2 runs at most once per user and
//! password per cache lifetime, also under concurrency; disabled users and changed passwords
//! drop remembered credentials.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::time::Duration;

use registryo_core::service::{Authenticator, RequestContext};
use registryo_http::accounts::{Accounts, hash_password_blocking};
use registryo_store::{NewUser, Store, UserKind};

async fn setup(cache: Duration) -> (tempfile::TempDir, Store, Accounts) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("db").display());
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let hash = hash_password_blocking("alice-password").unwrap();
    store
        .create_user(&NewUser::new("alice", UserKind::Human).password_hash(hash))
        .await
        .unwrap();
    let accounts = Accounts::new(store.clone(), cache).await.unwrap();
    (dir, store, accounts)
}

#[tokio::test]
async fn argon2_runs_once_for_concurrent_requests_with_the_same_credentials() {
    let (_dir, _store, accounts) = setup(Duration::from_secs(300)).await;
    let ctx = RequestContext::default();
    let before = accounts.password_verifications();
    let results = futures_join_all(
        (0..8)
            .map(|_| {
                let a = accounts.clone();
                let ctx = ctx.clone();
                tokio::spawn(async move { a.authenticate("alice", "alice-password", &ctx).await })
            })
            .collect(),
    )
    .await;
    for r in results {
        assert_eq!(
            r.unwrap().unwrap().unwrap().account.as_deref(),
            Some("alice")
        );
    }
    assert_eq!(accounts.password_verifications() - before, 1);
    // Later requests hit the cache.
    accounts
        .authenticate("alice", "alice-password", &ctx)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(accounts.password_verifications() - before, 1);
    // A wrong password always costs a verification (and is never cached).
    for _ in 0..2 {
        assert!(
            accounts
                .authenticate("alice", "wrong", &ctx)
                .await
                .unwrap()
                .is_none()
        );
    }
    assert_eq!(accounts.password_verifications() - before, 3);
    // An unknown user costs a verification too (of a dummy hash).
    assert!(
        accounts
            .authenticate("nobody", "x", &ctx)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(accounts.password_verifications() - before, 4);
}

#[tokio::test]
async fn remembered_credentials_die_with_password_change_and_disabling() {
    let (_dir, store, accounts) = setup(Duration::from_secs(300)).await;
    let ctx = RequestContext::default();
    assert!(
        accounts
            .authenticate("alice", "alice-password", &ctx)
            .await
            .unwrap()
            .is_some()
    );
    let alice = store.get_user_by_name("alice").await.unwrap();

    // Disabled elsewhere (the CLI): the next reload sees it and the cache entry is not honoured.
    store.set_disabled(alice.id, true).await.unwrap();
    accounts.reload(false).await.unwrap();
    assert!(
        accounts
            .authenticate("alice", "alice-password", &ctx)
            .await
            .unwrap()
            .is_none()
    );
    store.set_disabled(alice.id, false).await.unwrap();
    accounts.reload(false).await.unwrap();
    assert!(
        accounts
            .authenticate("alice", "alice-password", &ctx)
            .await
            .unwrap()
            .is_some()
    );

    // Password changed elsewhere: the old password stops working after the reload.
    let hash = hash_password_blocking("second-password").unwrap();
    store
        .set_password_hash(alice.id, Some(&hash))
        .await
        .unwrap();
    accounts.reload(false).await.unwrap();
    assert!(
        accounts
            .authenticate("alice", "alice-password", &ctx)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        accounts
            .authenticate("alice", "second-password", &ctx)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn without_a_cache_every_request_verifies() {
    let (_dir, _store, accounts) = setup(Duration::ZERO).await;
    let ctx = RequestContext::default();
    let before = accounts.password_verifications();
    for _ in 0..2 {
        assert!(
            accounts
                .authenticate("alice", "alice-password", &ctx)
                .await
                .unwrap()
                .is_some()
        );
    }
    assert_eq!(accounts.password_verifications() - before, 2);
}

async fn futures_join_all<T>(
    handles: Vec<tokio::task::JoinHandle<T>>,
) -> Vec<Result<T, tokio::task::JoinError>> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await);
    }
    out
}
