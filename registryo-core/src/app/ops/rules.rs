//! The rules, "explain" and the audit log.

use serde::Serialize;

use crate::acl::Principal;
use crate::scope::{Actions, Scope};
use crate::storage::{AclRule, AuditEvent, AuditQuery, ListQuery, NewAclRule, Page};
use crate::time::unix_now as now;

use super::super::App;
use super::super::snapshot::parse_rule;
use super::{Actor, OpError, applied};

/// A rule as stored, and why the policy left it out, if it did.
#[derive(Debug, Clone)]
pub struct ListedRule {
    /// The rule.
    pub rule: AclRule,
    /// Why the server could not compile it (it then grants nothing), from the policy in force.
    pub broken: Option<String>,
}

/// A page of rules in the order they were added (`query.after` a rule id), those containing
/// `query.filter` in the subject or the pattern, each with why the policy left it out, if it
/// did.
pub async fn rules_page(app: &App, query: &ListQuery) -> Result<Page<ListedRule>, OpError> {
    let page = app.accounts.store().list_acl_rules_page(query).await?;
    let snap = app.accounts.snapshot();
    Ok(page.map(|rule| ListedRule {
        broken: snap
            .broken_rules
            .iter()
            .find(|(id, _)| *id == rule.id)
            .map(|(_, why)| why.clone()),
        rule,
    }))
}

/// Add an ACL rule, parsed by the same parser the server compiles rules with. A parse error
/// names its field: `subject`, `pattern` or `actions`.
pub async fn add_rule(
    app: &App,
    actor: &Actor,
    subject: &str,
    pattern: &str,
    actions: &str,
) -> Result<AclRule, OpError> {
    let (subject, pattern, actions) = (subject.trim(), pattern.trim(), actions.trim());
    let rule =
        parse_rule(0, subject, pattern, actions).map_err(|e| OpError::invalid(e.field, e.error))?;
    let stored = app
        .accounts
        .store()
        .add_acl_rule(
            &NewAclRule {
                subject: rule.subject.to_string(),
                pattern: rule.pattern.to_string(),
                actions: rule.actions.to_string(),
                created_by: Some(actor.username.clone()),
            },
            &|stored| vec![rule_event(actor, "acl.add", stored)],
        )
        .await?;
    applied(app, None).await?;
    Ok(stored)
}

/// Whether the user or group a rule names exists (a rule may name one before it is made:
/// it is kept, and front ends warn).
pub async fn subject_exists(app: &App, rule: &AclRule) -> Result<bool, OpError> {
    Ok(match rule.subject.split_once(':') {
        Some(("user", name)) => app.accounts.snapshot().user(name).is_some(),
        Some(("group", name)) => match app.store().get_group_by_name(name).await {
            Ok(_) => true,
            Err(crate::storage::StoreError::NotFound(_)) => false,
            Err(e) => return Err(e.into()),
        },
        _ => true,
    })
}

/// Remove an ACL rule.
/// Removes a rule; the rule that was removed.
pub async fn delete_rule(app: &App, actor: &Actor, id: i64) -> Result<AclRule, OpError> {
    let removed = app
        .accounts
        .store()
        .delete_acl_rule(id, &|rule| vec![rule_event(actor, "acl.remove", rule)])
        .await;
    match removed {
        Ok(rule) => {
            applied(app, None).await?;
            Ok(rule)
        }
        Err(crate::storage::StoreError::NotFound(_)) => {
            Err(OpError::NotFound(format!("rule {id}")))
        }
        Err(e) => Err(e.into()),
    }
}

/// A rule that applies to someone, as their pages show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedRule {
    /// The rule's id.
    pub id: u64,
    /// Through whom it applies: `user:NAME`, `group:NAME`, `authenticated` or `anonymous`.
    pub subject: String,
    /// The pattern, with `${account}` read as their name (`alice/**`).
    pub pattern: String,
    /// The actions it allows.
    pub actions: String,
}

/// The rules of the policy in force that apply to this user — by name, through their groups,
/// `authenticated` and `anonymous` — in rule order (a user unknown to the policy: as a
/// signed-in user with no groups).
pub fn rules_applying_to(app: &App, username: &str) -> Vec<AppliedRule> {
    let snap = app.accounts.snapshot();
    let principal = snap
        .principal(username, now())
        .unwrap_or_else(|| Principal::user(username.to_owned()));
    snap.acl
        .rules()
        .iter()
        .filter(|r| r.subject.matches(&principal))
        .map(|r| AppliedRule {
            id: r.id,
            subject: r.subject.to_string(),
            pattern: r.pattern.to_string().replace("${account}", username),
            actions: r.actions.to_string(),
        })
        .collect()
}

