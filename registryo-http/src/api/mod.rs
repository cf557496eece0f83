//! The JSON admin API under `/api/v1`, for an admin session (with the `X-CSRF-Token` header
//! on unsafe methods) or admin HTTP Basic credentials. Errors are
//! `{"error": {"status", "message", "field"}}` with the status of [`AppError::status`].

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use registryo_core::service::parse_basic;
use registryo_core::storage::{AuditEvent, ListQuery, User};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::AppState;
use crate::error::AppError;
use crate::session::{self, CSRF_HEADER, same_secret};
use registryo_core::app::OpError;
use registryo_core::app::accounts::Checked;
use registryo_core::app::attempts::Channel;
use registryo_core::app::ops::{self, Actor, NewHuman};
use registryo_core::time::date;

mod activity;
mod policy;
use policy::*;

/// An API error response.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(e: AppError) -> ApiError {
        ApiError(e)
    }
}

impl From<OpError> for ApiError {
    fn from(e: OpError) -> ApiError {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.0.log();
        let status = self.0.status();
        let body = json!({"error": {
            "status": status.as_u16(),
            "message": self.0.message(),
            "field": self.0.field(),
        }});
        crate::ui::with_retry_after(&self.0, (status, axum::Json(body)).into_response())
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// A JSON body whose rejection is a `400` in the API's error format.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T, S> FromRequest<S> for Body<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(e) => Err(ApiError(AppError::Invalid {
                field: None,
                message: e.body_text(),
            })),
        }
    }
}

/// The administrator making an API call.
#[derive(Debug)]
pub struct ApiAdmin(pub Actor);

fn unsafe_method(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whoever makes an API call, administrator or not: what [`ApiAdmin`] requires to be an
/// administrator, and what the calls open to everyone signed in (the activity) take.
#[derive(Debug)]
pub struct ApiCaller {
    /// For the audit log.
    pub actor: Actor,
    /// As the ACL sees them (admin or not).
    pub principal: registryo_core::acl::Principal,
}

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let remote = session::remote(&parts.extensions);
        // The token endpoint's Basic parser: the same limits, the same Username.
        let basic = parse_basic(&parts.headers).map_err(|_| AppError::Unauthenticated)?;
        if let Some((username, password)) = basic {
            let principal = match state
                .accounts
                .check(&username, &password, remote, Channel::Api)
                .await
                .map_err(OpError::from)?
            {
                Checked::Valid { principal, .. } => principal,
                Checked::Invalid => return Err(AppError::Unauthenticated.into()),
                Checked::Throttled(wait) => return Err(AppError::Throttled(wait).into()),
            };
            // A browser may replay cached Basic credentials cross-site: unsafe calls must
            // be JSON, which a cross-site form cannot send without a CORS preflight.
            if parts.method == Method::POST {
                let json = parts
                    .headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("application/json"));
                if !json {
                    return Err(AppError::Invalid {
                        field: None,
                        message: "POST requests must have Content-Type: application/json"
                            .to_owned(),
                    }
                    .into());
                }
            }
            let username = principal
                .account
                .clone()
                .unwrap_or_else(|| username.into_string());
            crate::app::log_user(&username);
            return Ok(ApiCaller {
                actor: Actor::admin(username, remote),
                principal,
            });
        }
        let Some((sess, user)) = session::load_session(state, &parts.headers).await? else {
            return Err(AppError::Unauthenticated.into());
        };
        if unsafe_method(&parts.method) {
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if !sent.is_some_and(|s| same_secret(s, &sess.csrf_token)) {
                return Err(AppError::Csrf.into());
            }
        }
        crate::app::log_user(&user.username);
        let principal = state
            .accounts
            .snapshot()
            .principal(&user.username, registryo_core::time::unix_now())
            .unwrap_or_else(|| registryo_core::acl::Principal::user(user.username.clone()))
            .with_admin(user.is_admin);
        Ok(ApiCaller {
            actor: Actor::admin(user.username, remote),
            principal,
        })
    }
}

impl FromRequestParts<AppState> for ApiAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = ApiCaller::from_request_parts(parts, state).await?;
        if !caller.principal.admin {
            return Err(
                AppError::Forbidden("the admin API is for administrators".to_owned()).into(),
            );
        }
        Ok(ApiAdmin(caller.actor))
    }
}

