//! The compiled index: rules keyed by subject, then by the literal pieces of their patterns
//! ([`super::buckets`]), in copy-on-write maps so that a change makes a new version in
//! proportion to the change.

use std::fmt;
use std::sync::Arc;

use super::buckets::{Affix, Bucket, Ends, Entry, List};
use super::cow::CowMap;
use super::{Principal, Rule, Subject};
use crate::scope::{Actions, RepositoryName, Resource, Scope};

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
/// (`**/cache`, `*/app`) or, failing that, by the longest literal piece at an end of their
/// first or last segment (`p7-*/*-7` under the prefix `p7-`, `*/*-77` under the suffix `-77`),
/// which a query looks up for each length such keys have. Only patterns without any literal
/// end (`**`, `*/*`, `${account}/**`) are always looked at. A decision therefore costs a few
/// hash look-ups plus the principal's rules that could plausibly match, whatever the total
/// number of rules.
///
/// [`Acl::with_changes`] makes a new version with rules removed and added, sharing every part
/// of the index the change does not touch: its cost grows with the change, not with the ACL
/// (a shard of about 64 keys and the lists under the keys touched are copied).
#[derive(Clone, Default)]
pub struct Acl {
    by_id: CowMap<u64, Vec<Arc<Entry>>>,
    len: usize,
    next_seq: u64,
    account_rules: usize,
    users: CowMap<Box<str>, Bucket>,
    groups: CowMap<Box<str>, Bucket>,
    anonymous: Bucket,
    authenticated: Bucket,
}

impl fmt::Debug for Acl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acl")
            .field("rules", &self.len)
            .field("users", &self.users.len())
            .field("groups", &self.groups.len())
            .finish_non_exhaustive()
    }
}

impl Acl {
    /// Compile the rules. Their order does not matter; [`Acl::rules`] keeps it.
    pub fn new(rules: impl IntoIterator<Item = Rule>) -> Acl {
        let mut acl = Acl::default();
        rules.into_iter().for_each(|r| acl.insert(r));
        acl
    }

    /// A new version of this ACL without the rules whose id is in `remove` (every rule with
    /// such an id), then with the rules of `add` after the existing ones in rule order. This
    /// version is left as it was; the two share what the change does not touch, so the cost
    /// grows with the number of rules removed and added, not with the size of the ACL.
    /// `acl.with_changes(ids, rules)` decides exactly as `Acl::new` of the resulting rules.
    pub fn with_changes(
        &self,
        remove: impl IntoIterator<Item = u64>,
        add: impl IntoIterator<Item = Rule>,
    ) -> Acl {
        let mut acl = self.clone();
        remove.into_iter().for_each(|id| acl.remove(id));
        add.into_iter().for_each(|r| acl.insert(r));
        acl
    }

    fn bucket_mut(&mut self, subject: &Subject) -> &mut Bucket {
        match subject {
            Subject::User(u) => self.users.get_or_default(u.folded().into()),
            Subject::Group(g) => self.groups.get_or_default(g.folded().into()),
            Subject::Anonymous => &mut self.anonymous,
            Subject::Authenticated => &mut self.authenticated,
        }
    }

    fn insert(&mut self, rule: Rule) {
        let entry = Arc::new(Entry {
            seq: self.next_seq,
            rule,
        });
        self.next_seq += 1;
        self.len += 1;
        self.account_rules += usize::from(entry.rule.pattern.has_account());
        self.by_id
            .get_or_default(entry.rule.id)
            .push(Arc::clone(&entry));
        self.bucket_mut(&entry.rule.subject).insert(entry);
    }

    fn remove(&mut self, id: u64) {
        let Some(entries) = self.by_id.remove(&id) else {
            return;
        };
        for entry in entries {
            self.len -= 1;
            self.account_rules -= usize::from(entry.rule.pattern.has_account());
            let subject = &entry.rule.subject;
            self.bucket_mut(subject).remove(&entry);
            // A subject left without rules leaves the index.
            let (map, key) = match subject {
                Subject::User(u) => (&mut self.users, u.folded()),
                Subject::Group(g) => (&mut self.groups, g.folded()),
                _ => continue,
            };
            if map.get(key.as_str()).is_some_and(Bucket::is_empty) {
                map.remove(key.as_str());
            }
        }
    }

