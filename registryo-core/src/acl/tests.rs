//! The ACL's semantics table and property tests.

use super::*;
use crate::names::{GroupName, Username};
use crate::scope::{Actions, RepositoryName, Scope};

// ---- helpers ------------------------------------------------------------------------

/// Whether an error is the expected one.
type ErrorCheck = fn(&AclError) -> bool;

/// `"SUBJECT PATTERN ACTIONS"`, e.g. `"group:devs team/** pull,push"`.
fn rule(id: u64, line: &str) -> Rule {
    let parts: Vec<&str> = line.split_whitespace().collect();
    let [subject, pattern, actions] = parts[..] else {
        panic!("bad rule line {line:?}");
    };
    Rule::new(
        id,
        subject.parse().unwrap_or_else(|e| panic!("{line}: {e}")),
        pattern.parse().unwrap_or_else(|e| panic!("{line}: {e}")),
        actions.parse().unwrap_or_else(|e| panic!("{line}: {e}")),
    )
    .unwrap()
}

fn user(name: &str) -> Username {
    Username::new(name).unwrap()
}

fn group(name: &str) -> GroupName {
    GroupName::new(name).unwrap()
}

fn acl(lines: &[&str]) -> Acl {
    Acl::new(lines.iter().enumerate().map(|(i, l)| rule(i as u64 + 1, l)))
}

/// `-` anonymous, `alice` a user, `alice+devs+ops` with groups, `-+ci` anonymous in a
/// group, a leading `!` for an admin.
fn who(spec: &str) -> Principal {
    let (admin, spec) = match spec.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, spec),
    };
    let mut parts = spec.split('+');
    let account = parts.next().unwrap();
    let p = if account == "-" {
        Principal::anonymous()
    } else {
        Principal::user(account)
    };
    p.with_groups(parts).with_admin(admin)
}

fn actions(s: &str) -> Actions {
    if s == "-" {
        Actions::NONE
    } else {
        s.parse().unwrap()
    }
}

// ---- the semantics table ------------------------------------------------------------

