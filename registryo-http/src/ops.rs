//! Administrative operations, shared by the UI and the JSON API: validation (the same rules
//! as the CLI), the store change, an audit event with the acting admin and their address, and
//! the policy reload so the change applies at once.

use std::net::SocketAddr;

use registryo_core::acl::Principal;
use registryo_core::names::{GroupName, Username};
use registryo_core::scope::{Actions, RepositoryName, Scope};
use registryo_core::storage::{
    AclRule, AuditEvent, AuditQuery, Group, LoginsEnded, NewAclRule, NewUser, PasswordChange,
    RefreshToken, User, UserKind, UserUpdate,
};
use serde::Serialize;

use crate::app::AppState;
use crate::error::AppError;
use crate::session::new_secret;
use registryo_core::time::unix_now as now;
use registryo_core::app::accounts::parse_rule;

/// Who makes a change, for the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The signed-in admin (`cli` for the command line).
    pub username: String,
    /// Their address.
    pub remote: Option<SocketAddr>,
    /// The command line on the server's machine: it acts on any account, its own rules
    /// (an admin cannot disable or delete themselves) do not apply.
    pub console: bool,
}

impl Actor {
    /// A signed-in administrator.
    pub fn admin(username: impl Into<String>, remote: Option<SocketAddr>) -> Actor {
        Actor {
            username: username.into(),
            remote,
            console: false,
        }
    }

    /// The command line (audited as `cli`).
    pub fn cli() -> Actor {
        Actor {
            username: "cli".to_owned(),
            remote: None,
            console: true,
        }
    }
}

/// A username from a form, a JSON body or the command line (surrounding spaces dropped).
pub fn username(field: &str, name: &str) -> Result<Username, AppError> {
    Username::new(name.trim()).map_err(|e| AppError::invalid(field, e.to_string()))
}

/// A group name from a form, a JSON body or the command line (surrounding spaces dropped).
pub fn group_name(field: &str, name: &str) -> Result<GroupName, AppError> {
    GroupName::new(name.trim()).map_err(|e| AppError::invalid(field, e.to_string()))
}

/// A password of at least 8 characters, at most 1024 bytes, other than the username.
pub fn check_password(field: &str, username: &str, pw: &str) -> Result<(), AppError> {
    if pw.chars().count() < 8 {
        return Err(AppError::invalid(field, "must have at least 8 characters"));
    }
    if pw.len() > 1024 {
        return Err(AppError::invalid(field, "must be at most 1024 bytes"));
    }
    if pw == username {
        return Err(AppError::invalid(field, "must not be the username"));
    }
    Ok(())
}

fn check_text(field: &str, s: &str) -> Result<String, AppError> {
    let s = s.trim();
    if s.chars().count() > 200 {
        return Err(AppError::invalid(field, "must be at most 200 characters"));
    }
    if s.chars().any(char::is_control) {
        return Err(AppError::invalid(
            field,
            "cannot contain control characters",
        ));
    }
    Ok(s.to_owned())
}

/// An optional e-mail address: empty means none; otherwise `local@domain`, no spaces.
pub fn check_email(s: &str) -> Result<Option<String>, AppError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let valid = s.len() <= 254
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && s.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !d.contains('@'));
    if valid {
        Ok(Some(s.to_owned()))
    } else {
        Err(AppError::invalid("email", "is not an e-mail address"))
    }
}

/// An optional expiry date (`YYYY-MM-DD`, UTC; the account stops working at its start).
pub fn check_expiry(s: &str) -> Result<Option<i64>, AppError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    registryo_core::time::parse_date(s)
        .map(Some)
        .ok_or_else(|| AppError::invalid("expires", "must be a date like 2030-12-31"))
}

async fn applied(state: &AppState, username: Option<&str>) -> Result<(), AppError> {
    if let Some(u) = username {
        state.accounts.forget_credentials(u);
    }
    state.accounts.reload(true).await?;
    Ok(())
}

async fn audit(
    state: &AppState,
    actor: &Actor,
    action: &str,
    target: &str,
    detail: Option<String>,
) {
    state
        .accounts
        .audit(
            Some(&actor.username),
            action,
            Some(target),
            detail,
            actor.remote,
        )
        .await;
}

