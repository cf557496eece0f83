//! Groups and their members.

use crate::storage::{AclRule, Group, User};

use super::super::App;
use super::{Actor, OpError, applied, audit, audit_removed_rules, group_name};

/// Every group with the names of its members, by name.
pub async fn groups(app: &App) -> Result<Vec<(Group, Vec<String>)>, OpError> {
    let store = app.accounts.store();
    let memberships = store.list_memberships().await?;
    Ok(store
        .list_groups()
        .await?
        .into_iter()
        .map(|g| {
            let members = memberships
                .iter()
                .filter(|(group, _)| *group == g.name)
                .map(|(_, u)| u.clone())
                .collect();
            (g, members)
        })
        .collect())
}

/// A group by name (without regard to case).
pub async fn group_named(app: &App, name: &str) -> Result<Group, OpError> {
    Ok(app.accounts.store().get_group_by_name(name).await?)
}

/// Create a group.
pub async fn create_group(app: &App, actor: &Actor, name: &str) -> Result<Group, OpError> {
    let name = group_name("name", name)?;
    let g = app.accounts.store().create_group(&name).await?;
    audit(app, actor, "group.create", &g.name, None).await;
    applied(app, None).await?;
    Ok(g)
}

/// Delete a group with its memberships and the rules that name it (in one transaction);
/// every removed rule is audited. Returns the rules removed.
pub async fn delete_group(
    app: &App,
    actor: &Actor,
    group: &Group,
) -> Result<Vec<AclRule>, OpError> {
    let removed = app.accounts.store().delete_group(group.id).await?;
    audit(
        app,
        actor,
        "group.delete",
        &group.name,
        Some(format!(
            "{} rule(s) naming the group removed",
            removed.len()
        )),
    )
    .await;
    audit_removed_rules(app, actor, &removed, &format!("group {}", group.name)).await;
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
    let added = app
        .accounts
        .store()
        .add_group_member(group.id, user.id)
        .await?;
    if added {
        audit(
            app,
            actor,
            "group.add_member",
            &group.name,
            Some(format!("user={}", user.username)),
        )
        .await;
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
    let removed = app
        .accounts
        .store()
        .remove_group_member(group.id, user.id)
        .await?;
    if removed {
        audit(
            app,
            actor,
            "group.remove_member",
            &group.name,
            Some(format!("user={}", user.username)),
        )
        .await;
        applied(app, None).await?;
    }
    Ok(removed)
}
