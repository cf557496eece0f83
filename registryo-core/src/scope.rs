//! Scopes: what a client asks the token server for.
//!
//! The grammar follows distribution's token specification:
//!
//! ```text
//! scope         := resourcescope (' ' resourcescope)*
//! resourcescope := type [ '(' class ')' ] ':' name ':' action (',' action)*
//! ```
//!
//! A scope is split at its **first** `:` (the type) and its **last** `:` (the actions), so a
//! repository name may carry one `host:port` prefix. The class (`repository(plugin)`) is
//! accepted and ignored.
//!
//! ```
//! use registryo_core::scope::{Scope, Actions};
//!
//! let scope: Scope = "repository:team/app:pull,push".parse().unwrap();
//! assert_eq!(scope.name(), "team/app");
//! assert_eq!(scope.actions(), Actions::PULL | Actions::PUSH);
//! assert_eq!(scope.to_string(), "repository:team/app:pull,push");
//!
//! assert!("repository:Team/App:pull".parse::<Scope>().is_err());
//! ```

use std::fmt;
use std::str::FromStr;

/// The longest repository name the registry accepts, in bytes.
pub const MAX_NAME_LEN: usize = 255;

/// Why a scope, a repository name or an action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// The scope does not have the `type:name:actions` shape.
    #[error("scope {0:?} is not of the form type:name:actions")]
    Shape(String),
    /// The resource type is neither `repository` nor `registry`.
    #[error("unknown resource type {0:?} (expected \"repository\" or \"registry\")")]
    UnknownType(String),
    /// The class in `type(class)` is malformed.
    #[error("malformed resource class in {0:?}")]
    Class(String),
    /// An action other than `pull`, `push`, `delete` or `*`.
    #[error("unknown action {0:?} (expected pull, push, delete or *)")]
    UnknownAction(String),
    /// The list of actions is empty or holds an empty entry.
    #[error("scope {0:?} names no action")]
    NoAction(String),
    /// A `registry` scope that is not `registry:catalog:*`.
    #[error("unsupported registry scope {0:?} (only registry:catalog:* exists)")]
    RegistryResource(String),
    /// The repository name is empty.
    #[error("repository name is empty")]
    EmptyName,
    /// The repository name is longer than [`MAX_NAME_LEN`].
    #[error("repository name is {0} characters long; the limit is 255")]
    NameTooLong(usize),
    /// The repository name breaks the grammar.
    #[error(
        "invalid repository name {name:?}: {reason} (components are lower-case letters and digits, \
         separated by '.', '_', '__' or dashes, joined by '/')"
    )]
    InvalidName {
        /// The offending name (truncated to the limit).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// A set of actions on a resource, stored as a bit set.
///
/// `*` in a request is kept as [`Actions::ANY`]; [`Actions::expand`] turns it into the explicit
/// actions `pull`, `push` and `delete` for repositories.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Actions(u8);

impl Actions {
    /// No action.
    pub const NONE: Actions = Actions(0);
    /// `pull`: read manifests and blobs.
    pub const PULL: Actions = Actions(1);
    /// `push`: upload blobs and manifests.
    pub const PUSH: Actions = Actions(2);
    /// `delete`: delete manifests and blobs.
    pub const DELETE: Actions = Actions(4);
    /// `*`: every action. In a rule it means pull, push and delete.
    pub const ANY: Actions = Actions(8);
    /// `pull`, `push` and `delete` together.
    pub const ALL: Actions = Actions(1 | 2 | 4);

    /// The raw bits.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether no action is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every action of `other` is in `self`.
    pub const fn contains(self, other: Actions) -> bool {
        self.0 & other.0 == other.0
    }

    /// The actions in both sets.
    pub const fn intersect(self, other: Actions) -> Actions {
        Actions(self.0 & other.0)
    }

    /// The actions in either set.
    pub const fn union(self, other: Actions) -> Actions {
        Actions(self.0 | other.0)
    }

    /// `*` replaced by the explicit `pull`, `push` and `delete`.
    pub const fn expand(self) -> Actions {
        if self.0 & Self::ANY.0 != 0 {
            Actions((self.0 | Self::ALL.0) & !Self::ANY.0)
        } else {
            self
        }
    }

    /// Parse one action word.
    pub fn parse_one(word: &str) -> Result<Actions, ScopeError> {
        match word {
            "pull" => Ok(Self::PULL),
            "push" => Ok(Self::PUSH),
            "delete" => Ok(Self::DELETE),
            "*" => Ok(Self::ANY),
            "" => Err(ScopeError::NoAction(word.to_owned())),
            other => Err(ScopeError::UnknownAction(truncate(other))),
        }
    }

    /// Parse a comma-separated list such as `pull,push` or `*`.
    pub fn parse_list(list: &str) -> Result<Actions, ScopeError> {
        let mut set = Actions::NONE;
        for word in list.split(',') {
            if word.is_empty() {
                return Err(ScopeError::NoAction(truncate(list)));
            }
            set |= Actions::parse_one(word)?;
        }
        Ok(set)
    }

    /// The action words in canonical order: `pull`, `push`, `delete`, `*`.
    pub fn words(self) -> impl Iterator<Item = &'static str> {
        [
            (Self::PULL, "pull"),
            (Self::PUSH, "push"),
            (Self::DELETE, "delete"),
            (Self::ANY, "*"),
        ]
        .into_iter()
        .filter(move |(a, _)| self.contains(*a))
        .map(|(_, w)| w)
    }

    /// The action words as owned strings, for a token's `access` claim.
    pub fn to_vec(self) -> Vec<String> {
        self.words().map(str::to_owned).collect()
    }
}