/// The API's routes, to nest under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/users", get(list_users).post(create_user))
        .route(
            "/users/{name}",
            get(get_user).patch(patch_user).delete(delete_user),
        )
        .route("/users/{name}/password", put(set_password))
        .route(
            "/users/{name}/logins",
            get(list_logins).delete(revoke_logins),
        )
        .route("/users/{name}/logins/{id}", delete(revoke_login))
        .route("/service-accounts", post(create_service))
        .route("/service-accounts/{name}/secret", post(rotate_secret))
        .route("/groups", get(list_groups).post(create_group))
        .route("/groups/{name}", get(get_group).delete(delete_group))
        .route(
            "/groups/{name}/members/{user}",
            put(add_member).delete(remove_member),
        )
        .route("/rules", get(list_rules).post(add_rule))
        .route(
            "/rules/bulk",
            post(import_rules).layer(DefaultBodyLimit::max(BULK_BODY_LIMIT)),
        )
        .route(
            "/users/bulk",
            post(import_users).layer(DefaultBodyLimit::max(BULK_BODY_LIMIT)),
        )
        .route("/rules/{id}", delete(delete_rule))
        .route("/explain", get(explain))
        .route("/audit", get(audit))
        .route("/activity", get(activity::activity))
        .fallback(api_not_found)
}

async fn api_not_found() -> ApiError {
    ApiError(AppError::NotFound("endpoint".to_owned()))
}

#[derive(Serialize)]
struct UserJson {
    id: i64,
    username: String,
    kind: &'static str,
    admin: bool,
    disabled: bool,
    first_name: String,
    last_name: String,
    email: Option<String>,
    expires_at: Option<String>,
    created_at: i64,
    groups: Option<Vec<String>>,
}

fn user_json(u: &User, groups: Option<Vec<String>>) -> UserJson {
    UserJson {
        id: u.id,
        username: u.username.clone(),
        kind: u.kind.as_str(),
        admin: u.is_admin,
        disabled: u.disabled,
        first_name: u.first_name.clone(),
        last_name: u.last_name.clone(),
        email: u.email.clone(),
        expires_at: u.expires_at.map(date),
        created_at: u.created_at,
        groups,
    }
}

/// `?filter=TEXT&after=KEY&limit=N` of the lists: a page of at most `limit` (default 50, at
/// most 1000) items after `after` (the `next` of the previous page) containing `filter`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PageParams {
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    limit: Option<String>,
}

/// The list query of `?filter=&after=&limit=`; a bad parameter is a `400` naming it.
fn list_query(
    q: Result<Query<PageParams>, axum::extract::rejection::QueryRejection>,
) -> Result<ListQuery, AppError> {
    let Query(q) = q.map_err(|e| AppError::Invalid {
        field: None,
        message: e.body_text(),
    })?;
    let limit = match q.limit.as_deref() {
        None | Some("") => 0,
        Some(s) => match s.parse::<u32>() {
            Ok(n @ 1..=1000) => n,
            _ => {
                return Err(AppError::invalid(
                    "limit",
                    "must be a number from 1 to 1000",
                ));
            }
        },
    };
    let filter = q.filter.unwrap_or_default();
    if filter.chars().count() > 200 {
        return Err(AppError::invalid(
            "filter",
            "must be at most 200 characters",
        ));
    }
    Ok(ListQuery {
        filter,
        after: q.after.filter(|a| !a.is_empty()),
        limit,
    })
}

type PageQuery = Result<Query<PageParams>, axum::extract::rejection::QueryRejection>;

async fn list_users(
    State(state): State<AppState>,
    _a: ApiAdmin,
    q: PageQuery,
) -> ApiResult<Response> {
    let page = ops::users_page(&state, &list_query(q)?).await?;
    let list: Vec<_> = page.items.iter().map(|u| user_json(u, None)).collect();
    Ok(axum::Json(json!({ "users": list, "next": page.next })).into_response())
}

async fn create_user(
    State(state): State<AppState>,
    ApiAdmin(actor): ApiAdmin,
    Body(new): Body<NewHuman>,
) -> ApiResult<Response> {
    let u = ops::create_human(&state, &actor, new).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(user_json(&u, Some(Vec::new()))),
    )
        .into_response())
}

