//! # registryo-store
//!
//! SQL storage for Registryo: users, groups, ACL rules, refresh tokens, audit events, web
//! sessions, password reset and invitation tokens, and settings.
//!
//! Two backends, each a cargo feature with its own migrations, chosen at run time from the
//! database URL by [`Store::connect`]:
//!
//! | URL | backend | feature |
//! | --- | --- | --- |
//! | `sqlite://path?mode=rwc`, `sqlite::memory:` or a plain file path | SQLite, embedded | `sqlite` (default) |
//! | `postgres://user:password@host/db` | PostgreSQL, for several replicas | `postgres` |
//!
//! SQLite runs in WAL mode with foreign keys on and a busy timeout, so the command-line tool
//! and the server can use the same file at once. Migrations are embedded in the binary and
//! applied when the store connects.
//!
//! The store keeps its own plain records ([`User`], [`Group`], [`AclRule`], …) made of strings
//! and integers; parsing them into domain types is the caller's job. All timestamps are **unix
//! seconds** (`i64`), taken from the system clock when the store writes them.
//!
//! Every change that can alter the compiled access policy (users' admin and disabled flags,
//! users, groups, memberships, ACL rules) bumps a [`PolicyRevision`] in the same transaction,
//! so a server (or each of several replicas) can poll [`Store::policy_revision`] cheaply, and
//! records which rules and users it touched (`policy_changes`), so that the server re-reads
//! only those and updates its policy in proportion to the change. Every audited change writes its audit events
//! (an [`Audit`](registryo_core::storage::Audit)) in its own transaction too.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use registryo_core::storage::prelude::*;
//! use registryo_store::{NewAuditEvent, NewUser, Store, UserKind};
//!
//! let store = Store::connect("sqlite://registryo.db?mode=rwc").await?;
//! let new = NewUser::new("alice".parse()?, UserKind::Human).password_hash("$argon2id$...");
//! let alice = store
//!     .create_user(&new, &|user| {
//!         vec![NewAuditEvent {
//!             actor: Some("admin".into()),
//!             target: Some(user.username.clone()),
//!             ..NewAuditEvent::new("user.create")
//!         }]
//!     })
//!     .await?;
//! // Names are unique, and looked up, without regard to case.
//! assert_eq!(store.get_user_by_name("Alice").await?.id, alice.id);
//! # Ok(())
//! # }
//! ```
//!
//! **Architecture Invariant:** the store receives hashes (argon2id PHC strings, SHA-256 hex of
//! tokens and session ids), never passwords or tokens.
#![deny(missing_docs)]
#![warn(unreachable_pub)]

#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!("registryo-store needs at least one backend feature: `sqlite` or `postgres`");

/// Runs `$body` with `$pool` bound to the concrete pool of the store's backend.
///
/// The body is compiled once per enabled backend, so the same SQL text (with `$1`-style
/// parameters, which both SQLite and PostgreSQL accept) serves both.
macro_rules! dispatch {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            #[cfg(feature = "sqlite")]
            $crate::store::Backend::Sqlite($pool) => $body,
            #[cfg(feature = "postgres")]
            $crate::store::Backend::Postgres($pool) => $body,
        }
    };
}

/// Bumps the policy revision inside the transaction `$tx` (a `Transaction` of any backend);
/// evaluates to the new revision. The row stays locked until the transaction ends, so the
/// changes commit in the order of their revisions (what [`PolicyLog`] readers rely on).
///
/// [`PolicyLog`]: registryo_core::storage::PolicyLog
macro_rules! bump_revision {
    ($tx:expr, $now:expr) => {{
        let revision: i64 = sqlx::query_scalar(
            "UPDATE policy_revision SET revision = revision + 1, changed_at = $1 WHERE id = 1 \
             RETURNING revision",
        )
        .bind($now)
        .fetch_one(&mut *$tx)
        .await
        .map_err($crate::error::db)?;
        revision
    }};
}

/// Records in the transaction `$tx` that revision `$rev` touched the `$kind` (`"rule"` or
/// `"user"`) with id `$id`.
macro_rules! log_change {
    ($tx:expr, $rev:expr, $now:expr, $kind:expr, $id:expr) => {
        sqlx::query(
            "INSERT INTO policy_changes (revision, kind, ref_id, at) VALUES ($1, $2, $3, $4)",
        )
        .bind($rev)
        .bind($kind)
        .bind($id)
        .bind($now)
        .execute(&mut *$tx)
        .await
        .map_err($crate::error::db)?
    };
}

