//! `GET /api/v1/activity`: the registry's activity for anyone signed in, as the ACL lets them
//! see it (the repositories they may pull; an administrator sees all).

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use registryo_core::app::ops::{self, ActivityFilter};
use serde::Deserialize;
use serde_json::json;

use super::{ApiCaller, ApiResult};
use crate::app::AppState;
use crate::error::AppError;

/// `?repository=&actor=&action=&tag=&since=&until=&after=&limit=`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct ActivityParams {
    repository: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    tag: Option<String>,
    since: Option<String>,
    until: Option<String>,
    /// The `next` of the previous page.
    after: Option<String>,
    limit: Option<String>,
}

pub(super) async fn activity(
    State(state): State<AppState>,
    caller: ApiCaller,
    q: Result<Query<ActivityParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q.map_err(|e| AppError::Invalid {
        field: None,
        message: e.body_text(),
    })?;
    let limit = q
        .limit
        .as_deref()
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.parse::<u32>()
                .map_err(|_| AppError::invalid("limit", "must be a number from 1 to 1000"))
        })
        .transpose()?;
    let filter = ActivityFilter {
        repository: q.repository,
        actor: q.actor,
        action: q.action,
        tag: q.tag,
        since: q.since,
        until: q.until,
        before: q.after,
        limit,
    };
    let page = ops::activity_page(&state, &caller.principal, &filter).await?;
    let list: Vec<_> = page.items.iter().map(ops::activity_json).collect();
    Ok(axum::Json(json!({"events": list, "next": page.next})).into_response())
}
