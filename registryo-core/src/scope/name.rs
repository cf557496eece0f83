//! [`RepositoryName`]: distribution's repository name grammar.

use std::fmt;
use std::str::FromStr;

use super::{MAX_NAME_LEN, ScopeError};

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