/// The semantics, one case per line: `RULES | PRINCIPAL | SCOPE | GRANT` (columns are split
/// at ` | `, so a name such as `(a|b)` stays whole).
///
/// RULES are `;`-separated `SUBJECT PATTERN ACTIONS` (`-`: none); PRINCIPAL is `-` for
/// anonymous, `alice`, `alice+devs+ops` with groups, `-+ci` anonymous in a group, a leading
/// `!` for an admin; GRANT is the actions granted (`-`: nothing). `#` starts a comment.
const CASES: &str = r#"
# `*` stays inside one segment.
user:alice a/* pull                                          | alice          | repository:a/b:pull                    | pull
user:alice a/* pull                                          | alice          | repository:a/b/c:pull                  | -
user:alice a/* pull                                          | alice          | repository:a:pull                      | -
user:alice a/b* pull                                         | alice          | repository:a/b:pull                    | pull
user:alice a/b* pull                                         | alice          | repository:a/bcd:pull                  | pull
user:alice a/*-x pull                                        | alice          | repository:a/b-c-x:pull                | pull
user:alice a/*-x pull                                        | alice          | repository:a/b-c:pull                  | -
user:alice */app pull                                        | alice          | repository:team/app:pull               | pull
user:alice */app pull                                        | alice          | repository:a/team/app:pull             | -
# `**` at the end: zero or more segments.
user:alice a/** pull                                         | alice          | repository:a:pull                      | pull
user:alice a/** pull                                         | alice          | repository:a/b:pull                    | pull
user:alice a/** pull                                         | alice          | repository:a/b/c:pull                  | pull
user:alice a/** pull                                         | alice          | repository:ab:pull                     | -
user:alice a/** pull                                         | alice          | repository:b/a:pull                    | -
# `**` at the start.
user:alice **/x pull                                         | alice          | repository:x:pull                      | pull
user:alice **/x pull                                         | alice          | repository:a/b/x:pull                  | pull
user:alice **/x pull                                         | alice          | repository:a/x/y:pull                  | -
user:alice **/x pull                                         | alice          | repository:ax:pull                     | -
# `**` in the middle.
user:alice a/**/b pull                                       | alice          | repository:a/b:pull                    | pull
user:alice a/**/b pull                                       | alice          | repository:a/x/y/b:pull                | pull
user:alice a/**/b pull                                       | alice          | repository:a/x/y/c:pull                | -
user:alice a/**/b pull                                       | alice          | repository:a/b/c:pull                  | -
user:alice a/**/b pull                                       | alice          | repository:b:pull                      | -
user:alice a/**/b/**/c pull                                  | alice          | repository:a/x/b/b/y/c:pull            | pull
user:alice a/**/b/**/c pull                                  | alice          | repository:a/c/b:pull                  | -
# `**` alone and `**/**`.
user:alice ** pull                                           | alice          | repository:anything/at/all:pull        | pull
user:alice **/** pull                                        | alice          | repository:x:pull                      | pull
# `?`: one character, never '/'.
user:alice a?c pull                                          | alice          | repository:abc:pull                    | pull
user:alice a?c pull                                          | alice          | repository:ac:pull                     | -
user:alice a?c pull                                          | alice          | repository:abbc:pull                   | -
user:alice a/? pull                                          | alice          | repository:a/b:pull                    | pull
user:alice a/? pull                                          | alice          | repository:a/bc:pull                   | -
user:alice a?b pull                                          | alice          | repository:a/b:pull                    | -
# `${account}`: a personal namespace.
authenticated ${account}/** *                                | alice          | repository:alice/x:*                   | pull,push,delete
authenticated ${account}/** *                                | alice          | repository:alice:push                  | push
authenticated ${account}/** *                                | alice          | repository:bob/x:pull                  | -
authenticated ${account}/** *                                | alice          | repository:alicex/y:pull               | -
authenticated ${account}/** *                                | -              | repository:alice/x:pull                | -
anonymous ${account}/** *                                    | -              | repository:alice/x:pull                | -
# `anonymous` holds for everyone; `${account}` then stands for the signed-in name.
anonymous ${account}/** pull                                 | alice          | repository:alice/x:pull                | pull
authenticated users/${account}/** pull                       | bob            | repository:users/bob/x:pull            | pull
authenticated users/${account}/** pull                       | bob            | repository:users/bobby:pull            | -
authenticated team-${account}-* pull                         | bob            | repository:team-bob-1:pull             | pull
authenticated team-${account}-* pull                         | bob            | repository:team-bo-1:pull              | -
# ... substituted literally: metacharacters in user names mean nothing.
authenticated ${account}/** pull                             | a.b            | repository:a.b/x:pull                  | pull
authenticated ${account}/** pull                             | a.b            | repository:axb/x:pull                  | -
authenticated ${account} pull                                | a.b            | repository:axb:pull                    | -
authenticated ${account}/** pull                             | x*             | repository:xa/y:pull                   | -
authenticated ${account}/** pull                             | x*             | repository:x/y:pull                    | -
authenticated ${account} pull                                | x*             | repository:xyz:pull                    | -
authenticated ${account}/** pull                             | a?             | repository:ab/x:pull                   | -
authenticated ${account} pull                                | [ab]           | repository:a:pull                      | -
authenticated ${account} pull                                | (a|b)          | repository:a:pull                      | -
authenticated ${account} pull                                | a+             | repository:aa:pull                     | -
authenticated ${account} pull                                | $              | repository:a:pull                      | -
authenticated ${account} pull                                | .*             | repository:anything:pull               | -
authenticated ${account}/** pull                             | **             | repository:a/b:pull                    | -
authenticated x${account} pull                               | *              | repository:xyz:pull                    | -
# ... compared as is: no case folding, no '/' inside the account.
authenticated ${account}/** pull                             | Alice          | repository:alice/x:pull                | -
authenticated ${account}/** pull                             | a/b            | repository:a/b/c:pull                  | -
authenticated x${account} pull                               |                | repository:x:pull                      | -
# host:port names: the host is just the first segment.
user:alice localhost:5000/a/** pull                          | alice          | repository:localhost:5000/a/b:pull     | pull
user:alice localhost:5000/a/** pull                          | alice          | repository:a/b:pull                    | -
user:alice a/** pull                                         | alice          | repository:localhost:5000/a/b:pull     | -
user:alice **/a/b pull                                       | alice          | repository:localhost:5000/a/b:pull     | pull
user:alice *:5000/** pull                                    | alice          | repository:localhost:5000/a:pull       | pull
user:alice *:5000/** pull                                    | alice          | repository:localhost:5001/a:pull       | -
user:alice registry.example.com/** pull                      | alice          | repository:registry.example.com/x:pull | pull
# Users: only the named account.
user:alice a pull                                            | bob            | repository:a:pull                      | -
user:alice a pull                                            | -              | repository:a:pull                      | -
user:x a pull                                                | x*             | repository:a:pull                      | -
user:x a pull                                                | xy             | repository:a:pull                      | -
# Groups.
group:devs team/** pull,push                                 | alice+devs     | repository:team/app:*                  | pull,push
group:devs team/** pull,push                                 | alice+ops+devs | repository:team/app:push               | push
group:devs team/** pull,push                                 | alice          | repository:team/app:pull               | -
group:devs team/** pull,push                                 | alice+ops      | repository:team/app:pull               | -
group:ci a pull                                              | -+ci           | repository:a:pull                      | pull
# Names are compared without regard to case, as the names themselves.
user:Alice a pull                                            | alice          | repository:a:pull                      | pull
user:alice a pull                                            | ALICE          | repository:a:pull                      | pull
group:Devs a pull                                            | bob+devs       | repository:a:pull                      | pull
user:alice a pull                                            | alicee         | repository:a:pull                      | -
# Anonymous vs authenticated.
anonymous public/** pull                                     | -              | repository:public/x:pull               | pull
# A login never reduces access: what anonymous may do, everyone signed in may do.
anonymous public/** pull                                     | alice          | repository:public/x:pull               | pull
anonymous public/** pull; user:alice public/mine push        | alice          | repository:public/mine:pull,push       | pull,push
anonymous public/** pull                                     | alice+devs     | repository:public/x:pull,push          | pull
anonymous public/** pull                                     | !root          | repository:public/x:pull               | pull
authenticated internal/** pull                               | alice          | repository:internal/x:pull             | pull
authenticated internal/** pull                               | -              | repository:internal/x:pull             | -
# Admins: everything asked, the catalog included; the catalog is theirs only.
-                                                            | !root          | repository:x/y:*                       | pull,push,delete
-                                                            | !root          | repository:x/y:pull                    | pull
-                                                            | !root          | registry:catalog:*                     | *
-                                                            | !-             | registry:catalog:*                     | *
user:alice ** *                                              | alice          | registry:catalog:*                     | -
authenticated ** *                                           | alice          | registry:catalog:*                     | -
# A request for `*` is granted the explicit set held.
user:alice a pull,delete                                     | alice          | repository:a:*                         | pull,delete
user:alice a *                                               | alice          | repository:a:*                         | pull,push,delete
# Only what was asked.
user:alice a pull,push                                       | alice          | repository:a:pull                      | pull
user:alice a pull,push                                       | alice          | repository:a:delete                    | -
# The union of every matching rule, in any order.
user:alice a/** pull; group:devs a/b push; authenticated a/* delete | alice+devs     | repository:a/b:*                       | pull,push,delete
authenticated a/* delete; group:devs a/b push; user:alice a/** pull | alice+devs     | repository:a/b:*                       | pull,push,delete
user:alice a/** pull; group:devs a/b push; authenticated a/* delete | alice+devs     | repository:a/b/c:*                     | pull
user:alice a/** pull; group:devs a/b push; authenticated a/* delete | alice          | repository:a/b:push,delete             | delete
user:alice a/b pull; user:alice a/* push; user:alice **/b delete; user:bob a/b * | alice          | repository:a/b:*                       | pull,push,delete
"#;

