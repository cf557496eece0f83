//! The records of the storage ports: plain data, written and read by a [`Storage`](super::Storage)
//! implementation (registryo-store's SQL one), validated by the application.

use std::fmt;
use std::str::FromStr;

use super::StoreError;
use crate::names::Username;

/// Whether an account belongs to a person or to a machine (CI, a robot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserKind {
    /// A person, who logs in to the web UI and uses `docker login`.
    Human,
    /// A machine account, often with an expiry date.
    Service,
}

impl UserKind {
    /// The stored spelling: `human` or `service`.
    pub fn as_str(self) -> &'static str {
        match self {
            UserKind::Human => "human",
            UserKind::Service => "service",
        }
    }
}

impl fmt::Display for UserKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for UserKind {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "human" => Ok(UserKind::Human),
            "service" => Ok(UserKind::Service),
            other => Err(StoreError::Invalid(format!(
                "unknown user kind {other:?} (expected \"human\" or \"service\")"
            ))),
        }
    }
}

impl TryFrom<String> for UserKind {
    type Error = StoreError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// A stored account. Its `Debug` hides the password hash.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// The store's id.
    pub id: i64,
    /// The login name, unique without regard to case, kept as created. Names made before
    /// [`Username`] existed may not parse as one; they can still be listed and removed.
    pub username: String,
    /// The argon2id PHC string, or `None` when no password is set (the account cannot log in
    /// with a password).
    pub password_hash: Option<String>,
    /// Person or machine.
    pub kind: UserKind,
    /// Whether the account administers Registryo.
    pub is_admin: bool,
    /// A disabled account cannot log in and its refresh tokens and sessions are not honoured.
    pub disabled: bool,
    /// Given name (may be empty).
    pub first_name: String,
    /// Family name (may be empty).
    pub last_name: String,
    /// Contact address.
    pub email: Option<String>,
    /// When the account stops working (unix seconds), mostly for service accounts.
    pub expires_at: Option<i64>,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// Last change of any field (unix seconds).
    pub updated_at: i64,
    /// Last change of the password hash (unix seconds).
    pub password_changed_at: Option<i64>,
}

impl User {
    /// Whether the account is usable at `now` (unix seconds): not disabled and not expired.
    pub fn is_active_at(&self, now: i64) -> bool {
        !self.disabled && self.expires_at.is_none_or(|at| at > now)
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "<hidden>"),
            )
            .field("kind", &self.kind)
            .field("is_admin", &self.is_admin)
            .field("disabled", &self.disabled)
            .field("first_name", &self.first_name)
            .field("last_name", &self.last_name)
            .field("email", &self.email)
            .field("expires_at", &self.expires_at)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("password_changed_at", &self.password_changed_at)
            .finish()
    }
}

/// What `create_user` needs. Build it with
/// [`NewUser::new`] and the setters. Its `Debug` hides the password hash.
#[derive(Clone, PartialEq, Eq)]
pub struct NewUser {
    /// The login name.
    pub username: Username,
    /// The argon2id PHC string, if the account has a password.
    pub password_hash: Option<String>,
    /// Person or machine.
    pub kind: UserKind,
    /// Whether the account administers Registryo.
    pub is_admin: bool,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Contact address.
    pub email: Option<String>,
    /// When the account stops working (unix seconds).
    pub expires_at: Option<i64>,
}

impl NewUser {
    /// A non-admin account with no password and no names.
    pub fn new(username: Username, kind: UserKind) -> Self {
        NewUser {
            username,
            password_hash: None,
            kind,
            is_admin: false,
            first_name: String::new(),
            last_name: String::new(),
            email: None,
            expires_at: None,
        }
    }

    /// Sets the argon2id PHC string.
    pub fn password_hash(mut self, hash: impl Into<String>) -> Self {
        self.password_hash = Some(hash.into());
        self
    }

    /// Makes the account an administrator (or not).
    pub fn admin(mut self, is_admin: bool) -> Self {
        self.is_admin = is_admin;
        self
    }

    /// Sets the given and family names.
    pub fn names(mut self, first: impl Into<String>, last: impl Into<String>) -> Self {
        self.first_name = first.into();
        self.last_name = last.into();
        self
    }

    /// Sets the contact address.
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// Sets the expiry time (unix seconds).
    pub fn expires_at(mut self, at: i64) -> Self {
        self.expires_at = Some(at);
        self
    }
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "<hidden>"),
            )
            .field("kind", &self.kind)
            .field("is_admin", &self.is_admin)
            .field("first_name", &self.first_name)
            .field("last_name", &self.last_name)
            .field("email", &self.email)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A partial change of an account for `update_user`, applied in one transaction:
