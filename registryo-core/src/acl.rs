//! The access-control list: who may do what on which repositories.
//!
//! An ACL is a list of [`Rule`]s, each giving a [`Subject`] some [`Actions`] on the repositories
//! whose name matches a [`Pattern`]. The rules are compiled once into an [`Acl`], an immutable
//! index that answers "what may this [`Principal`] do on this repository?" without allocating.
//!
//! # Semantics
//!
//! - **Subjects.** `user:NAME` is one account, `group:NAME` every member of a group,
//!   `authenticated` anyone signed in (never an anonymous request) and `anonymous` **every**
//!   request, with or without credentials: a login never reduces access. Clients that hold a
//!   login send it on every request, public images included (`../shared/PROTOCOL.md` §6b), so
//!   what an anonymous caller may do, every signed-in caller may do too.
//! - **Union.** There are no deny rules and the order of the rules does not matter: a principal
//!   holds the union of the actions of every rule that matches it and the repository. A request
//!   is granted the intersection of what it asked for (`*` meaning pull, push and delete) and
//!   what is held. A partial or empty grant is a normal answer, not an error.
//! - **Admins** are granted everything they ask for, including `registry:catalog:*`; the catalog
//!   is granted to admins only.
//! - **Patterns** are matched segment by segment (segments are separated by `/`):
//!   - `*` matches any run of characters inside one segment (never `/`), `?` exactly one
//!     character inside one segment;
//!   - `**`, which must be a whole segment, matches zero or more whole segments, so `a/**`
//!     matches `a`, `a/b` and `a/b/c`; `**/x` matches `x` and `a/b/x`; `a/**/b` matches `a/b`
//!     and `a/x/y/b`; `**` alone matches every repository;
//!   - `${account}` stands for the requesting account's name, compared **literally** (a name
//!     such as `a.b` or `x*` is never read as a glob). A rule whose pattern holds `${account}`
//!     never matches an anonymous request, nor an account whose name is empty or holds a `/`
//!     (a name cannot span segments). The comparison is case-sensitive: repository names are
//!     lower case, so an account with upper-case letters owns no `${account}/**` namespace.
//!   - A leading `host[:port]` segment is an ordinary first segment: `localhost:5000/a/**`
//!     matches `localhost:5000/a/b`, and `a/**` does not match `localhost:5000/a/b`.
//!
//! # Example
//!
//! ```
//! use registryo_core::acl::{Acl, Principal, Rule};
//! use registryo_core::scope::{Actions, RepositoryName, Scope};
//!
//! let acl = Acl::new([
//!     Rule::new(1, "authenticated".parse()?, "${account}/**".parse()?, Actions::ANY)?,
//!     Rule::new(2, "group:devs".parse()?, "team/*".parse()?, Actions::PULL | Actions::PUSH)?,
//!     Rule::new(3, "anonymous".parse()?, "public/**".parse()?, Actions::PULL)?,
//! ]);
//!
//! let alice = Principal::user("alice").with_groups(["devs"]);
//! let repo = RepositoryName::new("alice/tools/cli")?;
//! assert_eq!(acl.allowed(&alice, &repo), Actions::ALL);
//!
//! let scope: Scope = "repository:team/app:*".parse()?;
//! assert_eq!(acl.grant(&alice, &scope), Actions::PULL | Actions::PUSH);
//!
//! // Nested below `team/x`: `*` does not cross a `/`.
//! let scope: Scope = "repository:team/app/sub:pull".parse()?;
//! assert_eq!(acl.grant(&alice, &scope), Actions::NONE);
//!
//! let scope: Scope = "repository:public/image:pull,push".parse()?;
//! assert_eq!(acl.grant(&Principal::anonymous(), &scope), Actions::PULL);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use crate::names::{GroupName, NameError, Username};
use crate::scope::{Actions, MAX_NAME_LEN, RepositoryName, Resource, Scope};

/// The longest pattern accepted, in bytes of pattern text.
pub const MAX_PATTERN_LEN: usize = MAX_NAME_LEN;

/// The variable that stands for the requesting account's name in a pattern.
pub const ACCOUNT_VARIABLE: &str = "${account}";