impl std::ops::BitOr for Actions {
    type Output = Actions;
    fn bitor(self, rhs: Actions) -> Actions {
        self.union(rhs)
    }
}

impl std::ops::BitOrAssign for Actions {
    fn bitor_assign(&mut self, rhs: Actions) {
        *self = self.union(rhs);
    }
}

impl std::ops::BitAnd for Actions {
    type Output = Actions;
    fn bitand(self, rhs: Actions) -> Actions {
        self.intersect(rhs)
    }
}

impl fmt::Display for Actions {
    /// Comma-separated words, e.g. `pull,push`; empty when no action is set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, w) in self.words().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(w)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Actions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Actions({self})")
    }
}

impl FromStr for Actions {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Actions::parse_list(s)
    }
}

/// A repository name that follows distribution's grammar.
///
/// Path components match `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*` and are joined by `/`; the
/// first component may instead be a registry host with an optional port (`localhost:5000/a`).
/// At most [`MAX_NAME_LEN`] bytes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepositoryName(String);

impl RepositoryName {
    /// Validate a repository name.
    pub fn new(name: impl Into<String>) -> Result<Self, ScopeError> {
        let name = name.into();
        validate_name(&name)?;
        Ok(RepositoryName(name))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name without a `host[:port]/` prefix, if it has one.
    pub fn path(&self) -> &str {
        match self.0.split_once('/') {
            Some((first, rest)) if is_domain(first) && !is_path_component(first) => rest,
            _ => &self.0,
        }
    }

    /// The name's `/`-separated components.
    pub fn segments(&self) -> std::str::Split<'_, char> {
        self.0.split('/')
    }
}

impl fmt::Display for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RepositoryName({:?})", self.0)
    }
}

impl AsRef<str> for RepositoryName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for RepositoryName {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RepositoryName::new(s)
    }
}

impl TryFrom<String> for RepositoryName {
    type Error = ScopeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        RepositoryName::new(s)
    }
}

impl From<RepositoryName> for String {
    fn from(n: RepositoryName) -> String {
        n.0
    }
}

impl serde::Serialize for RepositoryName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for RepositoryName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RepositoryName::new(s).map_err(serde::de::Error::custom)
    }
}

