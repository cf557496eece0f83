//! The accounts backend over a real SQLite store: argon2 runs at most once per user and
//! password per cache lifetime, also under concurrency; disabled users and changed passwords
//! drop remembered credentials.

use registryo_core::storage::prelude::*;
use std::time::Duration;

use registryo_core::app::accounts::{Accounts, AccountsConfig, Checked, hash_password_blocking};
use registryo_core::app::attempts::Channel;
use registryo_core::names::Username;
use registryo_core::service::{Authenticator, RequestContext};
use registryo_core::throttle::GuessLimits;
use registryo_store::{NewUser, PasswordChange, Store, UserKind};

use crate::support::sqlite_store;

mod policy;

fn name(s: &str) -> Username {
    s.parse().unwrap()
}

async fn setup(cache: Duration) -> (tempfile::TempDir, Store, Accounts) {
    let (dir, store) = sqlite_store().await;
    let hash = hash_password_blocking("alice-password").unwrap();
    store
        .create_user(
            &NewUser::new("alice".parse().unwrap(), UserKind::Human).password_hash(hash),
            &|_| Vec::new(),
        )
        .await
        .unwrap();
    let accounts = Accounts::new(std::sync::Arc::new(store.clone()), cache)
        .await
        .unwrap();
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
                tokio::spawn(
                    async move { a.authenticate(&name("alice"), "alice-password", &ctx).await },
                )
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
        .authenticate(&name("alice"), "alice-password", &ctx)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(accounts.password_verifications() - before, 1);
    // A wrong password costs a verification; the same wrong password again within a minute
    // does not (it is remembered as wrong), another one does.
    for wrong in ["wrong", "wrong", "wrong-too"] {
        assert!(
            accounts
                .authenticate(&name("alice"), wrong, &ctx)
                .await
                .unwrap()
                .is_none()
        );
    }
    assert_eq!(accounts.password_verifications() - before, 3);
    // An unknown user costs a verification too (of a dummy hash).
    assert!(
        accounts
            .authenticate(&name("nobody"), "x", &ctx)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(accounts.password_verifications() - before, 4);
    // Names are compared without regard to case; the principal has the account's spelling.
    let p = accounts
        .authenticate(&name("ALICE"), "alice-password", &ctx)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.account.as_deref(), Some("alice"));
}