/// Why a subject, a pattern or a rule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    /// The subject text is empty.
    #[error("subject is empty (expected user:NAME, group:NAME, anonymous or authenticated)")]
    EmptySubject,
    /// The subject kind is not `user`, `group`, `anonymous` or `authenticated`.
    #[error("unknown subject {0:?} (expected user:NAME, group:NAME, anonymous or authenticated)")]
    UnknownSubjectKind(String),
    /// `user:` or `group:` without a name.
    #[error("subject {kind}: needs a name, as in {kind}:NAME")]
    EmptySubjectName {
        /// `user` or `group`.
        kind: &'static str,
    },
    /// `anonymous:x` or `authenticated:x`.
    #[error("subject {kind} takes no name")]
    SubjectTakesNoName {
        /// `anonymous` or `authenticated`.
        kind: &'static str,
    },
    /// A user or group name that is not a valid name ([`crate::names`]).
    #[error("{kind} name {name:?} {reason}")]
    InvalidName {
        /// `user` or `group`.
        kind: &'static str,
        /// The offending name (truncated, invisible characters escaped).
        name: String,
        /// What is wrong with it.
        reason: NameError,
    },
    /// The pattern is empty.
    #[error("pattern is empty")]
    EmptyPattern,
    /// The pattern text is longer than [`MAX_PATTERN_LEN`] bytes.
    #[error("pattern is {0} bytes long; the limit is 255")]
    PatternTooLong(usize),
    /// The pattern holds upper-case letters; repository names are lower case.
    #[error("pattern {0:?} holds upper-case letters; repository names are lower case")]
    UpperCase(String),
    /// A character that can appear neither in a repository name nor as a wildcard.
    #[error(
        "pattern {pattern:?} holds {character:?}; only a-z, 0-9, '.', '_', '-', '/', a host's \
         ':port', '*', '?' and ${{account}} are allowed"
    )]
    InvalidCharacter {
        /// The offending pattern.
        pattern: String,
        /// The first character refused.
        character: char,
    },
    /// An empty segment: a leading or trailing `/`, or `//`.
    #[error("pattern {0:?} has an empty segment (a leading or trailing '/', or '//')")]
    EmptySegment(String),
    /// Three or more `*` in a row.
    #[error("pattern {0:?} holds '***'; use '*' (one segment) or '**' (any depth)")]
    TripleStar(String),
    /// `**` mixed with other characters in one segment, as in `a**` or `**b`.
    #[error("pattern {0:?}: '**' must be a whole segment, as in 'a/**' or '**/b'")]
    PartialDoubleStar(String),
    /// A `$` that does not start `${account}`.
    #[error("pattern {0:?}: the only variable is ${{account}}")]
    UnknownVariable(String),
    /// A `:` outside a leading `host:port` segment.
    #[error("pattern {0:?}: ':' may only appear in a leading host:port segment")]
    MisplacedColon(String),
    /// A segment without wildcards that no repository name can have, such as `a..b` or `-a`.
    #[error(
        "pattern {pattern:?}: segment {segment:?} can match no repository name (components \
         are lower-case letters and digits separated by '.', '_', '__' or dashes)"
    )]
    InvalidSegment {
        /// The offending pattern.
        pattern: String,
        /// The offending segment.
        segment: String,
    },
    /// A rule that grants no action.
    #[error("rule {0} grants no action")]
    NoActions(u64),
}

fn truncate(s: &str) -> String {
    let mut end = s.len().min(MAX_NAME_LEN);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

// ---------------------------------------------------------------------------------------------
// Subjects and principals
// ---------------------------------------------------------------------------------------------

/// Whom a rule applies to.
///
/// Written `user:NAME`, `group:NAME`, `anonymous` or `authenticated`. The name is everything
/// after the first `:`, a [`Username`] or a [`GroupName`]; like the names themselves, it is
/// compared without regard to case (`user:Alice` is the rule of the account `alice`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    /// One account, by name.
    User(Username),
    /// Every member of a group.
    Group(GroupName),
    /// Every request, with or without credentials (a login never reduces access).
    Anonymous,
    /// Any signed-in account (never an anonymous request).
    Authenticated,
}

impl Subject {
    /// Whether this subject covers the principal (admin status plays no part).
    pub fn matches(&self, p: &Principal) -> bool {
        match self {
            Subject::User(name) => p.account.as_deref().is_some_and(|a| name.eq_ignore_case(a)),
            Subject::Group(group) => p.groups.iter().any(|g| group.eq_ignore_case(g)),
            Subject::Anonymous => true,
            Subject::Authenticated => p.account.is_some(),
        }
    }
}

fn check_name<N>(
    kind: &'static str,
    name: &str,
    parse: fn(&str) -> Result<N, NameError>,
) -> Result<N, AclError> {
    if name.is_empty() {
        return Err(AclError::EmptySubjectName { kind });
    }
    parse(name).map_err(|reason| AclError::InvalidName {
        kind,
        name: truncate(name).escape_debug().to_string(),
        reason,
    })
}

