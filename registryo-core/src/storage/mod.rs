//! The storage ports: what the application needs of a database, split by capability (as
//! lldap's backend handlers are), with the records they read and write ([`model`]) and their
//! one error ([`StoreError`]).
//!
//! The application reaches storage only through these traits; `registryo-store` implements
//! them with sqlx for SQLite and PostgreSQL, and runs one conformance suite against both.
//! [`Storage`] is all of them, for an `Arc<dyn Storage>`.
//!
//! Conventions every implementation keeps:
//! - timestamps are unix seconds, taken by the store when it writes;
//! - the store receives hashes (argon2id PHC strings, SHA-256 hex of tokens and session ids),
//!   never passwords or tokens;
//! - every change that can alter the compiled access policy (users, their passwords, admin and
//!   disabled flags, expiry, groups, memberships, rules) bumps the [`PolicyRevision`] in the
//!   same transaction and records there which rules and users it touched ([`PolicyLog`]), so
//!   servers update their policy by what changed; every change that ends or suspends docker
//!   logins (a revocation, a password change that revoked them, disabling or removing the
//!   account) bumps the login revision ([`RefreshTokenStore::login_revision`]) in its
//!   transaction;
//! - names are unique, and looked up, without regard to case;
//! - every change the application audits takes its audit events as an [`Audit`] and writes
//!   them in the change's own transaction, checked as [`AuditLog::insert_audit_event`] checks
//!   an event: the change and its events commit together or not at all, a refused change
//!   writes no event, and a refused event refuses the change. Deleting a user or a group
//!   hands the rules removed with it to the [`Audit`], so their removal is audited in the
//!   same transaction too. Only sign-ins (failed ones counted with
//!   [`AuditLog::count_audit_event`]) and what is not the store's to change (a registry's
//!   tags) are written on their own, with [`AuditLog::insert_audit_event`].

use async_trait::async_trait;

use crate::names::GroupName;

pub mod activity;
mod error;
pub mod model;

pub use activity::{ActivityQuery, EventsRecorded, NewRegistryEvent, RegistryEvent};

pub use error::{DatabaseError, Outage, StoreError};
pub use model::{
    AclRule, ActiveRefreshToken, Audit, AuditEvent, AuditQuery, FailureCount, Group, ListQuery,
    LoginsEnded, NewAclRule, NewAuditEvent, NewPasswordToken, NewRefreshToken, NewSession, NewUser,
    Page, PasswordChange, PasswordToken, PolicyDelta, PolicyRevision, RefreshToken,
    RefreshTokenUse, Session, TokenPurpose, User, UserKind, UserUpdate,
};

