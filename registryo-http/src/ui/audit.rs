//! The audit log (`/admin/audit`): newest first, filtered by actor and action, a page at a
//! time.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use super::{Admin, Chrome, UiError, WithChrome, render};
use crate::app::AppState;
use crate::error::AppError;
use registryo_core::app::ops;
use registryo_core::time::datetime;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/admin/audit", get(audit))
}

struct AuditLine {
    id: i64,
    at: String,
    actor: String,
    action: String,
    target: String,
    detail: String,
    remote: String,
    /// How many times it happened within its minute (repeated failures are counted).
    count: i64,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    actor: String,
    action: String,
    events: Vec<AuditLine>,
    older: String,
}

#[derive(Deserialize, Default)]
struct AuditParams {
    actor: Option<String>,
    action: Option<String>,
    before_id: Option<String>,
}

const AUDIT_PAGE: u32 = 50;

async fn audit(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<AuditParams>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "audit");
    let before = match q.before_id.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(
            s.parse::<i64>()
                .map_err(|_| AppError::invalid("before_id", "must be a number"))
                .ui(&chrome)?,
        ),
        None => None,
    };
    let events = ops::audit_page(
        &state,
        q.actor.as_deref(),
        q.action.as_deref(),
        before,
        AUDIT_PAGE,
    )
    .await
    .ui(&chrome)?;
    let actor = q.actor.unwrap_or_default();
    let action = q.action.unwrap_or_default();
    let older = match events.last() {
        Some(last) if events.len() == AUDIT_PAGE as usize => {
            let mut pairs = vec![("before_id", last.id.to_string())];
            if !actor.is_empty() {
                pairs.push(("actor", actor.clone()));
            }
            if !action.is_empty() {
                pairs.push(("action", action.clone()));
            }
            format!(
                "/admin/audit?{}",
                serde_urlencoded::to_string(pairs).unwrap_or_default()
            )
        }
        _ => String::new(),
    };
    let events = events
        .into_iter()
        .map(|e| AuditLine {
            id: e.id,
            at: datetime(e.at),
            actor: e.actor.unwrap_or_default(),
            action: e.action,
            target: e.target.unwrap_or_default(),
            detail: e.detail.unwrap_or_default(),
            remote: e.remote_addr.unwrap_or_default(),
            count: e.count,
        })
        .collect();
    Ok(render(&AuditPage {
        chrome,
        actor,
        action,
        events,
        older,
    }))
}
