//! The home page: who is signed in, the rules that apply to them, and for administrators
//! how many users, groups and rules there are.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use registryo_core::acl::Principal;

use super::{Chrome, UiError, WithChrome, render};
use crate::app::AppState;
use crate::session::Viewer;
use registryo_core::app::ops;
use registryo_core::time::unix_now as now;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/", get(home))
}

struct RuleLine {
    subject: String,
    pattern: String,
    actions: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    name: String,
    rules: Vec<RuleLine>,
    counts: Option<(usize, usize, usize)>,
    broken: usize,
    /// The viewer's username, for the `docker login` command.
    username: String,
    /// The registry as clients name it (empty: unknown).
    registry_host: String,
}

async fn home(State(state): State<AppState>, viewer: Viewer) -> Result<Response, UiError> {
    let chrome = Chrome::of(&viewer, "home");
    let snap = state.accounts.snapshot();
    let u = &viewer.user;
    let principal = snap
        .principal(&u.username, now())
        .unwrap_or_else(|| Principal::user(u.username.clone()));
    let rules = snap
        .acl
        .rules()
        .iter()
        .filter(|r| r.subject.matches(&principal))
        .map(|r| RuleLine {
            subject: r.subject.to_string(),
            // What `${account}` stands for, for this viewer.
            pattern: r
                .pattern
                .to_string()
                .replace("${account}", u.username.as_str()),
            actions: r.actions.to_string(),
        })
        .collect();
    let counts = if u.is_admin {
        let groups = ops::group_count(&state).await.ui(&chrome)?;
        Some((snap.user_count(), groups, snap.acl.len()))
    } else {
        None
    };
    let name = if u.first_name.is_empty() {
        u.username.clone()
    } else {
        u.first_name.clone()
    };
    Ok(render(&HomePage {
        chrome,
        name,
        rules,
        counts,
        broken: snap.broken_rules.len(),
        username: u.username.to_string(),
        registry_host: state.web.config.registry_host.clone(),
    }))
}
