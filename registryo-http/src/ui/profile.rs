//! The signed-in person's profile: their account, groups and docker logins, changing their
//! own password, and revoking one of their logins.

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::{
    Chrome, FieldError, Flash, TokenLine, UiError, UserView, WithChrome, back, parse_id,
    render_status,
};
use crate::app::AppState;
use crate::error::AppError;
use crate::session::Viewer;
use registryo_core::app::ops;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/profile", get(profile))
        .route("/profile/password", post(profile_password))
        .route("/profile/tokens/{id}/revoke", post(profile_revoke))
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    chrome: Chrome,
    user: UserView,
    groups: Vec<String>,
    tokens: Vec<TokenLine>,
    error: FieldError,
}

impl ProfilePage {
    fn revoke_url(&self, id: &i64) -> String {
        format!("/profile/tokens/{id}/revoke")
    }
    fn revoke_all_url(&self) -> String {
        String::new()
    }
}

async fn profile_page(
    state: &AppState,
    viewer: &Viewer,
    chrome: Chrome,
    error: FieldError,
    status: StatusCode,
) -> Result<Response, UiError> {
    let groups = ops::groups_of_user(state, &viewer.user).await.ui(&chrome)?;
    let tokens = ops::logins(state, &viewer.user)
        .await
        .ui(&chrome)?
        .into_iter()
        .map(TokenLine::of)
        .collect();
    Ok(render_status(
        status,
        &ProfilePage {
            chrome,
            user: UserView::of(&viewer.user),
            groups: groups.into_iter().map(|g| g.name).collect(),
            tokens,
            error,
        },
    ))
}

async fn profile(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(flash): Query<Flash>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&viewer, "profile").notice(&flash);
    profile_page(
        &state,
        &viewer,
        chrome,
        FieldError::default(),
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
    /// "Keep my docker logins" (off by default: a password change ends them).
    #[serde(default)]
    keep_docker: Option<String>,
}

async fn profile_password(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(form): Form<PasswordForm>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&viewer, "profile");
    let change = ops::OwnChange {
        current: form.current,
        new: form.new,
        confirm: form.confirm,
        session: Some(viewer.session.id_hash.clone()),
        keep_docker_logins: form.keep_docker.is_some(),
    };
    let actor = viewer.actor();
    match ops::change_own_password(&state, &actor, &viewer.user, &change)
        .await
        .map_err(AppError::from)
    {
        Ok(_) => Ok(back("/profile", "password")),
        Err(e @ AppError::Invalid { .. }) => {
            profile_page(
                &state,
                &viewer,
                chrome,
                FieldError::from(&e),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(e) => Err(e).ui(&chrome),
    }
}

async fn profile_revoke(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&viewer, "profile");
    let id = parse_id(&id).ui(&chrome)?;
    let actor = viewer.actor();
    ops::revoke_login(&state, &actor, &viewer.user, id)
        .await
        .ui(&chrome)?;
    Ok(back("/profile", "revoked"))
}
