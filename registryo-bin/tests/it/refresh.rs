//! Refresh tokens through the accounts backend over a real SQLite store, with two servers
//! (two `Accounts` on two handles of one database, as two replicas): verified tokens are
//! remembered, a revoked, disabled or password-changed login is refused at once on the server
//! that made the change and soon on the other (it polls the store's login revision), an idle
//! token stays refused, and uses reach the store in batches.

use std::sync::Arc;
use std::time::Duration;

use registryo_core::acl::Principal;
use registryo_core::app::App;
use registryo_core::app::accounts::{Accounts, AccountsConfig, hash_password_blocking};
use registryo_core::app::ops::{self, Actor};
use registryo_core::service::{RefreshTokens, RequestContext};
use registryo_core::storage::prelude::*;
use registryo_store::{NewUser, Store, User, UserKind};

use crate::support::oneshot::signing_keys;
use crate::support::{eventually, sqlite_store};

const SERVICE: &str = "registry.test";

struct Servers {
    _dir: tempfile::TempDir,
    store: Store,
    alice: User,
    /// The server the changes are made on.
    here: App,
    /// Another server over the same database, its watcher running.
    there: App,
    watcher: tokio::task::JoinHandle<()>,
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

fn ctx() -> RequestContext {
    RequestContext {
        remote_addr: Some("192.0.2.7:4000".parse().unwrap()),
        ..RequestContext::default()
    }
}

async fn server(store: &Store, config: AccountsConfig) -> App {
    let accounts = Accounts::with_config(Arc::new(store.clone()), config)
        .await
        .unwrap();
    App::new(accounts, signing_keys("test"))
}

async fn setup_with(config: AccountsConfig) -> Servers {
    let (dir, store) = sqlite_store().await;
    let alice = store
        .create_user(
            &NewUser::new("alice".parse().unwrap(), UserKind::Human)
                .password_hash(hash_password_blocking("alice-password").unwrap()),
            &|_| Vec::new(),
        )
        .await
        .unwrap();
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let other = Store::connect(&url).await.unwrap();
    let here = server(&store, config.clone()).await;
    let there = server(&other, config).await;
    let watcher = there.accounts.spawn_watcher(Duration::from_millis(100));
    Servers {
        _dir: dir,
        store,
        alice,
        here,
        there,
        watcher,
    }
}

async fn setup() -> Servers {
    setup_with(AccountsConfig::new(Duration::from_secs(300))).await
}

fn alice() -> Principal {
    Principal {
        account: Some("alice".to_owned()),
        groups: Vec::new(),
        admin: false,
    }
}

/// A docker login of alice's, made on `app`.
async fn login(app: &App) -> String {
    app.accounts
        .issue_refresh_token(&alice(), "docker", SERVICE, &ctx())
        .await
        .unwrap()
        .unwrap()
}

/// Whether `app` honours the token (as alice).
async fn honoured(app: &App, token: &str) -> bool {
    let found = app
        .accounts
        .resolve_refresh_token(token, "docker", SERVICE, &ctx())
        .await
        .unwrap();
    if let Some(p) = &found {
        assert_eq!(p.account.as_deref(), Some("alice"));
    }
    found.is_some()
}

/// Both servers honour the token, twice each (the second time from what they remember).
async fn honoured_by_both(s: &Servers, token: &str) {
    for app in [&s.here, &s.there, &s.here, &s.there] {
        assert!(honoured(app, token).await);
    }
}

async fn refused_there(s: &Servers, token: &str, what: &str) {
    eventually(what, || async { !honoured(&s.there, token).await }).await;
}

#[tokio::test]
async fn a_revoked_login_is_refused_here_at_once_and_on_another_server_soon() {
    let s = setup().await;
    let one = login(&s.here).await;
    let all = login(&s.here).await;
    honoured_by_both(&s, &one).await;
    honoured_by_both(&s, &all).await;
    let id = s.store.list_refresh_tokens(s.alice.id).await.unwrap()[0].id;
    ops::revoke_login(&s.here, &Actor::cli(), &s.alice, id)
        .await
        .unwrap();
    assert!(!honoured(&s.here, &one).await, "refused at once here");
    refused_there(&s, &one, "the other server refuses the revoked login").await;
    assert!(honoured(&s.here, &all).await && honoured(&s.there, &all).await);
    ops::revoke_logins(&s.here, &Actor::cli(), &s.alice, None)
        .await
        .unwrap();
    assert!(!honoured(&s.here, &all).await);
    refused_there(&s, &all, "the other server refuses every revoked login").await;
    // And stays refused, remembered or not.
    for _ in 0..3 {
        assert!(!honoured(&s.here, &one).await && !honoured(&s.there, &all).await);
    }
}

#[tokio::test]
async fn a_disabled_account_s_logins_are_refused_at_once_and_come_back_when_enabled() {
    let s = setup().await;
    let token = login(&s.here).await;
    honoured_by_both(&s, &token).await;
    ops::set_disabled(&s.here, &Actor::cli(), &s.alice, true)
        .await
        .unwrap();
    assert!(!honoured(&s.here, &token).await, "refused at once here");
    refused_there(&s, &token, "the other server refuses a disabled account").await;
    // Disabling suspends docker logins without revoking them.
    let alice = s.store.get_user(s.alice.id).await.unwrap();
    ops::set_disabled(&s.here, &Actor::cli(), &alice, false)
        .await
        .unwrap();
    assert!(honoured(&s.here, &token).await);
    eventually("the other server honours it again", || async {
        honoured(&s.there, &token).await
    })
    .await;
}

#[tokio::test]
async fn a_password_change_ends_remembered_logins_here_and_there() {
    let s = setup().await;
    let token = login(&s.here).await;
    honoured_by_both(&s, &token).await;
    ops::set_password(&s.here, &Actor::cli(), &s.alice, "a-new-password-1")
        .await
        .unwrap();
    assert!(!honoured(&s.here, &token).await, "refused at once here");
    refused_there(
        &s,
        &token,
        "the other server refuses after a password change",
    )
    .await;
}

#[tokio::test]
async fn a_change_made_straight_in_the_store_reaches_both_servers() {
    // The CLI is another process: only the store's revisions tell the servers.
    let s = setup().await;
    let token = login(&s.here).await;
    honoured_by_both(&s, &token).await;
    let id = s.store.list_refresh_tokens(s.alice.id).await.unwrap()[0].id;
    s.store
        .revoke_refresh_token(id, &|_| Vec::new())
        .await
        .unwrap();
    refused_there(&s, &token, "the watching server refuses it").await;
    s.here.accounts.poll_logins().await.unwrap();
    assert!(!honoured(&s.here, &token).await);
}

#[tokio::test]
async fn a_removed_account_s_logins_are_refused() {
    let s = setup().await;
    let token = login(&s.here).await;
    honoured_by_both(&s, &token).await;
    ops::delete_user(&s.here, &Actor::cli(), &s.alice)
        .await
        .unwrap();
    assert!(!honoured(&s.here, &token).await);
    refused_there(&s, &token, "the other server refuses a removed account").await;
}

#[tokio::test]
async fn an_idle_login_is_refused_even_while_remembered() {
    let mut config = AccountsConfig::new(Duration::from_secs(300));
    config.refresh_idle = Duration::from_secs(1);
    let s = setup_with(config).await;
    let token = login(&s.here).await;
    assert!(honoured(&s.here, &token).await);
    // Unused for longer than refresh_idle (whole seconds: the store's clock).
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert!(!honoured(&s.here, &token).await);
    assert!(!honoured(&s.there, &token).await);
}

#[tokio::test]
async fn uses_are_written_in_batches_and_when_flushed() {
    let mut config = AccountsConfig::new(Duration::from_secs(300));
    config.use_flush = Duration::from_millis(200);
    let s = setup_with(config).await;
    let token = login(&s.here).await;
    for _ in 0..20 {
        assert!(honoured(&s.here, &token).await);
    }
    let last_used = || async {
        s.store.list_refresh_tokens(s.alice.id).await.unwrap()[0]
            .last_used_at
            .is_some()
    };
    // Not written per request: `here` has no watcher, so nothing until it flushes.
    assert!(!last_used().await, "written per request");
    assert_eq!(s.here.accounts.flush_token_uses().await.unwrap(), 1);
    assert!(last_used().await);
    let listed = s.store.list_refresh_tokens(s.alice.id).await.unwrap();
    assert_eq!(listed[0].last_used_addr.as_deref(), Some("192.0.2.7"));
    assert_eq!(s.here.accounts.flush_token_uses().await.unwrap(), 0);

    // The watcher writes them by itself.
    let other = login(&s.here).await;
    assert!(honoured(&s.there, &other).await);
    eventually("the watcher writes the use", || async {
        s.store.list_refresh_tokens(s.alice.id).await.unwrap()[1]
            .last_used_at
            .is_some()
    })
    .await;
}

#[tokio::test]
async fn without_a_cache_every_request_asks_the_store() {
    let s = setup_with(AccountsConfig::new(Duration::ZERO)).await;
    let token = login(&s.here).await;
    assert!(honoured(&s.here, &token).await);
    let id = s.store.list_refresh_tokens(s.alice.id).await.unwrap()[0].id;
    s.store
        .revoke_refresh_token(id, &|_| Vec::new())
        .await
        .unwrap();
    // No poll needed: nothing is remembered.
    assert!(!honoured(&s.here, &token).await);
}

#[tokio::test]
async fn a_login_is_honoured_only_for_its_client_and_service_when_remembered() {
    let s = setup().await;
    let token = login(&s.here).await;
    assert!(honoured(&s.here, &token).await);
    for (client, service) in [("containerd", SERVICE), ("docker", "other.registry")] {
        let found = s
            .here
            .accounts
            .resolve_refresh_token(&token, client, service, &ctx())
            .await
            .unwrap();
        assert!(found.is_none(), "{client} {service}");
    }
    assert!(honoured(&s.here, &token).await);
    assert!(!honoured(&s.here, "not-a-token").await);
}
