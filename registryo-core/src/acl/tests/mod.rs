//! The ACL's semantics table and property tests.

use super::*;
use crate::names::{GroupName, Username};
use crate::scope::{Actions, RepositoryName, Scope};

mod parsing;
mod property;

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
