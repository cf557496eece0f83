//! Parsing patterns and subjects, normalising rules, explain, and the edge cases.

use super::*;

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
