//! People and service accounts: creation (with the `${account}` namespace check and
//! invitations), profile, roles, passwords and secrets, expiry, removal.

use crate::acl::Principal;
use crate::app::accounts::Checked;
use crate::app::attempts::Channel;
use crate::names::Username;
use crate::scope::{RepositoryName, Scope};
use crate::storage::{
    AclRule, ListQuery, LoginsEnded, NewUser, Page, PasswordChange, User, UserKind, UserUpdate,
};

use super::super::App;
use super::{
    Actor, OpError, applied, check_email, check_password, check_text, new_secret, removed_rules,
    username,
};

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
pub async fn namespace_claims(app: &App, name: &Username) -> Result<Vec<String>, OpError> {
    let snap = app.accounts.snapshot();
    if !snap.acl.has_account_rules() {
        return Ok(Vec::new());
    }
    let repos = match app.registry.repositories().await {
        Ok(Some(repos)) => repos,
        Ok(None) => return Ok(Vec::new()),
        Err(e) => {
            return Err(OpError::NeedsConfirmation(format!(
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
pub(super) async fn check_namespace(
    app: &App,
    name: &Username,
    force: bool,
) -> Result<(), OpError> {
    if force {
        return Ok(());
    }
    let claimed = namespace_claims(app, name).await?;
    if claimed.is_empty() {
        return Ok(());
    }
    let shown: Vec<&str> = claimed.iter().take(5).map(String::as_str).collect();
    let more = claimed.len().saturating_sub(shown.len());
    Err(OpError::NeedsConfirmation(format!(
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
pub async fn create_human(app: &App, actor: &Actor, new: NewHuman) -> Result<User, OpError> {
    let name = username("username", &new.username)?;
    if new.invite {
        return invite_human(app, actor, name, new).await;
    }
    check_password("password", &name, &new.password)?;
    let first = check_text("first_name", &new.first_name)?;
    let last = check_text("last_name", &new.last_name)?;
    let email = check_email(&new.email)?;
    check_namespace(app, &name, new.force).await?;
    let hash = app.accounts.hash_password(&new.password).await?;
    let mut nu = NewUser::new(name, UserKind::Human)
        .password_hash(hash)
        .admin(new.admin)
        .names(first, last);
    nu.email = email;
    let detail = format!("human admin={}", new.admin);
    let user = app
        .accounts
        .store()
        .create_user(&nu, &|u| {
            vec![actor.event("user.create", &u.username, Some(detail.clone()))]
        })
        .await?;
    applied(app, None).await?;
    Ok(user)
}

async fn invite_human(
    app: &App,
    actor: &Actor,
    name: Username,
    new: NewHuman,
) -> Result<User, OpError> {
    if app.mail.is_none() {
        return Err(OpError::invalid(
            "invite",
            "e-mail is not set up on this server (smtp_host): set a password instead",
        ));
    }
    if !new.password.is_empty() {
        return Err(OpError::invalid(
            "password",
            "leave the password empty when sending an invitation",
        ));
    }
    let first = check_text("first_name", &new.first_name)?;
    let last = check_text("last_name", &new.last_name)?;
    let Some(email) = check_email(&new.email)? else {
        return Err(OpError::invalid(
            "email",
            "an invitation needs an e-mail address",
        ));
    };
    check_namespace(app, &name, new.force).await?;
    let mut nu = NewUser::new(name, UserKind::Human)
        .admin(new.admin)
        .names(first, last);
    nu.email = Some(email);
    let store = app.accounts.store();
    let detail = format!("human admin={} invited", new.admin);
    let user = store
        .create_user(&nu, &|u| {
            vec![actor.event("user.create", &u.username, Some(detail.clone()))]
        })
        .await?;
    // The invitation's token is part of the creation, audited above.
    let invite = crate::storage::TokenPurpose::Invite;
    if let Err(e) = super::super::reset::send_link(app, &user, invite, &|_| Vec::new()).await {
        e.log();
        // The creation is committed and audited: so is its undoing.
        store
            .delete_user(user.id, &|removed| {
                deletion_events(
                    actor,
                    &user.username,
                    removed,
                    "the invitation could not be sent",
                )
            })
            .await?;
        return Err(OpError::invalid(
            "email",
            "the invitation could not be sent, so the account was not created: check the address, or try again later",
        ));
    }
    applied(app, None).await?;
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
    app: &App,
    actor: &Actor,
    new: NewService,
) -> Result<(User, String), OpError> {
    let name = username("username", &new.username)?;
    if let Some(secret) = &new.secret {
        check_password("password", &name, secret)?;
    }
    let email = check_email(&new.email)?;
    check_namespace(app, &name, new.force).await?;
    let secret = match new.secret {
        Some(s) => s,
        None => new_secret()?,
    };
    let hash = app.accounts.hash_password(&secret).await?;
    let mut nu = NewUser::new(name, UserKind::Service)
        .password_hash(hash)
        .admin(new.admin);
    nu.expires_at = new.expires_at;
    nu.email = email;
    let expires = new
        .expires_at
        .map(|t| format!(" expires={}", crate::time::date(t)))
        .unwrap_or_default();
    let detail = format!("service admin={}{expires}", new.admin);
    let user = app
        .accounts
        .store()
        .create_user(&nu, &|u| {
            vec![actor.event("user.create", &u.username, Some(detail.clone()))]
        })
        .await?;
    applied(app, None).await?;
    Ok((user, secret))
}

/// A page of accounts by username, those containing `query.filter` in the username, names or
/// e-mail address (the lists of the UI, the API and the CLI).
pub async fn users_page(app: &App, query: &ListQuery) -> Result<Page<User>, OpError> {
    Ok(app.accounts.store().list_users_page(query).await?)
}

/// A user by id.
pub async fn user(app: &App, id: i64) -> Result<User, OpError> {
    Ok(app.accounts.store().get_user(id).await?)
}

/// A user by name.
pub async fn user_named(app: &App, name: &str) -> Result<User, OpError> {
    Ok(app.accounts.store().get_user_by_name(name).await?)
}

/// A change of an account as an administrator makes it; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChange {
    /// The given name.
    pub first_name: Option<String>,
    /// The family name.
    pub last_name: Option<String>,
    /// The e-mail address; empty removes it.
    pub email: Option<String>,
    /// The expiry (unix seconds); `Some(None)`: never.
    pub expires_at: Option<Option<i64>>,
    /// Disable or enable.
    pub disabled: Option<bool>,
    /// Make an administrator, or not.
    pub admin: Option<bool>,
}

/// Change an account: every field is checked (and an administrator cannot disable or demote
/// themself) before anything is written, then the store applies the whole change in one
/// transaction, so a refused change changes nothing. Each part is audited as its own action
/// (`user.update` for the names and address, `user.expiry`, `user.disable`/`user.enable`,
/// `user.admin`/`user.unadmin`); disabling ends the account's web sessions.
pub async fn update_user(
    app: &App,
    actor: &Actor,
    user: &User,
    change: &UserChange,
) -> Result<User, OpError> {
    let first_name = change
        .first_name
        .as_deref()
        .map(|v| check_text("first_name", v))
        .transpose()?;
    let last_name = change
        .last_name
        .as_deref()
        .map(|v| check_text("last_name", v))
        .transpose()?;
    let email = change.email.as_deref().map(check_email).transpose()?;
    if change.disabled == Some(true) {
        not_yourself(actor, user, "disable")?;
    }
    if change.admin == Some(false) {
        not_yourself(actor, user, "remove the administrator role from")?;
    }
    let profile = first_name.is_some() || last_name.is_some() || email.is_some();
    let update = UserUpdate {
        first_name,
        last_name,
        email,
        expires_at: change.expires_at,
        disabled: change.disabled,
        is_admin: change.admin,
        ..UserUpdate::default()
    };
    let name = &user.username;
    let mut events = Vec::new();
    if profile {
        events.push(actor.event("user.update", name, None));
    }
    if let Some(at) = change.expires_at {
        let detail = at.map_or_else(|| "never".to_owned(), crate::time::date);
        events.push(actor.event("user.expiry", name, Some(detail)));
    }
    if let Some(d) = change.disabled {
        let action = if d { "user.disable" } else { "user.enable" };
        events.push(actor.event(action, name, None));
    }
    if let Some(a) = change.admin {
        let action = if a { "user.admin" } else { "user.unadmin" };
        events.push(actor.event(action, name, None));
    }
    let updated = app
        .accounts
        .store()
        .update_user(user.id, &update, &|_| events.clone())
        .await?;
    applied(app, Some(name)).await?;
    Ok(updated)
}

/// Change a user's names and e-mail address ([`update_user`]).
pub async fn update_profile(
    app: &App,
    actor: &Actor,
    user: &User,
    first_name: &str,
    last_name: &str,
    email: &str,
) -> Result<User, OpError> {
    let change = UserChange {
        first_name: Some(first_name.to_owned()),
        last_name: Some(last_name.to_owned()),
        email: Some(email.to_owned()),
        ..UserChange::default()
    };
    update_user(app, actor, user, &change).await
}

fn not_yourself(actor: &Actor, user: &User, what: &str) -> Result<(), OpError> {
    if !actor.console && actor.username.eq_ignore_ascii_case(&user.username) {
        return Err(OpError::Conflict(format!("you cannot {what} yourself")));
    }
    Ok(())
}

/// Disable or enable an account ([`update_user`]). Disabling ends its sessions (in the
/// store's transaction, so enabling never revives them) and its remembered credentials.
pub async fn set_disabled(
    app: &App,
    actor: &Actor,
    user: &User,
    disabled: bool,
) -> Result<(), OpError> {
    let change = UserChange {
        disabled: Some(disabled),
        ..UserChange::default()
    };
    update_user(app, actor, user, &change).await.map(drop)
}

/// Make a user an administrator, or not ([`update_user`]).
pub async fn set_admin(app: &App, actor: &Actor, user: &User, admin: bool) -> Result<(), OpError> {
    let change = UserChange {
        admin: Some(admin),
        ..UserChange::default()
    };
    update_user(app, actor, user, &change).await.map(drop)
}

/// Set a person's password (an administrator's change): every web session and docker login
/// of theirs ends.
pub async fn set_password(
    app: &App,
    actor: &Actor,
    user: &User,
    password: &str,
) -> Result<LoginsEnded, OpError> {
    // The UI and the API rotate a service account's secret; the command line may set one.
    if user.kind != UserKind::Human && !actor.console {
        return Err(OpError::Conflict(
            "a service account has a generated secret: rotate it instead".to_owned(),
        ));
    }
    check_password("password", &user.username, password)?;
    let hash = app.accounts.hash_password(password).await?;
    let ended = app
        .accounts
        .store()
        .set_password_hash(user.id, Some(&hash), &PasswordChange::default(), &|ended| {
            vec![actor.event("user.password", &user.username, Some(ended_text(*ended)))]
        })
        .await?;
    applied(app, Some(&user.username)).await?;
    Ok(ended)
}

/// What a password change (or disabling) ended, for the audit log.
pub fn ended_text(ended: LoginsEnded) -> String {
    format!(
        "ended {} web session(s), revoked {} docker login(s)",
        ended.sessions, ended.docker_logins
    )
}

/// A person's own password change, as typed on their profile.
#[derive(Clone, Default)]
pub struct OwnChange {
    /// The current password.
    pub current: String,
    /// The new password.
    pub new: String,
    /// The new password again.
    pub confirm: String,
    /// The session making the change (the SHA-256 of its cookie): it stays.
    pub session: Option<String>,
    /// Keep the docker logins (the profile's "keep my docker logins").
    pub keep_docker_logins: bool,
}

impl std::fmt::Debug for OwnChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnChange")
            .field("session", &self.session)
            .field("keep_docker_logins", &self.keep_docker_logins)
            .finish_non_exhaustive()
    }
}

/// A person changes their own password, having given the current one (checked under the
/// guessing limits of every password check: [`OpError::Throttled`] past them) and the new
/// one twice: their other web sessions end, and their docker logins unless they keep them.
pub async fn change_own_password(
    app: &App,
    actor: &Actor,
    user: &User,
    change: &OwnChange,
) -> Result<LoginsEnded, OpError> {
    let wrong = || OpError::invalid("current", "the current password is wrong");
    let name = Username::new(user.username.as_str()).map_err(|_| wrong())?;
    match app
        .accounts
        .check(&name, &change.current, actor.remote, Channel::Profile)
        .await?
    {
        Checked::Valid { user_id, .. } if user_id == user.id => {}
        Checked::Throttled(wait) => return Err(OpError::Throttled(wait)),
        _ => return Err(wrong()),
    }
    check_password("new", &user.username, &change.new)?;
    if change.new != change.confirm {
        return Err(OpError::invalid("confirm", "the two new passwords differ"));
    }
    let hash = app.accounts.hash_password(&change.new).await?;
    let keep = PasswordChange {
        keep_session: change.session.clone(),
        keep_docker_logins: change.keep_docker_logins,
    };
    let ended = app
        .accounts
        .store()
        .set_password_hash(user.id, Some(&hash), &keep, &|ended| {
            let detail = format!("own change: {}", ended_text(*ended));
            vec![actor.event("user.password", &user.username, Some(detail))]
        })
        .await?;
    applied(app, Some(&user.username)).await?;
    Ok(ended)
}

/// Give a service account a new generated secret; the old one stops working.
pub async fn rotate_secret(app: &App, actor: &Actor, user: &User) -> Result<String, OpError> {
    if user.kind != UserKind::Service {
        return Err(OpError::Conflict(
            "only a service account has a generated secret".to_owned(),
        ));
    }
    let secret = new_secret()?;
    let hash = app.accounts.hash_password(&secret).await?;
    app.accounts
        .store()
        .set_password_hash(user.id, Some(&hash), &PasswordChange::default(), &|ended| {
            let detail = Some(ended_text(*ended));
            vec![actor.event("user.rotate_secret", &user.username, detail)]
        })
        .await?;
    applied(app, Some(&user.username)).await?;
    Ok(secret)
}

/// Set or clear an account's expiry ([`update_user`]).
pub async fn set_expiry(
    app: &App,
    actor: &Actor,
    user: &User,
    expires_at: Option<i64>,
) -> Result<(), OpError> {
    let change = UserChange {
        expires_at: Some(expires_at),
        ..UserChange::default()
    };
    update_user(app, actor, user, &change).await.map(drop)
}

/// Delete an account with its memberships, tokens, sessions and the rules that name it (in
/// one transaction, with the audit events of the deletion and of every rule removed).
/// Returns the rules removed.
pub async fn delete_user(app: &App, actor: &Actor, user: &User) -> Result<Vec<AclRule>, OpError> {
    not_yourself(actor, user, "delete")?;
    let removed = app
        .accounts
        .store()
        .delete_user(user.id, &|removed| {
            deletion_events(actor, &user.username, removed, "")
        })
        .await?;
    applied(app, Some(&user.username)).await?;
    Ok(removed)
}

/// The events of deleting the account `name`, which removed `rules` with it: `user.delete`
/// (the count of rules, after `why` when given), then one `acl.remove` per rule.
fn deletion_events(
    actor: &Actor,
    name: &str,
    rules: &[AclRule],
    why: &str,
) -> Vec<crate::storage::NewAuditEvent> {
    let count = format!("{} rule(s) naming the user removed", rules.len());
    let detail = if why.is_empty() {
        count
    } else {
        format!("{why}; {count}")
    };
    let mut events = vec![actor.event("user.delete", name, Some(detail))];
    events.extend(removed_rules(actor, rules, &format!("user {name}")));
    events
}