#[tokio::test]
async fn remembered_credentials_die_with_password_change_and_disabling() {
    let (_dir, store, accounts) = setup(Duration::from_secs(300)).await;
    let ctx = RequestContext::default();
    assert!(
        accounts
            .authenticate(&name("alice"), "alice-password", &ctx)
            .await
            .unwrap()
            .is_some()
    );
    let alice = store.get_user_by_name("alice").await.unwrap();

    // Disabled elsewhere (the CLI): the next reload sees it and the cache entry is not honoured.
    store
        .set_disabled(alice.id, true, &|_| Vec::new())
        .await
        .unwrap();
    accounts.reload(false).await.unwrap();
    assert!(
        accounts
            .authenticate(&name("alice"), "alice-password", &ctx)
            .await
            .unwrap()
            .is_none()
    );
    store
        .set_disabled(alice.id, false, &|_| Vec::new())
        .await
        .unwrap();
    accounts.reload(false).await.unwrap();
    assert!(
        accounts
            .authenticate(&name("alice"), "alice-password", &ctx)
            .await
            .unwrap()
            .is_some()
    );

    // Password changed elsewhere: the old password stops working after the reload.
    let hash = hash_password_blocking("second-password").unwrap();
    store
        .set_password_hash(alice.id, Some(&hash), &PasswordChange::default(), &|_| {
            Vec::new()
        })
        .await
        .unwrap();
    accounts.reload(false).await.unwrap();
    assert!(
        accounts
            .authenticate(&name("alice"), "alice-password", &ctx)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        accounts
            .authenticate(&name("alice"), "second-password", &ctx)
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
                .authenticate(&name("alice"), "alice-password", &ctx)
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

fn from(ip: [u8; 4]) -> Option<std::net::SocketAddr> {
    Some(std::net::SocketAddr::from((ip, 40_000)))
}

async fn with_limits(pair: u32, account: u32) -> (tempfile::TempDir, Store, Accounts) {
    let (dir, store, _) = setup(Duration::from_secs(300)).await;
    let mut config = AccountsConfig::new(Duration::from_secs(300));
    config.limits = GuessLimits {
        per_account_and_address: pair,
        per_account: account,
    };
    let accounts = Accounts::with_config(std::sync::Arc::new(store.clone()), config)
        .await
        .unwrap();
    (dir, store, accounts)
}

/// Guessing limits per account and address: past the limit every check is refused unchecked
/// (no argon2), the right password included; other addresses are not affected; the same wrong
/// password repeated is counted once.
#[tokio::test]
async fn guesses_past_the_limit_are_refused_without_checking() {
    let (_dir, store, accounts) = with_limits(5, 1000).await;
    let attacker = from([10, 0, 0, 1]);
    let mut outcomes = (0, 0);
    for i in 0..12 {
        match accounts
            .check(
                &name("alice"),
                &format!("guess-{i}"),
                attacker,
                Channel::Token,
            )
            .await
            .unwrap()
        {
            Checked::Invalid => outcomes.0 += 1,
            Checked::Throttled(wait) => {
                assert!(wait >= Duration::from_secs(1) && wait <= Duration::from_secs(120));
                outcomes.1 += 1
            }
            Checked::Valid { .. } => panic!("a wrong guess passed"),
        }
    }
    assert_eq!(outcomes, (5, 7), "(401, 429)");
    // The right password from the attacker's address is refused too: a guess past the limit
    // tells nothing.
    let before = accounts.password_verifications();
    assert!(matches!(
        accounts
            .check(&name("alice"), "alice-password", attacker, Channel::Token)
            .await
            .unwrap(),
        Checked::Throttled(_)
    ));
    assert_eq!(
        accounts.password_verifications(),
        before,
        "no argon2 when throttled"
    );
    // The owner, elsewhere, signs in.
    assert!(matches!(
        accounts
            .check(
                &name("alice"),
                "alice-password",
                from([10, 0, 0, 2]),
                Channel::SignIn
            )
            .await
            .unwrap(),
        Checked::Valid { .. }
    ));
    // Another account from the attacker's address is not affected (per account and address).
    let (mut invalid, mut throttled) = (0, 0);
    for _ in 0..3 {
        match accounts
            .check(&name("bob"), "same-guess", attacker, Channel::Token)
            .await
            .unwrap()
        {
            Checked::Invalid => invalid += 1,
            Checked::Throttled(_) => throttled += 1,
            Checked::Valid { .. } => panic!("bob does not exist"),
        }
    }
    assert_eq!((invalid, throttled), (3, 0));
    // ... and the repeated guess was counted once.
    let minute = registryo_core::throttle::bucket(registryo_core::time::unix_now());
    let counts = store
        .auth_failures("bob", "10.0.0.1", minute - 1)
        .await
        .unwrap();
    assert_eq!(counts.iter().map(|c| c.from_addr).sum::<i64>(), 1);
    // The failures are in the audit log, one counted row per account, address and minute.
    let events = store
        .list_audit_events(&registryo_store::AuditQuery {
            actor: Some("alice".into()),
            action: Some("auth.failed".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.iter().map(|e| e.count).sum::<i64>(), 5, "{events:?}");
    assert!(events.len() <= 2, "one row per minute: {events:?}");
}

/// The per-account limit (many addresses guessing one account) spares the account's usual
/// addresses: an attacker elsewhere cannot lock the owner out.
#[tokio::test]
async fn many_addresses_cannot_lock_the_owner_out() {
    let (_dir, _store, accounts) = with_limits(5, 20).await;
    let home = from([192, 168, 1, 7]);
    // The owner signs in from home: a usual address from now on.
    assert!(matches!(
        accounts
            .check(&name("alice"), "alice-password", home, Channel::SignIn)
            .await
            .unwrap(),
        Checked::Valid { .. }
    ));
    // 6 addresses × 5 guesses = 30 failures: past the per-account limit of 20.
    let mut throttled = 0;
    for a in 1..=6u8 {
        for i in 0..5 {
            if let Checked::Throttled(_) = accounts
                .check(
                    &name("alice"),
                    &format!("g{a}-{i}"),
                    from([10, 0, 1, a]),
                    Channel::Token,
                )
                .await
                .unwrap()
            {
                throttled += 1;
            }
        }
    }
    assert_eq!(throttled, 10, "the 21st to 30th guesses are refused");
    // A new address, even with the right password, is refused while the account is attacked.
    assert!(matches!(
        accounts
            .check(
                &name("alice"),
                "alice-password",
                from([10, 0, 2, 1]),
                Channel::Token
            )
            .await
            .unwrap(),
        Checked::Throttled(_)
    ));
    // The owner's usual address is not.
    assert!(matches!(
        accounts
            .check(&name("alice"), "alice-password", home, Channel::Token)
            .await
            .unwrap(),
        Checked::Valid { .. }
    ));
}

/// A refresh token stops working when unused for `refresh_idle`, and works only for the
/// client_id and service it was issued to.
#[tokio::test]
async fn refresh_tokens_expire_when_idle_and_stay_with_their_client() {
    use registryo_core::service::RefreshTokens;
    let (_dir, store, _) = setup(Duration::from_secs(300)).await;
    let mut config = AccountsConfig::new(Duration::from_secs(300));
    config.refresh_idle = Duration::from_secs(2);
    let accounts = Accounts::with_config(std::sync::Arc::new(store), config)
        .await
        .unwrap();
    let ctx = RequestContext::default();
    let alice = accounts
        .authenticate(&name("alice"), "alice-password", &ctx)
        .await
        .unwrap()
        .unwrap();
    let token = accounts
        .issue_refresh_token(&alice, "docker", "registry", &ctx)
        .await
        .unwrap()
        .unwrap();
    let resolve = |client: &'static str, service: &'static str| {
        let (a, t, ctx) = (accounts.clone(), token.clone(), ctx.clone());
        async move {
            a.resolve_refresh_token(&t, client, service, &ctx)
                .await
                .unwrap()
                .is_some()
        }
    };
    assert!(resolve("docker", "registry").await);
    assert!(
        !resolve("buildkit-client", "registry").await,
        "another client"
    );
    assert!(
        !resolve("docker", "other-registry").await,
        "another service"
    );
    // Unused for longer than the idle time (its use above was recorded).
    tokio::time::sleep(Duration::from_millis(3200)).await;
    assert!(!resolve("docker", "registry").await, "idle too long");
}

/// Two servers sharing one database (replicas) count failures together: guesses spread over
/// both are limited as if they went to one.
#[tokio::test]
async fn replicas_share_the_guessing_limits() {
    let (_dir, store, first) = with_limits(6, 1000).await;
    let mut config = AccountsConfig::new(Duration::from_secs(300));
    config.limits = first.config().limits;
    let second = Accounts::with_config(std::sync::Arc::new(store.clone()), config)
        .await
        .unwrap();
    let attacker = from([10, 9, 9, 9]);
    let mut checked = 0;
    for i in 0..20 {
        let replica = if i % 2 == 0 { &first } else { &second };
        if let Checked::Invalid = replica
            .check(
                &name("alice"),
                &format!("guess-{i}"),
                attacker,
                Channel::Token,
            )
            .await
            .unwrap()
        {
            checked += 1;
        }
    }
    assert_eq!(checked, 6, "the limit holds across replicas");
}

/// Concurrent guesses cannot slip past the limit: checks in flight count as failures until
/// they are recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_guesses_stop_at_the_limit() {
    let (_dir, _store, accounts) = with_limits(5, 1000).await;
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let a = accounts.clone();
            tokio::spawn(async move {
                a.check(
                    &name("alice"),
                    &format!("concurrent-{i}"),
                    from([10, 7, 7, 7]),
                    Channel::Token,
                )
                .await
                .unwrap()
            })
        })
        .collect();
    let mut checked = 0;
    for h in handles {
        if let Checked::Invalid = h.await.unwrap() {
            checked += 1;
        }
    }
    assert_eq!(checked, 5);
}

/// An account removed and made again under the same name (by the CLI or another replica)
/// is another account: until the policy reloads, it must not get the old one's admin flag or
/// groups from the snapshot.
#[tokio::test]
async fn a_name_made_again_is_not_the_old_account() {
    let (_dir, store, accounts) = setup(Duration::from_secs(300)).await;
    let old = store.get_user_by_name("alice").await.unwrap();
    store
        .set_admin(old.id, true, &|_| Vec::new())
        .await
        .unwrap();
    accounts.reload(true).await.unwrap();
    let ctx = RequestContext::default();
    let p = accounts
        .authenticate(&name("alice"), "alice-password", &ctx)
        .await
        .unwrap()
        .unwrap();
    assert!(p.admin);
    // Elsewhere: removed and made again for someone else, no admin; no reload here. (The
    // old account's remembered credentials die with the reload, within a second.)
    store.delete_user(old.id, &|_| Vec::new()).await.unwrap();
    let hash = hash_password_blocking("new-alice-password").unwrap();
    store
        .create_user(
            &NewUser::new(name("Alice"), UserKind::Human).password_hash(hash),
            &|_| Vec::new(),
        )
        .await
        .unwrap();
    let p = accounts
        .authenticate(&name("alice"), "new-alice-password", &ctx)
        .await
        .unwrap()
        .unwrap();
    assert!(!p.admin, "the new account got the old one's admin flag");
    assert_eq!(p.account.as_deref(), Some("Alice"));
}