/// `None` leaves a field alone. Passwords have their own method (it ends logins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserUpdate {
    /// New given name.
    pub first_name: Option<String>,
    /// New family name.
    pub last_name: Option<String>,
    /// New contact address; `Some(None)` removes it.
    pub email: Option<Option<String>>,
    /// New expiry time; `Some(None)` removes it.
    pub expires_at: Option<Option<i64>>,
    /// New kind.
    pub kind: Option<UserKind>,
    /// Disable (`true`: its web sessions are deleted in the same transaction) or enable.
    pub disabled: Option<bool>,
    /// Make an administrator, or not.
    pub is_admin: Option<bool>,
}

/// A named set of users, the subject of `group:NAME` ACL rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The store's id.
    pub id: i64,
    /// The unique, case-sensitive name.
    pub name: String,
    /// Creation time (unix seconds).
    pub created_at: i64,
}

/// A stored ACL rule, kept as the text the administrator wrote; the server parses and
/// compiles it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclRule {
    /// The store's id; rules are listed in id order.
    pub id: i64,
    /// Who the rule is for: `user:alice`, `group:devs`, `anonymous`, `authenticated`.
    pub subject: String,
    /// The repository pattern, e.g. `team/*`.
    pub pattern: String,
    /// Comma-separated actions, e.g. `pull,push`.
    pub actions: String,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// Who added the rule (a username), if known.
    pub created_by: Option<String>,
}

/// What `add_acl_rule` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAclRule {
    /// Who the rule is for (not empty).
    pub subject: String,
    /// The repository pattern (not empty).
    pub pattern: String,
    /// Comma-separated actions (not empty).
    pub actions: String,
    /// Who adds the rule.
    pub created_by: Option<String>,
}

/// What a password change keeps of the user's logins. By default it ends them all: every web
/// session, every docker login (refresh token), every unused reset or invitation link.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PasswordChange {
    /// The web session (the SHA-256 of its cookie) that made the change: it stays.
    pub keep_session: Option<String>,
    /// Keep the user's docker logins (only the person themselves may ask for it).
    pub keep_docker_logins: bool,
}

/// What a password change (or disabling an account) ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoginsEnded {
    /// Web sessions deleted.
    pub sessions: u64,
    /// Docker logins (refresh tokens) revoked.
    pub docker_logins: u64,
}

/// A stored refresh token (its SHA-256 hash, never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    /// The store's id.
    pub id: i64,
    /// The owner.
    pub user_id: i64,
    /// SHA-256 of the token, 64 lower-case hex digits.
    pub token_hash: String,
    /// The client that asked for it (the `client_id` of the token request).
    pub client_id: String,
    /// The service (registry) it is for.
    pub service: String,
    /// Issue time (unix seconds).
    pub created_at: i64,
    /// Last use (unix seconds).
    pub last_used_at: Option<i64>,
    /// Revocation time (unix seconds); a revoked token is never honoured again.
    pub revoked_at: Option<i64>,
    /// The client address it was issued to.
    pub created_addr: Option<String>,
    /// The client address of its last recorded use.
    pub last_used_addr: Option<String>,
}

/// What `insert_refresh_token` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefreshToken {
    /// The owner.
    pub user_id: i64,
    /// SHA-256 of the token, 64 hex digits (stored lower-case).
    pub token_hash: String,
    /// The client that asked for it.
    pub client_id: String,
    /// The service (registry) it is for.
    pub service: String,
    /// The client address it is issued to.
    pub created_addr: Option<String>,
}

/// A use of a refresh token, recorded in batches ([`RefreshTokenStore::record_refresh_token_uses`](super::RefreshTokenStore::record_refresh_token_uses)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenUse {
    /// The token's id.
    pub id: i64,
    /// When it was used (unix seconds).
    pub at: i64,
    /// The client address it was used from.
    pub addr: Option<String>,
}

/// A refresh token that may be honoured, with its owner, from
/// `find_active_refresh_token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveRefreshToken {
    /// The token record.
    pub token: RefreshToken,
    /// Its owner, enabled and not expired when read.
    pub user: User,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// The store's id, increasing with time.
    pub id: i64,
    /// When it happened (unix seconds).
    pub at: i64,
    /// Who did it (a username), `None` for anonymous or the system.
    pub actor: Option<String>,
    /// What happened, e.g. `user.create`, `token.refused`, `login`.
    pub action: String,
    /// What it was done to, e.g. a username or a scope.
    pub target: Option<String>,
    /// Free-form detail.
    pub detail: Option<String>,
    /// The client's address.
    pub remote_addr: Option<String>,
    /// How many times it happened: repeated events (failed sign-ins) are counted into one
    /// row per account, address and minute; 1 for every other event.
    pub count: i64,
}

