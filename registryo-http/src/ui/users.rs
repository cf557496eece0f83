//! People and service accounts (`/admin/users`): the list and the two create forms, an
//! account's page and every change made on it, the secret shown once, and deletion.

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use registryo_core::storage::{User, UserKind};
use serde::Deserialize;

use super::{
    Admin, Chrome, ConfirmPage, FieldError, Flash, ListPager, ListParams, TokenLine, UiError,
    UserView, WithChrome, back, parse_id, render, render_status,
};
use crate::app::AppState;
use crate::error::AppError;
use registryo_core::app::OpError;
use registryo_core::app::ops::{self, NewHuman};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(users).post(users_create))
        .route("/admin/service-accounts", post(service_create))
        .route("/admin/users/{id}", get(user_page))
        .route("/admin/users/{id}/profile", post(user_profile))
        .route("/admin/users/{id}/disable", post(user_disable))
        .route("/admin/users/{id}/enable", post(user_enable))
        .route(
            "/admin/users/{id}/admin",
            get(user_admin_confirm).post(user_admin),
        )
        .route("/admin/users/{id}/unadmin", post(user_unadmin))
        .route("/admin/users/{id}/password", post(user_password))
        .route(
            "/admin/users/{id}/rotate",
            get(user_rotate_confirm).post(user_rotate),
        )
        .route("/admin/users/{id}/expiry", post(user_expiry))
        .route("/admin/users/{id}/logins/revoke", post(user_revoke_all))
        .route(
            "/admin/users/{id}/logins/{login}/revoke",
            post(user_revoke_login),
        )
        .route(
            "/admin/users/{id}/delete",
            get(user_delete_confirm).post(user_delete),
        )
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    chrome: Chrome,
    users: Vec<UserView>,
    pager: ListPager,
    error: FieldError,
    /// Which create form the error belongs to: `human` or `service`.
    form: &'static str,
    username: String,
    first_name: String,
    last_name: String,
    email: String,
    expires: String,
    /// The form's change needs a confirmation: show "create it anyway".
    confirm: bool,
}

impl UsersPage {
    fn err(&self, form: &str, field: &str) -> &str {
        if self.form == form {
            self.error.on(field)
        } else {
            ""
        }
    }
    fn general(&self, form: &str) -> &str {
        if self.form == form {
            self.error.general()
        } else {
            ""
        }
    }
}

async fn users_page(
    state: &AppState,
    mut page: UsersPage,
    params: &ListParams,
    status: StatusCode,
) -> Result<Response, UiError> {
    let users = ops::users_page(state, &params.query())
        .await
        .ui(&page.chrome)?;
    page.users = users.items.iter().map(UserView::of).collect();
    page.pager = ListPager::new("/admin/users", params, users.next, page.users.len());
    Ok(render_status(status, &page))
}

fn empty_users_page(chrome: Chrome) -> UsersPage {
    UsersPage {
        chrome,
        users: Vec::new(),
        pager: ListPager::default(),
        error: FieldError::default(),
        form: "",
        username: String::new(),
        first_name: String::new(),
        last_name: String::new(),
        email: String::new(),
        expires: String::new(),
        confirm: false,
    }
}

async fn users(
    State(state): State<AppState>,
    admin: Admin,
    Query(flash): Query<Flash>,
    Query(params): Query<ListParams>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "users").notice(&flash);
    users_page(&state, empty_users_page(chrome), &params, StatusCode::OK).await
}

#[derive(Deserialize)]
struct HumanForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    admin: Option<String>,
    #[serde(default)]
    invite: Option<String>,
    /// "Create it anyway" after a confirmation was asked for.
    #[serde(default)]
    force: Option<String>,
}