/// The cases of [`CASES`]: (rules, principal, scope, grant).
fn cases() -> Vec<(Vec<&'static str>, &'static str, &'static str, &'static str)> {
    CASES
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let cols: Vec<&str> = l.split(" | ").map(str::trim).collect();
            let [rules, principal, scope, grant] = cols[..] else {
                panic!("a case has four columns: {l:?}");
            };
            let rules = match rules {
                "-" => Vec::new(),
                r => r.split(';').map(str::trim).collect(),
            };
            (rules, principal, scope, grant)
        })
        .collect()
}

#[test]
fn semantics_table() {
    let cases = cases();
    assert!(cases.len() > 90, "{} cases", cases.len());
    for (rules, principal, scope, expected) in cases {
        let acl = acl(&rules);
        let p = who(principal);
        let scope: Scope = scope.parse().unwrap_or_else(|e| panic!("{scope}: {e}"));
        let got = acl.grant(&p, &scope);
        assert_eq!(
            got,
            actions(expected),
            "rules {rules:?}, principal {principal:?}, scope {scope}"
        );
        // The explanation agrees with the grant.
        let why = acl.explain(&p, &scope);
        assert_eq!(why.granted, got, "explain of {scope} for {principal}");
        if !p.admin {
            let union = why
                .matches
                .iter()
                .fold(Actions::NONE, |a, m| a | m.contributed);
            assert_eq!(union, got, "explain matches of {scope} for {principal}");
        }
    }
}