/// At most [`MAX_NAME_LEN`] bytes of client-supplied text, cut at a character boundary, for
/// error messages.
pub(crate) fn truncate(s: &str) -> String {
    let mut end = s.len().min(MAX_NAME_LEN);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

fn invalid(name: &str, reason: &'static str) -> ScopeError {
    ScopeError::InvalidName {
        name: truncate(name),
        reason,
    }
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
pub(crate) fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
        return false;
    };
    if !alnum(first) || !alnum(last) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let x = b[i];
        if alnum(x) {
            i += 1;
            continue;
        }
        // A separator run: '.', '_', '__' or one or more '-'.
        let start = i;
        match x {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        // A separator must be followed by an alphanumeric character.
        if i >= b.len() || !alnum(b[i]) || i == start {
            return false;
        }
    }
    true
}

/// `domain-component ('.' domain-component)* [':' port]`, lower-case only.
pub(crate) fn is_domain(c: &str) -> bool {
    let (host, port) = match c.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (c, None),
    };
    if let Some(p) = port
        && (p.is_empty() || p.len() > 5 || !p.bytes().all(|x| x.is_ascii_digit()))
    {
        return false;
    }
    if host.is_empty() {
        return false;
    }
    host.split('.').all(|label| {
        let b = label.as_bytes();
        let ok = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
        match (b.first(), b.last()) {
            (Some(&f), Some(&l)) => ok(f) && ok(l) && b.iter().all(|&x| ok(x) || x == b'-'),
            _ => false,
        }
    })
}

fn validate_name(name: &str) -> Result<(), ScopeError> {
    if name.is_empty() {
        return Err(ScopeError::EmptyName);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(ScopeError::NameTooLong(name.chars().count()));
    }
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(invalid(name, "upper-case letters are not allowed"));
    }
    let mut parts = name.split('/').enumerate().peekable();
    while let Some((i, part)) = parts.next() {
        if part.is_empty() {
            return Err(invalid(name, "empty path component"));
        }
        if is_path_component(part) {
            continue;
        }
        let has_more = parts.peek().is_some();
        if i == 0 && has_more && is_domain(part) {
            continue;
        }
        return Err(invalid(
            name,
            if part.contains(':') {
                "only a leading host may carry a ':port'"
            } else {
                "a path component breaks the grammar"
            },
        ));
    }
    Ok(())
}

/// The resource a scope is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    /// `repository:NAME`.
    Repository(RepositoryName),
    /// `registry:catalog`: listing every repository.
    Catalog,
}

impl Resource {
    /// The resource type as written in a scope: `repository` or `registry`.
    pub fn type_str(&self) -> &'static str {
        match self {
            Resource::Repository(_) => "repository",
            Resource::Catalog => "registry",
        }
    }

    /// The resource name as written in a scope.
    pub fn name(&self) -> &str {
        match self {
            Resource::Repository(n) => n.as_str(),
            Resource::Catalog => "catalog",
        }
    }
}

/// One resource scope: a resource and the actions asked for (or granted) on it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scope {
    resource: Resource,
    actions: Actions,
}

impl Scope {
    /// A scope on a repository.
    pub fn repository(name: RepositoryName, actions: Actions) -> Scope {
        Scope {
            resource: Resource::Repository(name),
            actions,
        }
    }

    /// `registry:catalog:*`.
    pub fn catalog() -> Scope {
        Scope {
            resource: Resource::Catalog,
            actions: Actions::ANY,
        }
    }

    /// The resource.
    pub fn resource(&self) -> &Resource {
        &self.resource
    }

    /// The resource name (`catalog` for the catalog).
    pub fn name(&self) -> &str {
        self.resource.name()
    }

    /// The repository name, when this is a repository scope.
    pub fn repository_name(&self) -> Option<&RepositoryName> {
        match &self.resource {
            Resource::Repository(n) => Some(n),
            Resource::Catalog => None,
        }
    }

