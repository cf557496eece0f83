//! Browsing the registry: repositories, tags, manifests, who may do what, and deleting a tag.
//!
//! The server talks to the registry with the registry client of `registryo-core` and tokens
//! it signs for itself ([`UiTokens`]: the current signing keys, taken afresh for every token,
//! so a key rotation applies at once). What a viewer sees is decided here with the compiled
//! ACL, never by asking the registry as that viewer: administrators see every repository,
//! everyone else those the ACL lets them pull; the delete button and the `POST` need `delete`.
//!
//! Routes (the repository name may hold `/`; `-` never starts a name component, so `/-/`
//! separates the name from what follows):
//! - `GET /registry?q=…&page=…` — the repositories, filtered and paginated in memory over a
//!   catalog kept for [`CATALOG_TTL`] (see [`RegistryBrowser`] for how it is refreshed);
//! - `GET /registry/r/NAME?page=…` — its tags (paginated in memory) and its access list;
//! - `GET /registry/r/NAME/-/tags/TAG` — a tag's manifest: an image, or an index's platforms;
//! - `GET /registry/r/NAME/-/manifests/DIGEST` — a manifest by digest (an index's platform);
//! - `GET|POST /registry/r/NAME/-/tags/TAG/delete` — confirm, then delete (by real digest).
//!
//! This module parses the path and checks the viewer's rights; the pages are in
//! `repositories`, `repository`, `manifest` and `delete`.
//!
//! [`UiTokens`]: registryo_core::app::registry::UiTokens
//! [`CATALOG_TTL`]: registryo_core::app::registry::CATALOG_TTL
//! [`RegistryBrowser`]: registryo_core::app::registry::RegistryBrowser

mod activity;
mod delete;
mod manifest;
mod repositories;
mod repository;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use registryo_core::acl::Principal;
use registryo_core::client::{Digest, RegistryError};
use registryo_core::scope::{Actions, RepositoryName};
use serde::Deserialize;

use super::{Chrome, Flash, UiError, WithChrome, render};
use crate::app::AppState;
use crate::error::AppError;
use crate::session::Viewer;
use registryo_core::app::OpError;
use registryo_core::app::snapshot::Snapshot;
use registryo_core::time::unix_now as now;

use delete::delete_confirm;
use manifest::manifest_page;
use repository::repository;

/// How the pages reach the registry ([`AppState::with_registry_options`]).
///
/// [`AppState::with_registry_options`]: crate::app::AppState::with_registry_options
pub use registryo_core::app::registry::RegistryOptions;
use registryo_core::app::registry::UiClient;

/// Repositories per page.
pub const REPOS_PER_PAGE: usize = 50;
/// Tags per page.
pub const TAGS_PER_PAGE: usize = 100;

/// The browsing routes (the caller adds the CSRF guard).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/registry", get(repositories::repositories))
        .route(
            "/registry/r/{*path}",
            get(target_get).post(delete::target_post),
        )
}

/// A registry failure as the page shows it ([`OpError::registry`]); `what` names the thing
/// looked for (a 404).
fn registry_error(e: &RegistryError, what: &str) -> AppError {
    OpError::registry(e, what).into()
}

/// The viewer as the ACL sees them.
fn principal(snap: &Snapshot, viewer: &Viewer) -> Principal {
    let u = &viewer.user;
    snap.principal(&u.username, now())
        .unwrap_or_else(|| Principal::user(u.username.clone()))
        .with_admin(u.is_admin)
}

/// What the viewer may do on `repo`: everything for an admin, else what the rules give.
fn rights(snap: &Snapshot, p: &Principal, repo: &RepositoryName) -> Actions {
    if p.admin {
        Actions::ALL
    } else {
        snap.acl.allowed(p, repo)
    }
}

// ---------------------------------------------------------------- lists

/// One page of a list, and links to its neighbours.
#[derive(Debug, Default)]
struct Pager {
    page: usize,
    pages: usize,
    total: usize,
    first: usize,
    last: usize,
    prev: String,
    next: String,
}

/// Page `page` (1-based; out of range is clamped) of `items`, `per` a page; `href` makes the
/// link to a page.
fn paginate<T: Clone>(
    items: &[T],
    page: Option<&str>,
    per: usize,
    href: impl Fn(usize) -> String,
) -> (Vec<T>, Pager) {
    let total = items.len();
    let pages = total.div_ceil(per).max(1);
    let page = page
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, pages);
    let start = (page - 1) * per;
    let end = (start + per).min(total);
    let slice = items.get(start..end).unwrap_or_default().to_vec();
    let pager = Pager {
        page,
        pages,
        total,
        first: if total == 0 { 0 } else { start + 1 },
        last: end,
        prev: if page > 1 {
            href(page - 1)
        } else {
            String::new()
        },
        next: if page < pages {
            href(page + 1)
        } else {
            String::new()
        },
    };
    (slice, pager)
}

#[derive(Template)]
#[template(path = "registry.html")]
struct NotConfiguredPage {
    chrome: Chrome,
}

// ---------------------------------------------------------------- targets under /registry/r/

