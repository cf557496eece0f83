//! The home page: who is signed in, the rules that apply to them, and for administrators
//! how many users, groups and rules there are.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;

use super::{Chrome, UiError, WithChrome, render};
use crate::app::AppState;
use crate::session::Viewer;
use registryo_core::app::ops;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/", get(home))
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    name: String,
    rules: Vec<ops::AppliedRule>,
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
    let rules = ops::rules_applying_to(&state, &u.username);
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
