//! The audit log (`/admin/audit`): the administrative events and the registry's (its
//! notifications) on one timeline, newest first, filtered by actor, action, repository and
//! date, a page at a time (`ops::timeline_page`). A tag deleted here shows once, with what the
//! registry reported of it.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use super::{Admin, Chrome, UiError, WithChrome, render};
use crate::app::AppState;
use registryo_core::app::ops::{self, TimelineFilter, TimelineItem};
use registryo_core::storage::RegistryEvent;
use registryo_core::time::datetime;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/admin/audit", get(audit))
}

struct AuditLine {
    /// `e<id>` for an audit event, `r<id>` for a registry event (the row's anchor).
    anchor: String,
    at: String,
    actor: String,
    action: String,
    target: String,
    detail: String,
    remote: String,
    /// How many times it happened within its minute (repeated failures are counted).
    count: i64,
    /// Reported by the registry (a notification), not done through registryo.
    registry: bool,
    /// For a change made here that the registry reported too: what it said, when.
    confirmed: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    actor: String,
    action: String,
    repository: String,
    since: String,
    until: String,
    events: Vec<AuditLine>,
    older: String,
}

#[derive(Deserialize, Default)]
struct AuditParams {
    actor: Option<String>,
    action: Option<String>,
    repository: Option<String>,
    since: Option<String>,
    until: Option<String>,
    before: Option<String>,
}

const AUDIT_PAGE: u32 = 50;

/// A registry event as an audit line: `registry.push` on `repo:tag`, with its details.
fn registry_line(e: &RegistryEvent) -> AuditLine {
    let mut target = e.repository.clone();
    if let Some(tag) = &e.tag {
        target.push(':');
        target.push_str(tag);
    } else if let Some(d) = &e.digest {
        target.push('@');
        target.push_str(d);
    }
    let mut detail = Vec::new();
    if e.tag.is_some()
        && let Some(d) = &e.digest
    {
        detail.push(d.clone());
    }
    if let Some(from) = &e.from_repository {
        detail.push(format!("{} from {from}", e.subject));
    } else {
        detail.push(e.subject.clone());
    }
    if e.action == "pull" {
        detail.push(format!(
            "{} manifest pull(s) that day, the last at this time",
            e.count
        ));
    }
    if let Some(size) = e.size {
        detail.push(format!("{size} bytes"));
    }
    if let Some(ua) = &e.user_agent {
        detail.push(ua.clone());
    }
    AuditLine {
        anchor: format!("r{}", e.id),
        at: datetime(e.at),
        actor: e.actor.clone().unwrap_or_else(|| "anonymous".to_owned()),
        action: format!("registry.{}", e.action),
        target,
        detail: detail.join(" · "),
        remote: e.remote_addr.clone().unwrap_or_default(),
        count: 1,
        registry: true,
        confirmed: String::new(),
    }
}

async fn audit(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<AuditParams>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "audit");
    let filter = TimelineFilter {
        actor: q.actor.clone(),
        action: q.action.clone(),
        repository: q.repository.clone(),
        since: q.since.clone(),
        until: q.until.clone(),
        before: q.before.clone(),
        limit: Some(AUDIT_PAGE),
    };
    let page = ops::timeline_page(&state, &filter).await.ui(&chrome)?;
    let keep = |v: &Option<String>| v.clone().unwrap_or_default();
    let (actor, action, repository, since, until) = (
        keep(&q.actor),
        keep(&q.action),
        keep(&q.repository),
        keep(&q.since),
        keep(&q.until),
    );
    let older = match &page.next {
        Some(next) => {
            let mut pairs = vec![("before", next.clone())];
            for (k, v) in [
                ("actor", &actor),
                ("action", &action),
                ("repository", &repository),
                ("since", &since),
                ("until", &until),
            ] {
                if !v.is_empty() {
                    pairs.push((k, v.clone()));
                }
            }
            format!(
                "/admin/audit?{}",
                serde_urlencoded::to_string(pairs).unwrap_or_default()
            )
        }
        None => String::new(),
    };
    let events = page
        .items
        .into_iter()
        .map(|item| match item {
            TimelineItem::Registry(e) => registry_line(&e),
            TimelineItem::Audit(e, seen) => AuditLine {
                anchor: format!("e{}", e.id),
                at: datetime(e.at),
                actor: e.actor.unwrap_or_default(),
                action: e.action,
                target: e.target.unwrap_or_default(),
                detail: e.detail.unwrap_or_default(),
                remote: e.remote_addr.unwrap_or_default(),
                count: e.count,
                registry: false,
                confirmed: seen
                    .map(|r| {
                        let what = match (&r.tag, &r.digest) {
                            (Some(t), _) => format!("tag {t}"),
                            (None, Some(d)) => d.clone(),
                            (None, None) => r.subject.clone(),
                        };
                        format!(
                            "the registry reported the deletion of {what} at {}",
                            datetime(r.at)
                        )
                    })
                    .unwrap_or_default(),
            },
        })
        .collect();
    Ok(render(&AuditPage {
        chrome,
        actor,
        action,
        repository,
        since,
        until,
        events,
        older,
    }))
}
