//! The compiled index: rules keyed by subject, then by the literal ends of their patterns.

use std::collections::HashMap;
use std::fmt;

use super::pattern::FirstKind;
use super::{Pattern, Principal, Rule, Subject};
use crate::scope::{Actions, RepositoryName, Resource, Scope};

/// Rules keyed by the literal last segment of their pattern, plus those without one.
#[derive(Clone, Debug, Default)]
struct ByLast {
    /// Literal last segment → indices into `Acl::rules`.
    by_last: HashMap<Box<str>, Vec<u32>>,
    /// Patterns whose last segment has wildcards or is `**`.
    rest: Vec<u32>,
}

impl ByLast {
    fn insert(&mut self, index: u32, pattern: &Pattern) {
        match pattern.literal_last() {
            Some(last) => self.by_last.entry(last.into()).or_default().push(index),
            None => self.rest.push(index),
        }
    }

    fn shrink(&mut self) {
        self.by_last.shrink_to_fit();
        self.by_last.values_mut().for_each(Vec::shrink_to_fit);
        self.rest.shrink_to_fit();
    }
}

/// The rules of one subject, indexed by the first segment of their pattern.
#[derive(Clone, Debug, Default)]
struct Bucket {
    /// Literal first segment → indices into `Acl::rules`.
    by_first: HashMap<Box<str>, Vec<u32>>,
    /// Patterns whose first segment is exactly `${account}`.
    account_first: ByLast,
    /// Patterns whose first segment has wildcards (or is `**`).
    wild: ByLast,
}

impl Bucket {
    fn insert(&mut self, index: u32, pattern: &Pattern) {
        match (pattern.first_kind(), pattern.literal_first()) {
            (FirstKind::Literal, Some(first)) => {
                self.by_first.entry(first.into()).or_default().push(index);
            }
            (FirstKind::Account, _) => self.account_first.insert(index, pattern),
            _ => self.wild.insert(index, pattern),
        }
    }

    fn shrink(&mut self) {
        self.by_first.shrink_to_fit();
        self.by_first.values_mut().for_each(Vec::shrink_to_fit);
        self.account_first.shrink();
        self.wild.shrink();
    }
}

/// A user or group name in lower case, on the stack: the index's keys are folded names, and a
/// decision does not allocate.
struct Folded {
    buf: [u8; crate::names::MAX_NAME_LEN],
    len: usize,
}

impl Folded {
    /// `None` for a text that is no valid name (too long, or not ASCII): it names no rule.
    fn new(name: &str) -> Option<Folded> {
        let bytes = name.as_bytes();
        if bytes.len() > crate::names::MAX_NAME_LEN || !name.is_ascii() {
            return None;
        }
        let mut buf = [0u8; crate::names::MAX_NAME_LEN];
        for (b, c) in buf.iter_mut().zip(bytes) {
            *b = c.to_ascii_lowercase();
        }
        Some(Folded {
            buf,
            len: bytes.len(),
        })
    }

    fn as_str(&self) -> &str {
        // ASCII in, ASCII out.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

/// A query: the repository name, its first and last segments and the account for
/// `${account}`.
struct Query<'a> {
    name: &'a str,
    first: &'a str,
    last: &'a str,
    account: Option<&'a str>,
}

/// A compiled ACL: an immutable index of [`Rule`]s, cheap to share in an `Arc`.
///
/// Rules are indexed by subject (exact user, group, anonymous, authenticated), then by the
/// literal first segment of their pattern. Patterns whose first segment is `${account}` are
/// looked at only when the repository's first segment is the account name; those and the
/// patterns whose first segment has wildcards are further keyed by their literal last segment
/// (`**/cache`, `*/app`) when they have one. Only the (usually few) patterns with wildcards at
/// both ends (`**`, `*/*`, `${account}/**`) are always looked at. A decision therefore costs a
/// few hash look-ups plus the principal's rules that could plausibly match, whatever the total
/// number of rules.
#[derive(Clone, Default)]
pub struct Acl {
    rules: Vec<Rule>,
    users: HashMap<Box<str>, Bucket>,
    groups: HashMap<Box<str>, Bucket>,
    anonymous: Bucket,
    authenticated: Bucket,
}

impl fmt::Debug for Acl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acl")
            .field("rules", &self.rules.len())
            .field("users", &self.users.len())
            .field("groups", &self.groups.len())
            .finish_non_exhaustive()
    }
}