async fn users_create(
    State(state): State<AppState>,
    admin: Admin,
    Form(f): Form<HumanForm>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "users");
    let new = NewHuman {
        username: f.username.trim().to_owned(),
        password: f.password,
        first_name: f.first_name.clone(),
        last_name: f.last_name.clone(),
        email: f.email.clone(),
        admin: f.admin.is_some(),
        invite: f.invite.is_some(),
        force: f.force.is_some(),
    };
    let invite = new.invite;
    match ops::create_human(&state, &admin.actor(), new)
        .await
        .map_err(AppError::from)
    {
        Ok(u) => Ok(back(
            &format!("/admin/users/{}", u.id),
            if invite { "invited" } else { "created" },
        )),
        Err(e) => {
            refused(&state, chrome, e, |page| UsersPage {
                form: "human",
                username: f.username,
                first_name: f.first_name,
                last_name: f.last_name,
                email: f.email,
                ..page
            })
            .await
        }
    }
}

/// A creation form's refusal: for its input (an invalid field, a taken name, a namespace
/// claim to confirm), the users page again with what was typed (`typed`), the field's error
/// and the confirmation; any other error is its own page.
async fn refused(
    state: &AppState,
    chrome: Chrome,
    e: AppError,
    typed: impl FnOnce(UsersPage) -> UsersPage,
) -> Result<Response, UiError> {
    match e {
        AppError::Invalid { .. } | AppError::Conflict(_) | AppError::NeedsConfirmation(_) => {
            let page = typed(UsersPage {
                error: FieldError::from(&e),
                confirm: matches!(e, AppError::NeedsConfirmation(_)),
                ..empty_users_page(chrome)
            });
            users_page(state, page, &ListParams::default(), e.status()).await
        }
        e => Err(e).ui(&chrome),
    }
}

#[derive(Template)]
#[template(path = "secret.html")]
struct SecretPage {
    chrome: Chrome,
    user: UserView,
    secret: String,
    /// The registry as clients name it (empty: unknown).
    registry_host: String,
}

#[derive(Deserialize)]
struct ServiceForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    expires: String,
    /// "Create it anyway" after a confirmation was asked for.
    #[serde(default)]
    force: Option<String>,
}

async fn service_create(
    State(state): State<AppState>,
    admin: Admin,
    Form(f): Form<ServiceForm>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "users");
    let result = async {
        let expires = ops::check_expiry(&f.expires)?;
        let new = ops::NewService {
            username: f.username.trim().to_owned(),
            expires_at: expires,
            force: f.force.is_some(),
            ..ops::NewService::default()
        };
        ops::create_service(&state, &admin.actor(), new).await
    }
    .await;
    match result.map_err(AppError::from) {
        Ok((user, secret)) => Ok(render_status(
            StatusCode::CREATED,
            &SecretPage {
                chrome,
                user: UserView::of(&user),
                secret,
                registry_host: state.web.config.registry_host.clone(),
            },
        )),
        Err(e) => {
            refused(&state, chrome, e, |page| UsersPage {
                form: "service",
                username: f.username,
                expires: f.expires,
                ..page
            })
            .await
        }
    }
}

#[derive(Template)]
#[template(path = "user.html")]
struct UserPage {
    chrome: Chrome,
    user: UserView,
    groups: Vec<(i64, String)>,
    /// The rules that apply to them (by name, groups, `authenticated`, `anonymous`).
    rules: Vec<ops::AppliedRule>,
    tokens: Vec<TokenLine>,
    error: FieldError,
    myself: bool,
}

impl UserPage {
    fn revoke_url(&self, id: &i64) -> String {
        format!("/admin/users/{}/logins/{id}/revoke", self.user.id)
    }
    fn revoke_all_url(&self) -> String {
        format!("/admin/users/{}/logins/revoke", self.user.id)
    }
}