/// What [`create_human`] needs.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewHuman {
    /// Login name.
    pub username: String,
    /// Initial password (empty with [`NewHuman::invite`]).
    #[serde(default)]
    pub password: String,
    /// Given name.
    #[serde(default)]
    pub first_name: String,
    /// Family name.
    #[serde(default)]
    pub last_name: String,
    /// E-mail address (empty for none).
    #[serde(default)]
    pub email: String,
    /// Make them an administrator.
    #[serde(default)]
    pub admin: bool,
    /// Instead of a password, send a set-your-password e-mail (needs the e-mail address and
    /// e-mail configured on the server); the account has no password until the link is used.
    #[serde(default)]
    pub invite: bool,
    /// Create the account even though `${account}` rules would give it existing repositories
    /// ([`namespace_claims`]).
    #[serde(default)]
    pub force: bool,
}

/// The existing repositories an account named `name` would get access to through
/// `${account}` rules, were it created now: a name that is the first segment of repositories
/// someone else pushed hands them over. Empty when no registry is configured.
pub async fn namespace_claims(state: &AppState, name: &Username) -> Result<Vec<String>, AppError> {
    let snap = state.accounts.snapshot();
    if !snap.acl.rules().iter().any(|r| r.pattern.has_account()) {
        return Ok(Vec::new());
    }
    let repos = match state.registry.repositories().await {
        Ok(Some(repos)) => repos,
        Ok(None) => return Ok(Vec::new()),
        Err(e) => {
            return Err(AppError::NeedsConfirmation(format!(
                "the registry could not be asked which repositories exist ({e}), so it is not \
                 known whether ${{account}} rules would give {name} someone else's \
                 repositories: confirm to create the account anyway"
            )));
        }
    };
    let principal = Principal::user(name.as_str());
    let mut claimed = Vec::new();
    for repo in repos.iter() {
        let Ok(parsed) = RepositoryName::new(repo.as_str()) else {
            continue;
        };
        let Ok(scope) = Scope::parse(&format!("repository:{repo}:pull")) else {
            continue;
        };
        let ex = snap.acl.explain(&principal, &scope);
        if ex
            .matches
            .iter()
            .any(|m| m.rule.pattern.has_account() && m.rule.pattern.matches(&parsed, Some(name)))
        {
            claimed.push(repo.clone());
        }
    }
    Ok(claimed)
}

/// Refuse, unless `force`, a name that would be handed existing repositories.
async fn check_namespace(state: &AppState, name: &Username, force: bool) -> Result<(), AppError> {
    if force {
        return Ok(());
    }
    let claimed = namespace_claims(state, name).await?;
    if claimed.is_empty() {
        return Ok(());
    }
    let shown: Vec<&str> = claimed.iter().take(5).map(String::as_str).collect();
    let more = claimed.len().saturating_sub(shown.len());
    Err(AppError::NeedsConfirmation(format!(
        "an account named {name} would get access to {} existing repositor{} through \
         ${{account}} rules: {}{}. Confirm (force) to create it anyway",
        claimed.len(),
        if claimed.len() == 1 { "y" } else { "ies" },
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )))
}

/// Create a person's account with a password, or invite them: no password, and an e-mail
/// with a link to choose one. If that e-mail cannot be sent, the account is removed again.
pub async fn create_human(
    state: &AppState,
    actor: &Actor,
    new: NewHuman,
) -> Result<User, AppError> {
    let name = username("username", &new.username)?;
    if new.invite {
        return invite_human(state, actor, name, new).await;
    }
    check_password("password", &name, &new.password)?;
    let first = check_text("first_name", &new.first_name)?;
    let last = check_text("last_name", &new.last_name)?;
    let email = check_email(&new.email)?;
    check_namespace(state, &name, new.force).await?;
    let hash = state.accounts.hash_password(&new.password).await?;
    let mut nu = NewUser::new(name, UserKind::Human)
        .password_hash(hash)
        .admin(new.admin)
        .names(first, last);
    nu.email = email;
    let user = state.accounts.store().create_user(&nu).await?;
    audit(
        state,
        actor,
        "user.create",
        &user.username,
        Some(format!("human admin={}", new.admin)),
    )
    .await;
    applied(state, None).await?;
    Ok(user)
}

