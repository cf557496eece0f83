//! Groups (`/admin/groups`): the list and the create form, a group's page with its members,
//! adding and removing them, and deletion.

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::{
    Admin, Chrome, ConfirmPage, FieldError, Flash, ListPager, ListParams, UiError, UserView,
    WithChrome, back, parse_id, render, render_status,
};
use crate::app::AppState;
use crate::error::AppError;
use registryo_core::app::ops;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/groups", get(groups).post(groups_create))
        .route("/admin/groups/{id}", get(group_page))
        .route("/admin/groups/{id}/members", post(group_add))
        .route(
            "/admin/groups/{id}/members/{uid}/remove",
            post(group_remove),
        )
        .route(
            "/admin/groups/{id}/delete",
            get(group_delete_confirm).post(group_delete),
        )
}

struct GroupLine {
    id: i64,
    name: String,
    members: usize,
}

#[derive(Template)]
#[template(path = "groups.html")]
struct GroupsPage {
    chrome: Chrome,
    groups: Vec<GroupLine>,
    pager: ListPager,
    error: FieldError,
    name: String,
}

async fn groups_render(
    state: &AppState,
    chrome: Chrome,
    error: FieldError,
    name: String,
    params: &ListParams,
    status: StatusCode,
) -> Result<Response, UiError> {
    let page = ops::groups_page(state, &params.query()).await.ui(&chrome)?;
    let next = page.next;
    let groups: Vec<GroupLine> = page
        .items
        .into_iter()
        .map(|(g, members)| GroupLine {
            members: members.len(),
            id: g.id,
            name: g.name,
        })
        .collect();
    Ok(render_status(
        status,
        &GroupsPage {
            chrome,
            pager: ListPager::new("/admin/groups", params, next, groups.len()),
            groups,
            error,
            name,
        },
    ))
}

async fn groups(
    State(state): State<AppState>,
    admin: Admin,
    Query(flash): Query<Flash>,
    Query(params): Query<ListParams>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "groups").notice(&flash);
    groups_render(
        &state,
        chrome,
        FieldError::default(),
        String::new(),
        &params,
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
struct NameForm {
    #[serde(default)]
    name: String,
}

async fn groups_create(
    State(state): State<AppState>,
    admin: Admin,
    Form(f): Form<NameForm>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "groups");
    match ops::create_group(&state, &admin.actor(), f.name.trim())
        .await
        .map_err(AppError::from)
    {
        Ok(g) => Ok(back(&format!("/admin/groups/{}", g.id), "created")),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict(_))) => {
            let status = e.status();
            let mut fe = FieldError::from(&e);
            fe.field = "name".to_owned();
            groups_render(&state, chrome, fe, f.name, &ListParams::default(), status).await
        }
        Err(e) => Err(e).ui(&chrome),
    }
}

#[derive(Template)]
#[template(path = "group.html")]
struct GroupPage {
    chrome: Chrome,
    id: i64,
    name: String,
    members: Vec<UserView>,
    error: FieldError,
}

async fn group_render(
    state: &AppState,
    chrome: Chrome,
    id: i64,
    error: FieldError,
    status: StatusCode,
) -> Result<Response, UiError> {
    let g = ops::group(state, id).await.ui(&chrome)?;
    let members = ops::group_members(state, &g).await.ui(&chrome)?;
    Ok(render_status(
        status,
        &GroupPage {
            chrome,
            id,
            name: g.name,
            members: members.iter().map(UserView::of).collect(),
            error,
        },
    ))
}

async fn group_page(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    Query(flash): Query<Flash>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "groups").notice(&flash);
    let id = parse_id(&id).ui(&chrome)?;
    group_render(&state, chrome, id, FieldError::default(), StatusCode::OK).await
}

#[derive(Deserialize)]
struct MemberForm {
    #[serde(default)]
    username: String,
}

async fn group_add(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    Form(f): Form<MemberForm>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "groups");
    let id = parse_id(&id).ui(&chrome)?;
    let g = ops::group(&state, id).await.ui(&chrome)?;
    match ops::add_member(&state, &admin.actor(), &g, &f.username)
        .await
        .map_err(AppError::from)
    {
        Ok(_) => Ok(back(&format!("/admin/groups/{id}"), "added")),
        Err(e @ AppError::Invalid { .. }) => {
            group_render(
                &state,
                chrome,
                id,
                FieldError::from(&e),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(e) => Err(e).ui(&chrome),
    }
}

async fn group_remove(
    State(state): State<AppState>,
    admin: Admin,
    Path((id, uid)): Path<(String, String)>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "groups");
    let id = parse_id(&id).ui(&chrome)?;
    let uid = parse_id(&uid).ui(&chrome)?;
    let g = ops::group(&state, id).await.ui(&chrome)?;
    let u = ops::user(&state, uid).await.ui(&chrome)?;
    ops::remove_member(&state, &admin.actor(), &g, &u)
        .await
        .ui(&chrome)?;
    Ok(back(&format!("/admin/groups/{id}"), "removed"))
}

async fn group_delete_confirm(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "groups");
    let id = parse_id(&id).ui(&chrome)?;
    let g = ops::group(&state, id).await.ui(&chrome)?;
    Ok(render(&ConfirmPage {
        chrome,
        title: format!("Delete the group {}?", g.name),
        message: "Its memberships and every rule naming the group are removed with it: its members lose what those rules gave them. The audit log keeps each removed rule.".to_owned(),
        action: format!("/admin/groups/{id}/delete"),
        cancel: format!("/admin/groups/{id}"),
        button: "Delete",
        danger: true,
    }))
}

async fn group_delete(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "groups");
    let id = parse_id(&id).ui(&chrome)?;
    let g = ops::group(&state, id).await.ui(&chrome)?;
    ops::delete_group(&state, &admin.actor(), &g)
        .await
        .ui(&chrome)?;
    Ok(back("/admin/groups", "deleted"))
}
