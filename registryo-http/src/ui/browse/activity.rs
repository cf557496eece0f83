//! The registry's activity on the browsing pages: a repository's latest pushes, mounts and
//! deletions, and a tag's push history (what the registry's notifications said,
//! `registryo_core::app::ops::activity`). A store that cannot answer leaves the section empty
//! with a note: the page itself still shows.

use registryo_core::acl::Principal;
use registryo_core::app::App;
use registryo_core::app::ops::{self, ActivityFilter};
use registryo_core::scope::RepositoryName;
use registryo_core::storage::RegistryEvent;

use super::manifest::{human_size, short_digest};

/// One line of an activity list.
#[derive(Debug, Clone)]
pub(super) struct ActivityLine {
    pub(super) when: String,
    pub(super) action: String,
    /// `tag 1.0`, `manifest sha256:…`, `blob sha256:… from team/base`.
    pub(super) what: String,
    pub(super) who: String,
    pub(super) size: String,
    /// Through registryo's own UI (linked to its audit event).
    pub(super) via_ui: bool,
}

pub(super) fn line(e: &RegistryEvent) -> ActivityLine {
    let digest = e.digest.as_deref().map(short_digest);
    let what = match (e.subject.as_str(), &e.tag, digest) {
        (_, Some(tag), Some(d)) => format!("{tag} ({d})"),
        (_, Some(tag), None) => format!("tag {tag}"),
        (subject, None, Some(d)) => format!("{subject} {d}"),
        (subject, None, None) => subject.to_owned(),
    };
    let what = match &e.from_repository {
        Some(from) => format!("{what} from {from}"),
        None => what,
    };
    ActivityLine {
        when: registryo_core::time::datetime(e.at),
        action: e.action.clone(),
        what,
        who: e.actor.clone().unwrap_or_else(|| "anonymous".to_owned()),
        size: e
            .size
            .and_then(|s| u64::try_from(s).ok())
            .map(human_size)
            .unwrap_or_default(),
        via_ui: e.audit_id.is_some(),
    }
}

/// The latest pushes, mounts and deletions of `name` (pulls are counted per day, not
/// listed here), at most `max`; `None` when the store cannot say.
pub(super) async fn recent(
    app: &App,
    viewer: &Principal,
    name: &RepositoryName,
    tag: Option<&str>,
    max: usize,
) -> Option<Vec<ActivityLine>> {
    let filter = ActivityFilter {
        repository: Some(name.to_string()),
        tag: tag.map(str::to_owned),
        action: tag.map(|_| "push".to_owned()),
        limit: Some(200),
        ..ActivityFilter::default()
    };
    match ops::activity_page(app, viewer, &filter).await {
        Ok(page) => Some(
            page.items
                .iter()
                .filter(|e| e.action != "pull" && !(e.action == "push" && e.subject == "blob"))
                .take(max)
                .map(line)
                .collect(),
        ),
        Err(e) => {
            tracing::warn!(error = %e.message(), "could not read the registry's activity");
            None
        }
    }
}