async fn invite_human(
    state: &AppState,
    actor: &Actor,
    name: Username,
    new: NewHuman,
) -> Result<User, AppError> {
    if state.mail.is_none() {
        return Err(AppError::invalid(
            "invite",
            "e-mail is not set up on this server (smtp_host): set a password instead",
        ));
    }
    if !new.password.is_empty() {
        return Err(AppError::invalid(
            "password",
            "leave the password empty when sending an invitation",
        ));
    }
    let first = check_text("first_name", &new.first_name)?;
    let last = check_text("last_name", &new.last_name)?;
    let Some(email) = check_email(&new.email)? else {
        return Err(AppError::invalid(
            "email",
            "an invitation needs an e-mail address",
        ));
    };
    check_namespace(state, &name, new.force).await?;
    let mut nu = NewUser::new(name, UserKind::Human)
        .admin(new.admin)
        .names(first, last);
    nu.email = Some(email);
    let store = state.accounts.store();
    let user = store.create_user(&nu).await?;
    if let Err(e) =
        crate::reset::send_link(state, &user, registryo_core::storage::TokenPurpose::Invite).await
    {
        e.log();
        store.delete_user(user.id).await?;
        return Err(AppError::invalid(
            "email",
            "the invitation could not be sent, so the account was not created: check the address, or try again later",
        ));
    }
    audit(
        state,
        actor,
        "user.create",
        &user.username,
        Some(format!("human admin={} invited", new.admin)),
    )
    .await;
    applied(state, None).await?;
    Ok(user)
}

/// What [`create_service`] needs.
#[derive(Debug, Clone, Default)]
pub struct NewService {
    /// Login name.
    pub username: String,
    /// When it stops working (unix seconds).
    pub expires_at: Option<i64>,
    /// Its secret; `None` generates one (what the UI and the API do).
    pub secret: Option<String>,
    /// Make it an administrator (for automation of the admin API).
    pub admin: bool,
    /// E-mail address (empty for none).
    pub email: String,
    /// Create it even when `${account}` rules would give it existing repositories.
    pub force: bool,
}

/// Create a service account; returns it and its secret (shown once).
pub async fn create_service(
    state: &AppState,
    actor: &Actor,
    new: NewService,
) -> Result<(User, String), AppError> {
    let name = username("username", &new.username)?;
    if let Some(secret) = &new.secret {
        check_password("password", &name, secret)?;
    }
    let email = check_email(&new.email)?;
    check_namespace(state, &name, new.force).await?;
    let secret = match new.secret {
        Some(s) => s,
        None => new_secret()?,
    };
    let hash = state.accounts.hash_password(&secret).await?;
    let mut nu = NewUser::new(name, UserKind::Service)
        .password_hash(hash)
        .admin(new.admin);
    nu.expires_at = new.expires_at;
    nu.email = email;
    let user = state.accounts.store().create_user(&nu).await?;
    let expires = new
        .expires_at
        .map(|t| format!(" expires={}", registryo_core::time::date(t)))
        .unwrap_or_default();
    audit(
        state,
        actor,
        "user.create",
        &user.username,
        Some(format!("service admin={}{expires}", new.admin)),
    )
    .await;
    applied(state, None).await?;
    Ok((user, secret))
}

/// Every account, by username.
pub async fn users(state: &AppState) -> Result<Vec<User>, AppError> {
    Ok(state.accounts.store().list_users().await?)
}

