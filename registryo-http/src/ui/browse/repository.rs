//! A repository's page: its tags (paginated) and who may do what on it.

use askama::Template;
use axum::response::Response;
use registryo_core::acl::Subject;
use registryo_core::scope::{Actions, RepositoryName};

use super::{
    Chrome, Pager, TAGS_PER_PAGE, UiClient, UiError, WithChrome, paginate, registry_error, render,
    repo_href,
};
use registryo_core::app::snapshot::Snapshot;

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
    let mut users: Vec<(&String, &registryo_core::app::snapshot::UserEntry)> =
        snap.users().map(|u| (&u.name, u)).collect();
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
    /// When and by whom it was last pushed (the registry's notifications); empty if unknown.
    pushed_at: String,
    pushed_by: String,
    digest: String,
    size: String,
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
    /// The latest pushes, mounts and deletions; `None` when the store cannot say.
    activity: Option<Vec<super::activity::ActivityLine>>,
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn repository(
    app: &registryo_core::app::App,
    viewer: &registryo_core::acl::Principal,
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
    // The last push of each tag, as the registry's notifications told it (the registry
    // itself keeps no push time nor pusher).
    let pushes = match registryo_core::app::ops::tag_pushes(app, &name).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e.message(), "could not read the tags' pushes");
            Default::default()
        }
    };
    let tags = tags
        .into_iter()
        .map(|t| {
            let pushed = pushes.get(&t);
            TagLine {
                href: format!("{base}/-/tags/{t}"),
                delete_href: format!("{base}/-/tags/{t}/delete"),
                pushed_at: pushed
                    .map(|e| registryo_core::time::datetime(e.at))
                    .unwrap_or_default(),
                pushed_by: pushed
                    .map(|e| e.actor.clone().unwrap_or_else(|| "anonymous".to_owned()))
                    .unwrap_or_default(),
                digest: pushed
                    .and_then(|e| e.digest.as_deref())
                    .map(super::manifest::short_digest)
                    .unwrap_or_default(),
                size: pushed
                    .and_then(|e| e.size)
                    .and_then(|s| u64::try_from(s).ok())
                    .map(super::manifest::human_size)
                    .unwrap_or_default(),
                name: t,
            }
        })
        .collect();
    let activity = super::activity::recent(app, viewer, &name, None, 20).await;
    let mine: Vec<&str> = may.words().collect();
    Ok(render(&RepositoryPage {
        access: access_list(snap, &name, chrome.admin),
        name: name.to_string(),
        tags,
        pager,
        mine: mine.join(", "),
        can_delete,
        activity,
        chrome,
    }))
}