    /// The actions.
    pub fn actions(&self) -> Actions {
        self.actions
    }

    /// The same resource with other actions.
    pub fn with_actions(&self, actions: Actions) -> Scope {
        Scope {
            resource: self.resource.clone(),
            actions,
        }
    }

    /// Parse one resource scope.
    pub fn parse(s: &str) -> Result<Scope, ScopeError> {
        let shape = || ScopeError::Shape(truncate(s));
        let (type_part, rest) = s.split_once(':').ok_or_else(shape)?;
        let (name, actions) = rest.rsplit_once(':').ok_or_else(shape)?;
        let type_name = match type_part.split_once('(') {
            None => type_part,
            Some((t, class)) => {
                let inner = class
                    .strip_suffix(')')
                    .ok_or_else(|| ScopeError::Class(truncate(s)))?;
                if inner.is_empty()
                    || !inner
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    return Err(ScopeError::Class(truncate(s)));
                }
                t
            }
        };
        if actions.is_empty() {
            return Err(ScopeError::NoAction(truncate(s)));
        }
        let actions = Actions::parse_list(actions)?;
        match type_name {
            "repository" => Ok(Scope::repository(RepositoryName::new(name)?, actions)),
            "registry" => {
                if name == "catalog" && actions == Actions::ANY {
                    Ok(Scope::catalog())
                } else {
                    Err(ScopeError::RegistryResource(truncate(s)))
                }
            }
            "" => Err(shape()),
            other => Err(ScopeError::UnknownType(truncate(other))),
        }
    }
}

impl FromStr for Scope {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::parse(s)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.resource.type_str(),
            self.resource.name(),
            self.actions
        )
    }
}

/// Several scopes, with duplicates merged: one entry per resource, in order of first appearance,
/// holding the union of the actions asked for it.
///
/// ```
/// use registryo_core::scope::ScopeSet;
///
/// // skopeo may repeat a scope; docker writes several in one space-separated field.
/// let set = ScopeSet::parse_all(["repository:a:pull", "repository:a:pull repository:b:push,pull"]).unwrap();
/// assert_eq!(set.to_string(), "repository:a:pull repository:b:pull,push");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScopeSet(Vec<Scope>);

impl ScopeSet {
    /// An empty set.
    pub fn new() -> ScopeSet {
        ScopeSet(Vec::new())
    }

    /// Add a scope, merging it with an earlier one on the same resource.
    pub fn insert(&mut self, scope: Scope) {
        if let Some(existing) = self.0.iter_mut().find(|s| s.resource == scope.resource) {
            existing.actions |= scope.actions;
        } else {
            self.0.push(scope);
        }
    }

    /// Parse several fields, each holding one or more space-separated scopes.
    /// Empty fields and repeated spaces are ignored.
    pub fn parse_all<'a>(
        fields: impl IntoIterator<Item = &'a str>,
    ) -> Result<ScopeSet, ScopeError> {
        let mut set = ScopeSet::new();
        for field in fields {
            for part in field.split(' ').filter(|p| !p.is_empty()) {
                set.insert(Scope::parse(part)?);
            }
        }
        Ok(set)
    }

    /// The scopes.
    pub fn iter(&self) -> std::slice::Iter<'_, Scope> {
        self.0.iter()
    }

    /// How many distinct resources.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a ScopeSet {
    type Item = &'a Scope;
    type IntoIter = std::slice::Iter<'a, Scope>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for ScopeSet {
    type Item = Scope;
    type IntoIter = std::vec::IntoIter<Scope>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<T: IntoIterator<Item = Scope>>(iter: T) -> Self {
        let mut set = ScopeSet::new();
        for s in iter {
            set.insert(s);
        }
        set
    }
}

impl fmt::Display for ScopeSet {
    /// Space-separated, as in an OAuth2 `scope` field.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{s}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
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
}