/// Every group with the names of its members, by name.
pub async fn groups(state: &AppState) -> Result<Vec<(Group, Vec<String>)>, AppError> {
    let store = state.accounts.store();
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
pub async fn group_named(state: &AppState, name: &str) -> Result<Group, AppError> {
    Ok(state.accounts.store().get_group_by_name(name).await?)
}

/// Every rule, in the order they were added.
pub async fn rules(state: &AppState) -> Result<Vec<AclRule>, AppError> {
    Ok(state.accounts.store().list_acl_rules().await?)
}

/// A user's docker logins (refresh tokens) that still work, oldest first.
pub async fn logins(state: &AppState, user: &User) -> Result<Vec<RefreshToken>, AppError> {
    let mut tokens = state.accounts.store().list_refresh_tokens(user.id).await?;
    tokens.retain(|t| t.revoked_at.is_none());
    Ok(tokens)
}

/// Revoke one docker login of a user: [`AppError::NotFound`] unless it is theirs and live.
pub async fn revoke_login(
    state: &AppState,
    actor: &Actor,
    user: &User,
    id: i64,
) -> Result<(), AppError> {
    let login = logins(state, user)
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| AppError::NotFound("docker login".to_owned()))?;
    state
        .accounts
        .store()
        .revoke_refresh_token(login.id)
        .await?;
    audit(
        state,
        actor,
        "token.revoke",
        &user.username,
        Some(format!(
            "docker login {} (client_id={})",
            login.id, login.client_id
        )),
    )
    .await;
    Ok(())
}

/// Revoke every docker login of a user, or only those of `client_id`; returns how many.
pub async fn revoke_logins(
    state: &AppState,
    actor: &Actor,
    user: &User,
    client_id: Option<&str>,
) -> Result<u64, AppError> {
    let n = state
        .accounts
        .store()
        .revoke_refresh_tokens_of_user(user.id, client_id)
        .await?;
    audit(
        state,
        actor,
        "token.revoke",
        &user.username,
        Some(match client_id {
            Some(c) => format!("{n} docker login(s) of client_id={c}"),
            None => format!("all {n} docker login(s)"),
        }),
    )
    .await;
    Ok(n)
}

/// A user by id.
pub async fn user(state: &AppState, id: i64) -> Result<User, AppError> {
    Ok(state.accounts.store().get_user(id).await?)
}

/// A user by name.
pub async fn user_named(state: &AppState, name: &str) -> Result<User, AppError> {
    Ok(state.accounts.store().get_user_by_name(name).await?)
}

/// Change a user's names and e-mail address.
pub async fn update_profile(
    state: &AppState,
    actor: &Actor,
    user: &User,
    first_name: &str,
    last_name: &str,
    email: &str,
) -> Result<User, AppError> {
    let update = UserUpdate {
        first_name: Some(check_text("first_name", first_name)?),
        last_name: Some(check_text("last_name", last_name)?),
        email: Some(check_email(email)?),
        ..UserUpdate::default()
    };
    let updated = state.accounts.store().update_user(user.id, &update).await?;
    audit(state, actor, "user.update", &user.username, None).await;
    Ok(updated)
}

fn not_yourself(actor: &Actor, user: &User, what: &str) -> Result<(), AppError> {
    if !actor.console && actor.username.eq_ignore_ascii_case(&user.username) {
        return Err(AppError::Conflict(format!("you cannot {what} yourself")));
    }
    Ok(())
}

/// Disable or enable an account. Disabling ends its sessions (in the store's transaction, so
/// enabling never revives them) and its remembered credentials.
pub async fn set_disabled(
    state: &AppState,
    actor: &Actor,
    user: &User,
    disabled: bool,
) -> Result<(), AppError> {
    if disabled {
        not_yourself(actor, user, "disable")?;
    }
    state
        .accounts
        .store()
        .set_disabled(user.id, disabled)
        .await?;
    audit(
        state,
        actor,
        if disabled {
            "user.disable"
        } else {
            "user.enable"
        },
        &user.username,
        None,
    )
    .await;
    applied(state, Some(&user.username)).await
}

/// Make a user an administrator, or not.
pub async fn set_admin(
    state: &AppState,
    actor: &Actor,
    user: &User,
    admin: bool,
) -> Result<(), AppError> {
    if !admin {
        not_yourself(actor, user, "remove the administrator role from")?;
    }
    state.accounts.store().set_admin(user.id, admin).await?;
    audit(
        state,
        actor,
        if admin { "user.admin" } else { "user.unadmin" },
        &user.username,
        None,
    )
    .await;
    applied(state, Some(&user.username)).await
}