impl Acl {
    /// Compile the rules. Their order does not matter; [`Acl::rules`] keeps it.
    pub fn new(rules: impl IntoIterator<Item = Rule>) -> Acl {
        let mut acl = Acl {
            rules: rules.into_iter().collect(),
            ..Acl::default()
        };
        for (index, rule) in acl.rules.iter().enumerate() {
            // More than 4 billion rules cannot be indexed; they would not fit in memory anyway.
            let Ok(index) = u32::try_from(index) else {
                break;
            };
            let bucket = match &rule.subject {
                Subject::User(u) => acl.users.entry(u.folded().into()).or_default(),
                Subject::Group(g) => acl.groups.entry(g.folded().into()).or_default(),
                Subject::Anonymous => &mut acl.anonymous,
                Subject::Authenticated => &mut acl.authenticated,
            };
            bucket.insert(index, &rule.pattern);
        }
        acl.users.values_mut().for_each(Bucket::shrink);
        acl.groups.values_mut().for_each(Bucket::shrink);
        acl.anonymous.shrink();
        acl.authenticated.shrink();
        acl
    }

    /// The rules, in the order they were given.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// How many rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there is no rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The actions (a subset of pull, push and delete) the principal holds on the repository
    /// through the rules; admin status is not considered here. Does not allocate.
    pub fn allowed(&self, p: &Principal, repo: &RepositoryName) -> Actions {
        let mut held = Held(Actions::NONE);
        self.visit(p, repo, &mut held);
        held.0
    }

    /// What a scope request is granted.
    ///
    /// For a repository: the actions asked for (`*` expanded to pull, push and delete)
    /// intersected with [`Acl::allowed`], or all of them for an admin. For the catalog:
    /// [`Actions::ANY`] for an admin, nothing otherwise.
    pub fn grant(&self, p: &Principal, scope: &Scope) -> Actions {
        match scope.resource() {
            Resource::Catalog => catalog_grant(p, scope),
            Resource::Repository(repo) => {
                let requested = scope.actions().expand();
                if p.admin || requested.is_empty() {
                    requested
                } else {
                    requested.intersect(self.allowed(p, repo))
                }
            }
        }
    }

    /// Why [`Acl::grant`] answers what it does: every matching rule, in rule order, with what
    /// it contributes to the request.
    pub fn explain(&self, p: &Principal, scope: &Scope) -> Explanation {
        let granted = self.grant(p, scope);
        let (requested, matches) = match scope.resource() {
            Resource::Catalog => (scope.actions(), Vec::new()),
            Resource::Repository(repo) => {
                let requested = scope.actions().expand();
                let mut indices = Collect(Vec::new());
                self.visit(p, repo, &mut indices);
                let mut indices = indices.0;
                indices.sort_unstable();
                indices.dedup();
                let matches = indices
                    .into_iter()
                    .filter_map(|i| self.rules.get(i))
                    .map(|rule| RuleMatch {
                        rule: rule.clone(),
                        contributed: rule.held().intersect(requested),
                    })
                    .collect();
                (requested, matches)
            }
        };
        Explanation {
            requested,
            granted,
            admin: p.admin,
            matches,
        }
    }