// ---- parsing ------------------------------------------------------------------------

#[test]
fn valid_patterns() {
    for good in [
        "a",
        "a/b/c",
        "*",
        "?",
        "**",
        "**/**",
        "a/**",
        "**/a",
        "a/**/b",
        "a-*",
        "*.b",
        "a?b*c",
        "${account}",
        "${account}/**",
        "x-${account}-*/y",
        "localhost:5000/a",
        "localhost:*/a",
        "*:5000/**",
        "registry.example.com:443/team/**",
        "a__b/c---d/e.f",
    ] {
        let p = Pattern::new(good).unwrap_or_else(|e| panic!("{good:?}: {e}"));
        assert_eq!(p.to_string(), good);
        assert_eq!(p.as_str(), good);
    }
    assert!(Pattern::new(&"a".repeat(255)).is_ok());
    assert!(Pattern::new("${account}/x").unwrap().has_account());
    assert!(!Pattern::new("a/*").unwrap().has_account());
}

#[test]
fn invalid_patterns_are_refused_precisely() {
    use AclError::*;
    let long = "a".repeat(256);
    let long_slashes = "a/".repeat(128);
    let cases: &[(&str, ErrorCheck)] = &[
        ("", |e| *e == EmptyPattern),
        (&long, |e| *e == PatternTooLong(256)),
        (&long_slashes, |e| *e == PatternTooLong(256)),
        ("A", |e| matches!(e, UpperCase(_))),
        ("team/App", |e| matches!(e, UpperCase(_))),
        ("${ACCOUNT}", |e| matches!(e, UpperCase(_))),
        ("a//b", |e| matches!(e, EmptySegment(_))),
        ("/a", |e| matches!(e, EmptySegment(_))),
        ("a/", |e| matches!(e, EmptySegment(_))),
        ("/", |e| matches!(e, EmptySegment(_))),
        ("***", |e| matches!(e, TripleStar(_))),
        ("a/***", |e| matches!(e, TripleStar(_))),
        ("a****", |e| matches!(e, TripleStar(_))),
        ("a**", |e| matches!(e, PartialDoubleStar(_))),
        ("**b", |e| matches!(e, PartialDoubleStar(_))),
        ("a/**x/b", |e| matches!(e, PartialDoubleStar(_))),
        ("a/b c", |e| {
            matches!(e, InvalidCharacter { character: ' ', .. })
        }),
        ("a@b", |e| {
            matches!(e, InvalidCharacter { character: '@', .. })
        }),
        ("a/[bc]", |e| {
            matches!(e, InvalidCharacter { character: '[', .. })
        }),
        ("a\\b", |e| {
            matches!(
                e,
                InvalidCharacter {
                    character: '\\',
                    ..
                }
            )
        }),
        ("é", |e| {
            matches!(
                e,
                InvalidCharacter {
                    character: 'é', ..
                }
            )
        }),
        ("a+", |e| {
            matches!(e, InvalidCharacter { character: '+', .. })
        }),
        ("${user}/**", |e| matches!(e, UnknownVariable(_))),
        ("$", |e| matches!(e, UnknownVariable(_))),
        ("${account", |e| matches!(e, UnknownVariable(_))),
        ("$account", |e| matches!(e, UnknownVariable(_))),
        ("a/b:c", |e| matches!(e, MisplacedColon(_))),
        ("localhost:5000", |e| matches!(e, MisplacedColon(_))),
        ("a/localhost:5000/b", |e| matches!(e, MisplacedColon(_))),
        ("a..b", |e| matches!(e, InvalidSegment { .. })),
        ("-a/b", |e| matches!(e, InvalidSegment { .. })),
        ("a/b-", |e| matches!(e, InvalidSegment { .. })),
        ("host:port/a", |e| matches!(e, InvalidSegment { .. })),
    ];
    for (input, check) in cases {
        let err = Pattern::new(input).unwrap_err();
        assert!(check(&err), "{input:?} gave {err:?}");
        assert!(!err.to_string().is_empty());
        assert!(err.to_string().len() < 1000);
    }
    // Huge input is not echoed.
    let err = Pattern::new(&"A".repeat(100_000)).unwrap_err();
    assert_eq!(err, PatternTooLong(100_000));
}

