//! Bulk imports: many rules or users in one transaction, all or nothing.
//!
//! Every item is checked before the one store call, with the same parsers as the single
//! operations ([`parse_rule`], [`username`], [`check_password`]); the first bad item is
//! refused with where it came from (`line 7` from the CLI's standard input, `item 3` from a
//! JSON array), and nothing is written. Each item is audited as its single operation is
//! (`acl.add`, `user.create`), in the import's transaction, and the policy follows with one
//! revision.

use std::collections::HashSet;

use crate::storage::{AclRule, NewAclRule, NewUser, User, UserKind};

use super::super::App;
use super::super::snapshot::parse_rule;
use super::rules::rule_event;
use super::{Actor, OpError, applied, check_email, check_password, check_text, username};

/// The most items one import takes.
pub const MAX_IMPORT: usize = 100_000;

/// One rule of an import, as written.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleText {
    /// `user:NAME`, `group:NAME`, `anonymous` or `authenticated`.
    pub subject: String,
    /// The repository pattern.
    pub pattern: String,
    /// `pull,push,delete` or `*`.
    pub actions: String,
}

/// One account of an import: a person, with a password or without one (they then cannot
/// sign in until an administrator sets one, or they use a reset link).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserText {
    /// Login name.
    pub username: String,
    /// Initial password (empty: none).
    #[serde(default)]
    pub password: String,
    /// Given name.
    #[serde(default)]
    pub first_name: String,
    /// Family name.
    #[serde(default)]
    pub last_name: String,
    /// E-mail address (empty for none).
    #[serde(default)]
    pub email: String,
    /// Make them an administrator.
    #[serde(default)]
    pub admin: bool,
}

/// An item and where it came from (`"line 7"`, `"item 3"`), for the error naming it.
pub type Numbered<T> = (String, T);

fn at(place: &str, e: OpError) -> OpError {
    match e {
        OpError::Invalid { field, message } => OpError::Invalid {
            field,
            message: format!("{place}: {message}"),
        },
        OpError::Conflict(m) => OpError::Conflict(format!("{place}: {m}")),
        OpError::NeedsConfirmation(m) => OpError::NeedsConfirmation(format!("{place}: {m}")),
        e => e,
    }
}

fn check_count(what: &str, n: usize) -> Result<(), OpError> {
    if n == 0 {
        return Err(OpError::invalid(what, format!("no {what} to import")));
    }
    if n > MAX_IMPORT {
        return Err(OpError::invalid(
            what,
            format!("{n} {what} in one import; the limit is {MAX_IMPORT}: split it"),
        ));
    }
    Ok(())
}

/// Add many rules in one transaction: all of them, or none and the first bad one named.
pub async fn import_rules(
    app: &App,
    actor: &Actor,
    items: &[Numbered<RuleText>],
) -> Result<Vec<AclRule>, OpError> {
    check_count("rules", items.len())?;
    let mut new = Vec::with_capacity(items.len());
    for (place, r) in items {
        let (s, p, a) = (r.subject.trim(), r.pattern.trim(), r.actions.trim());
        let rule =
            parse_rule(0, s, p, a).map_err(|e| at(place, OpError::invalid(e.field, e.error)))?;
        new.push(NewAclRule {
            subject: rule.subject.to_string(),
            pattern: rule.pattern.to_string(),
            actions: rule.actions.to_string(),
            created_by: Some(actor.username.clone()),
        });
    }
    let stored = app
        .accounts
        .store()
        .add_acl_rules(&new, &|stored| {
            stored
                .iter()
                .map(|r| rule_event(actor, "acl.add", r))
                .collect()
        })
        .await?;
    applied(app, None).await?;
    Ok(stored)
}

/// Create many people's accounts in one transaction: all of them, or none and the first bad
/// one named (a name taken, also in another case or twice in the import, is a conflict).
/// Unless `force`, a name that `${account}` rules would hand existing repositories is refused,
/// as [`super::create_human`] refuses it.
pub async fn import_users(
    app: &App,
    actor: &Actor,
    items: &[Numbered<UserText>],
    force: bool,
) -> Result<Vec<User>, OpError> {
    check_count("users", items.len())?;
    let snap = app.accounts.snapshot();
    let mut seen = HashSet::new();
    let mut checked = Vec::with_capacity(items.len());
    for (place, u) in items {
        let check = async {
            let name = username("username", &u.username)?;
            if !seen.insert(name.folded()) {
                return Err(OpError::Conflict(format!("{name} is in the import twice")));
            }
            if snap.user(&name).is_some() {
                return Err(OpError::Conflict(format!("user {name:?} exists")));
            }
            if !u.password.is_empty() {
                check_password("password", &name, &u.password)?;
            }
            let first = check_text("first_name", &u.first_name)?;
            let last = check_text("last_name", &u.last_name)?;
            let email = check_email(&u.email)?;
            if !force && snap.acl.has_account_rules() {
                super::users::check_namespace(app, &name, false).await?;
            }
            let mut nu = NewUser::new(name, UserKind::Human)
                .admin(u.admin)
                .names(first, last);
            nu.email = email;
            Ok(nu)
        };
        checked.push(check.await.map_err(|e| at(place, e))?);
    }
    // Hash on every core at once (the pool's permits bound how many run).
    let tasks: Vec<_> = items
        .iter()
        .map(|(_, u)| {
            let accounts = app.accounts.clone();
            let pw = u.password.clone();
            tokio::spawn(async move {
                match pw.is_empty() {
                    true => Ok(None),
                    false => accounts.hash_password(&pw).await.map(Some),
                }
            })
        })
        .collect();
    for (nu, task) in checked.iter_mut().zip(tasks) {
        let hash = task.await.map_err(|e| OpError::Internal(e.to_string()))??;
        nu.password_hash = hash;
    }
    let users = app
        .accounts
        .store()
        .create_users(&checked, &|made| {
            made.iter()
                .map(|u| {
                    let detail = format!("human admin={} imported", u.is_admin);
                    actor.event("user.create", &u.username, Some(detail))
                })
                .collect()
        })
        .await?;
    applied(app, None).await?;
    Ok(users)
}
