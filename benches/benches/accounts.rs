//! The server's credential check for credentials it remembers (no argon2): what a docker pull
//! with Basic credentials costs on top of an anonymous token request; and a refresh token
//! (docker's request after `docker login`) remembered, and looked up in SQLite each time (the
//! cache off: `credential_cache_secs = 0`).
//!
//! Run it: `cargo bench -p registryo-benches --bench accounts`

use registryo_core::storage::prelude::*;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use registryo_core::app::accounts::{Accounts, hash_password_blocking};
use registryo_core::scope::Scope;
use registryo_core::service::{Authenticator, PolicySource, RefreshTokens, RequestContext};
use registryo_store::{NewUser, Store, UserKind};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let bench: registryo_core::names::Username = "bench".parse().expect("name");
    let accounts = rt.block_on(async {
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("db").display());
        let store = Store::connect(&url).await.expect("store");
        let hash = hash_password_blocking("bench-password").expect("hash");
        store
            .create_user(
                &NewUser::new(bench.clone(), UserKind::Human).password_hash(hash),
                &|_| Vec::new(),
            )
            .await
            .expect("user");
        Accounts::new(std::sync::Arc::new(store), Duration::from_secs(3600))
            .await
            .expect("accounts")
    });
    let ctx = RequestContext::default();
    rt.block_on(accounts.authenticate(&bench, "bench-password", &ctx))
        .expect("auth")
        .expect("known");
    let scope: Scope = "repository:bench/app:pull,push".parse().expect("scope");
    let mut g = c.benchmark_group("accounts");
    g.bench_function("authenticate_remembered", |b| {
        b.iter(|| {
            black_box(
                rt.block_on(accounts.authenticate(&bench, "bench-password", &ctx))
                    .expect("auth"),
            )
        })
    });
    let principal = rt
        .block_on(accounts.authenticate(&bench, "bench-password", &ctx))
        .expect("auth")
        .expect("known");
    g.bench_function("grant", |b| {
        b.iter(|| black_box(accounts.grant(&principal, &scope)))
    });
    let uncached = rt.block_on(async {
        Accounts::new(accounts.store().clone(), Duration::ZERO)
            .await
            .expect("accounts")
    });
    for (name, accounts) in [
        ("refresh_token_remembered", &accounts),
        ("refresh_token_looked_up", &uncached),
    ] {
        let token = rt
            .block_on(accounts.issue_refresh_token(&principal, "docker", "bench", &ctx))
            .expect("issue")
            .expect("token");
        g.bench_function(name, |b| {
            b.iter(|| {
                black_box(
                    rt.block_on(accounts.resolve_refresh_token(&token, "docker", "bench", &ctx))
                        .expect("resolve")
                        .expect("honoured"),
                )
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
