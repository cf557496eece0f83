//! Deleting a tag: the confirmation and the `POST`. On distribution v3 the tag alone goes (the
//! confirmation says so, and looks up nothing more); on 2.8 the manifest goes, and the
//! confirmation names the other tags that go with it. The form carries the digest and the
//! registry version the confirmation showed: the operation refuses a deletion that would not
//! be the one described.

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
use registryo_core::client::{RegistryVersion, TagDeletion};

#[derive(Template)]
#[template(path = "delete_tag.html")]
struct DeleteTagPage {
    chrome: Chrome,
    name: String,
    tag: String,
    digest: String,
    short: String,
    others: Vec<String>,
    /// The registry removes the tag alone (v3).
    untag: bool,
    version: &'static str,
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
    let version = client
        .registry_version()
        .await
        .map_err(|e| registry_error(&e, "tag"))
        .ui(&chrome)?;
    let others = if version.untags() {
        Vec::new()
    } else {
        client
            .tags_sharing_cached(&name, &digest)
            .await
            .map_err(|e| registry_error(&e, "tag"))
            .ui(&chrome)?
            .into_iter()
            .filter(|t| *t != tag)
            .collect()
    };
    let base = repo_href(&name);
    Ok(render(&DeleteTagPage {
        action: format!("{base}/-/tags/{tag}/delete"),
        cancel: format!("{base}/-/tags/{tag}"),
        name: name.to_string(),
        short: short_digest(digest.as_str()),
        digest: digest.to_string(),
        tag,
        others,
        untag: version.untags(),
        version: version.as_str(),
        chrome,
    }))
}

/// The delete form: the digest and the registry version the confirmation showed (a form
/// without a version is 2.8's, from before registries were told apart).
#[derive(Debug, Deserialize)]
pub(super) struct DeleteForm {
    #[serde(default)]
    digest: String,
    #[serde(default)]
    version: String,
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
    let version = match form.version.as_str() {
        "" => RegistryVersion::V2,
        v => RegistryVersion::parse(v)
            .ok_or_else(|| AppError::invalid("version", "the registry version must be 2 or 3"))
            .ui(&chrome)?,
    };
    let actor = viewer.actor();
    let confirmed = Some(form.digest.as_str())
        .filter(|d| !d.is_empty())
        .map(|digest| ops::Confirmed { digest, version });
    let done = match ops::delete_tag(&state, &actor, &name, &tag, confirmed)
        .await
        .ui(&chrome)?
    {
        TagDeletion::Untagged { .. } => "untagged",
        TagDeletion::ManifestDeleted(_) => "deleted",
    };
    Ok(Redirect::to(&format!("{}?ok={done}", repo_href(&name))).into_response())
}
