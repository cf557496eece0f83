//! The audit log with the registry's events beside the administrative ones: one timeline,
//! newest first, filtered by actor, action, repository and date. A registry event that is the
//! registry's side of a change made through registryo (a tag deleted in the UI, linked when it
//! was received) is shown with that change's audit event, not as a second line.

use crate::storage::{ActivityQuery, AuditEvent, AuditQuery, Page, RegistryEvent};

use super::super::App;
use super::OpError;
use super::activity::parse_time;

/// The actions of registry events in the timeline: `registry.push`, … .
pub const REGISTRY_ACTION_PREFIX: &str = "registry.";
/// The most items of one page.
pub const MAX_TIMELINE_PAGE: u32 = 500;

/// A timeline filter as the front ends receive it (text), parsed by [`timeline_page`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimelineFilter {
    /// Only what this user did.
    pub actor: Option<String>,
    /// Only this action: an audit action (`user.create`) or a registry one
    /// (`registry.push`, `registry.pull`, `registry.mount`, `registry.delete`).
    pub action: Option<String>,
    /// Only this repository: its registry events and the audit events whose target is in it
    /// (`repository:tag`).
    pub repository: Option<String>,
    /// From this time (RFC 3339, `YYYY-MM-DD`, or an amount ago: `24h`).
    pub since: Option<String>,
    /// Before this time.
    pub until: Option<String>,
    /// The `next` of the previous page.
    pub before: Option<String>,
    /// Page size (default 50, at most [`MAX_TIMELINE_PAGE`]).
    pub limit: Option<u32>,
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimelineItem {
    /// An administrative event, with the registry's event of the same change when the
    /// registry reported it (a tag deleted in the UI).
    Audit(AuditEvent, Option<RegistryEvent>),
    /// What the registry reported (a push, a day's pulls, a mount, a deletion).
    Registry(RegistryEvent),
}

impl TimelineItem {
    /// When it happened.
    pub fn at(&self) -> i64 {
        match self {
            TimelineItem::Audit(a, _) => a.at,
            TimelineItem::Registry(r) => r.at,
        }
    }
}

fn given(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// `a<audit id>.r<registry id>`, either part left out when that list is not started.
fn parse_cursor(s: &str) -> Option<(Option<i64>, Option<i64>)> {
    let mut audit = None;
    let mut registry = None;
    for part in s.split('.') {
        let (kind, id) = part.split_at_checked(1)?;
        let id: i64 = id.parse().ok().filter(|i| *i > 0)?;
        match kind {
            "a" if audit.is_none() => audit = Some(id),
            "r" if registry.is_none() => registry = Some(id),
            _ => return None,
        }
    }
    Some((audit, registry))
}

fn cursor(audit: Option<i64>, registry: Option<i64>) -> String {
    let mut parts = Vec::new();
    if let Some(a) = audit {
        parts.push(format!("a{a}"));
    }
    if let Some(r) = registry {
        parts.push(format!("r{r}"));
    }
    parts.join(".")
}

/// A page of the timeline, newest first: the audit log and the registry's events merged by
/// time, each list read after its own key (so the `next` key holds two).
pub async fn timeline_page(
    app: &App,
    filter: &TimelineFilter,
) -> Result<Page<TimelineItem>, OpError> {
    let now = crate::time::unix_now();
    let limit = match filter.limit {
        None => 50,
        Some(n @ 1..=MAX_TIMELINE_PAGE) => n,
        Some(_) => return Err(OpError::invalid("limit", "must be a number from 1 to 500")),
    };
    let (before_audit, before_registry) = match given(&filter.before) {
        None => (None, None),
        Some(b) => parse_cursor(b)
            .ok_or_else(|| OpError::invalid("before", "must be the next of an earlier page"))?,
    };
    let time = |field: &str, s: Option<&str>| {
        s.map(|s| {
            parse_time(s, now).ok_or_else(|| {
                OpError::invalid(
                    field,
                    "must be a date like 2026-11-29, an RFC 3339 time, or 24h, 7d",
                )
            })
        })
        .transpose()
    };
    let since = time("since", given(&filter.since))?;
    let until = time("until", given(&filter.until))?;
    let actor = given(&filter.actor).map(str::to_owned);
    let repository = given(&filter.repository)
        .map(|r| {
            crate::scope::RepositoryName::new(r)
                .map(|r| r.as_str().to_owned())
                .map_err(|e| OpError::invalid("repository", e.to_string()))
        })
        .transpose()?;
    let action = given(&filter.action).map(str::to_owned);
    // Which lists the action asks for.
    let (want_audit, registry_action) = match action.as_deref() {
        None => (true, None),
        Some(a) => match a.strip_prefix(REGISTRY_ACTION_PREFIX) {
            Some(r) if crate::notify::EventAction::parse(r).is_some() => {
                (false, Some(r.to_owned()))
            }
            _ => (true, Some(String::new())),
        },
    };
    let want_registry = registry_action.as_deref() != Some("");
    let audits = if want_audit {
        let q = AuditQuery {
            actor: actor.clone(),
            action: action.clone(),
            before_id: before_audit,
            limit,
            target_prefix: repository.as_ref().map(|r| format!("{r}:")),
            since,
            until,
        };
        app.store().list_audit_events(&q).await?
    } else {
        Vec::new()
    };
    let registry = if want_registry {
        let q = ActivityQuery {
            repository: repository.clone(),
            actor: actor.clone(),
            action: registry_action.filter(|a| !a.is_empty()),
            since,
            until,
            before_id: before_registry,
            limit,
            ..ActivityQuery::default()
        };
        app.store().list_registry_events(&q).await?
    } else {
        Vec::new()
    };
    let (audit_full, registry_full) = (
        audits.len() == limit as usize,
        registry.len() == limit as usize,
    );
    let (mut ia, mut ir) = (0, 0);
    let (mut last_audit, mut last_registry) = (before_audit, before_registry);
    let mut items: Vec<TimelineItem> = Vec::new();
    let mut linked: Vec<RegistryEvent> = Vec::new();
    while items.len() < limit as usize {
        let take_audit = match (audits.get(ia), registry.get(ir)) {
            (None, None) => break,
            // A list read whole up to here may hold more, older than what is left of the
            // other: stop, the next page goes on from both keys.
            (None, Some(_)) if audit_full => break,
            (Some(_), None) if registry_full => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(r)) => a.at >= r.at,
        };
        if take_audit {
            let a = audits[ia].clone();
            last_audit = Some(a.id);
            ia += 1;
            items.push(TimelineItem::Audit(a, None));
        } else {
            let r = registry[ir].clone();
            last_registry = Some(r.id);
            ir += 1;
            if r.audit_id.is_some() {
                linked.push(r);
            } else {
                items.push(TimelineItem::Registry(r));
            }
        }
    }
    for r in linked {
        if let Some(TimelineItem::Audit(_, slot)) = items
            .iter_mut()
            .find(|i| matches!(i, TimelineItem::Audit(a, None) if Some(a.id) == r.audit_id))
        {
            *slot = Some(r);
        }
    }
    let more = ia < audits.len() || ir < registry.len() || audit_full || registry_full;
    let next = more.then(|| cursor(last_audit, last_registry));
    Ok(Page { items, next })
}
