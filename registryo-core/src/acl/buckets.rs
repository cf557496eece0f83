//! The index's buckets: one subject's rules, keyed by the literal pieces of their patterns.
//!
//! Where a rule goes is a function of its pattern alone ([`Place::of`]), so removing it looks in
//! that one place. Every level is copy-on-write ([`CowMap`], `Arc`ed lists), so a new version
//! of the index shares everything a change does not touch.

use std::sync::Arc;

use super::cow::CowMap;
use super::pattern::FirstKind;
use super::{Pattern, Rule};

/// A rule in the index, with its place in the rule order (what [`super::Acl::explain`] and
/// [`super::Acl::rules`] sort by).
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) seq: u64,
    pub(super) rule: Rule,
}

/// The rules under one key.
pub(super) type List = Arc<Vec<Arc<Entry>>>;

fn unlink(list: &mut List, e: &Arc<Entry>) {
    Arc::make_mut(list).retain(|x| !Arc::ptr_eq(x, e));
}

fn keyed_insert(map: &mut CowMap<Box<str>, List>, key: &str, e: Arc<Entry>) -> bool {
    let list = map.get_or_default(key.into());
    let new = list.is_empty();
    Arc::make_mut(list).push(e);
    new
}

/// Removes `e` from the list under `key`; `true` when that emptied (and removed) the key.
fn keyed_remove(map: &mut CowMap<Box<str>, List>, key: &str, e: &Arc<Entry>) -> bool {
    let Some(list) = map.get_mut(key) else {
        return false;
    };
    unlink(list, e);
    if list.is_empty() {
        map.remove(key);
        return true;
    }
    false
}

