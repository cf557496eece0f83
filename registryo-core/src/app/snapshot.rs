//! The policy snapshot: the compiled rules and what the policy needs to know of each user,
//! updated from the store when its policy revision moves ([`super::accounts::Accounts`]):
//! by what changed ([`Snapshot::apply`] of the store's [`PolicyDelta`]), or rebuilt whole
//! ([`Snapshot::build`]) when the change log cannot tell.

use std::collections::{HashMap, HashSet};

use crate::acl::cow::CowMap;
use crate::acl::{Acl, Principal, Rule, Subject};
use crate::scope::Actions;
use crate::storage::{AclRule, PolicyDelta, User};

/// A user as the policy sees them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserEntry {
    /// The store's id.
    pub id: i64,
    /// The username as created (the snapshot's key is its lower case).
    pub name: String,
    /// Administrator.
    pub admin: bool,
    /// Disabled.
    pub disabled: bool,
    /// Expiry (unix seconds).
    pub expires_at: Option<i64>,
    /// Groups the user belongs to.
    pub groups: Vec<String>,
    /// When the password last changed.
    pub password_changed_at: Option<i64>,
    /// A fingerprint of the stored password hash: remembered credentials are honoured only
    /// while it is the same (a new hash has a new salt, so any change of password shows,
    /// also two within one second).
    pub password_fingerprint: u64,
}

impl UserEntry {
    /// The entry of a stored user in these groups.
    pub fn of(u: &User, groups: Vec<String>) -> UserEntry {
        UserEntry {
            id: u.id,
            admin: u.is_admin,
            disabled: u.disabled,
            expires_at: u.expires_at,
            groups,
            password_changed_at: u.password_changed_at,
            password_fingerprint: super::accounts::password_fingerprint(u.password_hash.as_deref()),
            name: u.username.clone(),
        }
    }

    /// Whether the user may sign in now.
    pub fn active(&self, now: i64) -> bool {
        !self.disabled && self.expires_at.is_none_or(|e| e > now)
    }
}

/// The compiled policy and what it needs to know of users.
///
/// Every part is copy-on-write: [`Snapshot::apply`] makes the next version in proportion to
/// the change while requests keep reading this one.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The store's policy revision this was built from.
    pub revision: i64,
    /// The rules, compiled.
    pub acl: Acl,
    /// Users by their name in lower case (names are unique without regard to case).
    pub(crate) users: CowMap<String, UserEntry>,
    /// The users' names in lower case, by id.
    by_id: CowMap<i64, String>,
    /// Rules in the store that no longer parse (skipped), with the reason.
    pub broken_rules: Vec<(i64, String)>,
}

impl Snapshot {
    /// The snapshot of a whole store's users, memberships (group, username) and rules, at
    /// `revision`.
    pub fn build(
        revision: i64,
        users: &[User],
        memberships: Vec<(String, String)>,
        rules: &[AclRule],
    ) -> Snapshot {
        let mut groups: HashMap<String, Vec<String>> = HashMap::new();
        for (group, user) in memberships {
            groups.entry(user).or_default().push(group);
        }
        let mut snap = Snapshot {
            revision,
            ..Snapshot::default()
        };
        for u in users {
            snap.put_user(UserEntry::of(
                u,
                groups.remove(&u.username).unwrap_or_default(),
            ));
        }
        let (acl, broken_rules) = compile_rules(rules);
        snap.acl = acl;
        snap.broken_rules = broken_rules;
        snap
    }

    fn put_user(&mut self, entry: UserEntry) {
        let folded = entry.name.to_ascii_lowercase();
        // Another account that had the name is gone (names are unique).
        if let Some(old) = self.users.get(&folded) {
            let old = old.id;
            self.by_id.remove(&old);
        }
        self.by_id.insert(entry.id, folded.clone());
        self.users.insert(folded, entry);
    }

    /// The next version: this one with the delta's changes, sharing the rest. Every touched
    /// rule and user is removed, then the delta's current rows are put back, so the result is
    /// what [`Snapshot::build`] would make of the store (the property
    /// `accounts::an_updated_policy_equals_a_rebuilt_one` checks).
    pub fn apply(&self, delta: &PolicyDelta) -> Snapshot {
        let mut next = self.clone();
        next.revision = delta.revision;
        for id in &delta.user_ids {
            if let Some(folded) = next.by_id.remove(id) {
                next.users.remove(&folded);
            }
        }
        let mut groups: HashMap<i64, Vec<String>> = HashMap::new();
        for (user, group) in &delta.memberships {
            groups.entry(*user).or_default().push(group.clone());
        }
        for u in &delta.users {
            next.put_user(UserEntry::of(u, groups.remove(&u.id).unwrap_or_default()));
        }
        let (added, broken) = parse_rules(&delta.rules);
        let touched: HashSet<i64> = delta.rule_ids.iter().copied().collect();
        next.broken_rules.retain(|(id, _)| !touched.contains(id));
        next.broken_rules.extend(broken);
        let removed = delta
            .rule_ids
            .iter()
            .filter_map(|id| u64::try_from(*id).ok());
        next.acl = self.acl.with_changes(removed, added);
        next
    }