async fn user_page_render(
    state: &AppState,
    admin: &Admin,
    chrome: Chrome,
    id: i64,
    error: FieldError,
    status: StatusCode,
) -> Result<Response, UiError> {
    let u = ops::user(state, id).await.ui(&chrome)?;
    let groups = ops::groups_of_user(state, &u).await.ui(&chrome)?;
    let tokens = ops::logins(state, &u).await.ui(&chrome)?;
    Ok(render_status(
        status,
        &UserPage {
            myself: u.id == admin.0.user.id,
            chrome,
            user: UserView::of(&u),
            groups: groups.into_iter().map(|g| (g.id, g.name)).collect(),
            rules: ops::rules_applying_to(state, &u.username),
            tokens: tokens.into_iter().map(TokenLine::of).collect(),
            error,
        },
    ))
}

async fn user_page(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    Query(flash): Query<Flash>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "users").notice(&flash);
    let id = parse_id(&id).ui(&chrome)?;
    user_page_render(
        &state,
        &admin,
        chrome,
        id,
        FieldError::default(),
        StatusCode::OK,
    )
    .await
}

/// Run a change on a user and go back to their page; a validation error is shown there.
async fn user_change<F, Fut>(
    state: &AppState,
    admin: &Admin,
    id: &str,
    code: &str,
    change: F,
) -> Result<Response, UiError>
where
    F: FnOnce(User) -> Fut,
    Fut: Future<Output = Result<(), OpError>>,
{
    let chrome = Chrome::of(&admin.0, "users");
    let id = parse_id(id).ui(&chrome)?;
    let user = ops::user(state, id).await.ui(&chrome)?;
    match change(user).await.map_err(AppError::from) {
        Ok(()) => Ok(back(&format!("/admin/users/{id}"), code)),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict(_))) => {
            let status = e.status();
            user_page_render(state, admin, chrome, id, FieldError::from(&e), status).await
        }
        Err(e) => Err(e).ui(&chrome),
    }
}

async fn user_revoke_login(
    State(state): State<AppState>,
    admin: Admin,
    Path((id, login)): Path<(String, String)>,
) -> Result<Response, UiError> {
    let actor = admin.actor();
    let st = state.clone();
    let chrome = Chrome::of(&admin.0, "users");
    let login = parse_id(&login).ui(&chrome)?;
    user_change(&state, &admin, &id, "revoked", |u| async move {
        ops::revoke_login(&st, &actor, &u, login).await
    })
    .await
}

async fn user_revoke_all(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let actor = admin.actor();
    let st = state.clone();
    user_change(&state, &admin, &id, "revoked_all", |u| async move {
        ops::revoke_logins(&st, &actor, &u, None).await.map(|_| ())
    })
    .await
}

#[derive(Deserialize)]
struct ProfileForm {
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    email: String,
}

async fn user_profile(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    Form(f): Form<ProfileForm>,
) -> Result<Response, UiError> {
    let actor = admin.actor();
    let st = state.clone();
    user_change(&state, &admin, &id, "saved", |u| async move {
        ops::update_profile(&st, &actor, &u, &f.first_name, &f.last_name, &f.email)
            .await
            .map(|_| ())
    })
    .await
}

async fn user_disable(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let actor = admin.actor();
    let st = state.clone();
    user_change(&state, &admin, &id, "disabled", |u| async move {
        ops::set_disabled(&st, &actor, &u, true).await
    })
    .await
}

async fn user_enable(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let actor = admin.actor();
    let st = state.clone();
    user_change(&state, &admin, &id, "enabled", |u| async move {
        ops::set_disabled(&st, &actor, &u, false).await
    })
    .await
}

async fn user_admin(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let actor = admin.actor();
    let st = state.clone();
    user_change(&state, &admin, &id, "admin", |u| async move {
        ops::set_admin(&st, &actor, &u, true).await
    })
    .await
}

async fn user_unadmin(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let actor = admin.actor();
    let st = state.clone();
    user_change(&state, &admin, &id, "unadmin", |u| async move {
        ops::set_admin(&st, &actor, &u, false).await
    })
    .await
}