impl FromStr for Subject {
    type Err = AclError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, name) = match s.split_once(':') {
            Some((k, n)) => (k, Some(n)),
            None => (s, None),
        };
        match (kind, name) {
            ("", None) => Err(AclError::EmptySubject),
            ("anonymous", None) => Ok(Subject::Anonymous),
            ("authenticated", None) => Ok(Subject::Authenticated),
            ("anonymous", Some(_)) => Err(AclError::SubjectTakesNoName { kind: "anonymous" }),
            ("authenticated", Some(_)) => Err(AclError::SubjectTakesNoName {
                kind: "authenticated",
            }),
            ("user", n) => Ok(Subject::User(check_name("user", n.unwrap_or(""), |s| {
                Username::new(s)
            })?)),
            ("group", n) => Ok(Subject::Group(check_name("group", n.unwrap_or(""), |s| {
                GroupName::new(s)
            })?)),
            _ => Err(AclError::UnknownSubjectKind(truncate(s))),
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::User(n) => write!(f, "user:{n}"),
            Subject::Group(n) => write!(f, "group:{n}"),
            Subject::Anonymous => f.write_str("anonymous"),
            Subject::Authenticated => f.write_str("authenticated"),
        }
    }
}

impl serde::Serialize for Subject {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Subject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Who is asking: an account (or none), its groups, and whether it is an admin.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Principal {
    /// The account name; `None` for a request without credentials.
    pub account: Option<String>,
    /// The groups the principal belongs to. They are honoured as given, even without an account.
    pub groups: Vec<String>,
    /// Admins are granted everything they ask for, the catalog included.
    pub admin: bool,
}

impl Principal {
    /// A request without credentials: no account, no group, not an admin.
    pub fn anonymous() -> Self {
        Principal::default()
    }

    /// A signed-in account without groups.
    pub fn user(name: impl Into<String>) -> Self {
        Principal {
            account: Some(name.into()),
            groups: Vec::new(),
            admin: false,
        }
    }

    /// The same principal with these groups added.
    pub fn with_groups<I>(mut self, groups: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.groups.extend(groups.into_iter().map(Into::into));
        self
    }

    /// The same principal, admin or not.
    pub fn with_admin(mut self, admin: bool) -> Self {
        self.admin = admin;
        self
    }

    /// The account name for `${account}`: `None` when anonymous or empty.
    fn template_account(&self) -> Option<&str> {
        self.account.as_deref().filter(|a| !a.is_empty())
    }
}

// ---------------------------------------------------------------------------------------------
// Patterns
// ---------------------------------------------------------------------------------------------

/// One piece of a segment with wildcards.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Lit(Box<str>),
    /// `*`: any run of characters inside the segment.
    Star,
    /// `?`: one character.
    Question,
    /// `${account}`: the account name, literally.
    Account,
}

/// One compiled segment of a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    /// A segment without wildcards: compared for equality.
    Literal(Box<str>),
    /// A segment with `*`, `?` or `${account}`.
    Glob(Box<[Piece]>),
    /// `**`: zero or more whole segments.
    AnyDepth,
}

/// How an [`Acl`] indexes a pattern, from its first segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FirstKind {
    /// A literal first segment: looked up by the repository's first segment.
    Literal,
    /// The first segment is exactly `${account}`: looked at when the repository's first
    /// segment is the account name.
    Account,
    /// Any other first segment: always looked at.
    Wild,
}

/// A repository-name pattern, validated and compiled when it is created.
///
/// See the [module documentation](self) for the syntax. [`Display`](fmt::Display) gives the
/// original text back.
///
/// ```
/// use registryo_core::acl::Pattern;
/// use registryo_core::scope::RepositoryName;
///
/// let p = Pattern::new("team/**")?;
/// assert!(p.matches(&RepositoryName::new("team")?, None));
/// assert!(p.matches(&RepositoryName::new("team/a/b")?, None));
/// assert!(Pattern::new("team/a**").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Pattern {
    text: Box<str>,
    segs: Box<[Seg]>,
    has_account: bool,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Pattern {}

impl std::hash::Hash for Pattern {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.text)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Pattern {
    type Err = AclError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Pattern::new(s)
    }
}

impl TryFrom<String> for Pattern {
    type Error = AclError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Pattern::new(&s)
    }
}

impl serde::Serialize for Pattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for Pattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Pattern::new(&s).map_err(serde::de::Error::custom)
    }
}

fn name_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
}

