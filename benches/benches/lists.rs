//! The admin lists at 100,000 users and 100,000 rules in SQLite: one page (50) from the
//! start, from the middle, with a search that matches a few, and one that matches none (the
//! whole table is read). The UI, the API and the CLI ask the store for exactly these pages.
//!
//! Run it: `cargo bench -p registryo-benches --bench lists` (filling the store takes a while:
//! `LISTS_N` sets the size, 100000 by default).

use registryo_core::storage::prelude::*;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use registryo_core::storage::ListQuery;
use registryo_store::{NewAclRule, NewUser, Store, UserKind};

fn bench(c: &mut Criterion) {
    let n: usize = std::env::var("LISTS_N")
        .ok()
        .and_then(|v| v.parse().ok())
        // `cargo test` runs each bench once to check it works: a small store then.
        .unwrap_or(if registryo_benches::benchmarking() {
            100_000
        } else {
            500
        });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = rt.block_on(async {
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("db").display());
        let store = Store::connect(&url).await.expect("store");
        let started = std::time::Instant::now();
        for i in 0..n {
            store
                .create_user(
                    &NewUser::new(
                        format!("user{i:06}").parse().expect("name"),
                        UserKind::Human,
                    )
                    .email(format!("user{i:06}@team{}.example", i % 1000)),
                    &|_| Vec::new(),
                )
                .await
                .expect("user");
            store
                .add_acl_rule(
                    &NewAclRule {
                        subject: format!("user:user{i:06}"),
                        pattern: format!("ns{}/app{i}/**", i % 1000),
                        actions: "pull,push".into(),
                        created_by: None,
                    },
                    &|_| Vec::new(),
                )
                .await
                .expect("rule");
        }
        eprintln!("filled {n} users and {n} rules in {:?}", started.elapsed());
        store
    });
    let q = |filter: &str, after: Option<String>| ListQuery {
        filter: filter.to_owned(),
        after,
        limit: 50,
    };
    let middle = format!("user{:06}", n / 2);
    let mut g = c.benchmark_group(format!("lists_{n}"));
    let cases: [(&str, ListQuery, ListQuery); 4] = [
        ("first_page", q("", None), q("", None)),
        (
            "middle_page",
            q("", Some(middle)),
            q("", Some((n / 2).to_string())),
        ),
        ("search_some", q("team7.example", None), q("ns7/", None)),
        (
            "search_none",
            q("nobody-has-this", None),
            q("nobody-has-this", None),
        ),
    ];
    for (name, users, rules) in cases {
        g.bench_function(format!("users/{name}"), |b| {
            b.iter(|| black_box(rt.block_on(store.list_users_page(&users)).expect("page")))
        });
        g.bench_function(format!("rules/{name}"), |b| {
            b.iter(|| {
                black_box(
                    rt.block_on(store.list_acl_rules_page(&rules))
                        .expect("page"),
                )
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3))
        .sample_size(20);
    targets = bench
}
criterion_main!(benches);
