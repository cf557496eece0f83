//! The admin API's groups, rules, bulk imports (rules and users), explain and the audit log
//! (`/api/v1/groups`, `/rules`, `/rules/bulk`, `/users/bulk`, `/explain`, `/audit`).

use super::*;

pub(super) async fn list_groups(
    State(state): State<AppState>,
    _a: ApiAdmin,
    q: PageQuery,
) -> ApiResult<Response> {
    let page = ops::groups_page(&state, &list_query(q)?).await?;
    let list: Vec<_> = page
        .items
        .into_iter()
        .map(|(g, members)| json!({"id": g.id, "name": g.name, "members": members}))
        .collect();
    Ok(axum::Json(json!({ "groups": list, "next": page.next })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GroupBody {
    name: String,
}

pub(super) async fn create_group(
    State(state): State<AppState>,
    ApiAdmin(actor): ApiAdmin,
    Body(b): Body<GroupBody>,
) -> ApiResult<Response> {
    let g = ops::create_group(&state, &actor, &b.name).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"id": g.id, "name": g.name, "members": []})),
    )
        .into_response())
}

pub(super) async fn get_group(
    State(state): State<AppState>,
    _a: ApiAdmin,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let g = ops::group_named(&state, &name).await?;
    let members = ops::group_members(&state, &g).await?;
    let members: Vec<&str> = members.iter().map(|u| u.username.as_str()).collect();
    Ok(axum::Json(json!({"id": g.id, "name": g.name, "members": members})).into_response())
}

pub(super) async fn delete_group(
    State(state): State<AppState>,
    ApiAdmin(actor): ApiAdmin,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let g = ops::group_named(&state, &name).await?;
    ops::delete_group(&state, &actor, &g).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn add_member(
    State(state): State<AppState>,
    ApiAdmin(actor): ApiAdmin,
    Path((name, user)): Path<(String, String)>,
) -> ApiResult<Response> {
    let g = ops::group_named(&state, &name).await?;
    let _u = ops::user_named(&state, &user).await?;
    let added = ops::add_member(&state, &actor, &g, &user).await?;
    Ok(if added {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    }
    .into_response())
}

pub(super) async fn remove_member(
    State(state): State<AppState>,
    ApiAdmin(actor): ApiAdmin,
    Path((name, user)): Path<(String, String)>,
) -> ApiResult<Response> {
    let g = ops::group_named(&state, &name).await?;
    let u = ops::user_named(&state, &user).await?;
    if !ops::remove_member(&state, &actor, &g, &u).await? {
        return Err(AppError::NotFound(format!("member {user} of group {name}")).into());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn list_rules(
    State(state): State<AppState>,
    _a: ApiAdmin,
    q: PageQuery,
) -> ApiResult<Response> {
    let page = ops::rules_page(&state, &list_query(q)?).await?;
    let list: Vec<_> = page
        .items
        .into_iter()
        .map(|ops::ListedRule { rule: r, broken }| {
            json!({"id": r.id, "subject": r.subject, "pattern": r.pattern, "actions": r.actions,
                   "created_at": r.created_at, "created_by": r.created_by, "broken": broken})
        })
        .collect();
    Ok(axum::Json(json!({ "rules": list, "next": page.next })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RuleBody {
    subject: String,
    pattern: String,
    actions: String,
}

pub(super) async fn add_rule(
    State(state): State<AppState>,
    ApiAdmin(actor): ApiAdmin,
    Body(b): Body<RuleBody>,
) -> ApiResult<Response> {
    let r = ops::add_rule(&state, &actor, &b.subject, &b.pattern, &b.actions).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(
            json!({"id": r.id, "subject": r.subject, "pattern": r.pattern, "actions": r.actions}),
        ),
    )
        .into_response())
}

/// The largest body of a bulk import (100,000 rules are about 7 MB of JSON).
pub(super) const BULK_BODY_LIMIT: usize = 32 * 1024 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RulesImport {
    rules: Vec<ops::RuleText>,
}

/// Items of a JSON array, numbered for errors from 1.
fn numbered<T>(items: Vec<T>) -> Vec<ops::Numbered<T>> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, t)| (format!("item {}", i + 1), t))
        .collect()
}

/// `POST /rules/bulk` `{"rules": [{"subject", "pattern", "actions"}, …]}`: all in one
/// transaction, or none and a 400 naming the first bad item.
pub(super) async fn import_rules(
    State(state): State<AppState>,
    ApiAdmin(actor): ApiAdmin,
    Body(b): Body<RulesImport>,
) -> ApiResult<Response> {
    let stored = ops::import_rules(&state, &actor, &numbered(b.rules)).await?;
    let ids: Vec<i64> = stored.iter().map(|r| r.id).collect();
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"added": ids.len(), "ids": ids})),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UsersImport {
    users: Vec<ops::UserText>,
    /// Create them even if `${account}` rules would give them existing repositories.
    #[serde(default)]
    force: bool,
}

