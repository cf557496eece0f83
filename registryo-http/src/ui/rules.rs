//! The rules (`/admin/rules`: the list, with the rules the server could not compile marked,
//! adding and removing one) and "explain" (`/admin/explain`: why a user gets what they get
//! for a scope).

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use super::{
    Admin, Chrome, ConfirmPage, FieldError, Flash, ListPager, ListParams, UiError, WithChrome,
    back, parse_id, render, render_status,
};
use crate::app::AppState;
use crate::error::AppError;
use registryo_core::app::ops;
use registryo_core::time::date;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/rules", get(rules).post(rules_add))
        .route(
            "/admin/rules/{id}/delete",
            get(rules_delete_confirm).post(rules_delete),
        )
        .route("/admin/explain", get(explain))
}

struct RuleRow {
    id: i64,
    subject: String,
    pattern: String,
    actions: String,
    created: String,
    created_by: String,
    broken: String,
}

#[derive(Template)]
#[template(path = "rules.html")]
struct RulesPage {
    chrome: Chrome,
    rules: Vec<RuleRow>,
    pager: ListPager,
    error: FieldError,
    subject: String,
    pattern: String,
    actions: String,
}

#[derive(Deserialize, Default)]
struct RuleForm {
    #[serde(default)]
    subject: String,
    #[serde(default)]
    pattern: String,
    #[serde(default)]
    actions: String,
}

async fn rules_render(
    state: &AppState,
    chrome: Chrome,
    error: FieldError,
    form: RuleForm,
    params: &ListParams,
    status: StatusCode,
) -> Result<Response, UiError> {
    let page = ops::rules_page(state, &params.query()).await.ui(&chrome)?;
    let next = page.next;
    let rules: Vec<RuleRow> = page
        .items
        .into_iter()
        .map(|ops::ListedRule { rule: r, broken }| RuleRow {
            broken: broken.unwrap_or_default(),
            id: r.id,
            subject: r.subject,
            pattern: r.pattern,
            actions: r.actions,
            created: date(r.created_at),
            created_by: r.created_by.unwrap_or_default(),
        })
        .collect();
    Ok(render_status(
        status,
        &RulesPage {
            chrome,
            pager: ListPager::new("/admin/rules", params, next, rules.len()),
            rules,
            error,
            subject: form.subject,
            pattern: form.pattern,
            actions: form.actions,
        },
    ))
}

/// The list with an empty form (actions `pull` offered).
async fn rules_list(
    state: &AppState,
    chrome: Chrome,
    params: &ListParams,
) -> Result<Response, UiError> {
    let form = RuleForm {
        actions: "pull".to_owned(),
        ..RuleForm::default()
    };
    rules_render(
        state,
        chrome,
        FieldError::default(),
        form,
        params,
        StatusCode::OK,
    )
    .await
}

async fn rules(
    State(state): State<AppState>,
    admin: Admin,
    Query(flash): Query<Flash>,
    Query(params): Query<ListParams>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "rules").notice(&flash);
    rules_list(&state, chrome, &params).await
}

async fn rules_add(
    State(state): State<AppState>,
    admin: Admin,
    Form(f): Form<RuleForm>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "rules");
    match ops::add_rule(&state, &admin.actor(), &f.subject, &f.pattern, &f.actions)
        .await
        .map_err(AppError::from)
    {
        Ok(_) => Ok(back("/admin/rules", "added")),
        Err(e @ AppError::Invalid { .. }) => {
            rules_render(
                &state,
                chrome,
                FieldError::from(&e),
                f,
                &ListParams::default(),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(e) => Err(e).ui(&chrome),
    }
}

/// "Remove rule N?", naming the rule.
async fn rules_delete_confirm(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "rules");
    let id = parse_id(&id).ui(&chrome)?;
    let what = ops::describe_rule(&state, id)
        .ok_or_else(|| AppError::NotFound(format!("rule {id}")))
        .ui(&chrome)?;
    Ok(render(&ConfirmPage {
        chrome,
        title: format!("Remove rule {id}?"),
        message: format!(
            "The rule “{what}” is removed; what it granted stops at once, unless another rule \
             grants it too."
        ),
        action: format!("/admin/rules/{id}/delete"),
        cancel: "/admin/rules".to_owned(),
        button: "Remove",
        danger: true,
    }))
}

/// Removes a rule and shows the list again, saying which rule went.
async fn rules_delete(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&admin.0, "rules");
    let id = parse_id(&id).ui(&chrome)?;
    let rule = ops::delete_rule(&state, &admin.actor(), id)
        .await
        .ui(&chrome)?;
    let chrome = chrome.told(format!(
        "Removed rule {id}: {} may {} on {}.",
        rule.subject, rule.actions, rule.pattern
    ));
    rules_list(&state, chrome, &ListParams::default()).await
}

#[derive(Deserialize, Default)]
struct ExplainQuery {
    user: Option<String>,
    scope: Option<String>,
}

#[derive(Template)]
#[template(path = "explain.html")]
struct ExplainPage {
    chrome: Chrome,
    user: String,
    scope: String,
    result: Option<ops::Explained>,
    error: FieldError,
}

async fn explain(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<ExplainQuery>,
) -> Response {
    let chrome = Chrome::of(&admin.0, "explain");
    let user = q.user.unwrap_or_default();
    let scope = q.scope.unwrap_or_default();
    let (result, error, status) = if scope.is_empty() && user.is_empty() {
        (None, FieldError::default(), StatusCode::OK)
    } else {
        match ops::explain(&state, &user, &scope).map_err(AppError::from) {
            Ok(r) => (Some(r), FieldError::default(), StatusCode::OK),
            Err(e) => (None, FieldError::from(&e), e.status()),
        }
    };
    render_status(
        status,
        &ExplainPage {
            chrome,
            user,
            scope,
            result,
            error,
        },
    )
}
