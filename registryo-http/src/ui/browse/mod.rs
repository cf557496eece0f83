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

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use registryo_core::acl::{Principal, Subject};
use registryo_core::client::{Digest, FetchedManifest, ImageConfig, Manifest, RegistryError};
use registryo_core::scope::{Actions, RepositoryName};
use serde::Deserialize;

use super::{Chrome, Flash, UiError, WithChrome, render};
use crate::app::AppState;
use crate::error::AppError;
use crate::session::Viewer;
use registryo_core::app::accounts::Snapshot;
use registryo_core::time::unix_now as now;

pub use registryo_core::app::registry::{
    CATALOG_TTL, REGISTRY_TIMEOUT, RegistryBrowser, RegistryOptions, UiClient, UiTokens,
};

/// Repositories per page.
pub const REPOS_PER_PAGE: usize = 50;
/// Tags per page.
pub const TAGS_PER_PAGE: usize = 100;

/// The browsing routes (the caller adds the CSRF guard).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/registry", get(repositories))
        .route("/registry/r/{*path}", get(target_get).post(target_post))
}

/// A registry failure as the page shows it; `what` names the thing looked for (a 404).
fn registry_error(e: &RegistryError, what: &str) -> AppError {
    let message = match e {
        RegistryError::NotFound { .. } => return AppError::NotFound(what.to_owned()),
        RegistryError::Unreachable { url, .. } => {
            format!("The registry cannot be reached ({url}): is it running?")
        }
        RegistryError::Timeout { .. } => "The registry did not answer in time.".to_owned(),
        RegistryError::Unauthorized { .. } => {
            "The registry refused Registryo's token: check that its auth.token issuer, service \
             and rootcertbundle are those `registryo registry-config` prints."
                .to_owned()
        }
        RegistryError::Denied { .. } => "The registry denied the request.".to_owned(),
        RegistryError::Unsupported { .. } => {
            "The registry does not allow this: deleting is disabled \
             (storage.delete.enabled: false in its configuration)."
                .to_owned()
        }
        RegistryError::UnsupportedMediaType(mt) => {
            format!("This manifest's media type ({mt}) cannot be shown.")
        }
        _ => "The registry's answer could not be used.".to_owned(),
    };
    tracing::warn!(error = %e, "registry request failed");
    AppError::Upstream(message)
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

// ---------------------------------------------------------------- repositories

/// `?q=…&page=…`.
#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<String>,
}

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
#[template(path = "registry.html")]
struct NotConfiguredPage {
    chrome: Chrome,
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

async fn repositories(
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
            repository(client, &snap, chrome, name, may, query.page.as_deref()).await
        }
        Target::Tag(name, tag) => manifest_page(client, chrome, name, Some(tag), None, may).await,
        Target::Manifest(name, digest) => {
            manifest_page(client, chrome, name, None, Some(digest), may).await
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

// ---------------------------------------------------------------- repository page

/// One line of a repository's access list.
#[derive(Debug, Clone)]
struct AccessRow {
    /// `user`, `group`, `anonymous`, `authenticated` or `admins`.
    kind: &'static str,
    /// The user's or group's name (empty for the others).
    name: String,
    /// A link to the user's page (admins only).
    href: String,
    pull: bool,
    push: bool,
    delete: bool,
    /// The rule behind it, as written; empty for administrators.
    rule: String,
    /// Why the rule applies, for `${account}` patterns.
    note: String,
}

/// Who may do what on `repo`: all administrators, then one line per rule whose pattern matches
/// (for `${account}` patterns, one line per user whose name makes it match). Usernames only.
fn access_list(snap: &Snapshot, repo: &RepositoryName, links: bool) -> Vec<AccessRow> {
    let mut rows = vec![AccessRow {
        kind: "admins",
        name: String::new(),
        href: String::new(),
        pull: true,
        push: true,
        delete: true,
        rule: String::new(),
        note: "administrators may do everything".to_owned(),
    }];
    let mut users: Vec<(&String, &registryo_core::app::accounts::UserEntry)> =
        snap.users.values().map(|u| (&u.name, u)).collect();
    users.sort_by(|a, b| a.0.cmp(b.0));
    let user_href = |id: i64| {
        if links {
            format!("/admin/users/{id}")
        } else {
            String::new()
        }
    };
    for rule in snap.acl.rules() {
        let a = rule.actions.expand();
        let line = |kind: &'static str, name: &str, href: String, note: String| AccessRow {
            kind,
            name: name.to_owned(),
            href,
            pull: a.contains(Actions::PULL),
            push: a.contains(Actions::PUSH),
            delete: a.contains(Actions::DELETE),
            rule: format!(
                "#{} {} {} {}",
                rule.id, rule.subject, rule.pattern, rule.actions
            ),
            note,
        };
        if !rule.pattern.has_account() {
            if !rule.pattern.matches(repo, None) {
                continue;
            }
            rows.push(match &rule.subject {
                Subject::User(n) => line(
                    "user",
                    n,
                    snap.user(n).map(|u| user_href(u.id)).unwrap_or_default(),
                    String::new(),
                ),
                Subject::Group(g) => line("group", g, String::new(), String::new()),
                Subject::Anonymous => line("anonymous", "", String::new(), String::new()),
                Subject::Authenticated => line("authenticated", "", String::new(), String::new()),
            });
            continue;
        }
        // `${account}`: the users whose own name makes the pattern match.
        for (name, entry) in &users {
            let member = match &rule.subject {
                Subject::User(n) => n.eq_ignore_case(name),
                Subject::Group(g) => entry.groups.iter().any(|x| g.eq_ignore_case(x)),
                // `anonymous` holds for everyone, signed-in users included.
                Subject::Authenticated | Subject::Anonymous => true,
            };
            if member && rule.pattern.matches(repo, Some(name)) {
                let note = format!("{} is {name}", "${account}");
                rows.push(line("user", name, user_href(entry.id), note));
            }
        }
    }
    rows
}

/// A tag in the list.
#[derive(Debug, Clone)]
struct TagLine {
    name: String,
    href: String,
    delete_href: String,
}

#[derive(Template)]
#[template(path = "repository.html")]
struct RepositoryPage {
    chrome: Chrome,
    name: String,
    tags: Vec<TagLine>,
    pager: Pager,
    access: Vec<AccessRow>,
    mine: String,
    can_delete: bool,
}

async fn repository(
    client: &UiClient,
    snap: &Snapshot,
    chrome: Chrome,
    name: RepositoryName,
    may: Actions,
    page: Option<&str>,
) -> Result<Response, UiError> {
    let mut tags = client
        .tags_all(&name)
        .await
        .map_err(|e| registry_error(&e, "repository"))
        .ui(&chrome)?;
    tags.sort();
    let base = repo_href(&name);
    let can_delete = may.contains(Actions::DELETE);
    let (tags, pager) = paginate(&tags, page, TAGS_PER_PAGE, |n| format!("{base}?page={n}"));
    let tags = tags
        .into_iter()
        .map(|t| TagLine {
            href: format!("{base}/-/tags/{t}"),
            delete_href: format!("{base}/-/tags/{t}/delete"),
            name: t,
        })
        .collect();
    let mine: Vec<&str> = may.words().collect();
    Ok(render(&RepositoryPage {
        access: access_list(snap, &name, chrome.admin),
        name: name.to_string(),
        tags,
        pager,
        mine: mine.join(", "),
        can_delete,
        chrome,
    }))
}

// ---------------------------------------------------------------- manifest pages

/// A layer, or the config blob.
#[derive(Debug, Clone)]
struct BlobLine {
    digest: String,
    short: String,
    size: String,
    media_type: String,
}

/// One platform of an index.
#[derive(Debug, Clone)]
struct PlatformLine {
    platform: String,
    href: String,
    digest: String,
    short: String,
    size: String,
    media_type: String,
}

/// A step of the build history.
#[derive(Debug, Clone)]
struct HistoryLine {
    created: String,
    created_by: String,
    comment: String,
    empty: bool,
}

/// What an image shows.
#[derive(Debug, Default)]
struct ImageView {
    total: String,
    created: String,
    platform: String,
    author: String,
    config: Option<BlobLine>,
    layers: Vec<BlobLine>,
    labels: Vec<(String, String)>,
    env: Vec<String>,
    entrypoint: String,
    cmd: String,
    history: Vec<HistoryLine>,
}

#[derive(Template)]
#[template(path = "tag.html")]
struct ManifestPage {
    chrome: Chrome,
    name: String,
    repo_href: String,
    /// The tag, or empty for a manifest shown by digest.
    tag: String,
    media_type: String,
    digest: String,
    short: String,
    image: Option<ImageView>,
    platforms: Vec<PlatformLine>,
    delete_href: String,
}

/// `sha256:` and the first 12 hex digits.
fn short_digest(d: &str) -> String {
    match d.split_once(':') {
        Some((alg, hex)) => format!("{alg}:{}", hex.get(..12).unwrap_or(hex)),
        None => d.to_owned(),
    }
}

/// A size in bytes, human-readable (powers of 1024, one decimal).
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// An RFC 3339 time as `2024-05-01 12:00:00 UTC`-ish (kept as is when it does not look like one).
fn nice_time(t: &str) -> String {
    if t.len() >= 19 && t.as_bytes().get(10) == Some(&b'T') {
        let zone = if t.ends_with('Z') { " UTC" } else { "" };
        format!("{} {}{zone}", &t[..10], &t[11..19])
    } else {
        t.to_owned()
    }
}

fn blob_line(d: &registryo_core::client::Descriptor) -> BlobLine {
    BlobLine {
        digest: d.digest.to_string(),
        short: short_digest(d.digest.as_str()),
        size: human_size(d.size),
        media_type: d.media_type.clone(),
    }
}

fn image_view(m: &registryo_core::client::ImageManifest, config: &ImageConfig) -> ImageView {
    let mut platform = format!("{}/{}", config.os, config.architecture);
    if let Some(v) = config.variant.as_deref().filter(|v| !v.is_empty()) {
        platform.push('/');
        platform.push_str(v);
    }
    let runtime = config.config.clone().unwrap_or_default();
    ImageView {
        total: human_size(m.layers_size() + m.config.size),
        created: config.created.as_deref().map(nice_time).unwrap_or_default(),
        platform,
        author: config.author.clone().unwrap_or_default(),
        config: Some(blob_line(&m.config)),
        layers: m.layers.iter().map(blob_line).collect(),
        labels: runtime.labels.into_iter().collect(),
        env: runtime.env,
        entrypoint: runtime.entrypoint.join(" "),
        cmd: runtime.cmd.join(" "),
        history: config
            .history
            .iter()
            .map(|h| HistoryLine {
                created: h.created.as_deref().map(nice_time).unwrap_or_default(),
                created_by: h.created_by.clone().unwrap_or_default(),
                comment: h.comment.clone().unwrap_or_default(),
                empty: h.empty_layer,
            })
            .collect(),
    }
}

async fn manifest_page(
    client: &UiClient,
    chrome: Chrome,
    name: RepositoryName,
    tag: Option<String>,
    digest: Option<Digest>,
    may: Actions,
) -> Result<Response, UiError> {
    let reference = match (&tag, &digest) {
        (Some(t), _) => t.clone(),
        (None, Some(d)) => d.to_string(),
        (None, None) => return Err(AppError::NotFound("manifest".to_owned())).ui(&chrome),
    };
    let what = if tag.is_some() { "tag" } else { "manifest" };
    let fetched: FetchedManifest = client
        .manifest(&name, &reference)
        .await
        .map_err(|e| registry_error(&e, what))
        .ui(&chrome)?;
    let base = repo_href(&name);
    let (image, platforms) = match &fetched.manifest {
        Manifest::Image(m) => {
            let config = client
                .config(&name, m)
                .await
                .map_err(|e| registry_error(&e, "image configuration"))
                .ui(&chrome)?;
            (Some(image_view(m, &config)), Vec::new())
        }
        Manifest::Index(i) => {
            let platforms = i
                .manifests
                .iter()
                .map(|d| {
                    let platform = match &d.platform {
                        Some(p) => {
                            let mut s = format!("{}/{}", p.os, p.architecture);
                            if let Some(v) = p.variant.as_deref().filter(|v| !v.is_empty()) {
                                s.push('/');
                                s.push_str(v);
                            }
                            s
                        }
                        None => "unknown".to_owned(),
                    };
                    PlatformLine {
                        platform,
                        href: format!("{base}/-/manifests/{}", d.digest),
                        digest: d.digest.to_string(),
                        short: short_digest(d.digest.as_str()),
                        size: human_size(d.size),
                        media_type: d.media_type.clone(),
                    }
                })
                .collect();
            (None, platforms)
        }
    };
    let delete_href = match &tag {
        Some(t) if may.contains(Actions::DELETE) => format!("{base}/-/tags/{t}/delete"),
        _ => String::new(),
    };
    Ok(render(&ManifestPage {
        chrome,
        name: name.to_string(),
        repo_href: base,
        tag: tag.unwrap_or_default(),
        media_type: fetched.media_type,
        digest: fetched.digest.to_string(),
        short: short_digest(fetched.digest.as_str()),
        image,
        platforms,
        delete_href,
    }))
}

// ---------------------------------------------------------------- deleting a tag

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

async fn delete_confirm(
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
struct DeleteForm {
    #[serde(default)]
    digest: String,
}

async fn target_post(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(path): Path<String>,
    Form(form): Form<DeleteForm>,
) -> Result<Response, UiError> {
    let chrome = Chrome::of(&viewer, "registry");
    let Some(Target::DeleteTag(name, tag)) = parse_target(&path) else {
        return Err(AppError::NotFound("page".to_owned())).ui(&chrome);
    };
    let Some(client) = state.registry.client() else {
        return Ok(render(&NotConfiguredPage { chrome }));
    };
    let snap = state.accounts.snapshot();
    let p = principal(&snap, &viewer);
    if !rights(&snap, &p, &name).contains(Actions::DELETE) {
        return Err(AppError::Forbidden(format!(
            "you may not delete tags of {name}"
        )))
        .ui(&chrome);
    }
    let result: Result<_, AppError> = async {
        if !form.digest.is_empty() {
            let now_digest = client
                .manifest_digest(&name, &tag)
                .await
                .map_err(|e| registry_error(&e, "tag"))?;
            if now_digest.as_str() != form.digest {
                return Err(AppError::Conflict(format!(
                    "{name}:{tag} changed since the confirmation: look again before deleting"
                )));
            }
        }
        client
            .delete_tag(&name, &tag)
            .await
            .map_err(|e| registry_error(&e, "tag"))
    }
    .await;
    let deleted = result.ui(&chrome)?;
    state
        .accounts
        .audit(
            Some(&viewer.user.username),
            "registry.tag.delete",
            Some(&format!("{name}:{tag}")),
            Some(format!(
                "manifest {} with tags {}",
                deleted.digest,
                deleted.tags.join(", ")
            )),
            viewer.remote,
        )
        .await;
    Ok(Redirect::to(&format!("{}?ok=deleted", repo_href(&name))).into_response())
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
    fn sizes_digests_times() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 * 1024 * 1024), "5.0 MiB");
        assert_eq!(short_digest("sha256:"), "sha256:");
        let d = Digest::sha256(b"");
        assert_eq!(short_digest(d.as_str()), "sha256:e3b0c44298fc");
        assert_eq!(
            nice_time("2024-05-01T12:00:00.123Z"),
            "2024-05-01 12:00:00 UTC"
        );
        assert_eq!(nice_time("yesterday"), "yesterday");
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