/// What a path under `/registry/r/` names.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    Repository(RepositoryName),
    Tag(RepositoryName, String),
    Manifest(RepositoryName, Digest),
    DeleteTag(RepositoryName, String),
}

/// A tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn is_tag(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_alphanumeric() || b == b'_' || (i > 0 && (b == b'.' || b == b'-'))
        })
}

fn parse_target(path: &str) -> Option<Target> {
    let (name, rest) = match path.split_once("/-/") {
        Some((n, r)) => (n, Some(r)),
        None => (path.trim_end_matches('/'), None),
    };
    let name: RepositoryName = name.parse().ok()?;
    let Some(rest) = rest else {
        return Some(Target::Repository(name));
    };
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["tags", tag] if is_tag(tag) => Some(Target::Tag(name, (*tag).to_owned())),
        ["tags", tag, "delete"] if is_tag(tag) => Some(Target::DeleteTag(name, (*tag).to_owned())),
        ["manifests", digest] => Digest::parse(digest)
            .ok()
            .map(|d| Target::Manifest(name, d)),
        _ => None,
    }
}

/// The path of a repository page.
fn repo_href(name: &RepositoryName) -> String {
    format!("/registry/r/{name}")
}

/// `?page=…`.
#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    #[serde(default)]
    page: Option<String>,
    #[serde(default)]
    ok: Option<String>,
}

async fn target_get(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(path): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Response, UiError> {
    let flash = Flash {
        ok: query.ok.clone(),
    };
    let chrome = Chrome::of(&viewer, "registry").notice(&flash);
    let Some(target) = parse_target(&path) else {
        return Err(AppError::NotFound("page".to_owned())).ui(&chrome);
    };
    let Some(client) = state.registry.client() else {
        return Ok(render(&NotConfiguredPage { chrome }));
    };
    let snap = state.accounts.snapshot();
    let p = principal(&snap, &viewer);
    let name = match &target {
        Target::Repository(n)
        | Target::Tag(n, _)
        | Target::Manifest(n, _)
        | Target::DeleteTag(n, _) => n.clone(),
    };
    let may = rights(&snap, &p, &name);
    if !may.contains(Actions::PULL) {
        // Like a repository that does not exist: the list does not show it either.
        return Err(AppError::NotFound("repository".to_owned())).ui(&chrome);
    }
    match target {
        Target::Repository(name) => {
            repository(
                &state,
                &p,
                client,
                &snap,
                chrome,
                name,
                may,
                query.page.as_deref(),
            )
            .await
        }
        Target::Tag(name, tag) => {
            manifest_page(&state, &p, client, chrome, name, Some(tag), None, may).await
        }
        Target::Manifest(name, digest) => {
            manifest_page(&state, &p, client, chrome, name, None, Some(digest), may).await
        }
        Target::DeleteTag(name, tag) => {
            if !may.contains(Actions::DELETE) {
                return Err(AppError::Forbidden(format!(
                    "you may not delete tags of {name}"
                )))
                .ui(&chrome);
            }
            delete_confirm(client, chrome, name, tag).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let n = |s: &str| s.parse::<RepositoryName>().unwrap();
        assert_eq!(
            parse_target("team/app"),
            Some(Target::Repository(n("team/app")))
        );
        assert_eq!(
            parse_target("team/app/-/tags/v1.0"),
            Some(Target::Tag(n("team/app"), "v1.0".into()))
        );
        assert_eq!(
            parse_target("a/-/tags/v1/delete"),
            Some(Target::DeleteTag(n("a"), "v1".into()))
        );
        let d = Digest::sha256(b"x");
        assert_eq!(
            parse_target(&format!("a/b/-/manifests/{d}")),
            Some(Target::Manifest(n("a/b"), d))
        );
        for bad in [
            "",
            "A",
            "a/-/tags/<x>",
            "a/-/tags/.x",
            "a/-/manifests/sha256:zz",
            "a/-/other/x",
            "a/-/tags/x/y",
        ] {
            assert_eq!(parse_target(bad), None, "{bad}");
        }
    }

    #[test]
    fn pagination_of_five_thousand_names_is_in_memory() {
        let names: Vec<String> = (0..5000).map(|i| format!("team/app{i:04}")).collect();
        let (page, pager) = paginate(&names, Some("100"), 50, |n| format!("?page={n}"));
        assert_eq!(pager.pages, 100);
        assert_eq!(pager.page, 100);
        assert_eq!(page.len(), 50);
        assert_eq!(page[0], "team/app4950");
        assert_eq!(pager.next, "");
        assert_eq!(pager.prev, "?page=99");
        let (page, pager) = paginate(&names, Some("junk"), 50, |n| format!("?page={n}"));
        assert_eq!(
            (page.len(), pager.page, pager.first, pager.last),
            (50, 1, 1, 50)
        );
        let empty: Vec<String> = Vec::new();
        let (page, pager) = paginate(&empty, Some("7"), 50, |n| n.to_string());
        assert!(page.is_empty());
        assert_eq!((pager.pages, pager.first, pager.last), (1, 0, 0));
    }
}
