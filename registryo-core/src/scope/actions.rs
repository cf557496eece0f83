//! [`Actions`]: pull, push, delete and `*`, as a bit set.

use std::fmt;
use std::str::FromStr;

use super::{ScopeError, truncate};

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