    /// The rules, in the order they were given (those added by [`Acl::with_changes`] last).
    /// Sorts every rule: for pages and checks, not for decisions.
    pub fn rules(&self) -> Vec<&Rule> {
        let mut entries: Vec<&Arc<Entry>> = self.by_id.values().flatten().collect();
        entries.sort_unstable_by_key(|e| e.seq);
        entries.into_iter().map(|e| &e.rule).collect()
    }

    /// The rules with this id.
    pub fn rules_with_id(&self, id: u64) -> impl Iterator<Item = &Rule> {
        self.by_id.get(&id).into_iter().flatten().map(|e| &e.rule)
    }

    /// Whether some rule's pattern holds `${account}`.
    pub fn has_account_rules(&self) -> bool {
        self.account_rules > 0
    }

    /// How many rules.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is no rule.
    pub fn is_empty(&self) -> bool {
        self.len == 0
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
                let mut found = Collect(Vec::new());
                self.visit(p, repo, &mut found);
                let mut found = found.0;
                found.sort_unstable_by_key(|e| e.seq);
                found.dedup_by_key(|e| e.seq);
                let matches = found
                    .iter()
                    .map(|e| RuleMatch {
                        rule: e.rule.clone(),
                        contributed: e.rule.held().intersect(requested),
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
            && check(list, q, v)
        {
            return true;
        }
        if q.account == Some(q.first)
            && let Some(ends) = &bucket.account_first
            && check_ends(ends, q, v)
        {
            return true;
        }
        bucket
            .wild
            .as_ref()
            .is_some_and(|ends| check_ends(ends, q, v))
    }
}

fn check_ends(ends: &Ends, q: &Query<'_>, v: &mut impl Visitor) -> bool {
    if !ends.last.is_empty()
        && let Some(list) = ends.last.get(q.last)
        && check(list, q, v)
    {
        return true;
    }
    let affix = |a: &Affix, seg: &str, prefix: bool, v: &mut _| {
        a.lookup(seg, prefix).any(|list| check(list, q, v))
    };
    affix(&ends.first_prefix, q.first, true, v)
        || affix(&ends.first_suffix, q.first, false, v)
        || affix(&ends.last_prefix, q.last, true, v)
        || affix(&ends.last_suffix, q.last, false, v)
        || ends.inner.any(q.name, |list| check(list, q, v))
        || check(&ends.rest, q, v)
}

fn check(list: &List, q: &Query<'_>, v: &mut impl Visitor) -> bool {
    for e in list.iter() {
        if v.wants(&e.rule) && e.rule.pattern.matches_str(q.name, q.account) && v.found(e) {
            return true;
        }
    }
    false
}

/// What [`Acl::visit`] does with the rules it finds.
trait Visitor {
    /// Whether the rule is worth matching at all.
    fn wants(&self, rule: &Rule) -> bool;
    /// A matching rule; `true` stops the visit.
    fn found(&mut self, entry: &Arc<Entry>) -> bool;
}

/// Accumulates the actions held; skips rules that could add nothing, stops once all are held.
struct Held(Actions);

impl Visitor for Held {
    fn wants(&self, rule: &Rule) -> bool {
        !self.0.contains(rule.held())
    }
    fn found(&mut self, entry: &Arc<Entry>) -> bool {
        self.0 |= entry.rule.held();
        self.0.contains(Actions::ALL)
    }
}

/// Collects every matching rule.
struct Collect(Vec<Arc<Entry>>);

impl Visitor for Collect {
    fn wants(&self, _: &Rule) -> bool {
        true
    }
    fn found(&mut self, entry: &Arc<Entry>) -> bool {
        self.0.push(Arc::clone(entry));
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