#[derive(Deserialize)]
struct SetPasswordForm {
    #[serde(default)]
    password: String,
}

async fn user_password(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    Form(f): Form<SetPasswordForm>,
) -> Result<Response, UiError> {
    let actor = admin.actor();
    let st = state.clone();
    user_change(&state, &admin, &id, "password", |u| async move {
        ops::set_password(&st, &actor, &u, &f.password)
            .await
            .map(|_| ())
    })
    .await
}

async fn user_rotate(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "users");
    let id = parse_id(&id).ui(&chrome)?;
    let user = ops::user(&state, id).await.ui(&chrome)?;
    let secret = ops::rotate_secret(&state, &admin.actor(), &user)
        .await
        .ui(&chrome)?;
    Ok(render(&SecretPage {
        chrome,
        user: UserView::of(&user),
        secret,
        registry_host: state.web.config.registry_host.clone(),
    }))
}

#[derive(Deserialize)]
struct ExpiryForm {
    #[serde(default)]
    expires: String,
}

async fn user_expiry(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    Form(f): Form<ExpiryForm>,
) -> Result<Response, UiError> {
    let actor = admin.actor();
    let st = state.clone();
    user_change(&state, &admin, &id, "expiry", |u| async move {
        let at = ops::check_expiry(&f.expires)?;
        ops::set_expiry(&st, &actor, &u, at).await
    })
    .await
}

/// The questions asked before a change to one account that is hard to undo.
#[derive(Clone, Copy)]
enum Ask {
    Delete,
    MakeAdmin,
    Rotate,
}

/// "Delete NAME?", "Make NAME an administrator?", "Rotate the secret of NAME?": a `GET` page
/// naming what the change does, whose form posts to the change itself.
async fn user_confirm(
    state: &AppState,
    admin: &Admin,
    id: &str,
    ask: Ask,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "users");
    let id = parse_id(id).ui(&chrome)?;
    let u = ops::user(state, id).await.ui(&chrome)?;
    let name = &u.username;
    let (title, message, verb, button) = match ask {
        Ask::Delete => (
            format!("Delete {name}?"),
            "The account, its group memberships, docker logins and sessions are removed for \
             good. The audit log keeps its name."
                .to_owned(),
            "delete",
            "Delete",
        ),
        Ask::MakeAdmin => (
            format!("Make {name} an administrator?"),
            format!(
                "{name} will be able to pull, push and delete every repository, manage every \
                 account, group and rule, and read the audit log."
            ),
            "admin",
            "Make administrator",
        ),
        Ask::Rotate if u.kind != UserKind::Service => {
            return Err(OpError::Conflict(
                "only a service account has a generated secret".to_owned(),
            ))
            .ui(&chrome);
        }
        Ask::Rotate => (
            format!("Rotate the secret of {name}?"),
            format!(
                "A new secret is shown once. The current one stops working at once: every job \
                 and machine that logs in as {name} fails until it has the new one."
            ),
            "rotate",
            "Rotate the secret",
        ),
    };
    Ok(render(&ConfirmPage {
        chrome,
        title,
        message,
        action: format!("/admin/users/{id}/{verb}"),
        cancel: format!("/admin/users/{id}"),
        button,
        danger: true,
    }))
}

async fn user_delete_confirm(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    user_confirm(&state, &admin, &id, Ask::Delete).await
}

async fn user_admin_confirm(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    user_confirm(&state, &admin, &id, Ask::MakeAdmin).await
}

async fn user_rotate_confirm(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    user_confirm(&state, &admin, &id, Ask::Rotate).await
}

async fn user_delete(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "users");
    let id = parse_id(&id).ui(&chrome)?;
    let u = ops::user(&state, id).await.ui(&chrome)?;
    ops::delete_user(&state, &admin.actor(), &u)
        .await
        .ui(&chrome)?;
    Ok(back("/admin/users", "deleted"))
}
