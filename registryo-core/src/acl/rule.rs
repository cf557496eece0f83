//! One rule: a subject, a pattern, the actions it allows.

use super::{AclError, Pattern, Subject};
use crate::scope::Actions;

/// One ACL rule: `subject` may do `actions` on repositories matching `pattern`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    /// An identifier chosen by the caller (a database key, a line number...), shown by
    /// [`Acl::explain`](super::Acl::explain).
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
    pub(super) fn held(&self) -> Actions {
        self.actions.expand().intersect(Actions::ALL)
    }
}