/// Set a person's password (an administrator's change): every web session and docker login
/// of theirs ends.
pub async fn set_password(
    state: &AppState,
    actor: &Actor,
    user: &User,
    password: &str,
) -> Result<LoginsEnded, AppError> {
    // The UI and the API rotate a service account's secret; the command line may set one.
    if user.kind != UserKind::Human && !actor.console {
        return Err(AppError::Conflict(
            "a service account has a generated secret: rotate it instead".to_owned(),
        ));
    }
    check_password("password", &user.username, password)?;
    let hash = state.accounts.hash_password(password).await?;
    let ended = state
        .accounts
        .store()
        .set_password_hash(user.id, Some(&hash), &PasswordChange::default())
        .await?;
    audit(
        state,
        actor,
        "user.password",
        &user.username,
        Some(ended_text(ended)),
    )
    .await;
    applied(state, Some(&user.username)).await?;
    Ok(ended)
}

/// What a password change (or disabling) ended, for the audit log.
pub fn ended_text(ended: LoginsEnded) -> String {
    format!(
        "ended {} web session(s), revoked {} docker login(s)",
        ended.sessions, ended.docker_logins
    )
}

/// What a person's own password change keeps.
#[derive(Debug, Clone, Default)]
pub struct OwnChange {
    /// The session making the change (the SHA-256 of its cookie): it stays.
    pub session: Option<String>,
    /// Keep the docker logins (the profile's "keep my docker logins").
    pub keep_docker_logins: bool,
}

/// A person changes their own password, having given the current one: their other web
/// sessions end, and their docker logins unless they keep them.
pub async fn change_own_password(
    state: &AppState,
    actor: &Actor,
    user: &User,
    new_password: &str,
    keep: OwnChange,
) -> Result<LoginsEnded, AppError> {
    check_password("new", &user.username, new_password)?;
    let hash = state.accounts.hash_password(new_password).await?;
    let change = PasswordChange {
        keep_session: keep.session,
        keep_docker_logins: keep.keep_docker_logins,
    };
    let ended = state
        .accounts
        .store()
        .set_password_hash(user.id, Some(&hash), &change)
        .await?;
    audit(
        state,
        actor,
        "user.password",
        &user.username,
        Some(format!("own change: {}", ended_text(ended))),
    )
    .await;
    applied(state, Some(&user.username)).await?;
    Ok(ended)
}

/// Give a service account a new generated secret; the old one stops working.
pub async fn rotate_secret(
    state: &AppState,
    actor: &Actor,
    user: &User,
) -> Result<String, AppError> {
    if user.kind != UserKind::Service {
        return Err(AppError::Conflict(
            "only a service account has a generated secret".to_owned(),
        ));
    }
    let secret = new_secret()?;
    let hash = state.accounts.hash_password(&secret).await?;
    let ended = state
        .accounts
        .store()
        .set_password_hash(user.id, Some(&hash), &PasswordChange::default())
        .await?;
    audit(
        state,
        actor,
        "user.rotate_secret",
        &user.username,
        Some(ended_text(ended)),
    )
    .await;
    applied(state, Some(&user.username)).await?;
    Ok(secret)
}

/// Set or clear an account's expiry.
pub async fn set_expiry(
    state: &AppState,
    actor: &Actor,
    user: &User,
    expires_at: Option<i64>,
) -> Result<(), AppError> {
    let update = UserUpdate {
        expires_at: Some(expires_at),
        ..UserUpdate::default()
    };
    state.accounts.store().update_user(user.id, &update).await?;
    audit(
        state,
        actor,
        "user.expiry",
        &user.username,
        Some(expires_at.map_or_else(|| "never".to_owned(), registryo_core::time::date)),
    )
    .await;
    applied(state, Some(&user.username)).await
}

/// Delete an account with its memberships, tokens, sessions and the rules that name it (in
/// one transaction); every removed rule is audited. Returns the rules removed.
pub async fn delete_user(
    state: &AppState,
    actor: &Actor,
    user: &User,
) -> Result<Vec<AclRule>, AppError> {
    not_yourself(actor, user, "delete")?;
    let removed = state.accounts.store().delete_user(user.id).await?;
    audit(
        state,
        actor,
        "user.delete",
        &user.username,
        Some(format!("{} rule(s) naming the user removed", removed.len())),
    )
    .await;
    audit_removed_rules(state, actor, &removed, &format!("user {}", user.username)).await;
    applied(state, Some(&user.username)).await?;
    Ok(removed)
}

