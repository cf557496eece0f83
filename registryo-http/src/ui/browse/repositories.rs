//! `GET /registry?q=…&page=…`: the repositories the viewer may see, searched and paginated.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use registryo_core::acl::Principal;
use registryo_core::scope::{Actions, RepositoryName};
use serde::Deserialize;

use super::{
    Chrome, NotConfiguredPage, Pager, REPOS_PER_PAGE, UiError, WithChrome, paginate, principal,
    registry_error, render,
};
use crate::app::AppState;
use crate::session::Viewer;
use registryo_core::app::snapshot::Snapshot;

/// `?q=…&page=…`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<String>,
}

/// The repositories `p` may see among `all` (admins: all; others: those they may pull) whose
/// name holds `q` (case-insensitive).
fn visible<'a>(snap: &Snapshot, p: &Principal, all: &'a [String], q: &str) -> Vec<&'a str> {
    let q = q.trim().to_ascii_lowercase();
    all.iter()
        .filter(|name| q.is_empty() || name.to_ascii_lowercase().contains(&q))
        .filter(|name| {
            p.admin
                || name
                    .parse::<RepositoryName>()
                    .is_ok_and(|repo| snap.acl.allowed(p, &repo).contains(Actions::PULL))
        })
        .map(String::as_str)
        .collect()
}

#[derive(Template)]
#[template(path = "repositories.html")]
struct RepositoriesPage {
    chrome: Chrome,
    q: String,
    repos: Vec<String>,
    pager: Pager,
    admin: bool,
}

pub(super) async fn repositories(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<ListQuery>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&viewer, "registry");
    if state.registry.client().is_none() {
        return Ok(render(&NotConfiguredPage { chrome }));
    }
    let all = state
        .registry
        .catalog()
        .await
        .map_err(|e| registry_error(&e, "catalog"))
        .ui(&chrome)?;
    let snap = state.accounts.snapshot();
    let p = principal(&snap, &viewer);
    let names = visible(&snap, &p, &all, &query.q);
    let q = query.q.trim().to_owned();
    let (repos, pager) = paginate(&names, query.page.as_deref(), REPOS_PER_PAGE, |n| {
        list_href(&q, n)
    });
    Ok(render(&RepositoriesPage {
        chrome,
        repos: repos.into_iter().map(str::to_owned).collect(),
        pager,
        admin: p.admin,
        q,
    }))
}

fn list_href(q: &str, page: usize) -> String {
    let page = page.to_string();
    let mut pairs = Vec::new();
    if !q.is_empty() {
        pairs.push(("q", q));
    }
    pairs.push(("page", &page));
    format!(
        "/registry?{}",
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    )
}
