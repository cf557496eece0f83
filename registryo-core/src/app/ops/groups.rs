//! Groups and their members.

use crate::storage::{AclRule, Group, ListQuery, Page, User};

use super::super::App;
use super::{Actor, OpError, applied, group_name, removed_rules};

/// A page of groups by name, each with the names of its members.
pub async fn groups_page(
    app: &App,
    query: &ListQuery,
) -> Result<Page<(Group, Vec<String>)>, OpError> {
    let store = app.accounts.store();
    let page = store.list_groups_page(query).await?;
    let mut items = Vec::with_capacity(page.items.len());
    for g in page.items {
        let members = store.group_members(g.id).await?;
        items.push((g, members.into_iter().map(|u| u.username).collect()));
    }
    Ok(Page {
        items,
        next: page.next,
    })
}

/// How many groups there are.
pub async fn group_count(app: &App) -> Result<usize, OpError> {
    let n = app.accounts.store().count_groups().await?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// A group by id.
pub async fn group(app: &App, id: i64) -> Result<Group, OpError> {
    Ok(app.accounts.store().get_group(id).await?)
}

/// A group by name (without regard to case).
pub async fn group_named(app: &App, name: &str) -> Result<Group, OpError> {
    Ok(app.accounts.store().get_group_by_name(name).await?)
}

/// The members of a group, by username.
pub async fn group_members(app: &App, group: &Group) -> Result<Vec<User>, OpError> {
    Ok(app.accounts.store().group_members(group.id).await?)
}

/// The groups a user is a member of, by name.
pub async fn groups_of_user(app: &App, user: &User) -> Result<Vec<Group>, OpError> {
    Ok(app.accounts.store().groups_of_user(user.id).await?)
}

/// Create a group.
pub async fn create_group(app: &App, actor: &Actor, name: &str) -> Result<Group, OpError> {
    let name = group_name("name", name)?;
    let g = app
        .accounts
        .store()
        .create_group(&name, &|g| vec![actor.event("group.create", &g.name, None)])
        .await?;
    applied(app, None).await?;
    Ok(g)
}

/// Delete a group with its memberships and the rules that name it (in one transaction, with
/// the audit events of the deletion and of every rule removed). Returns the rules removed.
pub async fn delete_group(
    app: &App,
    actor: &Actor,
    group: &Group,
) -> Result<Vec<AclRule>, OpError> {
    let removed = app
        .accounts
        .store()
        .delete_group(group.id, &|removed| {
            let detail = format!("{} rule(s) naming the group removed", removed.len());
            let mut events = vec![actor.event("group.delete", &group.name, Some(detail))];
            events.extend(removed_rules(
                actor,
                removed,
                &format!("group {}", group.name),
            ));
            events
        })
        .await?;
    applied(app, None).await?;
    Ok(removed)
}

/// Add a user to a group; `false` if they were a member already.
pub async fn add_member(
    app: &App,
    actor: &Actor,
    group: &Group,
    username: &str,
) -> Result<bool, OpError> {
    let user = match app.accounts.store().get_user_by_name(username.trim()).await {
        Ok(u) => u,
        Err(crate::storage::StoreError::NotFound(_)) => {
            return Err(OpError::invalid("username", "no such user"));
        }
        Err(e) => return Err(e.into()),
    };
    let event = actor.event(
        "group.add_member",
        &group.name,
        Some(format!("user={}", user.username)),
    );
    let added = app
        .accounts
        .store()
        .add_group_member(group.id, user.id, &|added| {
            if *added {
                vec![event.clone()]
            } else {
                Vec::new()
            }
        })
        .await?;
    if added {
        applied(app, None).await?;
    }
    Ok(added)
}

/// Remove a user from a group; `false` if they were not a member.
pub async fn remove_member(
    app: &App,
    actor: &Actor,
    group: &Group,
    user: &User,
) -> Result<bool, OpError> {
    let event = actor.event(
        "group.remove_member",
        &group.name,
        Some(format!("user={}", user.username)),
    );
    let removed = app
        .accounts
        .store()
        .remove_group_member(group.id, user.id, &|removed| {
            if *removed {
                vec![event.clone()]
            } else {
                Vec::new()
            }
        })
        .await?;
    if removed {
        applied(app, None).await?;
    }
    Ok(removed)
}
