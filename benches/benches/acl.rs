//! ACL decisions: `Acl::allowed` at 10 to 100,000 synthetic rules, against a linear scan.
//!
//! Run with `cargo bench -p registryo-benches --bench acl`; see `BENCHMARKS.md`.
//!
//! The rules are spread over ~3,000 users and ~300 groups, with a few `authenticated` and
//! `anonymous` rules, and mix literal names, `ns/*`, `ns/**`, `ns/**/app`, `${account}/**` and
//! a few patterns whose first segment is a wildcard. The asking principal is a user in three
//! groups who holds pull and push (never delete) on the repository, so no early exit cuts the
//! decision short.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use registryo_core::acl::{Acl, Pattern, Principal, Rule, Subject};
use registryo_core::scope::{Actions, RepositoryName};

const SIZES: [usize; 4] = [10, 100, 1_000, 100_000];
const USERS: usize = 3_000;
const GROUPS: usize = 300;
const NAMESPACES: usize = 1_000;

/// splitmix64: deterministic rules without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn rule(id: u64, subject: Subject, pattern: &str, actions: Actions) -> Rule {
    let pattern = Pattern::new(pattern).expect("the synthetic patterns are valid");
    Rule::new(id, subject, pattern, actions).expect("the synthetic rules grant something")
}

/// `n` rules; the first four concern the benchmarked principal (`u1` in `g1`, `g2`, `g3`).
fn rules(n: usize) -> Vec<Rule> {
    let mut rng = Rng(2024);
    let mut out = vec![
        rule(
            0,
            Subject::User("u1".parse().expect("name")),
            "ns1/**",
            Actions::PULL,
        ),
        rule(
            1,
            Subject::Group("g1".parse().expect("name")),
            "ns1/app1",
            Actions::PUSH,
        ),
        rule(
            2,
            Subject::Group("g2".parse().expect("name")),
            "ns1/*",
            Actions::PULL,
        ),
        rule(3, Subject::Authenticated, "${account}/**", Actions::ANY),
    ];
    let all = [
        Actions::PULL,
        Actions::PULL | Actions::PUSH,
        Actions::ALL,
        Actions::PUSH,
    ];
    while out.len() < n {
        let id = out.len() as u64;
        let subject = match rng.below(100) {
            0..=54 => Subject::User(format!("u{}", rng.below(USERS)).parse().expect("name")),
            55..=94 => Subject::Group(format!("g{}", rng.below(GROUPS)).parse().expect("name")),
            95..=97 => Subject::Authenticated,
            _ => Subject::Anonymous,
        };
        let ns = rng.below(NAMESPACES);
        let app = rng.below(50);
        let pattern = match rng.below(100) {
            0..=39 => format!("ns{ns}/app{app}"),
            40..=59 => format!("ns{ns}/*"),
            60..=79 => format!("ns{ns}/**"),
            80..=89 => format!("ns{ns}/**/app{app}"),
            90..=94 => format!("ns{ns}/app{app}-*"),
            95..=97 => match rng.below(3) {
                0 => "${account}/**".to_owned(),
                1 => format!("${{account}}/app{app}"),
                _ => format!("ns{ns}/${{account}}/**"),
            },
            _ => match rng.below(2) {
                0 => format!("*/app{app}"),
                _ => format!("**/app{app}/cache"),
            },
        };
        out.push(rule(id, subject, &pattern, all[rng.below(all.len())]));
    }
    out.truncate(n);
    out
}

/// What a linear scan costs: every rule's subject, then its pattern.
fn linear(rules: &[Rule], p: &Principal, repo: &RepositoryName) -> Actions {
    let mut held = Actions::NONE;
    for r in rules {
        if r.subject.matches(p) && r.pattern.matches(repo, p.account.as_deref()) {
            held |= r.actions;
        }
    }
    held
}

fn acl_decisions(c: &mut Criterion) {
    let principal = Principal::user("u1").with_groups(["g1", "g2", "g3"]);
    let name = |n: &str| RepositoryName::new(n).expect("the benchmarked names are valid");
    let queries = [
        ("hit", name("ns1/app1")),
        ("miss", name("ns999/tools/cli")),
        ("own", name("u1/tools")),
    ];
    let mut group = c.benchmark_group("acl_allowed");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    for n in SIZES {
        let rules = rules(n);
        let acl = Acl::new(rules.clone());
        for (label, repo) in &queries {
            // The index and the linear scan agree.
            assert_eq!(
                acl.allowed(&principal, repo),
                linear(&rules, &principal, repo),
                "{label} at {n}"
            );
            group.bench_with_input(BenchmarkId::new(*label, n), repo, |b, repo| {
                b.iter(|| acl.allowed(black_box(&principal), black_box(repo)))
            });
        }
        let (_, repo) = &queries[0];
        group.bench_with_input(BenchmarkId::new("linear_scan", n), repo, |b, repo| {
            b.iter(|| linear(black_box(&rules), black_box(&principal), black_box(repo)))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("acl_build");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10);
    let rules = rules(100_000);
    group.bench_function("100000", |b| b.iter(|| Acl::new(black_box(rules.clone()))));
    group.finish();

    // A change: one rule added to (or removed from) a 100,000-rule ACL, the old version kept.
    let mut group = c.benchmark_group("acl_change");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    for n in [1_000, 100_000] {
        let acl = Acl::new(rules.iter().take(n).cloned());
        let added = rule(
            u64::MAX,
            Subject::User("u1".parse().expect("valid")),
            "new/**",
            Actions::PULL,
        );
        group.bench_function(BenchmarkId::new("add_one", n), |b| {
            b.iter(|| acl.with_changes([], [black_box(added.clone())]))
        });
        group.bench_function(BenchmarkId::new("remove_one", n), |b| {
            b.iter(|| acl.with_changes([black_box(7)], []))
        });
    }
    group.finish();

    // 100,000 `authenticated` rules with wildcards at both ends (`p7-*/*-7`), and with no
    // literal at either end (`*7x*/*3y*`: indexed by a run of their longest literal piece).
    type Shape = (&'static str, fn(u64) -> String, [&'static str; 2]);
    let shapes: [Shape; 2] = [
        (
            "acl_double_wildcard",
            |i| format!("p{}-*/*-{}", i % 1000, i / 1000),
            ["bench/app", "p7-x/y-7"],
        ),
        (
            "acl_inner_literal",
            |i| format!("*{}x*/*{}y*", i % 1000, i / 1000),
            ["bench/app", "a7xb/c3yd"],
        ),
    ];
    for (group_name, pattern, [miss, hit]) in shapes {
        let many: Vec<Rule> = (0..100_000u64)
            .map(|i| rule(i, Subject::Authenticated, &pattern(i), Actions::PULL))
            .collect();
        let acl = Acl::new(many.clone());
        let mut group = c.benchmark_group(group_name);
        group
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .sample_size(50);
        for (label, repo) in [("miss", miss), ("hit", hit)] {
            let repo = name(repo);
            let want = linear(&many, &principal, &repo);
            assert_eq!(want.is_empty(), label == "miss", "{group_name} {label}");
            assert_eq!(acl.allowed(&principal, &repo), want, "{group_name} {label}");
            group.bench_with_input(BenchmarkId::new(label, 100_000), &repo, |b, repo| {
                b.iter(|| acl.allowed(black_box(&principal), black_box(repo)))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, acl_decisions);
criterion_main!(benches);
