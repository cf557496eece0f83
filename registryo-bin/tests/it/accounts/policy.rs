//! The policy follows the store's change log: a policy updated change by change equals one
//! rebuilt from the whole store, and a change made through one server reaches another server
//! over the same store (also when the log was pruned and it must rebuild).

use std::sync::Arc;

use registryo_core::acl::Principal;
use registryo_core::app::snapshot::UserEntry;
use registryo_core::scope::RepositoryName;
use registryo_store::NewAclRule;

use super::*;
use crate::support::eventually;

fn rule(subject: &str, pattern: &str, actions: &str) -> NewAclRule {
    NewAclRule {
        subject: subject.into(),
        pattern: pattern.into(),
        actions: actions.into(),
        created_by: None,
    }
}

type Summary = (
    Vec<UserEntry>,
    Vec<(u64, String)>,
    Vec<(i64, String)>,
    Vec<String>,
);

/// What a policy holds, in a comparable form, and its decisions on a few names.
fn summary(a: &Accounts) -> Summary {
    let snap = a.snapshot();
    let mut users: Vec<UserEntry> = snap.users().cloned().collect();
    users.sort_by_key(|u| u.id);
    let mut rules: Vec<(u64, String)> = snap
        .acl
        .rules()
        .iter()
        .map(|r| (r.id, format!("{} {} {}", r.subject, r.pattern, r.actions)))
        .collect();
    rules.sort();
    let mut broken = snap.broken_rules.clone();
    broken.sort();
    let mut decisions = Vec::new();
    let mut principals = vec![Principal::anonymous()];
    principals.extend(
        users
            .iter()
            .map(|u| Principal::user(u.name.as_str()).with_groups(u.groups.clone())),
    );
    for p in &principals {
        for repo in ["team/app", "u3/x", "p3-a/b-3", "public/img", "g1/tools"] {
            let repo = RepositoryName::new(repo).unwrap();
            decisions.push(format!(
                "{:?} {repo} {}",
                p.account,
                snap.acl.allowed(p, &repo)
            ));
        }
    }
    (users, rules, broken, decisions)
}

