//! Deleting a tag: the confirmation (what else the manifest's deletion removes) and the
//! `POST`, which deletes by the digest the confirmation showed.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use registryo_core::scope::{Actions, RepositoryName};
use serde::Deserialize;

use super::manifest::short_digest;
use super::{
    Chrome, NotConfiguredPage, Target, UiClient, UiError, WithChrome, parse_target, principal,
    registry_error, render, repo_href, rights,
};
use crate::app::AppState;
use crate::error::AppError;
use crate::session::Viewer;
use registryo_core::app::ops;

#[derive(Template)]
#[template(path = "delete_tag.html")]
struct DeleteTagPage {
    chrome: Chrome,
    name: String,
    tag: String,
    digest: String,
    short: String,
    others: Vec<String>,
    action: String,
    cancel: String,
}

pub(super) async fn delete_confirm(
    client: &UiClient,
    chrome: Chrome,
    name: RepositoryName,
    tag: String,
) -> Result<Response, UiError> {
    let digest = client
        .manifest_digest(&name, &tag)
        .await
        .map_err(|e| registry_error(&e, "tag"))
        .ui(&chrome)?;
    let others = client
        .tags_sharing(&name, &digest)
        .await
        .map_err(|e| registry_error(&e, "tag"))
        .ui(&chrome)?
        .into_iter()
        .filter(|t| *t != tag)
        .collect();
    let base = repo_href(&name);
    Ok(render(&DeleteTagPage {
        action: format!("{base}/-/tags/{tag}/delete"),
        cancel: format!("{base}/-/tags/{tag}"),
        name: name.to_string(),
        short: short_digest(digest.as_str()),
        digest: digest.to_string(),
        tag,
        others,
        chrome,
    }))
}

/// The delete form: the digest the confirmation showed.
#[derive(Debug, Deserialize)]
pub(super) struct DeleteForm {
    #[serde(default)]
    digest: String,
}

pub(super) async fn target_post(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(path): Path<String>,
    Form(form): Form<DeleteForm>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&viewer, "registry");
    let Some(Target::DeleteTag(name, tag)) = parse_target(&path) else {
        return Err(AppError::NotFound("page".to_owned())).ui(&chrome);
    };
    if state.registry.client().is_none() {
        return Ok(render(&NotConfiguredPage { chrome }));
    }
    let snap = state.accounts.snapshot();
    let p = principal(&snap, &viewer);
    if !rights(&snap, &p, &name).contains(Actions::DELETE) {
        return Err(AppError::Forbidden(format!(
            "you may not delete tags of {name}"
        )))
        .ui(&chrome);
    }
    let actor = viewer.actor();
    let seen = Some(form.digest.as_str()).filter(|d| !d.is_empty());
    ops::delete_tag(&state, &actor, &name, &tag, seen)
        .await
        .ui(&chrome)?;
    Ok(Redirect::to(&format!("{}?ok=deleted", repo_href(&name))).into_response())
}
