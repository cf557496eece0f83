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

mod actions;
mod name;
#[cfg(test)]
mod tests;

pub use actions::Actions;
pub use name::RepositoryName;
pub(crate) use name::{is_domain, is_path_component, truncate};

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
