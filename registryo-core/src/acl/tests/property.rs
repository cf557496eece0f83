//! Property tests: the index agrees with a naive linear scan, and arbitrary text never
//! panics.

use super::*;

/// splitmix64: a tiny deterministic PRNG.
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
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// A naive matcher written from the pattern text, independent of the compiled one.
fn naive_match(pattern: &str, name: &str, account: Option<&str>) -> bool {
    let account = account.filter(|a| !a.is_empty());
    if pattern.contains(ACCOUNT_VARIABLE) && account.is_none() {
        return false;
    }
    let p: Vec<&str> = pattern.split('/').collect();
    let n: Vec<&str> = name.split('/').collect();
    naive_segments(&p, &n, account.unwrap_or(""))
}

fn naive_segments(p: &[&str], n: &[&str], account: &str) -> bool {
    match p.split_first() {
        None => n.is_empty(),
        Some((&"**", rest)) => (0..=n.len()).any(|k| naive_segments(rest, &n[k..], account)),
        Some((seg, rest)) => match n.split_first() {
            Some((name_seg, name_rest)) => {
                naive_segment(seg, name_seg, account) && naive_segments(rest, name_rest, account)
            }
            None => false,
        },
    }
}

fn naive_segment(p: &str, s: &str, account: &str) -> bool {
    if let Some(rest) = p.strip_prefix(ACCOUNT_VARIABLE) {
        return s
            .strip_prefix(account)
            .is_some_and(|s| naive_segment(rest, s, account));
    }
    match p.chars().next() {
        None => s.is_empty(),
        Some('*') => (0..=s.len()).any(|k| naive_segment(&p[1..], &s[k..], account)),
        Some('?') => !s.is_empty() && naive_segment(&p[1..], &s[1..], account),
        Some(c) => s.starts_with(c) && naive_segment(&p[1..], &s[1..], account),
    }
}

fn naive_allowed(rules: &[Rule], p: &Principal, repo: &RepositoryName) -> Actions {
    rules
        .iter()
        .filter(|r| r.subject.matches(p))
        .filter(|r| naive_match(r.pattern.as_str(), repo.as_str(), p.account.as_deref()))
        .fold(Actions::NONE, |a, r| a | r.actions)
}

/// Principals' account names: embedders may hand any text, glob characters included.
const USERS: &[&str] = &["u1", "u2", "a", "b", "a.b", "x*", "ab", "a?"];
/// Rule subjects' user names: valid [`Username`]s, some differing only in case.
const SUBJECT_USERS: &[&str] = &["u1", "U2", "a", "b", "a.b", "X", "ab", "A"];
const GROUPS: &[&str] = &["g1", "g2", "g3"];
const NAME_SEGS: &[&str] = &["a", "b", "ab", "a.b", "axb", "x", "u1", "u2", "c-d", "ba"];
const PATTERN_SEGS: &[&str] = &[
    "a",
    "b",
    "ab",
    "a.b",
    "x",
    "u1",
    "*",
    "**",
    "?",
    "a*",
    "*b",
    "?b",
    "a?b",
    "*.*",
    "${account}",
    "x${account}",
    "${account}*",
    "u?",
    "c-*",
    "*-d",
    "ab*",
    "*.b",
    "b*a",
    "x?*",
];

fn random_name(rng: &mut Rng) -> RepositoryName {
    loop {
        let depth = 1 + rng.below(4);
        let mut segs: Vec<&str> = (0..depth).map(|_| rng.pick(NAME_SEGS)).collect();
        if rng.below(10) == 0 {
            segs.insert(0, "localhost:5000");
        }
        if let Ok(n) = RepositoryName::new(segs.join("/")) {
            return n;
        }
    }
}

fn random_rule(rng: &mut Rng, id: u64) -> Rule {
    let subject = match rng.below(10) {
        0..=3 => Subject::User(user(rng.pick(SUBJECT_USERS))),
        4..=6 => Subject::Group(group(rng.pick(GROUPS))),
        7 => Subject::Anonymous,
        _ => Subject::Authenticated,
    };
    let pattern = loop {
        let depth = 1 + rng.below(4);
        let mut segs: Vec<&str> = (0..depth).map(|_| rng.pick(PATTERN_SEGS)).collect();
        if rng.below(12) == 0 {
            segs.insert(
                0,
                if rng.below(2) == 0 {
                    "localhost:5000"
                } else {
                    "*:5000"
                },
            );
        }
        if let Ok(p) = Pattern::new(&segs.join("/")) {
            break p;
        }
    };
    let actions = Actions::from_bits_for_test(1 + rng.below(7) as u8);
    Rule::new(id, subject, pattern, actions).unwrap()
}