#[test]
fn subjects_parse_and_print() {
    for (text, subject) in [
        ("user:alice", Subject::User(user("alice"))),
        ("user:Alice.Smith", Subject::User(user("Alice.Smith"))),
        ("group:devs", Subject::Group(group("devs"))),
        ("anonymous", Subject::Anonymous),
        ("authenticated", Subject::Authenticated),
    ] {
        assert_eq!(text.parse::<Subject>().unwrap(), subject, "{text}");
        assert_eq!(subject.to_string(), text);
    }
    use AclError::*;
    let cases: &[(&str, ErrorCheck)] = &[
        ("", |e| *e == EmptySubject),
        ("user", |e| *e == EmptySubjectName { kind: "user" }),
        ("user:", |e| *e == EmptySubjectName { kind: "user" }),
        ("group:", |e| *e == EmptySubjectName { kind: "group" }),
        ("anonymous:x", |e| {
            *e == SubjectTakesNoName { kind: "anonymous" }
        }),
        ("authenticated:", |e| {
            *e == SubjectTakesNoName {
                kind: "authenticated",
            }
        }),
        ("admin:x", |e| matches!(e, UnknownSubjectKind(_))),
        ("bob", |e| matches!(e, UnknownSubjectKind(_))),
        ("User:x", |e| matches!(e, UnknownSubjectKind(_))),
        (":x", |e| matches!(e, UnknownSubjectKind(_))),
        ("user:a\nb", |e| {
            matches!(
                e,
                InvalidName {
                    kind: "user",
                    reason: NameError::BadCharacter('\n'),
                    ..
                }
            )
        }),
        ("user:a:b", |e| {
            matches!(
                e,
                InvalidName {
                    kind: "user",
                    reason: NameError::BadCharacter(':'),
                    ..
                }
            )
        }),
        ("user:x*", |e| matches!(e, InvalidName { kind: "user", .. })),
        ("user:Alice Smith", |e| {
            matches!(e, InvalidName { kind: "user", .. })
        }),
        ("user:\u{430}dmin", |e| {
            matches!(e, InvalidName { kind: "user", .. })
        }),
        ("group:a\u{200b}", |e| {
            matches!(e, InvalidName { kind: "group", .. })
        }),
    ];
    for (input, check) in cases {
        let err = input.parse::<Subject>().unwrap_err();
        assert!(check(&err), "{input:?} gave {err:?}");
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn subject_matches() {
    let alice = Principal::user("alice").with_groups(["devs"]);
    let anon = Principal::anonymous();
    assert!(Subject::User(user("alice")).matches(&alice));
    assert!(Subject::User(user("Alice")).matches(&alice));
    assert!(!Subject::User(user("bob")).matches(&alice));
    assert!(Subject::Group(group("devs")).matches(&alice));
    assert!(Subject::Group(group("DEVS")).matches(&alice));
    assert!(!Subject::Group(group("ops")).matches(&alice));
    assert!(Subject::Authenticated.matches(&alice));
    assert!(Subject::Anonymous.matches(&alice));
    assert!(Subject::Anonymous.matches(&anon));
    assert!(!Subject::Authenticated.matches(&anon));
}

#[test]
fn rules_normalise_actions() {
    let s = || Subject::Anonymous;
    let p = || Pattern::new("a").unwrap();
    assert_eq!(
        Rule::new(1, s(), p(), Actions::ANY).unwrap().actions,
        Actions::ALL
    );
    assert_eq!(
        Rule::new(1, s(), p(), Actions::ANY | Actions::PULL)
            .unwrap()
            .actions,
        Actions::ALL
    );
    assert_eq!(
        Rule::new(1, s(), p(), Actions::PUSH).unwrap().actions,
        Actions::PUSH
    );
    assert_eq!(
        Rule::new(7, s(), p(), Actions::NONE).unwrap_err(),
        AclError::NoActions(7)
    );
}

#[test]
fn rules_built_by_hand_are_normalised_when_used() {
    // The fields are public: `*` in a rule still means pull, push and delete.
    let acl = Acl::new([Rule {
        id: 1,
        subject: Subject::Anonymous,
        pattern: Pattern::new("a").unwrap(),
        actions: Actions::ANY,
    }]);
    let repo = RepositoryName::new("a").unwrap();
    assert_eq!(acl.allowed(&Principal::anonymous(), &repo), Actions::ALL);
}

#[test]
fn explain_lists_matching_rules_in_order() {
    let acl = acl(&[
        "group:devs team/** pull",       // 1
        "user:alice team/app push",      // 2
        "user:bob team/app *",           // 3: another user
        "authenticated team/* delete",   // 4: matches, contributes nothing
        "group:devs other/** *",         // 5: another repository
        "authenticated ${account}/** *", // 6: not alice's namespace
    ]);
    let p = who("alice+devs+devs");
    let scope: Scope = "repository:team/app:pull,push".parse().unwrap();
    let why = acl.explain(&p, &scope);
    assert_eq!(why.requested, Actions::PULL | Actions::PUSH);
    assert_eq!(why.granted, Actions::PULL | Actions::PUSH);
    assert!(!why.admin);
    let got: Vec<(u64, Actions)> = why
        .matches
        .iter()
        .map(|m| (m.rule.id, m.contributed))
        .collect();
    assert_eq!(
        got,
        vec![(1, Actions::PULL), (2, Actions::PUSH), (4, Actions::NONE),]
    );

    let admin = who("!root");
    let why = acl.explain(&admin, &"repository:x:*".parse().unwrap());
    assert!(why.admin);
    assert_eq!(why.requested, Actions::ALL);
    assert_eq!(why.granted, Actions::ALL);
    assert!(why.matches.is_empty());

    let why = acl.explain(&p, &Scope::catalog());
    assert_eq!(why.requested, Actions::ANY);
    assert_eq!(why.granted, Actions::NONE);
    let why = acl.explain(&admin, &Scope::catalog());
    assert_eq!(why.granted, Actions::ANY);
}

#[test]
fn empty_requests_and_empty_acl() {
    let acl = Acl::new([]);
    assert!(acl.is_empty());
    let repo = RepositoryName::new("a").unwrap();
    assert_eq!(acl.allowed(&Principal::user("a"), &repo), Actions::NONE);
    let nothing = Scope::repository(repo, Actions::NONE);
    assert_eq!(acl.grant(&who("!root"), &nothing), Actions::NONE);
}

#[test]
fn acl_is_shareable() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Acl>();
    let acl = std::sync::Arc::new(acl(&["anonymous ** pull"]));
    let other = std::sync::Arc::clone(&acl);
    let repo = RepositoryName::new("x").unwrap();
    let held = std::thread::spawn(move || other.allowed(&Principal::anonymous(), &repo))
        .join()
        .unwrap();
    assert_eq!(held, Actions::PULL);
    assert_eq!(acl.rules().len(), 1);
    assert!(format!("{acl:?}").contains("rules: 1"));
}

#[test]
fn pathological_patterns_stay_fast() {
    // Many `**` and `*` against a long name that almost matches: linear back-tracking.
    let pattern = Pattern::new(&["**/a"; 50].join("/")).unwrap();
    let name = RepositoryName::new(["a"; 127].join("/") + "b").unwrap();
    let start = std::time::Instant::now();
    assert!(!pattern.matches(&name, None));
    let glob = Pattern::new(&format!("{}b", "a*".repeat(100))).unwrap();
    let name = RepositoryName::new("a".repeat(255)).unwrap();
    assert!(!glob.matches(&name, None));
    assert!(start.elapsed() < std::time::Duration::from_secs(1));
}

// ---- property: the index agrees with a naive linear scan -------------------------------

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