/// `POST /users/bulk` `{"users": [{"username", "password"?, …}, …], "force"?}`: all in one
/// transaction, or none and a 400 (409 for a name taken) naming the first bad item.
pub(super) async fn import_users(
    State(state): State<AppState>,
    ApiAdmin(actor): ApiAdmin,
    Body(b): Body<UsersImport>,
) -> ApiResult<Response> {
    let made = ops::import_users(&state, &actor, &numbered(b.users), b.force).await?;
    let names: Vec<&str> = made.iter().map(|u| u.username.as_str()).collect();
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"created": names.len(), "users": names})),
    )
        .into_response())
}

pub(super) async fn delete_rule(
    State(state): State<AppState>,
    ApiAdmin(actor): ApiAdmin,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id: i64 = id
        .parse()
        .map_err(|_| AppError::NotFound(format!("rule {id}")))?;
    ops::delete_rule(&state, &actor, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
pub(super) struct ExplainQuery {
    #[serde(default)]
    user: String,
    #[serde(default)]
    scope: String,
}

pub(super) async fn explain(
    State(state): State<AppState>,
    _a: ApiAdmin,
    q: Result<Query<ExplainQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q.map_err(|e| AppError::Invalid {
        field: None,
        message: e.body_text(),
    })?;
    let r = ops::explain(&state, &q.user, &q.scope)?;
    Ok(axum::Json(r).into_response())
}

#[derive(Deserialize)]
pub(super) struct AuditQueryParams {
    actor: Option<String>,
    action: Option<String>,
    before_id: Option<String>,
    limit: Option<String>,
}

fn event_json(e: &AuditEvent) -> serde_json::Value {
    json!({"id": e.id, "at": e.at, "actor": e.actor, "action": e.action, "target": e.target,
           "detail": e.detail, "remote_addr": e.remote_addr, "count": e.count})
}

pub(super) async fn audit(
    State(state): State<AppState>,
    _a: ApiAdmin,
    q: Result<Query<AuditQueryParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q.map_err(|e| AppError::Invalid {
        field: None,
        message: e.body_text(),
    })?;
    let before = q
        .before_id
        .as_deref()
        .map(|s| {
            s.parse::<i64>()
                .map_err(|_| AppError::invalid("before_id", "must be a number"))
        })
        .transpose()?;
    let limit = q
        .limit
        .as_deref()
        .map(|s| {
            s.parse::<u32>()
                .map_err(|_| AppError::invalid("limit", "must be a number from 1 to 1000"))
        })
        .transpose()?
        .unwrap_or(100);
    let events = ops::audit_page(
        &state,
        q.actor.as_deref(),
        q.action.as_deref(),
        before,
        limit,
    )
    .await?;
    let next = (events.len() == limit.clamp(1, 1000) as usize)
        .then(|| events.last().map(|e| e.id))
        .flatten();
    let list: Vec<_> = events.iter().map(event_json).collect();
    Ok(axum::Json(json!({"events": list, "next_before_id": next})).into_response())
}