/// splitmix64.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[tokio::test]
async fn an_updated_policy_equals_a_rebuilt_one() {
    let (_dir, store) = sqlite_store().await;
    let a = Accounts::new(Arc::new(store.clone()), Duration::ZERO)
        .await
        .unwrap();
    let mut rng = 7u64;
    let (mut users, mut groups, mut rules): (Vec<i64>, Vec<i64>, Vec<i64>) = Default::default();
    let subjects = [
        "user:u1",
        "user:u3",
        "group:g1",
        "group:g2",
        "authenticated",
        "anonymous",
    ];
    let patterns = [
        "team/**",
        "${account}/**",
        "p3-*/*-3",
        "*/app",
        "public/*",
        "a/[",
        "g1/*",
    ];
    for step in 0..160u64 {
        let pick = |n: usize, rng: &mut u64| (next(rng) % n as u64) as usize;
        match pick(10, &mut rng) {
            0 | 1 => {
                let n = format!("u{}", pick(6, &mut rng));
                if let Ok(u) = store
                    .create_user(
                        &NewUser::new(name(&n), UserKind::Human).password_hash(format!("h{step}")),
                        &|_| Vec::new(),
                    )
                    .await
                {
                    users.push(u.id);
                }
            }
            2 if !users.is_empty() => {
                let id = users[pick(users.len(), &mut rng)];
                let flag = pick(2, &mut rng) == 0;
                store.set_disabled(id, flag, &|_| Vec::new()).await.unwrap();
                store.set_admin(id, !flag, &|_| Vec::new()).await.unwrap();
                let change = PasswordChange::default();
                store
                    .set_password_hash(id, Some(&format!("p{step}")), &change, &|_| Vec::new())
                    .await
                    .unwrap();
            }
            3 => {
                let g = format!("g{}", pick(3, &mut rng));
                if let Ok(g) = store
                    .create_group(&g.parse().unwrap(), &|_| Vec::new())
                    .await
                {
                    groups.push(g.id);
                }
            }
            4 if !users.is_empty() && !groups.is_empty() => {
                let (u, g) = (
                    users[pick(users.len(), &mut rng)],
                    groups[pick(groups.len(), &mut rng)],
                );
                if pick(3, &mut rng) == 0 {
                    store
                        .remove_group_member(g, u, &|_| Vec::new())
                        .await
                        .unwrap();
                } else {
                    store.add_group_member(g, u, &|_| Vec::new()).await.unwrap();
                }
            }
            5 | 6 => {
                let r = rule(
                    subjects[pick(subjects.len(), &mut rng)],
                    patterns[pick(patterns.len(), &mut rng)],
                    "pull,push",
                );
                rules.push(store.add_acl_rule(&r, &|_| Vec::new()).await.unwrap().id);
            }
            7 if !rules.is_empty() => {
                let id = rules.swap_remove(pick(rules.len(), &mut rng));
                let _ = store.delete_acl_rule(id, &|_| Vec::new()).await;
            }
            8 if !users.is_empty() && pick(2, &mut rng) == 0 => {
                let id = users.swap_remove(pick(users.len(), &mut rng));
                store.delete_user(id, &|_| Vec::new()).await.unwrap();
            }
            8 if !groups.is_empty() => {
                let id = groups.swap_remove(pick(groups.len(), &mut rng));
                store.delete_group(id, &|_| Vec::new()).await.unwrap();
            }
            _ => {
                let batch: Vec<NewAclRule> = (0..5)
                    .map(|_| {
                        rule(
                            subjects[pick(subjects.len(), &mut rng)],
                            patterns[pick(patterns.len(), &mut rng)],
                            "pull",
                        )
                    })
                    .collect();
                let made = store.add_acl_rules(&batch, &|_| Vec::new()).await.unwrap();
                rules.extend(made.iter().map(|r| r.id));
            }
        }
        a.reload(false).await.unwrap();
        if step % 8 == 7 {
            let rebuilt = Accounts::new(Arc::new(store.clone()), Duration::ZERO)
                .await
                .unwrap();
            assert_eq!(summary(&a), summary(&rebuilt), "after step {step}");
            assert_eq!(a.snapshot().revision, rebuilt.snapshot().revision);
        }
    }
    assert!(a.snapshot().acl.len() > 10, "the sequence built a policy");
}

#[tokio::test]
async fn a_change_made_on_one_server_is_seen_by_another() {
    let (dir, store) = sqlite_store().await;
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let other = Store::connect(&url).await.unwrap();
    let a = Accounts::new(Arc::new(store.clone()), Duration::ZERO)
        .await
        .unwrap();
    let b = Accounts::new(Arc::new(other), Duration::ZERO)
        .await
        .unwrap();
    let watcher = b.spawn_watcher(Duration::from_millis(100));
    let bob = store
        .create_user(&NewUser::new(name("bob"), UserKind::Human), &|_| Vec::new())
        .await
        .unwrap();
    store
        .add_acl_rule(&rule("user:bob", "bob/**", "pull"), &|_| Vec::new())
        .await
        .unwrap();
    a.reload(true).await.unwrap();
    let repo = RepositoryName::new("bob/app").unwrap();
    let holds = |acc: &Accounts| {
        let snap = acc.snapshot();
        let p = snap.principal("bob", registryo_core::time::unix_now());
        p.is_some_and(|p| !snap.acl.allowed(&p, &repo).is_empty())
    };
    assert!(holds(&a));
    eventually("the other server sees the new user and rule", || async {
        holds(&b)
    })
    .await;

    // Disabled on one: refused on the other too.
    store
        .set_disabled(bob.id, true, &|_| Vec::new())
        .await
        .unwrap();
    eventually("the other server sees bob disabled", || async {
        !holds(&b)
    })
    .await;

    // With the log pruned past the other's policy, it rebuilds and still follows.
    store
        .set_disabled(bob.id, false, &|_| Vec::new())
        .await
        .unwrap();
    store
        .prune_policy_changes(registryo_core::time::unix_now() + 10)
        .await
        .unwrap();
    eventually(
        "the other server rebuilds when the log cannot tell",
        || async { holds(&b) },
    )
    .await;
    assert_eq!(summary(&a).1, summary(&b).1);
    watcher.abort();
}
