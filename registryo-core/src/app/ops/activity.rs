//! The registry's activity (what its notifications said: pushes, pulls, mounts, deletions),
//! for the web UI, the API and the command line: one filter parser, one page, and each viewer
//! sees the repositories they may pull only.

use std::collections::HashMap;

use crate::acl::Principal;
use crate::notify::{EventAction, is_tag};
use crate::scope::{Actions, RepositoryName};
use crate::storage::{ActivityQuery, Page, RegistryEvent};

use super::super::App;
use super::OpError;

/// The most events of one page.
pub const MAX_ACTIVITY_PAGE: u32 = 1000;
/// A page's size when none is asked for.
pub const DEFAULT_ACTIVITY_PAGE: u32 = 50;

/// An activity filter as the front ends receive it: text, parsed by [`activity_page`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivityFilter {
    /// Only this repository.
    pub repository: Option<String>,
    /// Only this actor (a username).
    pub actor: Option<String>,
    /// Only this action: `push`, `pull`, `mount` or `delete`.
    pub action: Option<String>,
    /// Only this tag.
    pub tag: Option<String>,
    /// Only from this time: RFC 3339, `YYYY-MM-DD` (UTC), or a time ago (`90m`, `24h`, `7d`).
    pub since: Option<String>,
    /// Only before this time (the same forms).
    pub until: Option<String>,
    /// The `next` of the previous page.
    pub before: Option<String>,
    /// The page size, 1 to [`MAX_ACTIVITY_PAGE`] (default [`DEFAULT_ACTIVITY_PAGE`]).
    pub limit: Option<u32>,
}

fn given(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A time as a filter takes it: RFC 3339, `YYYY-MM-DD` (UTC midnight), or an amount ago
/// (`30s`, `90m`, `24h`, `7d`) from `now`.
pub fn parse_time(s: &str, now: i64) -> Option<i64> {
    let s = s.trim();
    if let Some(t) = crate::time::parse_rfc3339(s).or_else(|| crate::time::parse_date(s)) {
        return Some(t);
    }
    let unit = match s.chars().last()? {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    let n: i64 = s[..s.len() - 1].parse().ok().filter(|n| *n >= 0)?;
    Some(now.saturating_sub(n.saturating_mul(unit)))
}

/// The store query of a filter; a bad field is [`OpError::Invalid`] naming it.
pub fn activity_query(filter: &ActivityFilter, now: i64) -> Result<ActivityQuery, OpError> {
    let repository = given(&filter.repository)
        .map(|r| RepositoryName::new(r).map_err(|e| OpError::invalid("repository", e.to_string())))
        .transpose()?;
    let actor = given(&filter.actor)
        .map(|a| {
            crate::names::Username::new(a).map_err(|e| OpError::invalid("actor", e.to_string()))
        })
        .transpose()?;
    let action = given(&filter.action)
        .map(|a| {
            EventAction::parse(a)
                .ok_or_else(|| OpError::invalid("action", "must be push, pull, mount or delete"))
        })
        .transpose()?;
    let tag = match given(&filter.tag) {
        Some(t) if is_tag(t) => Some(t.to_owned()),
        Some(_) => return Err(OpError::invalid("tag", "is not a tag")),
        None => None,
    };
    let time = |field: &str, s: Option<&str>| {
        s.map(|s| {
            parse_time(s, now).ok_or_else(|| {
                OpError::invalid(
                    field,
                    "must be an RFC 3339 time, a date like 2026-11-29, or a time ago like 24h or 7d",
                )
            })
        })
        .transpose()
    };
    let since = time("since", given(&filter.since))?;
    let until = time("until", given(&filter.until))?;
    let before_id = given(&filter.before)
        .map(|b| {
            b.parse::<i64>()
                .ok()
                .filter(|b| *b > 0)
                .ok_or_else(|| OpError::invalid("before", "must be the next of an earlier page"))
        })
        .transpose()?;
    let limit = match filter.limit {
        None => DEFAULT_ACTIVITY_PAGE,
        Some(n @ 1..=MAX_ACTIVITY_PAGE) => n,
        Some(_) => return Err(OpError::invalid("limit", "must be a number from 1 to 1000")),
    };
    Ok(ActivityQuery {
        repository: repository.map(|r| r.as_str().to_owned()),
        actor: actor.map(crate::names::Username::into_string),
        action: action.map(|a| a.as_str().to_owned()),
        tag,
        since,
        until,
        before_id,
        limit,
    })
}

/// Whether `viewer` may see `repository`'s activity: an admin sees all, anyone else the
/// repositories the rules let them pull.
pub fn may_see(app: &App, viewer: &Principal, repository: &str) -> bool {
    if viewer.admin {
        return true;
    }
    let Ok(name) = RepositoryName::new(repository) else {
        return false;
    };
    app.accounts
        .snapshot()
        .acl
        .allowed(viewer, &name)
        .contains(Actions::PULL)
}

/// A page of the registry's activity, newest first, as `viewer` may see it. A filter on a
/// repository they may not pull is [`OpError::Forbidden`]; without one, the events of such
/// repositories are left out of the page (which may then hold fewer than `limit`: follow
/// `next` while it is set).
pub async fn activity_page(
    app: &App,
    viewer: &Principal,
    filter: &ActivityFilter,
) -> Result<Page<RegistryEvent>, OpError> {
    let q = activity_query(filter, crate::time::unix_now())?;
    if let Some(r) = &q.repository
        && !may_see(app, viewer, r)
    {
        return Err(OpError::Forbidden(format!(
            "you may not pull {r}, so its activity is not shown to you"
        )));
    }
    let rows = app.store().list_registry_events(&q).await?;
    let next = (rows.len() == q.limit as usize)
        .then(|| rows.last().map(|e| e.id.to_string()))
        .flatten();
    let items = rows
        .into_iter()
        .filter(|e| may_see(app, viewer, &e.repository))
        .collect();
    Ok(Page { items, next })
}

/// The latest push of each tag of a repository the caller may see, by tag (at most 10,000).
pub async fn tag_pushes(
    app: &App,
    repository: &RepositoryName,
) -> Result<HashMap<String, RegistryEvent>, OpError> {
    let rows = app
        .store()
        .latest_tag_pushes(repository.as_str(), 10_000)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|e| Some((e.tag.clone()?, e)))
        .collect())
}