impl Pattern {
    /// Validate and compile a pattern.
    pub fn new(text: &str) -> Result<Pattern, AclError> {
        if text.is_empty() {
            return Err(AclError::EmptyPattern);
        }
        if text.len() > MAX_PATTERN_LEN {
            return Err(AclError::PatternTooLong(text.len()));
        }
        let owned = || text.to_owned();
        if text.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(AclError::UpperCase(owned()));
        }
        let segments: Vec<&str> = text.split('/').collect();
        if segments.iter().any(|s| s.is_empty()) {
            return Err(AclError::EmptySegment(owned()));
        }
        let mut segs: Vec<Seg> = Vec::with_capacity(segments.len());
        let mut has_account = false;
        let last = segments.len() - 1;
        for (i, seg) in segments.iter().copied().enumerate() {
            if seg == "**" {
                // `**/**` means the same as `**`.
                if segs.last() != Some(&Seg::AnyDepth) {
                    segs.push(Seg::AnyDepth);
                }
                continue;
            }
            if seg.contains("***") {
                return Err(AclError::TripleStar(owned()));
            }
            if seg.contains("**") {
                return Err(AclError::PartialDoubleStar(owned()));
            }
            let pieces = parse_segment(text, seg, i == 0 && i < last)?;
            has_account |= pieces.contains(&Piece::Account);
            match pieces.as_slice() {
                [Piece::Lit(lit)] => {
                    let host = i == 0 && i < last && crate::scope::is_domain(lit);
                    if !host && !crate::scope::is_path_component(lit) {
                        return Err(AclError::InvalidSegment {
                            pattern: owned(),
                            segment: seg.to_owned(),
                        });
                    }
                    segs.push(Seg::Literal(lit.clone()));
                }
                _ => segs.push(Seg::Glob(pieces.into_boxed_slice())),
            }
        }
        Ok(Pattern {
            text: text.into(),
            segs: segs.into_boxed_slice(),
            has_account,
        })
    }

    /// The pattern text, as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the pattern holds `${account}` (and so never matches an anonymous request).
    pub fn has_account(&self) -> bool {
        self.has_account
    }

    /// Whether the pattern matches the repository for this account (`None`: anonymous).
    pub fn matches(&self, repo: &RepositoryName, account: Option<&str>) -> bool {
        self.matches_str(repo.as_str(), account.filter(|a| !a.is_empty()))
    }

    /// The literal first segment, if the pattern has one.
    fn literal_first(&self) -> Option<&str> {
        match self.segs.first() {
            Some(Seg::Literal(l)) => Some(l),
            _ => None,
        }
    }

    /// The literal last segment, if the pattern has more than one segment and ends with one:
    /// a repository name can then only match if its last segment is the same.
    fn literal_last(&self) -> Option<&str> {
        match &*self.segs {
            [_, .., Seg::Literal(l)] => Some(l),
            _ => None,
        }
    }

    fn first_kind(&self) -> FirstKind {
        match self.segs.first() {
            Some(Seg::Literal(_)) => FirstKind::Literal,
            Some(Seg::Glob(p)) if matches!(**p, [Piece::Account]) => FirstKind::Account,
            _ => FirstKind::Wild,
        }
    }

    /// Segment-level wildcard matching: `**` is the only "star", every other segment matches
    /// exactly one name segment, so one back-tracking point suffices (linear in practice).
    fn matches_str(&self, name: &str, account: Option<&str>) -> bool {
        let account = match (self.has_account, account) {
            (true, None) => return false,
            (_, a) => a.unwrap_or(""),
        };
        let segs = &self.segs;
        let next = |pos: usize| -> (usize, Option<usize>) {
            // The end of the segment starting at `pos`, and the start of the next one.
            match name[pos..].find('/') {
                Some(off) => (pos + off, Some(pos + off + 1)),
                None => (name.len(), None),
            }
        };
        let mut si = 0;
        let mut pos = Some(0);
        let mut back: Option<(usize, Option<usize>)> = None;
        loop {
            match segs.get(si) {
                Some(Seg::AnyDepth) => {
                    back = Some((si + 1, pos));
                    si += 1;
                    continue;
                }
                Some(seg) => {
                    if let Some(p) = pos {
                        let (end, after) = next(p);
                        if seg_matches(seg, &name[p..end], account) {
                            si += 1;
                            pos = after;
                            continue;
                        }
                    }
                }
                None if pos.is_none() => return true,
                None => {}
            }
            // Let the last `**` swallow one more segment, or fail.
            match back {
                Some((bsi, Some(bp))) => {
                    let (_, after) = next(bp);
                    back = Some((bsi, after));
                    si = bsi;
                    pos = after;
                }
                _ => return false,
            }
        }
    }
}