/// Which literal piece of a pattern whose first segment is not literal keys it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End<'a> {
    /// A literal last segment (`**/cache`).
    Last(&'a str),
    /// The literal start of the first segment (`p7-*/…`).
    FirstPrefix(&'a str),
    /// The literal end of the first segment (`*:5000/…`).
    FirstSuffix(&'a str),
    /// The literal start of the last segment (`…/app-*`).
    LastPrefix(&'a str),
    /// The literal end of the last segment (`…/*-7`).
    LastSuffix(&'a str),
    /// No literal at either end, but one inside (`*x*/*y*`, `*/lib/*`): keyed by the first
    /// [`GRAM`] bytes of its longest literal piece, which a matching name contains.
    Inner(&'a str),
    /// No literal at all (`**`, `*/*`): looked at for every request.
    Rest,
}

impl<'a> End<'a> {
    /// A literal last segment if there is one, else the longest literal end piece.
    fn of(p: &'a Pattern) -> End<'a> {
        if let Some(last) = p.literal_last() {
            return End::Last(last);
        }
        [
            p.first_prefix().map(End::FirstPrefix),
            p.first_suffix().map(End::FirstSuffix),
            p.last_prefix().map(End::LastPrefix),
            p.last_suffix().map(End::LastSuffix),
        ]
        .into_iter()
        .flatten()
        .rev()
        .max_by_key(|e| e.text().len())
        .or_else(|| {
            let inner = p.longest_literal()?;
            // Literal pieces are ASCII (pattern characters), so any byte is a boundary.
            Some(End::Inner(inner.get(..inner.len().min(GRAM))?))
        })
        .unwrap_or(End::Rest)
    }

    fn text(self) -> &'a str {
        match self {
            End::Last(t)
            | End::FirstPrefix(t)
            | End::FirstSuffix(t)
            | End::LastPrefix(t)
            | End::LastSuffix(t)
            | End::Inner(t) => t,
            End::Rest => "",
        }
    }
}

/// Rules keyed by a literal prefix (or suffix) of a name's segment: a query tries the
/// segment's prefixes of each length some key has.
#[derive(Clone, Debug, Default)]
pub(super) struct Affix {
    pub(super) map: CowMap<Box<str>, List>,
    /// The lengths of the keys, with how many keys have each.
    pub(super) lens: Vec<(usize, u32)>,
}

impl Affix {
    fn insert(&mut self, key: &str, e: Arc<Entry>) {
        if keyed_insert(&mut self.map, key, e) {
            match self.lens.iter_mut().find(|(l, _)| *l == key.len()) {
                Some((_, n)) => *n += 1,
                None => self.lens.push((key.len(), 1)),
            }
        }
    }

    fn remove(&mut self, key: &str, e: &Arc<Entry>) {
        if keyed_remove(&mut self.map, key, e) {
            if let Some((_, n)) = self.lens.iter_mut().find(|(l, _)| *l == key.len()) {
                *n -= 1;
            }
            self.lens.retain(|(_, n)| *n > 0);
        }
    }

    /// The lists whose key starts (`prefix`) or ends `seg`.
    pub(super) fn lookup<'s>(
        &'s self,
        seg: &'s str,
        prefix: bool,
    ) -> impl Iterator<Item = &'s List> + 's {
        let keys = if self.map.is_empty() {
            &[][..]
        } else {
            &self.lens[..]
        };
        keys.iter().filter_map(move |&(len, _)| {
            let key = if prefix {
                seg.get(..len)?
            } else {
                seg.get(seg.len().checked_sub(len)?..)?
            };
            self.map.get(key)
        })
    }
}

/// The longest key of an [`Infix`]: a query looks up every run of 1..=`GRAM` bytes of the
/// name that some key is as long as, so the keys are kept short.
const GRAM: usize = 3;

/// Up to [`GRAM`] bytes as one number (the length in the top byte): no allocation, a cheap
/// hash.
fn gram(text: &[u8]) -> u32 {
    debug_assert!(text.len() <= GRAM);
    let bytes = text.iter().fold(0u32, |k, &b| (k << 8) | u32::from(b));
    bytes | (u32::try_from(text.len()).unwrap_or(0) << 24)
}

/// Rules keyed by a short run of literal text somewhere in their pattern ([`End::Inner`]).
#[derive(Clone, Debug, Default)]
pub(super) struct Infix {
    map: CowMap<u32, List>,
    /// How many keys have each length `1..=GRAM` (index `len - 1`).
    lens: [u32; GRAM],
}

impl Infix {
    fn insert(&mut self, key: &str, e: Arc<Entry>) {
        let list = self.map.get_or_default(gram(key.as_bytes()));
        if list.is_empty() {
            self.lens[key.len() - 1] += 1;
        }
        Arc::make_mut(list).push(e);
    }

    fn remove(&mut self, key: &str, e: &Arc<Entry>) {
        let k = gram(key.as_bytes());
        let Some(list) = self.map.get_mut(&k) else {
            return;
        };
        unlink(list, e);
        if list.is_empty() {
            self.map.remove(&k);
            self.lens[key.len() - 1] -= 1;
        }
    }

    /// Whether `f` says stop for one of the lists whose key occurs in `name` (each list once).
    pub(super) fn any(&self, name: &str, mut f: impl FnMut(&List) -> bool) -> bool {
        if self.map.is_empty() {
            return false;
        }
        let name = name.as_bytes();
        let mut seen: Vec<u32> = Vec::new();
        for (i, _) in self.lens.iter().enumerate().filter(|(_, n)| **n > 0) {
            for run in name.windows(i + 1) {
                let k = gram(run);
                if let Some(list) = self.map.get(&k)
                    && !seen.contains(&k)
                {
                    seen.push(k);
                    if f(list) {
                        return true;
                    }
                }
            }
        }
        false
    }
}

/// The rules of one subject whose first segment is not literal, keyed by their ends.
#[derive(Clone, Debug, Default)]
pub(super) struct Ends {
    pub(super) last: CowMap<Box<str>, List>,
    pub(super) first_prefix: Affix,
    pub(super) first_suffix: Affix,
    pub(super) last_prefix: Affix,
    pub(super) last_suffix: Affix,
    pub(super) inner: Infix,
    pub(super) rest: List,
}

impl Ends {
    fn insert(&mut self, e: Arc<Entry>) {
        let end = End::of(&e.rule.pattern);
        match end {
            End::Last(k) => {
                keyed_insert(&mut self.last, k, Arc::clone(&e));
            }
            End::FirstPrefix(k) => self.first_prefix.insert(k, Arc::clone(&e)),
            End::FirstSuffix(k) => self.first_suffix.insert(k, Arc::clone(&e)),
            End::LastPrefix(k) => self.last_prefix.insert(k, Arc::clone(&e)),
            End::LastSuffix(k) => self.last_suffix.insert(k, Arc::clone(&e)),
            End::Inner(k) => self.inner.insert(k, Arc::clone(&e)),
            End::Rest => Arc::make_mut(&mut self.rest).push(Arc::clone(&e)),
        }
    }

    fn remove(&mut self, e: &Arc<Entry>) {
        match End::of(&e.rule.pattern) {
            End::Last(k) => {
                keyed_remove(&mut self.last, k, e);
            }
            End::FirstPrefix(k) => self.first_prefix.remove(k, e),
            End::FirstSuffix(k) => self.first_suffix.remove(k, e),
            End::LastPrefix(k) => self.last_prefix.remove(k, e),
            End::LastSuffix(k) => self.last_suffix.remove(k, e),
            End::Inner(k) => self.inner.remove(k, e),
            End::Rest => unlink(&mut self.rest, e),
        }
    }
}

/// The rules of one subject, indexed by the first segment of their pattern.
#[derive(Clone, Debug, Default)]
pub(super) struct Bucket {
    /// Literal first segment → rules.
    pub(super) by_first: CowMap<Box<str>, List>,
    /// Patterns whose first segment is exactly `${account}`.
    pub(super) account_first: Option<Arc<Ends>>,
    /// Patterns whose first segment has wildcards (or is `**`).
    pub(super) wild: Option<Arc<Ends>>,
    len: usize,
}

impl Bucket {
    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(super) fn insert(&mut self, e: Arc<Entry>) {
        self.len += 1;
        let pattern = &e.rule.pattern;
        match (pattern.first_kind(), pattern.literal_first()) {
            (FirstKind::Literal, Some(first)) => {
                let first: Box<str> = first.into();
                keyed_insert(&mut self.by_first, &first, e);
            }
            (FirstKind::Account, _) => {
                Arc::make_mut(self.account_first.get_or_insert_default()).insert(e);
            }
            _ => Arc::make_mut(self.wild.get_or_insert_default()).insert(e),
        }
    }

    pub(super) fn remove(&mut self, e: &Arc<Entry>) {
        self.len = self.len.saturating_sub(1);
        let pattern = &e.rule.pattern;
        match (pattern.first_kind(), pattern.literal_first()) {
            (FirstKind::Literal, Some(first)) => {
                keyed_remove(&mut self.by_first, first, e);
            }
            (FirstKind::Account, _) => {
                if let Some(ends) = &mut self.account_first {
                    Arc::make_mut(ends).remove(e);
                }
            }
            _ => {
                if let Some(ends) = &mut self.wild {
                    Arc::make_mut(ends).remove(e);
                }
            }
        }
        if self.len == 0 {
            *self = Bucket::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_literal_end_keys_a_pattern() {
        let end = |p: &str| format!("{:?}", End::of(&Pattern::new(p).unwrap()));
        let cases = [
            ("p7-*/*-7", r#"FirstPrefix("p7-")"#),
            ("p7-*/*-777", r#"LastSuffix("-777")"#),
            ("*/app-*", r#"LastPrefix("app-")"#),
            ("*:5000/**", r#"FirstSuffix(":5000")"#),
            ("**/cache", r#"Last("cache")"#),
            ("${account}/*-x", r#"LastSuffix("-x")"#),
            ("x${account}/**", r#"FirstPrefix("x")"#),
            ("*/*", "Rest"),
            ("**", "Rest"),
            ("?/**/?*", "Rest"),
            ("*x*/?", r#"Inner("x")"#),
            ("*ab*/*cdef*", r#"Inner("cde")"#),
            ("*/lib/*", r#"Inner("lib")"#),
            ("*/**/ab/*", r#"Inner("ab")"#),
        ];
        for (pattern, want) in cases {
            assert_eq!(end(pattern), want, "{pattern}");
        }
    }

    #[test]
    fn grams_differ_for_different_runs() {
        let runs = [
            "a", "b", "ab", "ba", "abc", "abd", "aa", "aaa", "-", "--", ":50",
        ];
        let keys: std::collections::HashSet<u32> =
            runs.iter().map(|r| gram(r.as_bytes())).collect();
        assert_eq!(keys.len(), runs.len());
    }
}
