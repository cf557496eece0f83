//! Whom a rule applies to ([`Subject`]) and who is asking ([`Principal`]).

use std::fmt;
use std::str::FromStr;

use super::AclError;
use crate::names::{GroupName, NameError, Username};
use crate::scope::truncate;

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
    pub(super) fn template_account(&self) -> Option<&str> {
        self.account.as_deref().filter(|a| !a.is_empty())
    }
}