/// What `insert_audit_event` needs; the store sets
/// the time. An audited change takes its events through an [`Audit`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewAuditEvent {
    /// Who did it.
    pub actor: Option<String>,
    /// What happened (not empty).
    pub action: String,
    /// What it was done to.
    pub target: Option<String>,
    /// Free-form detail.
    pub detail: Option<String>,
    /// The client's address.
    pub remote_addr: Option<String>,
}

impl NewAuditEvent {
    /// An event with only its action set.
    pub fn new(action: impl Into<String>) -> NewAuditEvent {
        NewAuditEvent {
            action: action.into(),
            ..NewAuditEvent::default()
        }
    }
}

/// The audit events of one change, made from what the change did (the record it wrote, the
/// rules a deletion removed with it, the logins a password change ended) and written by the
/// store **in the change's own transaction**, so the change and its events commit together or
/// not at all.
///
/// The store calls it once, inside the transaction, after the change and before the commit;
/// a change that is refused (a conflict, nothing to change) never calls it. Each event is
/// checked as [`AuditLog::insert_audit_event`](super::AuditLog::insert_audit_event) checks
/// one: a refused event refuses the whole change. Returning no event writes the change
/// unaudited (tests; the operations always audit).
///
/// ```
/// # use registryo_core::storage::{Audit, NewAuditEvent, User};
/// let audit: Audit<'_, User> = &|user| {
///     vec![NewAuditEvent {
///         target: Some(user.username.clone()),
///         ..NewAuditEvent::new("user.create")
///     }]
/// };
/// # let _ = audit;
/// ```
pub type Audit<'a, R> = &'a (dyn Fn(&R) -> Vec<NewAuditEvent> + Sync + 'a);

/// A page of a list in the order of its key (users and groups by name, rules by id): at most
/// `limit` items (0 means [`ListQuery::DEFAULT_LIMIT`]; at most [`ListQuery::MAX_LIMIT`])
/// whose key comes after `after`, and that contain `filter` (case-insensitive: users in the
/// username, names or e-mail address; groups in the name; rules in the subject or pattern).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Only items containing this text (empty: all).
    pub filter: String,
    /// Only items after this key: the `next` of the previous page.
    pub after: Option<String>,
    /// Page size.
    pub limit: u32,
}

impl ListQuery {
    /// The page size when none is asked for.
    pub const DEFAULT_LIMIT: u32 = 50;
    /// The largest page.
    pub const MAX_LIMIT: u32 = 1000;

    /// The page size this query asks for, within bounds.
    pub fn page_size(&self) -> u32 {
        match self.limit {
            0 => Self::DEFAULT_LIMIT,
            n => n.min(Self::MAX_LIMIT),
        }
    }

    /// The filter as a `LIKE` pattern (lower-case, `%`, `_` and `\` escaped with `\`).
    pub fn like_pattern(&self) -> String {
        let mut p = String::with_capacity(self.filter.len() + 2);
        p.push('%');
        for c in self.filter.to_lowercase().chars() {
            if matches!(c, '%' | '_' | '\\') {
                p.push('\\');
            }
            p.push(c);
        }
        p.push('%');
        p
    }
}

/// One page of a list, and the key to ask for the next one (`None` on the last page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, in the list's order.
    pub items: Vec<T>,
    /// `ListQuery::after` for the next page.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// A page from up to `size + 1` rows: the extra row only says there is a next page, whose
    /// key is that of the page's last item.
    pub fn from_rows(mut rows: Vec<T>, size: u32, key: impl Fn(&T) -> String) -> Page<T> {
        let size = size as usize;
        let next = if rows.len() > size {
            rows.truncate(size);
            rows.last().map(key)
        } else {
            None
        };
        Page { items: rows, next }
    }

    /// The same page with each item mapped.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}

/// A page request for `list_audit_events`: newest
/// first, `limit` events (0 means 100; at most 1000) with an id below `before_id`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only events by this actor.
    pub actor: Option<String>,
    /// Only events with exactly this action.
    pub action: Option<String>,
    /// Only events older than this id: pass the last id of the previous page.
    pub before_id: Option<i64>,
    /// Page size.
    pub limit: u32,
    /// Only events whose target starts with this (`team/app:` for a repository's tags).
    pub target_prefix: Option<String>,
    /// Only events at or after this time (unix seconds).
    pub since: Option<i64>,
    /// Only events before this time (unix seconds).
    pub until: Option<i64>,
}