/// Accounts: people and service accounts, their passwords and flags.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates an account; [`StoreError::Conflict`] if the name is taken in any case.
    /// Audited with the account created.
    async fn create_user(&self, new: &NewUser, audit: Audit<'_, User>) -> Result<User, StoreError>;
    /// The account with this id.
    async fn get_user(&self, id: i64) -> Result<User, StoreError>;
    /// The account with this name, without regard to case.
    async fn get_user_by_name(&self, username: &str) -> Result<User, StoreError>;
    /// Every account, by name.
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;
    /// A page of users by username ([`ListQuery`]: the filter looks in the username, the
    /// names and the e-mail address).
    async fn list_users_page(&self, query: &ListQuery) -> Result<Page<User>, StoreError>;
    /// How many accounts exist.
    async fn count_users(&self) -> Result<i64, StoreError>;
    /// Changes the fields set in `update` in one transaction (disabling deletes the account's
    /// web sessions in it, so enabling never revives them) and returns the new record.
    /// Audited with the new record.
    async fn update_user(
        &self,
        id: i64,
        update: &UserUpdate,
        audit: Audit<'_, User>,
    ) -> Result<User, StoreError>;
    /// Sets (or removes) the password hash and, in the same transaction, ends the user's
    /// other logins as `change` says: every password change goes here. Audited with what it
    /// ended.
    async fn set_password_hash(
        &self,
        id: i64,
        hash: Option<&str>,
        change: &PasswordChange,
        audit: Audit<'_, LoginsEnded>,
    ) -> Result<LoginsEnded, StoreError>;
    /// Makes an account an administrator, or not: [`UserStore::update_user`] with that flag.
    async fn set_admin(
        &self,
        id: i64,
        is_admin: bool,
        audit: Audit<'_, User>,
    ) -> Result<(), StoreError> {
        let update = UserUpdate {
            is_admin: Some(is_admin),
            ..UserUpdate::default()
        };
        self.update_user(id, &update, audit).await.map(drop)
    }
    /// Disables or enables an account: [`UserStore::update_user`] with that flag.
    async fn set_disabled(
        &self,
        id: i64,
        disabled: bool,
        audit: Audit<'_, User>,
    ) -> Result<(), StoreError> {
        let update = UserUpdate {
            disabled: Some(disabled),
            ..UserUpdate::default()
        };
        self.update_user(id, &update, audit).await.map(drop)
    }
    /// Deletes an account with everything of it, and the rules naming it (returned, by id),
    /// in one transaction. Audited with the rules removed, so the events of their removal
    /// are written in the deletion's transaction as well.
    async fn delete_user(
        &self,
        id: i64,
        audit: Audit<'_, [AclRule]>,
    ) -> Result<Vec<AclRule>, StoreError>;
    /// Creates accounts, all in one transaction or none: a bulk import.
    /// [`StoreError::Conflict`] naming the first name taken. Audited with the accounts created.
    async fn create_users(
        &self,
        new: &[NewUser],
        audit: Audit<'_, [User]>,
    ) -> Result<Vec<User>, StoreError>;
    /// The accounts with this e-mail address, without regard to ASCII case.
    async fn find_users_by_email(&self, email: &str) -> Result<Vec<User>, StoreError>;
}

/// Groups and memberships.
#[async_trait]
pub trait GroupStore: Send + Sync {
    /// Creates a group; [`StoreError::Conflict`] if the name is taken in any case. Audited
    /// with the group created.
    async fn create_group(
        &self,
        name: &GroupName,
        audit: Audit<'_, Group>,
    ) -> Result<Group, StoreError>;
    /// The group with this id.
    async fn get_group(&self, id: i64) -> Result<Group, StoreError>;
    /// The group with this name, without regard to case.
    async fn get_group_by_name(&self, name: &str) -> Result<Group, StoreError>;
    /// Every group, by name.
    async fn list_groups(&self) -> Result<Vec<Group>, StoreError>;
    /// How many groups exist.
    async fn count_groups(&self) -> Result<i64, StoreError>;
    /// A page of groups by name ([`ListQuery`]).
    async fn list_groups_page(&self, query: &ListQuery) -> Result<Page<Group>, StoreError>;
    /// Deletes a group with its memberships and the rules naming it (returned, by id), in one
    /// transaction. Audited with the rules removed, as [`UserStore::delete_user`] is.
    async fn delete_group(
        &self,
        id: i64,
        audit: Audit<'_, [AclRule]>,
    ) -> Result<Vec<AclRule>, StoreError>;
    /// Adds a member: `false` if they were one already. Audited with that answer (an
    /// operation audits only `true`).
    async fn add_group_member(
        &self,
        group_id: i64,
        user_id: i64,
        audit: Audit<'_, bool>,
    ) -> Result<bool, StoreError>;
    /// Removes a member: `false` if they were not one. Audited with that answer.
    async fn remove_group_member(
        &self,
        group_id: i64,
        user_id: i64,
        audit: Audit<'_, bool>,
    ) -> Result<bool, StoreError>;
    /// The groups of a user, by name.
    async fn groups_of_user(&self, user_id: i64) -> Result<Vec<Group>, StoreError>;
    /// The members of a group, by name.
    async fn group_members(&self, group_id: i64) -> Result<Vec<User>, StoreError>;
    /// Every (group name, user name) membership.
    async fn list_memberships(&self) -> Result<Vec<(String, String)>, StoreError>;
}