    /// Show the visitor every rule matching the principal and the repository (a rule may be
    /// seen twice when the principal lists a group twice) until it has seen enough.
    fn visit(&self, p: &Principal, repo: &RepositoryName, v: &mut impl Visitor) {
        let name = repo.as_str();
        let q = Query {
            name,
            first: name.split_once('/').map_or(name, |(first, _)| first),
            last: name.rsplit_once('/').map_or(name, |(_, last)| last),
            account: p.template_account(),
        };
        let mut visit = |bucket: Option<&Bucket>| -> bool {
            bucket.is_some_and(|b| self.visit_bucket(b, &q, v))
        };
        // `anonymous` rules hold for everyone: a login never reduces access.
        let done = visit(Some(&self.anonymous))
            || p.account.as_deref().is_some_and(|account| {
                let rules = Folded::new(account).and_then(|f| self.users.get(f.as_str()));
                visit(rules) || visit(Some(&self.authenticated))
            });
        if done {
            return;
        }
        for group in &p.groups {
            let rules = Folded::new(group).and_then(|f| self.groups.get(f.as_str()));
            if visit(rules) {
                return;
            }
        }
    }

    fn visit_bucket(&self, bucket: &Bucket, q: &Query<'_>, v: &mut impl Visitor) -> bool {
        // Empty maps are not hashed into: most buckets have no rule of some kind.
        if !bucket.by_first.is_empty()
            && let Some(list) = bucket.by_first.get(q.first)
            && self.check(list, q, v)
        {
            return true;
        }
        if q.account == Some(q.first) && self.check_by_last(&bucket.account_first, q, v) {
            return true;
        }
        self.check_by_last(&bucket.wild, q, v)
    }

    fn check_by_last(&self, keyed: &ByLast, q: &Query<'_>, v: &mut impl Visitor) -> bool {
        if !keyed.by_last.is_empty()
            && let Some(list) = keyed.by_last.get(q.last)
            && self.check(list, q, v)
        {
            return true;
        }
        self.check(&keyed.rest, q, v)
    }

    fn check(&self, indices: &[u32], q: &Query<'_>, v: &mut impl Visitor) -> bool {
        for &i in indices {
            let i = i as usize;
            if let Some(rule) = self.rules.get(i)
                && v.wants(rule)
                && rule.pattern.matches_str(q.name, q.account)
                && v.found(i, rule)
            {
                return true;
            }
        }
        false
    }
}

/// What [`Acl::visit`] does with the rules it finds.
trait Visitor {
    /// Whether the rule is worth matching at all.
    fn wants(&self, rule: &Rule) -> bool;
    /// A matching rule, at this index; `true` stops the visit.
    fn found(&mut self, index: usize, rule: &Rule) -> bool;
}

/// Accumulates the actions held; skips rules that could add nothing, stops once all are held.
struct Held(Actions);

impl Visitor for Held {
    fn wants(&self, rule: &Rule) -> bool {
        !self.0.contains(rule.held())
    }
    fn found(&mut self, _: usize, rule: &Rule) -> bool {
        self.0 |= rule.held();
        self.0.contains(Actions::ALL)
    }
}

/// Collects the indices of every matching rule.
struct Collect(Vec<usize>);

impl Visitor for Collect {
    fn wants(&self, _: &Rule) -> bool {
        true
    }
    fn found(&mut self, index: usize, _: &Rule) -> bool {
        self.0.push(index);
        false
    }
}

fn catalog_grant(p: &Principal, scope: &Scope) -> Actions {
    if p.admin {
        scope.actions().intersect(Actions::ANY)
    } else {
        Actions::NONE
    }
}

/// The answer of [`Acl::explain`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// What was asked, `*` expanded for a repository (the catalog keeps `*`).
    pub requested: Actions,
    /// What [`Acl::grant`] grants.
    pub granted: Actions,
    /// Whether the principal is an admin (and so granted everything asked).
    pub admin: bool,
    /// Every rule that matches the principal and the repository, in rule order.
    pub matches: Vec<RuleMatch>,
}

/// One rule that matched, in an [`Explanation`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleMatch {
    /// The rule.
    pub rule: Rule,
    /// The rule's actions that were asked for (possibly none).
    pub contributed: Actions,
}