fn random_principal(rng: &mut Rng) -> Principal {
    let mut p = match rng.below(8) {
        0 => Principal::anonymous(),
        1 => Principal::user(""),
        _ => Principal::user(rng.pick(USERS)),
    };
    for g in GROUPS {
        if rng.below(3) == 0 {
            p.groups.push((*g).to_owned());
        }
    }
    p
}

impl Actions {
    fn from_bits_for_test(bits: u8) -> Actions {
        [Actions::PULL, Actions::PUSH, Actions::DELETE]
            .into_iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .fold(Actions::NONE, |a, (_, x)| a | x)
    }
}

#[test]
fn index_agrees_with_linear_scan() {
    let mut rng = Rng(0x5EED);
    // Many small ACLs, then one big one.
    let mut sizes = vec![5usize; 200];
    sizes.extend([50; 40]);
    sizes.push(3000);
    let (mut checked, mut granted_some) = (0, 0);
    for size in sizes {
        let rules: Vec<Rule> = (0..size).map(|i| random_rule(&mut rng, i as u64)).collect();
        let acl = Acl::new(rules.clone());
        let queries = if size > 100 { 2000 } else { 30 };
        for _ in 0..queries {
            let p = random_principal(&mut rng);
            let repo = random_name(&mut rng);
            let expected = naive_allowed(&rules, &p, &repo);
            granted_some += usize::from(!expected.is_empty());
            assert_eq!(
                acl.allowed(&p, &repo),
                expected,
                "principal {p:?}, repository {repo}, rules {rules:?}"
            );
            let scope = Scope::repository(repo, Actions::ANY);
            let why = acl.explain(&p, &scope);
            assert_eq!(why.granted, expected);
            for m in &why.matches {
                assert!(m.rule.subject.matches(&p));
            }
            let n = rules
                .iter()
                .filter(|r| r.subject.matches(&p))
                .filter(|r| naive_match(r.pattern.as_str(), scope.name(), p.account.as_deref()))
                .count();
            assert_eq!(why.matches.len(), n, "{p:?} {scope}");
            checked += 1;
        }
    }
    assert!(checked > 9000);
    // The random rules are not vacuous: a fair share of the queries is granted something.
    assert!(granted_some > checked / 5, "{granted_some} of {checked}");
    assert!(
        granted_some < checked * 9 / 10,
        "{granted_some} of {checked}"
    );
}

/// A change made with [`Acl::with_changes`] decides as a fresh [`Acl::new`] of the same rules
/// does, and leaves the version it was made from as it was.
#[test]
fn incremental_changes_agree_with_a_full_rebuild() {
    let mut rng = Rng(0xC0FFEE);
    for round in 0..44 {
        let size = if round < 40 { 40 } else { 600 };
        let mut rules: Vec<Rule> = (0..size).map(|i| random_rule(&mut rng, i as u64)).collect();
        let mut acl = Acl::new(rules.clone());
        let mut next_id = size as u64;
        for _ in 0..25 {
            let before = acl.clone();
            let before_rules = rules.clone();
            // Remove a few ids (some missing), add a few rules, some reusing a removed id.
            let mut remove = Vec::new();
            for _ in 0..rng.below(4) {
                remove.push(rng.below(next_id as usize + 3) as u64);
            }
            let mut add = Vec::new();
            for _ in 0..rng.below(5) {
                let id = match (rng.below(4), remove.first()) {
                    (0, Some(&id)) => id,
                    _ => {
                        next_id += 1;
                        next_id
                    }
                };
                add.push(random_rule(&mut rng, id));
            }
            rules.retain(|r| !remove.contains(&r.id));
            rules.extend(add.iter().cloned());
            acl = acl.with_changes(remove.iter().copied(), add);
            let fresh = Acl::new(rules.clone());
            assert_eq!(acl.len(), rules.len());
            let ids = |a: &Acl| a.rules().iter().map(|r| r.id).collect::<Vec<_>>();
            assert_eq!(ids(&acl), ids(&fresh), "the rule order is kept");
            assert_eq!(
                acl.has_account_rules(),
                rules.iter().any(|r| r.pattern.has_account())
            );
            for _ in 0..40 {
                let p = random_principal(&mut rng);
                let repo = random_name(&mut rng);
                assert_eq!(
                    acl.allowed(&p, &repo),
                    fresh.allowed(&p, &repo),
                    "{p:?} {repo} after changes"
                );
                assert_eq!(
                    acl.allowed(&p, &repo),
                    naive_allowed(&rules, &p, &repo),
                    "{p:?} {repo} against the linear scan"
                );
                assert_eq!(
                    before.allowed(&p, &repo),
                    naive_allowed(&before_rules, &p, &repo),
                    "{p:?} {repo}: the older version changed"
                );
                let scope = Scope::repository(repo, Actions::ANY);
                assert_eq!(acl.explain(&p, &scope), fresh.explain(&p, &scope));
            }
        }
    }
}