/// Bumps the login revision inside the transaction `$tx`: every change that ends or suspends
/// docker logins (refresh tokens) does, so that servers drop the tokens they verified.
macro_rules! bump_logins {
    ($tx:expr, $now:expr) => {
        sqlx::query(
            "UPDATE login_revision SET revision = revision + 1, changed_at = $1 WHERE id = 1",
        )
        .bind($now)
        .execute(&mut *$tx)
        .await
        .map_err($crate::error::db)?
    };
}

/// Ends a user's other logins inside the transaction `$tx` after a password change: deletes
/// their unused password tokens, every web session but `$change.keep_session`, and revokes
/// their refresh tokens unless `$change.keep_docker_logins`. Evaluates to a [`LoginsEnded`].
macro_rules! end_logins {
    ($tx:expr, $user_id:expr, $now:expr, $change:expr) => {{
        sqlx::query("DELETE FROM password_tokens WHERE user_id = $1 AND used_at IS NULL")
            .bind($user_id)
            .execute(&mut *$tx)
            .await
            .map_err($crate::error::db)?;
        let sessions = sqlx::query(
            "DELETE FROM sessions WHERE user_id = $1 AND ($2 IS NULL OR id_hash <> $2)",
        )
        .bind($user_id)
        .bind($change.keep_session.as_deref())
        .execute(&mut *$tx)
        .await
        .map_err($crate::error::db)?
        .rows_affected();
        let docker_logins = if $change.keep_docker_logins {
            0
        } else {
            sqlx::query(
                "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
            )
            .bind($user_id)
            .bind($now)
            .execute(&mut *$tx)
            .await
            .map_err($crate::error::db)?
            .rows_affected()
        };
        if docker_logins > 0 {
            bump_logins!($tx, $now);
        }
        $crate::LoginsEnded {
            sessions,
            docker_logins,
        }
    }};
}

/// Counts `$event` into the audit row keyed by `$dedup`, inside the transaction `$tx`.
macro_rules! count_event {
    ($tx:expr, $now:expr, $event:expr, $dedup:expr) => {
        sqlx::query(
            "INSERT INTO audit_events \
             (at, actor, action, target, detail, remote_addr, count, dedup) \
             VALUES ($1, $2, $3, $4, $5, $6, 1, $7) \
             ON CONFLICT (dedup) DO UPDATE SET count = audit_events.count + 1",
        )
        .bind($now)
        .bind($event.actor.as_deref())
        .bind($event.action.as_str())
        .bind($event.target.as_deref())
        .bind($event.detail.as_deref())
        .bind($event.remote_addr.as_deref())
        .bind($dedup)
        .execute(&mut *$tx)
        .await
        .map_err(db)?
    };
}

/// Writes the events `$audit` (an [`Audit`](registryo_core::storage::Audit)) makes of
/// `$outcome` inside the transaction `$tx`, each checked as `insert_audit_event` checks one
/// (a refused event fails the change: the transaction is dropped, rolled back). Evaluates to
/// how many it wrote.
macro_rules! write_audit {
    ($tx:expr, $now:expr, $audit:expr, $outcome:expr) => {{
        let events = ($audit)($outcome);
        for event in &events {
            $crate::audit::check_event(event)?;
        }
        for event in &events {
            sqlx::query(
                "INSERT INTO audit_events (at, actor, action, target, detail, remote_addr) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind($now)
            .bind(event.actor.as_deref())
            .bind(event.action.as_str())
            .bind(event.target.as_deref())
            .bind(event.detail.as_deref())
            .bind(event.remote_addr.as_deref())
            .execute(&mut *$tx)
            .await
            .map_err($crate::error::db)?;
        }
        events.len()
    }};
}

mod acl;
mod activity;
mod attempts;
mod audit;
mod error;
mod groups;
mod health;
mod password_tokens;
mod policy_log;
mod rows;
mod sessions;
mod settings;
#[cfg(feature = "sqlite")]
mod sqlite_file;
mod store;
mod subjects;
mod tokens;
pub mod upgrade;
mod users;

// The records and the error are the storage ports' (registryo-core), re-exported for
// the store's own API.
pub use registryo_core::storage::{
    AclRule, ActiveRefreshToken, ActivityQuery, AuditEvent, AuditQuery, DatabaseError,
    EventsRecorded, FailureCount, Group, LoginsEnded, NewAclRule, NewAuditEvent, NewPasswordToken,
    NewRefreshToken, NewRegistryEvent, NewSession, NewUser, Outage, PasswordChange, PasswordToken,
    PolicyDelta, PolicyRevision, RefreshToken, RefreshTokenUse, RegistryEvent, Session, StoreError,
    TokenPurpose, User, UserKind, UserUpdate,
};
pub use store::{BackendKind, Store, StoreOptions};
pub use upgrade::{Migrated, MigrationBackups};