/// A rule of the policy in words (`user:alice may pull,push on team/**`), for a confirmation;
/// `None` when the policy has no rule with this id (unknown, or one that does not compile).
pub fn describe_rule(app: &App, id: i64) -> Option<String> {
    let snap = app.accounts.snapshot();
    let rule = snap.acl.rules_with_id(u64::try_from(id).ok()?).next()?;
    Some(format!(
        "{} may {} on {}",
        rule.subject, rule.actions, rule.pattern
    ))
}

/// The event of adding or removing a rule: its id and its text.
pub(super) fn rule_event(
    actor: &Actor,
    action: &str,
    rule: &AclRule,
) -> crate::storage::NewAuditEvent {
    let text = format!("{} {} {}", rule.subject, rule.pattern, rule.actions);
    actor.event(action, &format!("rule {}", rule.id), Some(text))
}

/// One rule behind an explanation.
#[derive(Debug, Clone, Serialize)]
pub struct ExplainedRule {
    /// The rule's id.
    pub id: u64,
    /// Its subject.
    pub subject: String,
    /// Its pattern.
    pub pattern: String,
    /// The actions it holds.
    pub actions: String,
    /// What it contributes to the request.
    pub contributed: String,
}

/// Why a user (or anonymous) gets what they get for a scope.
#[derive(Debug, Clone, Serialize)]
pub struct Explained {
    /// `anonymous` or the username.
    pub principal: String,
    /// The scope as parsed.
    pub scope: String,
    /// The actions asked for (`*` expanded).
    pub requested: String,
    /// The actions granted (empty: nothing).
    pub granted: String,
    /// The user is an administrator (granted everything).
    pub admin: bool,
    /// The user exists but is disabled or expired: in practice they get nothing.
    pub inactive: bool,
    /// The user's groups.
    pub groups: Vec<String>,
    /// The matching rules, in order.
    pub rules: Vec<ExplainedRule>,
}

fn actions_text(a: Actions) -> String {
    if a.is_empty() {
        String::new()
    } else {
        a.to_string()
    }
}

/// Explain the policy's answer for a user (empty: anonymous) and a scope.
pub fn explain(app: &App, user: &str, scope: &str) -> Result<Explained, OpError> {
    let scope_text = scope.trim();
    if scope_text.is_empty() {
        return Err(OpError::invalid(
            "scope",
            "enter a scope, e.g. repository:team/app:pull,push",
        ));
    }
    let scope = Scope::parse(scope_text).map_err(|e| OpError::invalid("scope", e.to_string()))?;
    let snap = app.accounts.snapshot();
    let user = user.trim();
    let (principal, inactive, name) = if user.is_empty() || user == "anonymous" {
        (Principal::anonymous(), false, "anonymous".to_owned())
    } else {
        let entry = snap
            .user(user)
            .ok_or_else(|| OpError::invalid("user", "no such user"))?;
        let p = Principal::user(entry.name.as_str())
            .with_groups(entry.groups.iter().cloned())
            .with_admin(entry.admin);
        (p, !entry.active(now()), entry.name.clone())
    };
    let ex = snap.acl.explain(&principal, &scope);
    Ok(Explained {
        principal: name,
        scope: scope.to_string(),
        requested: actions_text(ex.requested),
        granted: actions_text(ex.granted),
        admin: ex.admin,
        inactive,
        groups: principal.groups.clone(),
        rules: ex
            .matches
            .iter()
            .map(|m| ExplainedRule {
                id: m.rule.id,
                subject: m.rule.subject.to_string(),
                pattern: m.rule.pattern.to_string(),
                actions: m.rule.actions.to_string(),
                contributed: actions_text(m.contributed),
            })
            .collect(),
    })
}

/// A page of the audit log, newest first.
pub async fn audit_page(
    app: &App,
    actor: Option<&str>,
    action: Option<&str>,
    before_id: Option<i64>,
    limit: u32,
) -> Result<Vec<AuditEvent>, OpError> {
    let clean = |s: Option<&str>| {
        s.map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let q = AuditQuery {
        actor: clean(actor),
        action: clean(action),
        before_id,
        limit: limit.clamp(1, 1000),
        ..AuditQuery::default()
    };
    Ok(app.accounts.store().list_audit_events(&q).await?)
}