async fn audit_removed_rules(state: &AppState, actor: &Actor, rules: &[AclRule], with: &str) {
    for rule in rules {
        audit(
            state,
            actor,
            "acl.remove",
            &format!("rule {}", rule.id),
            Some(format!(
                "{} {} {} (removed with {with})",
                rule.subject, rule.pattern, rule.actions
            )),
        )
        .await;
    }
}

/// Create a group.
pub async fn create_group(state: &AppState, actor: &Actor, name: &str) -> Result<Group, AppError> {
    let name = group_name("name", name)?;
    let g = state.accounts.store().create_group(&name).await?;
    audit(state, actor, "group.create", &g.name, None).await;
    applied(state, None).await?;
    Ok(g)
}

/// Delete a group with its memberships and the rules that name it (in one transaction);
/// every removed rule is audited. Returns the rules removed.
pub async fn delete_group(
    state: &AppState,
    actor: &Actor,
    group: &Group,
) -> Result<Vec<AclRule>, AppError> {
    let removed = state.accounts.store().delete_group(group.id).await?;
    audit(
        state,
        actor,
        "group.delete",
        &group.name,
        Some(format!(
            "{} rule(s) naming the group removed",
            removed.len()
        )),
    )
    .await;
    audit_removed_rules(state, actor, &removed, &format!("group {}", group.name)).await;
    applied(state, None).await?;
    Ok(removed)
}

/// Add a user to a group; `false` if they were a member already.
pub async fn add_member(
    state: &AppState,
    actor: &Actor,
    group: &Group,
    username: &str,
) -> Result<bool, AppError> {
    let user = match state
        .accounts
        .store()
        .get_user_by_name(username.trim())
        .await
    {
        Ok(u) => u,
        Err(registryo_core::storage::StoreError::NotFound(_)) => {
            return Err(AppError::invalid("username", "no such user"));
        }
        Err(e) => return Err(e.into()),
    };
    let added = state
        .accounts
        .store()
        .add_group_member(group.id, user.id)
        .await?;
    if added {
        audit(
            state,
            actor,
            "group.add_member",
            &group.name,
            Some(format!("user={}", user.username)),
        )
        .await;
        applied(state, None).await?;
    }
    Ok(added)
}

/// Remove a user from a group; `false` if they were not a member.
pub async fn remove_member(
    state: &AppState,
    actor: &Actor,
    group: &Group,
    user: &User,
) -> Result<bool, AppError> {
    let removed = state
        .accounts
        .store()
        .remove_group_member(group.id, user.id)
        .await?;
    if removed {
        audit(
            state,
            actor,
            "group.remove_member",
            &group.name,
            Some(format!("user={}", user.username)),
        )
        .await;
        applied(state, None).await?;
    }
    Ok(removed)
}

/// Add an ACL rule, parsed by the same parser the server compiles rules with. A parse error
/// names its field: `subject`, `pattern` or `actions`.
pub async fn add_rule(
    state: &AppState,
    actor: &Actor,
    subject: &str,
    pattern: &str,
    actions: &str,
) -> Result<AclRule, AppError> {
    let (subject, pattern, actions) = (subject.trim(), pattern.trim(), actions.trim());
    let rule = parse_rule(0, subject, pattern, actions).map_err(|e| {
        let (field, message) = match e.split_once(": ") {
            Some((f @ ("subject" | "pattern" | "actions"), m)) => (f, m.to_owned()),
            _ => ("pattern", e.clone()),
        };
        AppError::invalid(field, message)
    })?;
    let stored = state
        .accounts
        .store()
        .add_acl_rule(&NewAclRule {
            subject: rule.subject.to_string(),
            pattern: rule.pattern.to_string(),
            actions: rule.actions.to_string(),
            created_by: Some(actor.username.clone()),
        })
        .await?;
    audit(
        state,
        actor,
        "acl.add",
        &format!("rule {}", stored.id),
        Some(format!(
            "{} {} {}",
            stored.subject, stored.pattern, stored.actions
        )),
    )
    .await;
    applied(state, None).await?;
    Ok(stored)
}