/// An event as the API and `registryo activity --json` show it.
pub fn activity_json(e: &RegistryEvent) -> serde_json::Value {
    serde_json::json!({
        "id": e.id, "event_id": e.event_id, "at": e.at,
        "time": crate::time::rfc3339(e.at), "action": e.action,
        "subject": e.subject, "repository": e.repository,
        "from_repository": e.from_repository, "tag": e.tag, "digest": e.digest,
        "media_type": e.media_type, "size": e.size, "actor": e.actor,
        "remote_addr": e.remote_addr, "user_agent": e.user_agent, "audit_id": e.audit_id,
        "count": e.count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_filters() {
        let now = 1_795_937_217;
        assert_eq!(parse_time("2026-11-29", now), Some(1_795_910_400));
        assert_eq!(parse_time("2026-11-29T07:26:57Z", now), Some(now));
        assert_eq!(parse_time("90m", now), Some(now - 5400));
        assert_eq!(parse_time("7d", now), Some(now - 7 * 86_400));
        for bad in ["", "d", "-1d", "7w", "yesterday", "2026-13-01"] {
            assert_eq!(parse_time(bad, now), None, "{bad}");
        }
        let q = activity_query(
            &ActivityFilter {
                repository: Some("team/app".into()),
                action: Some("push".into()),
                since: Some("1h".into()),
                before: Some("42".into()),
                ..ActivityFilter::default()
            },
            now,
        )
        .unwrap();
        assert_eq!(q.repository.as_deref(), Some("team/app"));
        assert_eq!(
            (q.since, q.before_id, q.limit),
            (Some(now - 3600), Some(42), 50)
        );
        for (filter, field) in [
            (
                ActivityFilter {
                    repository: Some("Team".into()),
                    ..Default::default()
                },
                "repository",
            ),
            (
                ActivityFilter {
                    actor: Some("a b".into()),
                    ..Default::default()
                },
                "actor",
            ),
            (
                ActivityFilter {
                    action: Some("copy".into()),
                    ..Default::default()
                },
                "action",
            ),
            (
                ActivityFilter {
                    tag: Some("-x".into()),
                    ..Default::default()
                },
                "tag",
            ),
            (
                ActivityFilter {
                    since: Some("soon".into()),
                    ..Default::default()
                },
                "since",
            ),
            (
                ActivityFilter {
                    until: Some("x".into()),
                    ..Default::default()
                },
                "until",
            ),
            (
                ActivityFilter {
                    before: Some("0".into()),
                    ..Default::default()
                },
                "before",
            ),
            (
                ActivityFilter {
                    limit: Some(1001),
                    ..Default::default()
                },
                "limit",
            ),
        ] {
            let err = activity_query(&filter, now).unwrap_err();
            assert_eq!(err.field(), Some(field), "{filter:?}: {err:?}");
        }
    }
}
