//! The access-control list: who may do what on which repositories.
//!
//! An ACL is a list of [`Rule`]s, each giving a [`Subject`] some [`Actions`] on the repositories
//! whose name matches a [`Pattern`]. The rules are compiled once into an [`Acl`], an immutable
//! index that answers "what may this [`Principal`] do on this repository?" without allocating.
//!
//! # Semantics
//!
//! - **Subjects.** `user:NAME` is one account, `group:NAME` every member of a group,
//!   `anonymous` a request without credentials and `authenticated` anyone signed in (never an
//!   anonymous request).
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
    #[error(
        "unknown subject {0:?} (expected user:NAME, group:NAME, anonymous or authenticated)"
    )]
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
    /// A user or group name holds a control character.
    #[error("{kind} name {name:?} holds a control character")]
    ControlCharacter {
        /// `user` or `group`.
        kind: &'static str,
        /// The offending name (truncated).
        name: String,
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
/// after the first `:` and may itself hold `:`; it must not be empty nor hold control
/// characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    /// One account, by name.
    User(String),
    /// Every member of a group.
    Group(String),
    /// A request without credentials.
    Anonymous,
    /// Any signed-in account (never an anonymous request).
    Authenticated,
}

impl Subject {
    /// Whether this subject covers the principal (admin status plays no part).
    pub fn matches(&self, p: &Principal) -> bool {
        match self {
            Subject::User(name) => p.account.as_deref() == Some(name.as_str()),
            Subject::Group(group) => p.groups.iter().any(|g| g == group),
            Subject::Anonymous => p.account.is_none(),
            Subject::Authenticated => p.account.is_some(),
        }
    }
}

fn check_name(kind: &'static str, name: &str) -> Result<String, AclError> {
    if name.is_empty() {
        return Err(AclError::EmptySubjectName { kind });
    }
    if name.chars().any(char::is_control) {
        return Err(AclError::ControlCharacter {
            kind,
            name: truncate(name),
        });
    }
    Ok(name.to_owned())
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
            ("user", n) => Ok(Subject::User(check_name("user", n.unwrap_or(""))?)),
            ("group", n) => Ok(Subject::Group(check_name("group", n.unwrap_or(""))?)),
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

/// The rules of one subject, indexed by the first segment of their pattern.
#[derive(Clone, Debug, Default)]
struct Bucket {
    /// Literal first segment → indices into `Acl::rules`.
    by_first: HashMap<Box<str>, Vec<u32>>,
    /// Patterns whose first segment is exactly `${account}`.
    account_first: Vec<u32>,
    /// Patterns whose first segment has wildcards (or `**`).
    wild: Vec<u32>,
}

impl Bucket {
    fn insert(&mut self, index: u32, pattern: &Pattern) {
        match (pattern.first_kind(), pattern.literal_first()) {
            (FirstKind::Literal, Some(first)) => {
                self.by_first.entry(first.into()).or_default().push(index);
            }
            (FirstKind::Account, _) => self.account_first.push(index),
            _ => self.wild.push(index),
        }
    }

    fn shrink(&mut self) {
        self.by_first.shrink_to_fit();
        self.by_first.values_mut().for_each(Vec::shrink_to_fit);
        self.account_first.shrink_to_fit();
        self.wild.shrink_to_fit();
    }
}

/// A query: the repository name, its first segment and the account for `${account}`.
struct Query<'a> {
    name: &'a str,
    first: &'a str,
    account: Option<&'a str>,
}

/// A compiled ACL: an immutable index of [`Rule`]s, cheap to share in an `Arc`.
///
/// Rules are indexed by subject (exact user, group, anonymous, authenticated), then by the
/// literal first segment of their pattern; patterns whose first segment is `${account}` are
/// looked at only when the repository's first segment is the account name, and the (usually
/// few) patterns whose first segment has wildcards are always looked at. A decision therefore
/// costs a few hash look-ups plus the rules of the principal's subjects that share the
/// repository's first segment, whatever the total number of rules.
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
                Subject::User(u) => acl.users.entry(u.as_str().into()).or_default(),
                Subject::Group(g) => acl.groups.entry(g.as_str().into()).or_default(),
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
        let mut held = Actions::NONE;
        self.visit(p, repo, |_, rule| {
            held |= rule.held();
            held.contains(Actions::ALL)
        });
        held
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
                let mut indices = Vec::new();
                self.visit(p, repo, |index, _| {
                    indices.push(index);
                    false
                });
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

    /// Call `f` on every rule matching the principal and the repository (a rule may be seen
    /// twice when the principal lists a group twice) until it returns `true`.
    fn visit<'s>(
        &'s self,
        p: &Principal,
        repo: &RepositoryName,
        mut f: impl FnMut(usize, &'s Rule) -> bool,
    ) {
        let name = repo.as_str();
        let q = Query {
            name,
            first: name.split_once('/').map_or(name, |(first, _)| first),
            account: p.template_account(),
        };
        let mut visit = |bucket: Option<&'s Bucket>| -> bool {
            bucket.is_some_and(|b| self.visit_bucket(b, &q, &mut f))
        };
        let done = match p.account.as_deref() {
            None => visit(Some(&self.anonymous)),
            Some(account) => {
                visit(self.users.get(account)) || visit(Some(&self.authenticated))
            }
        };
        if done {
            return;
        }
        for group in &p.groups {
            if visit(self.groups.get(group.as_str())) {
                return;
            }
        }
    }

    fn visit_bucket<'s>(
        &'s self,
        bucket: &'s Bucket,
        q: &Query<'_>,
        f: &mut impl FnMut(usize, &'s Rule) -> bool,
    ) -> bool {
        let mut check = |indices: &[u32]| -> bool {
            for &i in indices {
                let i = i as usize;
                if let Some(rule) = self.rules.get(i) {
                    if rule.pattern.matches_str(q.name, q.account) && f(i, rule) {
                        return true;
                    }
                }
            }
            false
        };
        if let Some(list) = bucket.by_first.get(q.first) {
            if check(list) {
                return true;
            }
        }
        if q.account == Some(q.first) && check(&bucket.account_first) {
            return true;
        }
        check(&bucket.wild)
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