/// Remove an ACL rule.
pub async fn delete_rule(state: &AppState, actor: &Actor, id: i64) -> Result<(), AppError> {
    let rule = state
        .accounts
        .store()
        .list_acl_rules()
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| AppError::NotFound(format!("rule {id}")))?;
    state.accounts.store().delete_acl_rule(id).await?;
    audit(
        state,
        actor,
        "acl.remove",
        &format!("rule {id}"),
        Some(format!(
            "{} {} {}",
            rule.subject, rule.pattern, rule.actions
        )),
    )
    .await;
    applied(state, None).await
}

/// One rule behind an explanation.
#[derive(Debug, Clone, Serialize)]
pub struct ExplainedRule {
    /// The rule's id.
    pub id: u64,
    /// Its subject.
    pub subject: String,
    /// Its pattern.
    pub pattern: String,
    /// The actions it holds.
    pub actions: String,
    /// What it contributes to the request.
    pub contributed: String,
}

/// Why a user (or anonymous) gets what they get for a scope.
#[derive(Debug, Clone, Serialize)]
pub struct Explained {
    /// `anonymous` or the username.
    pub principal: String,
    /// The scope as parsed.
    pub scope: String,
    /// The actions asked for (`*` expanded).
    pub requested: String,
    /// The actions granted (empty: nothing).
    pub granted: String,
    /// The user is an administrator (granted everything).
    pub admin: bool,
    /// The user exists but is disabled or expired: in practice they get nothing.
    pub inactive: bool,
    /// The user's groups.
    pub groups: Vec<String>,
    /// The matching rules, in order.
    pub rules: Vec<ExplainedRule>,
}

fn actions_text(a: Actions) -> String {
    if a.is_empty() {
        String::new()
    } else {
        a.to_string()
    }
}

/// Explain the policy's answer for a user (empty: anonymous) and a scope.
pub fn explain(state: &AppState, user: &str, scope: &str) -> Result<Explained, AppError> {
    let scope_text = scope.trim();
    if scope_text.is_empty() {
        return Err(AppError::invalid(
            "scope",
            "enter a scope, e.g. repository:team/app:pull,push",
        ));
    }
    let scope = Scope::parse(scope_text).map_err(|e| AppError::invalid("scope", e.to_string()))?;
    let snap = state.accounts.snapshot();
    let user = user.trim();
    let (principal, inactive, name) = if user.is_empty() || user == "anonymous" {
        (Principal::anonymous(), false, "anonymous".to_owned())
    } else {
        let entry = snap
            .user(user)
            .ok_or_else(|| AppError::invalid("user", "no such user"))?;
        let p = Principal::user(entry.name.as_str())
            .with_groups(entry.groups.iter().cloned())
            .with_admin(entry.admin);
        (p, !entry.active(now()), entry.name.clone())
    };
    let ex = snap.acl.explain(&principal, &scope);
    Ok(Explained {
        principal: name,
        scope: scope.to_string(),
        requested: actions_text(ex.requested),
        granted: actions_text(ex.granted),
        admin: ex.admin,
        inactive,
        groups: principal.groups.clone(),
        rules: ex
            .matches
            .iter()
            .map(|m| ExplainedRule {
                id: m.rule.id,
                subject: m.rule.subject.to_string(),
                pattern: m.rule.pattern.to_string(),
                actions: m.rule.actions.to_string(),
                contributed: actions_text(m.contributed),
            })
            .collect(),
    })
}

/// A page of the audit log, newest first.
pub async fn audit_page(
    state: &AppState,
    actor: Option<&str>,
    action: Option<&str>,
    before_id: Option<i64>,
    limit: u32,
) -> Result<Vec<AuditEvent>, AppError> {
    let clean = |s: Option<&str>| {
        s.map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let q = AuditQuery {
        actor: clean(actor),
        action: clean(action),
        before_id,
        limit: limit.clamp(1, 1000),
    };
    Ok(state.accounts.store().list_audit_events(&q).await?)
}
