//! The administrative operations, one function each, shared by the web UI, the JSON API
//! and the command line: validation of typed or raw input, the store change with its audit
//! events (the actor and their address; written by the store in the change's transaction,
//! [`Audit`](crate::storage::Audit)), and the policy reload so the change applies at once.
//! Every operation returns an [`OpError`] that each front end maps once.
//!
//! - [`users`](mod@users): people and service accounts.
//! - [`groups`](mod@groups): groups and memberships.
//! - [`rules`](mod@rules): rules, "explain", the audit log.
//! - [`bulk`]: imports of many rules or users in one transaction.
//! - [`logins`](mod@logins): docker logins (refresh tokens).
//! - [`keys`]: the signing keys and their rotation.
//! - [`tags`]: the registry's tags (deleting one).
//! - [`timeline`](mod@timeline): the audit log with the registry's events beside it.
//! - [`activity`](mod@activity): the registry's activity from its notifications, as each viewer may see it.

use std::net::SocketAddr;

use crate::names::{GroupName, Username};
use crate::storage::{AclRule, NewAuditEvent};

use super::App;
pub use super::OpError;

pub mod activity;
pub mod bulk;
pub mod groups;
pub mod keys;
pub mod logins;
pub mod rules;
pub mod tags;
pub mod timeline;
pub mod users;

pub use activity::*;
pub use bulk::*;
pub use groups::*;
pub use keys::*;
pub use logins::*;
pub use rules::*;
pub use tags::*;
pub use timeline::*;
pub use users::*;

/// A new random secret (256 bits, URL-safe base64): service account secrets, reset links.
pub fn new_secret() -> Result<String, OpError> {
    crate::secret::random_token().map_err(|e| OpError::Internal(e.to_string()))
}

/// Who makes a change, for the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    /// Who: the signed-in person, usually an administrator (`cli` for the command line).
    pub username: String,
    /// Their address.
    pub remote: Option<SocketAddr>,
    /// The command line on the server's machine: it acts on any account, its own rules
    /// (an admin cannot disable or delete themselves) do not apply.
    pub console: bool,
}

impl Actor {
    /// A signed-in administrator.
    pub fn admin(username: impl Into<String>, remote: Option<SocketAddr>) -> Actor {
        Actor {
            username: username.into(),
            remote,
            console: false,
        }
    }

    /// A signed-in person who need not be an administrator: acting on their own account
    /// (their password, their logins), or on the registry as the rules let them.
    pub fn person(username: impl Into<String>, remote: Option<SocketAddr>) -> Actor {
        Actor::admin(username, remote)
    }

    /// The command line (audited as `cli`).
    pub fn cli() -> Actor {
        Actor {
            username: "cli".to_owned(),
            remote: None,
            console: true,
        }
    }

    /// An audit event of this actor's, from their address.
    pub fn event(&self, action: &str, target: &str, detail: Option<String>) -> NewAuditEvent {
        NewAuditEvent {
            actor: Some(self.username.clone()),
            action: action.to_owned(),
            target: Some(target.to_owned()),
            detail,
            remote_addr: self.remote.map(|a| a.ip().to_string()),
        }
    }
}

/// A username from a form, a JSON body or the command line (surrounding spaces dropped).
pub fn username(field: &str, name: &str) -> Result<Username, OpError> {
    Username::new(name.trim()).map_err(|e| OpError::invalid(field, e.to_string()))
}

/// A group name from a form, a JSON body or the command line (surrounding spaces dropped).
pub fn group_name(field: &str, name: &str) -> Result<GroupName, OpError> {
    GroupName::new(name.trim()).map_err(|e| OpError::invalid(field, e.to_string()))
}

/// A password of at least 8 characters, at most 1024 bytes, other than the username.
pub fn check_password(field: &str, username: &str, pw: &str) -> Result<(), OpError> {
    if pw.chars().count() < 8 {
        return Err(OpError::invalid(field, "must have at least 8 characters"));
    }
    if pw.len() > 1024 {
        return Err(OpError::invalid(field, "must be at most 1024 bytes"));
    }
    if pw == username {
        return Err(OpError::invalid(field, "must not be the username"));
    }
    Ok(())
}

fn check_text(field: &str, s: &str) -> Result<String, OpError> {
    let s = s.trim();
    if s.chars().count() > 200 {
        return Err(OpError::invalid(field, "must be at most 200 characters"));
    }
    if s.chars().any(char::is_control) {
        return Err(OpError::invalid(field, "cannot contain control characters"));
    }
    Ok(s.to_owned())
}

/// An optional e-mail address: empty means none; otherwise `local@domain`, no spaces.
pub fn check_email(s: &str) -> Result<Option<String>, OpError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let valid = s.len() <= 254
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && s.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !d.contains('@'));
    if valid {
        Ok(Some(s.to_owned()))
    } else {
        Err(OpError::invalid("email", "is not an e-mail address"))
    }
}

/// An optional expiry date (`YYYY-MM-DD`, UTC; the account stops working at its start).
pub fn check_expiry(s: &str) -> Result<Option<i64>, OpError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    crate::time::parse_date(s)
        .map(Some)
        .ok_or_else(|| OpError::invalid("expires", "must be a date like 2030-12-31"))
}

async fn applied(app: &App, username: Option<&str>) -> Result<(), OpError> {
    if let Some(u) = username {
        app.accounts.forget_credentials(u);
    }
    app.accounts.reload(true).await?;
    Ok(())
}

/// The events of a deletion that removed `rules` with it (`with`: `user NAME`, `group NAME`):
/// one `acl.remove` per rule, with its text.
fn removed_rules(actor: &Actor, rules: &[AclRule], with: &str) -> Vec<NewAuditEvent> {
    rules
        .iter()
        .map(|rule| {
            actor.event(
                "acl.remove",
                &format!("rule {}", rule.id),
                Some(format!(
                    "{} {} {} (removed with {with})",
                    rule.subject, rule.pattern, rule.actions
                )),
            )
        })
        .collect()
}