/// ACL rules, stored as the text written.
#[async_trait]
pub trait RuleStore: Send + Sync {
    /// Adds a rule at the end of the list. Audited with the rule stored (and its id).
    async fn add_acl_rule(
        &self,
        rule: &NewAclRule,
        audit: Audit<'_, AclRule>,
    ) -> Result<AclRule, StoreError>;
    /// Every rule, by id.
    async fn list_acl_rules(&self) -> Result<Vec<AclRule>, StoreError>;
    /// A page of rules by id ([`ListQuery`]: `after` is a rule id; the filter looks in the
    /// subject and the pattern). A non-numeric `after` is [`StoreError::Invalid`].
    async fn list_acl_rules_page(&self, query: &ListQuery) -> Result<Page<AclRule>, StoreError>;
    /// Adds rules at the end of the list, all in one transaction or none: a bulk import.
    /// Audited with the rules stored (and their ids), in that transaction.
    async fn add_acl_rules(
        &self,
        rules: &[NewAclRule],
        audit: Audit<'_, [AclRule]>,
    ) -> Result<Vec<AclRule>, StoreError>;
    /// Deletes a rule and returns it; [`StoreError::NotFound`] if there is none with this
    /// id. Audited with the rule removed.
    async fn delete_acl_rule(
        &self,
        id: i64,
        audit: Audit<'_, AclRule>,
    ) -> Result<AclRule, StoreError>;
}

/// Refresh tokens (docker logins), by their SHA-256 hash.
#[async_trait]
pub trait RefreshTokenStore: Send + Sync {
    /// Stores a new refresh token (a docker login). Audited with the token stored.
    async fn insert_refresh_token(
        &self,
        new: &NewRefreshToken,
        audit: Audit<'_, RefreshToken>,
    ) -> Result<RefreshToken, StoreError>;
    /// The token with this hash and its owner, if it may be honoured: not revoked, used (or
    /// issued) at `idle_since` or later, its owner active.
    async fn find_active_refresh_token(
        &self,
        token_hash: &str,
        idle_since: i64,
    ) -> Result<Option<ActiveRefreshToken>, StoreError>;
    /// Records uses, in one transaction: each token's last use becomes the later of the one
    /// stored and the one given (uses batched by several servers may arrive out of order),
    /// with its address. Tokens that no longer exist are skipped. Returns how many rows
    /// changed.
    async fn record_refresh_token_uses(&self, uses: &[RefreshTokenUse]) -> Result<u64, StoreError>;
    /// The login revision: bumped in the transaction of every change that ends or suspends
    /// docker logins (a revocation, a password change that revoked them, disabling or
    /// removing their account). One row, cheap to poll.
    async fn login_revision(&self) -> Result<i64, StoreError>;
    /// Revokes one token: how many were revoked (0 or 1). Audited with that count.
    async fn revoke_refresh_token(&self, id: i64, audit: Audit<'_, u64>)
    -> Result<u64, StoreError>;
    /// Revokes every live token of a user, or those of `client_id`: how many. Audited with
    /// that count.
    async fn revoke_refresh_tokens_of_user(
        &self,
        user_id: i64,
        client_id: Option<&str>,
        audit: Audit<'_, u64>,
    ) -> Result<u64, StoreError>;
    /// Every token of a user, revoked ones included, oldest first.
    async fn list_refresh_tokens(&self, user_id: i64) -> Result<Vec<RefreshToken>, StoreError>;
    /// Deletes the tokens revoked before `before`: how many.
    async fn purge_revoked_refresh_tokens(&self, before: i64) -> Result<u64, StoreError>;
}

/// Web UI sessions, by the SHA-256 of their cookie.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new session, with `audit`'s events in the same transaction.
    async fn create_session(
        &self,
        new: &NewSession,
        audit: Audit<'_, Session>,
    ) -> Result<Session, StoreError>;
    /// The live session with this hash, if its user is active.
    async fn get_session(&self, id_hash: &str) -> Result<Option<Session>, StoreError>;
    /// Deletes a session: `true` if it existed.
    async fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError>;
    /// Deletes every session of a user: how many.
    async fn delete_sessions_of_user(&self, user_id: i64) -> Result<u64, StoreError>;
    /// Deletes the expired sessions: how many.
    async fn delete_expired_sessions(&self) -> Result<u64, StoreError>;
}