/// A web UI session (the hash of its cookie). Its `Debug` hides the CSRF token.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 of the session cookie, 64 lower-case hex digits.
    pub id_hash: String,
    /// The logged-in user.
    pub user_id: i64,
    /// The CSRF token bound to the session.
    pub csrf_token: String,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// Expiry time (unix seconds).
    pub expires_at: i64,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id_hash", &self.id_hash)
            .field("user_id", &self.user_id)
            .field("csrf_token", &"<hidden>")
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// What `create_session` needs. Its `Debug` hides the
/// CSRF token.
#[derive(Clone, PartialEq, Eq)]
pub struct NewSession {
    /// SHA-256 of the session cookie, 64 hex digits.
    pub id_hash: String,
    /// The logged-in user.
    pub user_id: i64,
    /// The CSRF token bound to the session (not empty).
    pub csrf_token: String,
    /// Expiry time (unix seconds).
    pub expires_at: i64,
}

impl fmt::Debug for NewSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSession")
            .field("id_hash", &self.id_hash)
            .field("user_id", &self.user_id)
            .field("csrf_token", &"<hidden>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The policy revision: bumped by every change to users, their passwords, admin and disabled flags,
/// groups, memberships and ACL rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PolicyRevision {
    /// A counter that only grows.
    pub revision: i64,
    /// When it last grew (unix seconds).
    pub changed_at: i64,
}

/// What changed in the policy after a revision ([`PolicyLog::policy_changes`]): the ids of the
/// rules and users touched, and the current rows of those that still exist. A server removes
/// every touched id from its policy and puts back the rows, so applying a delta twice, or one
/// whose rows are newer than its revision, gives the same policy as a rebuild.
///
/// [`PolicyLog::policy_changes`]: super::PolicyLog::policy_changes
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyDelta {
    /// The revision the delta brings a policy to.
    pub revision: i64,
    /// Every rule id a change touched (added, removed, or both).
    pub rule_ids: Vec<i64>,
    /// The touched rules that exist now, by id.
    pub rules: Vec<AclRule>,
    /// Every user id a change touched (the account, its password, flags or memberships).
    pub user_ids: Vec<i64>,
    /// The touched users that exist now.
    pub users: Vec<User>,
    /// The groups of those users, as (user id, group name).
    pub memberships: Vec<(i64, String)>,
}

/// What a password token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenPurpose {
    /// "Forgot password": the user had a password and asked for a new one.
    Reset,
    /// An invitation: the account was created without a password.
    Invite,
}

impl TokenPurpose {
    /// The stored spelling: `reset` or `invite`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::Reset => "reset",
            TokenPurpose::Invite => "invite",
        }
    }
}

impl FromStr for TokenPurpose {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "reset" => Ok(TokenPurpose::Reset),
            "invite" => Ok(TokenPurpose::Invite),
            other => Err(StoreError::Invalid(format!(
                "unknown token purpose {other:?} (expected \"reset\" or \"invite\")"
            ))),
        }
    }
}

impl TryFrom<String> for TokenPurpose {
    type Error = StoreError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// A password reset or invitation token (only its SHA-256 hash is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordToken {
    /// The store's id.
    pub id: i64,
    /// Whose password it sets.
    pub user_id: i64,
    /// SHA-256 of the token, 64 lower-case hex digits.
    pub token_hash: String,
    /// Reset or invitation.
    pub purpose: TokenPurpose,
    /// Creation time (unix seconds).
    pub created_at: i64,
    /// When it stops working (unix seconds).
    pub expires_at: i64,
    /// When it was used (it works once).
    pub used_at: Option<i64>,
}

/// What `insert_password_token` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPasswordToken {
    /// Whose password it sets.
    pub user_id: i64,
    /// SHA-256 of the token, 64 hex digits.
    pub token_hash: String,
    /// Reset or invitation.
    pub purpose: TokenPurpose,
    /// When it stops working (unix seconds).
    pub expires_at: i64,
}

/// Failures of one account in one minute: from the asking address and from all addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureCount {
    /// The minute (unix seconds / 60).
    pub minute: i64,
    /// From the address asked about.
    pub from_addr: i64,
    /// From every address, that one included.
    pub total: i64,
}