fn parse_segment(pattern: &str, seg: &str, may_be_host: bool) -> Result<Vec<Piece>, AclError> {
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut rest = seg;
    let flush = |lit: &mut String, pieces: &mut Vec<Piece>| {
        if !lit.is_empty() {
            pieces.push(Piece::Lit(std::mem::take(lit).into_boxed_str()));
        }
    };
    while let Some(c) = rest.chars().next() {
        match c {
            '*' => {
                flush(&mut lit, &mut pieces);
                pieces.push(Piece::Star);
            }
            '?' => {
                flush(&mut lit, &mut pieces);
                pieces.push(Piece::Question);
            }
            '$' => {
                if !rest.starts_with(ACCOUNT_VARIABLE) {
                    return Err(AclError::UnknownVariable(pattern.to_owned()));
                }
                flush(&mut lit, &mut pieces);
                pieces.push(Piece::Account);
                rest = &rest[ACCOUNT_VARIABLE.len()..];
                continue;
            }
            ':' if may_be_host => lit.push(c),
            ':' => return Err(AclError::MisplacedColon(pattern.to_owned())),
            c if c.is_ascii() && name_char(c as u8) => lit.push(c),
            c => {
                return Err(AclError::InvalidCharacter {
                    pattern: pattern.to_owned(),
                    character: c,
                });
            }
        }
        rest = &rest[c.len_utf8()..];
    }
    flush(&mut lit, &mut pieces);
    Ok(pieces)
}

fn seg_matches(seg: &Seg, text: &str, account: &str) -> bool {
    match seg {
        Seg::Literal(l) => **l == *text,
        Seg::Glob(pieces) => glob_matches(pieces, text.as_bytes(), account.as_bytes()),
        Seg::AnyDepth => true,
    }
}