/// Many rules with wildcards at both ends of their segments (`p7-*/*-7`), or with literal text
/// only inside (`*4x*/**`), are indexed: the decisions agree with the linear scan.
#[test]
fn double_wildcard_rules_agree_with_linear_scan() {
    let mut rng = Rng(99);
    let mut rules = Vec::new();
    for i in 0..3000u64 {
        let pattern = match i % 8 {
            0 => format!("p{}-*/*-{}", i % 37, i % 11),
            1 => format!("*-{}/**", i % 13),
            2 => format!("**/a{}*", i % 7),
            3 => format!("*/*{}", i % 17),
            4 => format!("q{}?*/**/*x", i % 5),
            // No literal at either end: keyed by a run of text inside.
            5 => format!("*{}x*/**", i % 9),
            6 => format!("*/**/lib{}/*", i % 3),
            _ => format!("?*a{}b*?", i % 23),
        };
        let subject = match rng.below(3) {
            0 => Subject::Authenticated,
            1 => Subject::Anonymous,
            _ => Subject::Group(group(rng.pick(GROUPS))),
        };
        let actions = Actions::from_bits_for_test(1 + rng.below(7) as u8);
        rules.push(Rule::new(i, subject, Pattern::new(&pattern).unwrap(), actions).unwrap());
    }
    let acl = Acl::new(rules.clone());
    let segs = [
        "p3-x", "p12-a", "c-7", "x-11", "a3b", "a", "q2zz", "bx", "y-3", "a5", "z4xq", "lib2",
        "za15bz", "4x", "lib0", "xa7bx",
    ];
    let mut granted = 0;
    for _ in 0..4000 {
        let depth = 1 + rng.below(3);
        let name: Vec<&str> = (0..depth).map(|_| rng.pick(&segs)).collect();
        let repo = RepositoryName::new(name.join("/")).unwrap();
        let p = random_principal(&mut rng);
        let expected = naive_allowed(&rules, &p, &repo);
        granted += usize::from(!expected.is_empty());
        assert_eq!(acl.allowed(&p, &repo), expected, "{p:?} {repo}");
    }
    assert!(granted > 400, "{granted}");
}

#[test]
fn arbitrary_text_never_panics() {
    let mut rng = Rng(7);
    let alphabet: Vec<char> = "ab.-_:/*?${}acount A\u{e9}\n[(+".chars().collect();
    let names = ["a", "a/b", "localhost:5000/a/b", "ab/c.d/e-f"];
    let mut accepted = 0;
    for _ in 0..50_000 {
        let len = rng.below(24);
        let text: String = (0..len)
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect();
        if let Ok(p) = Pattern::new(&text) {
            accepted += 1;
            assert_eq!(p.to_string(), text);
            for n in names {
                let n = RepositoryName::new(n).unwrap();
                let account = Some(text.as_str());
                assert_eq!(
                    p.matches(&n, account),
                    naive_match(&text, n.as_str(), account),
                    "{text:?} against {n}"
                );
            }
        }
        let _ = text.parse::<Subject>();
    }
    assert!(accepted > 100, "only {accepted} patterns accepted");
}

#[test]
fn compiled_matcher_agrees_with_naive_matcher() {
    let mut rng = Rng(42);
    for _ in 0..20_000 {
        let rule = random_rule(&mut rng, 0);
        let name = random_name(&mut rng);
        let account = match rng.below(6) {
            0 => None,
            _ => Some(rng.pick(USERS)),
        };
        assert_eq!(
            rule.pattern.matches(&name, account),
            naive_match(rule.pattern.as_str(), name.as_str(), account),
            "{} against {name} as {account:?}",
            rule.pattern
        );
    }
}