/// Password reset and invitation tokens, by their SHA-256 hash.
#[async_trait]
pub trait PasswordTokenStore: Send + Sync {
    /// Stores a new token. Audited with the token stored (a reset request is audited; an
    /// invitation's token is part of the account's creation, audited there).
    async fn insert_password_token(
        &self,
        new: &NewPasswordToken,
        audit: Audit<'_, PasswordToken>,
    ) -> Result<PasswordToken, StoreError>;
    /// The unused, unexpired token with this hash and its active user.
    async fn find_password_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<(PasswordToken, User)>, StoreError>;
    /// Uses a token and sets the password in one transaction, ending the other logins (docker
    /// logins unless `keep_docker_logins`); `None` (and no event) when it may not be
    /// honoured. Audited with the token, its user and what the change ended.
    async fn redeem_password_token(
        &self,
        token_hash: &str,
        password_hash: &str,
        keep_docker_logins: bool,
        audit: Audit<'_, (PasswordToken, User, LoginsEnded)>,
    ) -> Result<Option<(PasswordToken, User, LoginsEnded)>, StoreError>;
    /// How many tokens were made for a user since `since`.
    async fn count_password_tokens_since(
        &self,
        user_id: i64,
        since: i64,
    ) -> Result<i64, StoreError>;
    /// Every token of a user.
    async fn list_password_tokens(&self, user_id: i64) -> Result<Vec<PasswordToken>, StoreError>;
    /// Deletes the tokens expired or used before `before`: how many.
    async fn purge_password_tokens(&self, before: i64) -> Result<u64, StoreError>;
}

/// The audit log.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends an event, timed now: for what changes nothing (a change writes its events
    /// through its [`Audit`]). [`StoreError::Invalid`] if the action is empty or longer than
    /// 255 bytes, the actor or the address longer than 255, the target longer than 1,024 or
    /// the detail longer than 8,192.
    async fn insert_audit_event(&self, event: &NewAuditEvent) -> Result<AuditEvent, StoreError>;
    /// Counts an event into the row keyed by `dedup` (created on first use).
    async fn count_audit_event(&self, event: &NewAuditEvent, dedup: &str)
    -> Result<(), StoreError>;
    /// A page of events, newest first.
    async fn list_audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError>;
    /// Deletes the events older than `before`: how many.
    async fn prune_audit_events(&self, before: i64) -> Result<u64, StoreError>;
}

/// The registry's activity, from its notifications: pushes, mounts and deletions one row
/// each, pulls counted per (UTC day, actor, repository).
#[async_trait]
pub trait RegistryEventStore: Send + Sync {
    /// Records events in one transaction, each once: an event whose `event_id` was recorded
    /// before (the registry delivers at least once; a pull's id is remembered until pruned)
    /// is counted as a duplicate and changes nothing. A pull adds to its day's row ([`RegistryEvent`]). [`StoreError::Invalid`],
    /// and nothing recorded, if a field is longer than the store takes (255 bytes; a
    /// repository 255, a tag 128).
    async fn record_registry_events(
        &self,
        events: &[NewRegistryEvent],
    ) -> Result<EventsRecorded, StoreError>;
    /// A page of events, newest first ([`ActivityQuery`]).
    async fn list_registry_events(
        &self,
        query: &ActivityQuery,
    ) -> Result<Vec<RegistryEvent>, StoreError>;
    /// The latest push of each tag of `repository` (at most `limit` tags, most recent first).
    async fn latest_tag_pushes(
        &self,
        repository: &str,
        limit: u32,
    ) -> Result<Vec<RegistryEvent>, StoreError>;
    /// Deletes the events older than `before` and all but the newest `keep`, and forgets
    /// the ids of pulls counted before `ids_before` (a pull delivered again after that would
    /// be counted again): how many events.
    async fn prune_registry_events(
        &self,
        before: i64,
        keep: u64,
        ids_before: i64,
    ) -> Result<u64, StoreError>;
}

