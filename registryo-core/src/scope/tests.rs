//! The scope grammar's cases.

use super::*;

/// Whether an error is the expected one.
type ErrorCheck = fn(&ScopeError) -> bool;

fn name_ok(n: &str) -> bool {
    RepositoryName::new(n).is_ok()
}

#[test]
fn repository_name_grammar() {
    for good in [
        "a",
        "library/alpine",
        "a/b/c/d",
        "a.b",
        "a_b",
        "a__b",
        "a-b",
        "a---b",
        "0",
        "localhost:5000/a",
        "registry.example.com/team/app",
        "registry.example.com:443/x",
        "my-host/app",
    ] {
        assert!(name_ok(good), "{good} should be valid");
    }
    for bad in [
        "",
        "A",
        "Team/app",
        "a//b",
        "/a",
        "a/",
        "a..b",
        "a___b",
        "-a",
        "a-",
        "a._b",
        "a b",
        "a/b:c",
        "localhost:5000",
        "host:port/a",
        "a/localhost:5000/b",
        "a@b",
        "é",
    ] {
        assert!(!name_ok(bad), "{bad:?} should be invalid");
    }
}

#[test]
fn name_length_limit() {
    let ok = "a".repeat(255);
    assert!(name_ok(&ok));
    let long = "a".repeat(256);
    assert_eq!(
        RepositoryName::new(long).unwrap_err(),
        ScopeError::NameTooLong(256)
    );
}

#[test]
fn path_strips_host() {
    let n = RepositoryName::new("localhost:5000/team/app").unwrap();
    assert_eq!(n.path(), "team/app");
    let n = RepositoryName::new("team/app").unwrap();
    assert_eq!(n.path(), "team/app");
}

#[test]
fn parse_and_print() {
    let cases = [
        ("repository:a/b:pull", "repository:a/b:pull"),
        ("repository:a/b:push,pull", "repository:a/b:pull,push"),
        ("repository:a/b:*", "repository:a/b:*"),
        ("repository:a/b:pull,pull", "repository:a/b:pull"),
        ("repository:a/b:delete", "repository:a/b:delete"),
        ("repository(plugin):a/b:pull", "repository:a/b:pull"),
        (
            "repository:localhost:5000/a/b:pull,push",
            "repository:localhost:5000/a/b:pull,push",
        ),
        ("registry:catalog:*", "registry:catalog:*"),
    ];
    for (input, printed) in cases {
        let s: Scope = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(s.to_string(), printed, "{input}");
    }
    let s: Scope = "repository:localhost:5000/a/b:pull".parse().unwrap();
    assert_eq!(s.name(), "localhost:5000/a/b");
    assert_eq!(s.actions(), Actions::PULL);
}

#[test]
fn parse_errors_are_precise() {
    use ScopeError::*;
    let cases: &[(&str, ErrorCheck)] = &[
        ("", |e| matches!(e, Shape(_))),
        ("repository", |e| matches!(e, Shape(_))),
        ("repository:a", |e| matches!(e, Shape(_))),
        ("repository:a:", |e| matches!(e, NoAction(_))),
        ("repository:a:pull,", |e| matches!(e, NoAction(_))),
        ("repository:a:fly", |e| matches!(e, UnknownAction(_))),
        ("repository:A:pull", |e| matches!(e, InvalidName { .. })),
        ("repository::pull", |e| matches!(e, EmptyName)),
        ("blob:a:pull", |e| matches!(e, UnknownType(_))),
        (":a:pull", |e| matches!(e, Shape(_))),
        ("repository(:a:pull", |e| matches!(e, Class(_))),
        ("repository():a:pull", |e| matches!(e, Class(_))),
        ("registry:catalog:pull", |e| {
            matches!(e, RegistryResource(_))
        }),
        ("registry:other:*", |e| matches!(e, RegistryResource(_))),
    ];
    for (input, check) in cases {
        let err = Scope::parse(input).unwrap_err();
        assert!(check(&err), "{input:?} gave {err:?}");
        assert!(!err.to_string().is_empty());
    }
    let long = format!("repository:{}:pull", "a".repeat(300));
    assert_eq!(Scope::parse(&long).unwrap_err(), NameTooLong(300));
}

#[test]
fn error_messages_do_not_echo_huge_input() {
    let huge = format!("repository:{}:pull", "A".repeat(100_000));
    let err = Scope::parse(&huge).unwrap_err();
    assert!(err.to_string().len() < 1000);
    let huge = format!("x{}:a:pull", "y".repeat(100_000));
    assert!(Scope::parse(&huge).unwrap_err().to_string().len() < 1000);
}

#[test]
fn actions_expand_and_words() {
    assert_eq!(Actions::ANY.expand(), Actions::ALL);
    assert_eq!((Actions::ANY | Actions::PULL).expand(), Actions::ALL);
    assert_eq!(Actions::PULL.expand(), Actions::PULL);
    assert_eq!(Actions::ALL.to_vec(), vec!["pull", "push", "delete"]);
    assert_eq!(Actions::NONE.to_string(), "");
    assert_eq!("*".parse::<Actions>().unwrap(), Actions::ANY);
}

#[test]
fn scope_set_merges_duplicates() {
    let set = ScopeSet::parse_all([
        "repository:a:pull",
        "repository:a:pull",
        "repository:b:push  repository:a:push",
        "",
        "registry:catalog:*",
    ])
    .unwrap();
    assert_eq!(
        set.to_string(),
        "repository:a:pull,push repository:b:push registry:catalog:*"
    );
    assert_eq!(set.len(), 3);
    assert!(ScopeSet::parse_all(["repository:a:pull bad"]).is_err());
}