/// Wildcard matching inside one segment: `*` is the only star, every other piece has a fixed
/// width, so one back-tracking point suffices.
fn glob_matches(pieces: &[Piece], text: &[u8], account: &[u8]) -> bool {
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut back: Option<(usize, usize)> = None;
    loop {
        let rest = text.get(ti..).unwrap_or_default();
        match pieces.get(pi) {
            Some(Piece::Star) => {
                back = Some((pi + 1, ti));
                pi += 1;
                continue;
            }
            Some(Piece::Question) if !rest.is_empty() => {
                pi += 1;
                ti += 1;
                continue;
            }
            Some(Piece::Lit(l)) if rest.starts_with(l.as_bytes()) => {
                pi += 1;
                ti += l.len();
                continue;
            }
            Some(Piece::Account) if rest.starts_with(account) => {
                pi += 1;
                ti += account.len();
                continue;
            }
            None if rest.is_empty() => return true,
            _ => {}
        }
        match back {
            Some((bpi, bti)) if bti < text.len() => {
                back = Some((bpi, bti + 1));
                pi = bpi;
                ti = bti + 1;
            }
            _ => return false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------

/// One ACL rule: `subject` may do `actions` on repositories matching `pattern`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    /// An identifier chosen by the caller (a database key, a line number...), shown by
    /// [`Acl::explain`].
    pub id: u64,
    /// Whom the rule applies to.
    pub subject: Subject,
    /// Which repositories it covers.
    pub pattern: Pattern,
    /// What it allows. [`Rule::new`] stores `*` as pull, push and delete.
    pub actions: Actions,
}

impl Rule {
    /// A rule, with `*` replaced by pull, push and delete; refuses an empty set of actions.
    pub fn new(
        id: u64,
        subject: Subject,
        pattern: Pattern,
        actions: Actions,
    ) -> Result<Rule, AclError> {
        let actions = actions.expand().intersect(Actions::ALL);
        if actions.is_empty() {
            return Err(AclError::NoActions(id));
        }
        Ok(Rule {
            id,
            subject,
            pattern,
            actions,
        })
    }

    /// The actions the rule grants, `*` expanded (the fields are public, so not necessarily
    /// normalised).
    fn held(&self) -> Actions {
        self.actions.expand().intersect(Actions::ALL)
    }
}

// ---------------------------------------------------------------------------------------------
// The compiled index
// ---------------------------------------------------------------------------------------------

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

#[cfg(test)]
mod tests {
    use super::*;

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

    /// (rules, principal, scope, expected grant: `-` for none).
    const CASES: &[(&[&str], &str, &str, &str)] = &[
        // `*` stays inside one segment.
        (
            &["user:alice a/* pull"],
            "alice",
            "repository:a/b:pull",
            "pull",
        ),
        (
            &["user:alice a/* pull"],
            "alice",
            "repository:a/b/c:pull",
            "-",
        ),
        (&["user:alice a/* pull"], "alice", "repository:a:pull", "-"),
        (
            &["user:alice a/b* pull"],
            "alice",
            "repository:a/b:pull",
            "pull",
        ),
        (
            &["user:alice a/b* pull"],
            "alice",
            "repository:a/bcd:pull",
            "pull",
        ),
        (
            &["user:alice a/*-x pull"],
            "alice",
            "repository:a/b-c-x:pull",
            "pull",
        ),
        (
            &["user:alice a/*-x pull"],
            "alice",
            "repository:a/b-c:pull",
            "-",
        ),
        (
            &["user:alice */app pull"],
            "alice",
            "repository:team/app:pull",
            "pull",
        ),
        (
            &["user:alice */app pull"],
            "alice",
            "repository:a/team/app:pull",
            "-",
        ),
        // `**` at the end: zero or more segments.
        (
            &["user:alice a/** pull"],
            "alice",
            "repository:a:pull",
            "pull",
        ),
        (
            &["user:alice a/** pull"],
            "alice",
            "repository:a/b:pull",
            "pull",
        ),
        (
            &["user:alice a/** pull"],
            "alice",
            "repository:a/b/c:pull",
            "pull",
        ),
        (
            &["user:alice a/** pull"],
            "alice",
            "repository:ab:pull",
            "-",
        ),
        (
            &["user:alice a/** pull"],
            "alice",
            "repository:b/a:pull",
            "-",
        ),
        // `**` at the start.
        (
            &["user:alice **/x pull"],
            "alice",
            "repository:x:pull",
            "pull",
        ),
        (
            &["user:alice **/x pull"],
            "alice",
            "repository:a/b/x:pull",
            "pull",
        ),
        (
            &["user:alice **/x pull"],
            "alice",
            "repository:a/x/y:pull",
            "-",
        ),
        (
            &["user:alice **/x pull"],
            "alice",
            "repository:ax:pull",
            "-",
        ),
        // `**` in the middle.
        (
            &["user:alice a/**/b pull"],
            "alice",
            "repository:a/b:pull",
            "pull",
        ),
        (
            &["user:alice a/**/b pull"],
            "alice",
            "repository:a/x/y/b:pull",
            "pull",
        ),
        (
            &["user:alice a/**/b pull"],
            "alice",
            "repository:a/x/y/c:pull",
            "-",
        ),
        (
            &["user:alice a/**/b pull"],
            "alice",
            "repository:a/b/c:pull",
            "-",
        ),
        (
            &["user:alice a/**/b pull"],
            "alice",
            "repository:b:pull",
            "-",
        ),
        (
            &["user:alice a/**/b/**/c pull"],
            "alice",
            "repository:a/x/b/b/y/c:pull",
            "pull",
        ),
        (
            &["user:alice a/**/b/**/c pull"],
            "alice",
            "repository:a/c/b:pull",
            "-",
        ),
        // `**` alone and `**/**`.
        (
            &["user:alice ** pull"],
            "alice",
            "repository:anything/at/all:pull",
            "pull",
        ),
        (
            &["user:alice **/** pull"],
            "alice",
            "repository:x:pull",
            "pull",
        ),
        // `?`: one character, never '/'.
        (
            &["user:alice a?c pull"],
            "alice",
            "repository:abc:pull",
            "pull",
        ),
        (&["user:alice a?c pull"], "alice", "repository:ac:pull", "-"),
        (
            &["user:alice a?c pull"],
            "alice",
            "repository:abbc:pull",
            "-",
        ),
        (
            &["user:alice a/? pull"],
            "alice",
            "repository:a/b:pull",
            "pull",
        ),
        (
            &["user:alice a/? pull"],
            "alice",
            "repository:a/bc:pull",
            "-",
        ),
        (
            &["user:alice a?b pull"],
            "alice",
            "repository:a/b:pull",
            "-",
        ),
        // `${account}`: a personal namespace.
        (
            &["authenticated ${account}/** *"],
            "alice",
            "repository:alice/x:*",
            "pull,push,delete",
        ),
        (
            &["authenticated ${account}/** *"],
            "alice",
            "repository:alice:push",
            "push",
        ),
        (
            &["authenticated ${account}/** *"],
            "alice",
            "repository:bob/x:pull",
            "-",
        ),
        (
            &["authenticated ${account}/** *"],
            "alice",
            "repository:alicex/y:pull",
            "-",
        ),
        (
            &["authenticated ${account}/** *"],
            "-",
            "repository:alice/x:pull",
            "-",
        ),
        (
            &["anonymous ${account}/** *"],
            "-",
            "repository:alice/x:pull",
            "-",
        ),
        // `anonymous` holds for everyone; `${account}` then stands for the signed-in name.
        (
            &["anonymous ${account}/** pull"],
            "alice",
            "repository:alice/x:pull",
            "pull",
        ),
        (
            &["authenticated users/${account}/** pull"],
            "bob",
            "repository:users/bob/x:pull",
            "pull",
        ),
        (
            &["authenticated users/${account}/** pull"],
            "bob",
            "repository:users/bobby:pull",
            "-",
        ),
        (
            &["authenticated team-${account}-* pull"],
            "bob",
            "repository:team-bob-1:pull",
            "pull",
        ),
        (
            &["authenticated team-${account}-* pull"],
            "bob",
            "repository:team-bo-1:pull",
            "-",
        ),
        // ... substituted literally: metacharacters in user names mean nothing.
        (
            &["authenticated ${account}/** pull"],
            "a.b",
            "repository:a.b/x:pull",
            "pull",
        ),
        (
            &["authenticated ${account}/** pull"],
            "a.b",
            "repository:axb/x:pull",
            "-",
        ),
        (
            &["authenticated ${account} pull"],
            "a.b",
            "repository:axb:pull",
            "-",
        ),
        (
            &["authenticated ${account}/** pull"],
            "x*",
            "repository:xa/y:pull",
            "-",
        ),
        (
            &["authenticated ${account}/** pull"],
            "x*",
            "repository:x/y:pull",
            "-",
        ),
        (
            &["authenticated ${account} pull"],
            "x*",
            "repository:xyz:pull",
            "-",
        ),
        (
            &["authenticated ${account}/** pull"],
            "a?",
            "repository:ab/x:pull",
            "-",
        ),
        (
            &["authenticated ${account} pull"],
            "[ab]",
            "repository:a:pull",
            "-",
        ),
        (
            &["authenticated ${account} pull"],
            "(a|b)",
            "repository:a:pull",
            "-",
        ),
        (
            &["authenticated ${account} pull"],
            "a+",
            "repository:aa:pull",
            "-",
        ),
        (
            &["authenticated ${account} pull"],
            "$",
            "repository:a:pull",
            "-",
        ),
        (
            &["authenticated ${account} pull"],
            ".*",
            "repository:anything:pull",
            "-",
        ),
        (
            &["authenticated ${account}/** pull"],
            "**",
            "repository:a/b:pull",
            "-",
        ),
        (
            &["authenticated x${account} pull"],
            "*",
            "repository:xyz:pull",
            "-",
        ),
        // ... compared as is: no case folding, no '/' inside the account.
        (
            &["authenticated ${account}/** pull"],
            "Alice",
            "repository:alice/x:pull",
            "-",
        ),
        (
            &["authenticated ${account}/** pull"],
            "a/b",
            "repository:a/b/c:pull",
            "-",
        ),
        (
            &["authenticated x${account} pull"],
            "",
            "repository:x:pull",
            "-",
        ),
        // host:port names: the host is just the first segment.
        (
            &["user:alice localhost:5000/a/** pull"],
            "alice",
            "repository:localhost:5000/a/b:pull",
            "pull",
        ),
        (
            &["user:alice localhost:5000/a/** pull"],
            "alice",
            "repository:a/b:pull",
            "-",
        ),
        (
            &["user:alice a/** pull"],
            "alice",
            "repository:localhost:5000/a/b:pull",
            "-",
        ),
        (
            &["user:alice **/a/b pull"],
            "alice",
            "repository:localhost:5000/a/b:pull",
            "pull",
        ),
        (
            &["user:alice *:5000/** pull"],
            "alice",
            "repository:localhost:5000/a:pull",
            "pull",
        ),
        (
            &["user:alice *:5000/** pull"],
            "alice",
            "repository:localhost:5001/a:pull",
            "-",
        ),
        (
            &["user:alice registry.example.com/** pull"],
            "alice",
            "repository:registry.example.com/x:pull",
            "pull",
        ),
        // Users: only the named account.
        (&["user:alice a pull"], "bob", "repository:a:pull", "-"),
        (&["user:alice a pull"], "-", "repository:a:pull", "-"),
        (&["user:x a pull"], "x*", "repository:a:pull", "-"),
        (&["user:x a pull"], "xy", "repository:a:pull", "-"),
        // Groups.
        (
            &["group:devs team/** pull,push"],
            "alice+devs",
            "repository:team/app:*",
            "pull,push",
        ),
        (
            &["group:devs team/** pull,push"],
            "alice+ops+devs",
            "repository:team/app:push",
            "push",
        ),
        (
            &["group:devs team/** pull,push"],
            "alice",
            "repository:team/app:pull",
            "-",
        ),
        (
            &["group:devs team/** pull,push"],
            "alice+ops",
            "repository:team/app:pull",
            "-",
        ),
        (&["group:ci a pull"], "-+ci", "repository:a:pull", "pull"),
        // Names are compared without regard to case, as the names themselves.
        (&["user:Alice a pull"], "alice", "repository:a:pull", "pull"),
        (&["user:alice a pull"], "ALICE", "repository:a:pull", "pull"),
        (
            &["group:Devs a pull"],
            "bob+devs",
            "repository:a:pull",
            "pull",
        ),
        (&["user:alice a pull"], "alicee", "repository:a:pull", "-"),
        // Anonymous vs authenticated.
        (
            &["anonymous public/** pull"],
            "-",
            "repository:public/x:pull",
            "pull",
        ),
        // A login never reduces access: what anonymous may do, everyone signed in may do.
        (
            &["anonymous public/** pull"],
            "alice",
            "repository:public/x:pull",
            "pull",
        ),
        (
            &["anonymous public/** pull", "user:alice public/mine push"],
            "alice",
            "repository:public/mine:pull,push",
            "pull,push",
        ),
        (
            &["anonymous public/** pull"],
            "alice+devs",
            "repository:public/x:pull,push",
            "pull",
        ),
        (
            &["anonymous public/** pull"],
            "!root",
            "repository:public/x:pull",
            "pull",
        ),
        (
            &["authenticated internal/** pull"],
            "alice",
            "repository:internal/x:pull",
            "pull",
        ),
        (
            &["authenticated internal/** pull"],
            "-",
            "repository:internal/x:pull",
            "-",
        ),
        // Admins: everything asked, the catalog included; the catalog is theirs only.
        (&[], "!root", "repository:x/y:*", "pull,push,delete"),
        (&[], "!root", "repository:x/y:pull", "pull"),
        (&[], "!root", "registry:catalog:*", "*"),
        (&[], "!-", "registry:catalog:*", "*"),
        (&["user:alice ** *"], "alice", "registry:catalog:*", "-"),
        (&["authenticated ** *"], "alice", "registry:catalog:*", "-"),
        // A request for `*` is granted the explicit set held.
        (
            &["user:alice a pull,delete"],
            "alice",
            "repository:a:*",
            "pull,delete",
        ),
        (
            &["user:alice a *"],
            "alice",
            "repository:a:*",
            "pull,push,delete",
        ),
        // Only what was asked.
        (
            &["user:alice a pull,push"],
            "alice",
            "repository:a:pull",
            "pull",
        ),
        (
            &["user:alice a pull,push"],
            "alice",
            "repository:a:delete",
            "-",
        ),
        // The union of every matching rule, in any order.
        (
            &[
                "user:alice a/** pull",
                "group:devs a/b push",
                "authenticated a/* delete",
            ],
            "alice+devs",
            "repository:a/b:*",
            "pull,push,delete",
        ),
        (
            &[
                "authenticated a/* delete",
                "group:devs a/b push",
                "user:alice a/** pull",
            ],
            "alice+devs",
            "repository:a/b:*",
            "pull,push,delete",
        ),
        (
            &[
                "user:alice a/** pull",
                "group:devs a/b push",
                "authenticated a/* delete",
            ],
            "alice+devs",
            "repository:a/b/c:*",
            "pull",
        ),
        (
            &[
                "user:alice a/** pull",
                "group:devs a/b push",
                "authenticated a/* delete",
            ],
            "alice",
            "repository:a/b:push,delete",
            "delete",
        ),
        (
            &[
                "user:alice a/b pull",
                "user:alice a/* push",
                "user:alice **/b delete",
                "user:bob a/b *",
            ],
            "alice",
            "repository:a/b:*",
            "pull,push,delete",
        ),
    ];

    #[test]
    fn semantics_table() {
        for (rules, principal, scope, expected) in CASES {
            let acl = acl(rules);
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
                    naive_segment(seg, name_seg, account)
                        && naive_segments(rest, name_rest, account)
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
}