    /// Every user, in no particular order.
    pub fn users(&self) -> impl Iterator<Item = &UserEntry> {
        self.users.values()
    }

    /// How many users.
    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// The user with this name, without regard to case.
    pub fn user(&self, name: &str) -> Option<&UserEntry> {
        self.users.get(&name.to_ascii_lowercase())
    }

    /// The principal of the account with this id and name (in lower case), if the snapshot
    /// knows it and it is active. The id matters: an account removed and made again under the
    /// same name is another account, and must not get the old one's groups or admin flag from
    /// a snapshot older than the change.
    pub(super) fn principal_of(&self, id: i64, folded: &str, now: i64) -> Option<Principal> {
        let u = self.users.get(folded).filter(|u| u.id == id)?;
        u.active(now).then(|| Principal {
            account: Some(u.name.clone()),
            groups: u.groups.clone(),
            admin: u.admin,
        })
    }

    /// The principal for a username (any case), if the user exists and is active.
    pub fn principal(&self, username: &str, now: i64) -> Option<Principal> {
        let folded = username.to_ascii_lowercase();
        let id = self.users.get(&folded)?.id;
        self.principal_of(id, &folded, now)
    }
}

/// Compile the store's rules into an [`Acl`]; rules that no longer parse are reported.
pub fn compile_rules(rules: &[AclRule]) -> (Acl, Vec<(i64, String)>) {
    let (ok, broken) = parse_rules(rules);
    (Acl::new(ok), broken)
}

fn parse_rules(rules: &[AclRule]) -> (Vec<Rule>, Vec<(i64, String)>) {
    let mut ok = Vec::with_capacity(rules.len());
    let mut broken = Vec::new();
    for r in rules {
        match parse_rule(r.id, &r.subject, &r.pattern, &r.actions) {
            Ok(rule) => ok.push(rule),
            Err(e) => broken.push((r.id, e.to_string())),
        }
    }
    (ok, broken)
}

/// Why a rule's text does not parse: the field at fault (`subject`, `pattern` or `actions`)
/// and the parser's error. Shown as `field: error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {error}")]
pub struct RuleTextError {
    /// `subject`, `pattern` or `actions`.
    pub field: &'static str,
    /// What is wrong with it.
    pub error: String,
}

/// Parse a rule from its stored parts.
pub fn parse_rule(
    id: i64,
    subject: &str,
    pattern: &str,
    actions: &str,
) -> Result<Rule, RuleTextError> {
    fn at<E: std::fmt::Display>(field: &'static str) -> impl Fn(E) -> RuleTextError {
        move |e| RuleTextError {
            field,
            error: e.to_string(),
        }
    }
    let subject: Subject = subject.parse().map_err(at("subject"))?;
    let pattern = pattern.parse().map_err(at("pattern"))?;
    let actions: Actions = actions.parse().map_err(at("actions"))?;
    let id = u64::try_from(id).map_err(|_| at("id")("a negative id"))?;
    Rule::new(id, subject, pattern, actions).map_err(at("actions"))
}

#[cfg(test)]
mod tests {
    use super::parse_rule;

    #[test]
    fn a_rule_that_does_not_parse_names_its_field() {
        let field = |s, p, a| parse_rule(1, s, p, a).unwrap_err().field;
        assert_eq!(field("robot:x", "a/*", "pull"), "subject");
        assert_eq!(field("user:alice", "a/[", "pull"), "pattern");
        assert_eq!(field("user:alice", "a/*", "fly"), "actions");
        // A parsed but empty set of actions is the actions' fault, not the pattern's.
        assert_eq!(field("user:alice", "a/*", ""), "actions");
        let e = parse_rule(1, "user:alice", "a/*", "fly").unwrap_err();
        assert!(e.to_string().starts_with("actions: "), "{e}");
        assert!(parse_rule(1, "user:alice", "a/*", "pull,push").is_ok());
    }
}