/// What the guessing limits count: failed password checks and usual addresses.
#[async_trait]
pub trait AttemptStore: Send + Sync {
    /// Records one failed check of `username` (folded) from `addr` in `minute`, and counts it
    /// into the audit event keyed by `dedup`, in one transaction.
    async fn record_auth_failure(
        &self,
        username: &str,
        addr: &str,
        minute: i64,
        event: &NewAuditEvent,
        dedup: &str,
    ) -> Result<(), StoreError>;
    /// The failures of `username` per minute since `since_minute`, those from `addr` apart.
    async fn auth_failures(
        &self,
        username: &str,
        addr: &str,
        since_minute: i64,
    ) -> Result<Vec<FailureCount>, StoreError>;
    /// Deletes the counts of minutes before `before_minute`: how many rows.
    async fn prune_auth_failures(&self, before_minute: i64) -> Result<u64, StoreError>;
    /// Records a sign-in with the right password from `addr`, now.
    async fn record_user_address(&self, user_id: i64, addr: &str) -> Result<(), StoreError>;
    /// Whether the account signed in with the right password from `addr` at `since` or later.
    async fn is_usual_address(
        &self,
        user_id: i64,
        addr: &str,
        since: i64,
    ) -> Result<bool, StoreError>;
    /// Forgets addresses last seen before `before`: how many.
    async fn prune_user_addresses(&self, before: i64) -> Result<u64, StoreError>;
}

/// A small key-value table (signing keys, secrets made once for every replica).
#[async_trait]
pub trait SettingStore: Send + Sync {
    /// The value of a setting, if set.
    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Sets a setting, replacing any value (the signing keys' rotation). Audited.
    async fn set_setting(
        &self,
        key: &str,
        value: &str,
        audit: Audit<'_, ()>,
    ) -> Result<(), StoreError>;
    /// Replaces a setting only if it still holds `expected` (compare and swap), with its audit
    /// events in the same transaction: `false`, and nothing written, when another writer got
    /// there first or the setting is unset. Serialises the signing keys' rotations.
    async fn replace_setting(
        &self,
        key: &str,
        expected: &str,
        value: &str,
        audit: Audit<'_, ()>,
    ) -> Result<bool, StoreError>;
    /// The value of a setting, storing `value` first if unset (atomically).
    async fn get_or_init_setting(&self, key: &str, value: &str) -> Result<String, StoreError>;
    /// Removes a setting: `true` if it was set.
    async fn delete_setting(&self, key: &str) -> Result<bool, StoreError>;
}

/// Whether the storage answers and can write, and the policy revision to poll.
#[async_trait]
pub trait StoreHealth: Send + Sync {
    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Checks that the database can write (a committed one-row write).
    async fn check_writable(&self) -> Result<(), StoreError>;
    /// The current policy revision (one indexed row, cheap to poll).
    async fn policy_revision(&self) -> Result<PolicyRevision, StoreError>;
}

/// What each policy revision changed, so that a server updates its policy in proportion to
/// the change instead of rebuilding it (every replica polls it every second).
#[async_trait]
pub trait PolicyLog: Send + Sync {
    /// What changed after revision `since`, up to the current revision; `None` when the log
    /// cannot tell (it was pruned past `since`, `since` is ahead of the store, or more than
    /// `max_changes` rows changed): then rebuild the policy from the whole store.
    async fn policy_changes(
        &self,
        since: i64,
        max_changes: u64,
    ) -> Result<Option<PolicyDelta>, StoreError>;
    /// Forgets the changes recorded before `before` (unix seconds): how many rows. A server
    /// whose policy is older than what is left rebuilds it.
    async fn prune_policy_changes(&self, before: i64) -> Result<u64, StoreError>;
}

/// The storage traits, to call their methods: `use registryo_core::storage::prelude::*;`.
pub mod prelude {
    pub use super::{
        AttemptStore, AuditLog, GroupStore, PasswordTokenStore, PolicyLog, RefreshTokenStore,
        RegistryEventStore, RuleStore, SessionStore, SettingStore, Storage, StoreHealth, UserStore,
    };
}

/// Every storage port at once.
pub trait Storage:
    UserStore
    + GroupStore
    + RuleStore
    + RefreshTokenStore
    + SessionStore
    + PasswordTokenStore
    + AuditLog
    + AttemptStore
    + SettingStore
    + StoreHealth
    + PolicyLog
    + RegistryEventStore
    + std::fmt::Debug
{
}

impl<T> Storage for T where
    T: UserStore
        + GroupStore
        + RuleStore
        + RefreshTokenStore
        + SessionStore
        + PasswordTokenStore
        + AuditLog
        + AttemptStore
        + SettingStore
        + StoreHealth
        + PolicyLog
        + RegistryEventStore
        + std::fmt::Debug
{
}