async fn get_user(
    State(state): State<AppState>,
    _a: ApiAdmin,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let u = ops::user_named(&state, &name).await?;
    let groups = ops::groups_of_user(&state, &u).await?;
    Ok(axum::Json(user_json(
        &u,
        Some(groups.into_iter().map(|g| g.name).collect()),
    ))
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserPatch {
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    disabled: Option<bool>,
    admin: Option<bool>,
    /// `YYYY-MM-DD`, or an empty string for never.
    expires_at: Option<String>,
}

async fn patch_user(
    State(state): State<AppState>,
    ApiAdmin(actor): ApiAdmin,
    Path(name): Path<String>,
    Body(p): Body<UserPatch>,
) -> ApiResult<Response> {
    let u = ops::user_named(&state, &name).await?;
    let change = ops::UserChange {
        first_name: p.first_name,
        last_name: p.last_name,
        email: p.email,
        expires_at: p.expires_at.as_deref().map(ops::check_expiry).transpose()?,
        // A flag set to what it is already is no change (and audits nothing).
        disabled: p.disabled.filter(|d| *d != u.disabled),
        admin: p.admin.filter(|a| *a != u.is_admin),
    };
    let u = ops::update_user(&state, &actor, &u, &change).await?;
    Ok(axum::Json(user_json(&u, None)).into_response())
}

async fn delete_user(
    State(state): State<AppState>,
    ApiAdmin(actor): ApiAdmin,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let u = ops::user_named(&state, &name).await?;
    ops::delete_user(&state, &actor, &u).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A docker login as the API shows it (never the token).
#[derive(Serialize)]
struct LoginJson {
    id: i64,
    client_id: String,
    service: String,
    created_at: i64,
    last_used_at: Option<i64>,
    created_addr: Option<String>,
    last_used_addr: Option<String>,
}

async fn list_logins(
    State(state): State<AppState>,
    _a: ApiAdmin,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let u = ops::user_named(&state, &name).await?;
    let list: Vec<LoginJson> = ops::logins(&state, &u)
        .await?
        .into_iter()
        .map(|t| LoginJson {
            id: t.id,
            client_id: t.client_id,
            service: t.service,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            created_addr: t.created_addr,
            last_used_addr: t.last_used_addr,
        })
        .collect();
    Ok(axum::Json(json!({"username": u.username, "logins": list})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeQuery {
    /// Only the logins of this client (e.g. `docker`).
    client_id: Option<String>,
}

async fn revoke_logins(
    State(state): State<AppState>,
    ApiAdmin(actor): ApiAdmin,
    Path(name): Path<String>,
    Query(q): Query<RevokeQuery>,
) -> ApiResult<Response> {
    let u = ops::user_named(&state, &name).await?;
    let n = ops::revoke_logins(&state, &actor, &u, q.client_id.as_deref()).await?;
    Ok(axum::Json(json!({"revoked": n})).into_response())
}

async fn revoke_login(
    State(state): State<AppState>,
    ApiAdmin(actor): ApiAdmin,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let u = ops::user_named(&state, &name).await?;
    let id: i64 = id
        .parse()
        .map_err(|_| AppError::NotFound("docker login".to_owned()))?;
    ops::revoke_login(&state, &actor, &u, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    password: String,
}

async fn set_password(
    State(state): State<AppState>,
    ApiAdmin(actor): ApiAdmin,
    Path(name): Path<String>,
    Body(b): Body<PasswordBody>,
) -> ApiResult<Response> {
    let u = ops::user_named(&state, &name).await?;
    ops::set_password(&state, &actor, &u, &b.password).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceBody {
    username: String,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    expires_at: Option<String>,
    /// Create it even if `${account}` rules would give it existing repositories.
    #[serde(default)]
    force: bool,
}

async fn create_service(
    State(state): State<AppState>,
    ApiAdmin(actor): ApiAdmin,
    Body(b): Body<ServiceBody>,
) -> ApiResult<Response> {
    let expires = match b.expires_at.as_deref() {
        Some(s) => ops::check_expiry(s)
            .map_err(|_| AppError::invalid("expires_at", "must be a date like 2030-12-31"))?,
        None => None,
    };
    let new = ops::NewService {
        username: b.username,
        expires_at: expires,
        force: b.force,
        ..ops::NewService::default()
    };
    let (u, secret) = ops::create_service(&state, &actor, new).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"user": user_json(&u, Some(Vec::new())), "secret": secret})),
    )
        .into_response())
}

async fn rotate_secret(
    State(state): State<AppState>,
    ApiAdmin(actor): ApiAdmin,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let u = ops::user_named(&state, &name).await?;
    let secret = ops::rotate_secret(&state, &actor, &u).await?;
    Ok(axum::Json(json!({"username": u.username, "secret": secret})).into_response())
}
