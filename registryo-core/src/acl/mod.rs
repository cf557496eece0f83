//! The access-control list: who may do what on which repositories.
//!
//! An ACL is a list of [`Rule`]s, each giving a [`Subject`] some
//! [`Actions`](crate::scope::Actions) on the repositories whose name matches a [`Pattern`]. The
//! rules are compiled once into an [`Acl`], an immutable index that answers "what may this [`Principal`] do on this repository?" without allocating.
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
//!
//! # Code map
//! `subject` (who: [`Subject`], [`Principal`]), `pattern` (which repositories: [`Pattern`],
//! compiled segment by segment), `rule` ([`Rule`]), `index` ([`Acl`]: rules keyed by subject,
//! then by the literal ends of their patterns), `buckets` (one subject's rules and where a
//! pattern goes in them), `cow` (the copy-on-write map every level of the index is made of,
//! so that [`Acl::with_changes`] costs what the change touches), and `tests` (the semantics table, one case per
//! line, and the property tests: index against a linear scan, compiled matcher against a naive
//! one).

use crate::names::NameError;
use crate::scope::MAX_NAME_LEN;

mod buckets;
pub(crate) mod cow;
mod index;
mod pattern;
mod rule;
mod subject;
#[cfg(test)]
mod tests;

pub use index::{Acl, Explanation, RuleMatch};
pub use pattern::Pattern;
pub use rule::Rule;
pub use subject::{Principal, Subject};

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
