//! The one conformance suite of the store, written once over a [`Store`] and run against
//! every backend:
//!
//! - SQLite always, each case on its own temporary file;
//! - PostgreSQL when `REGISTRYO_TEST_POSTGRES_URL` is set (and the `postgres` feature is on):
//!   each case creates, then drops, its own database through that URL. A URL that is set but
//!   unreachable fails the cases; when it is unset they print that they were not run.
//!
//! ```sh
//! eval "$(scripts/postgres-test-server)"
//! cargo test -p registryo-store --features postgres --test conformance
//! ```
// The cases are plain async functions, not `#[test]`s, so clippy's allow-unwrap-in-tests
// does not reach them.
#![allow(clippy::unwrap_used)]

mod activity;
mod attempts;
mod audit;
mod audited;
mod groups;
mod lists;
mod login_revision;
mod logins;
mod policy_log;
mod store;
mod users;

/// What every case file uses.
mod prelude {
    pub(crate) use registryo_core::names::{GroupName, Username};
    pub(crate) use registryo_core::storage::prelude::*;
    pub(crate) use registryo_store::{
        AuditQuery, LoginsEnded, NewAclRule, NewAuditEvent, NewPasswordToken, NewRefreshToken,
        NewSession, NewUser, PasswordChange, RefreshTokenUse, Store, StoreError, TokenPurpose,
        UserKind, UserUpdate,
    };

    pub(crate) use super::{Ctx, group, hash, name, now};
}

use prelude::*;

/// The environment variable naming the PostgreSQL server used by the suite.
const POSTGRES_ENV: &str = "REGISTRYO_TEST_POSTGRES_URL";

/// What a case gets: the store and the URL it was opened with (to open a second handle).
pub(crate) struct Ctx {
    pub(crate) store: Store,
    pub(crate) url: String,
}

// ---------------------------------------------------------------------------------------------
// What the cases share; the cases are in one file per area.
// ---------------------------------------------------------------------------------------------

pub(crate) fn name(s: &str) -> Username {
    Username::new(s).unwrap()
}

pub(crate) fn group(s: &str) -> GroupName {
    GroupName::new(s).unwrap()
}

pub(crate) fn hash(n: u32) -> String {
    format!("{n:064x}")
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

use activity::activity_pages_filters_and_pruning;
use activity::pulls_are_counted_per_day_actor_and_repository;
use activity::registry_events_are_recorded_once;
use attempts::failed_sign_ins_are_counted;
use audit::audit_events;
use audited::a_refused_event_refuses_its_change;
use audited::a_session_and_its_event_commit_together;
use audited::audited_changes_write_their_events;
use audited::deleting_a_subject_audits_its_rules_in_its_transaction;
use audited::refused_changes_write_no_event;
use groups::acl_rules;
use groups::groups_and_memberships;
use groups::removing_a_subject_removes_its_rules;
use lists::lists_come_in_pages;
use login_revision::the_login_revision_moves_when_logins_end;
use logins::a_password_change_ends_other_logins;
use logins::password_tokens;
use logins::refresh_tokens;
use logins::sessions;
use policy_log::bulk_writes_are_all_or_nothing;
use policy_log::every_policy_change_names_what_it_touched;
use store::a_setting_is_replaced_only_over_what_was_read;
use store::concurrent_handles;
use store::policy_revision;
use store::reconnect_and_debug;
use store::settings;
use users::users_crud;

// ---------------------------------------------------------------------------------------------
// The harness: one test per (backend, case).
// ---------------------------------------------------------------------------------------------

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        #[cfg(feature = "sqlite")]
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let db = crate::harness::sqlite(stringify!($case)).await;
                    super::$case(&db.ctx).await;
                    db.finish().await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(db) = crate::harness::postgres(stringify!($case)).await else {
                        return;
                    };
                    super::$case(&db.ctx).await;
                    db.finish().await;
                }
            )*
        }
    };
}

conformance!(
    users_crud,
    groups_and_memberships,
    removing_a_subject_removes_its_rules,
    acl_rules,
    lists_come_in_pages,
    refresh_tokens,
    the_login_revision_moves_when_logins_end,
    a_password_change_ends_other_logins,
    failed_sign_ins_are_counted,
    audit_events,
    sessions,
    password_tokens,
    settings,
    a_setting_is_replaced_only_over_what_was_read,
    policy_revision,
    every_policy_change_names_what_it_touched,
    bulk_writes_are_all_or_nothing,
    concurrent_handles,
    reconnect_and_debug,
    audited_changes_write_their_events,
    refused_changes_write_no_event,
    a_refused_event_refuses_its_change,
    deleting_a_subject_audits_its_rules_in_its_transaction,
    a_session_and_its_event_commit_together,
    registry_events_are_recorded_once,
    pulls_are_counted_per_day_actor_and_repository,
    activity_pages_filters_and_pruning,
);

#[tokio::test]
async fn refuses_unknown_url_schemes() {
    let err = Store::connect("mysql://localhost/x").await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    let err = Store::connect("").await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
}

#[cfg(not(feature = "postgres"))]
#[tokio::test]
async fn postgres_url_without_the_feature_is_invalid() {
    let err = Store::connect("postgres://u:secret@127.0.0.1:1/x")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
}

/// The CLI and the server starting at once on a file that does not exist yet: both migrate.
#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_start_on_a_fresh_sqlite_file() {
    let path = std::env::temp_dir().join(format!(
        "registryo-store-{}-first-start.db",
        std::process::id()
    ));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { Store::connect(&url).await })
        })
        .collect();
    for task in tasks {
        let store = task.await.unwrap().unwrap();
        assert_eq!(store.count_users().await.unwrap(), 0);
        store.close().await;
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn in_memory_sqlite_keeps_its_data() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    assert_eq!(store.backend_kind(), registryo_store::BackendKind::Sqlite);
    store
        .create_user(&NewUser::new(name("alice"), UserKind::Human), &|_| {
            Vec::new()
        })
        .await
        .unwrap();
    assert_eq!(store.count_users().await.unwrap(), 1);
}

mod harness {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU32, Ordering};

    use registryo_store::{BackendKind, Store};

    use super::{Ctx, POSTGRES_ENV};

    static COUNTER: AtomicU32 = AtomicU32::new(0);

    /// A case's database, removed by [`TestDb::finish`] (left behind if the case fails, for a
    /// look).
    pub struct TestDb {
        pub ctx: Ctx,
        cleanup: Cleanup,
    }

    enum Cleanup {
        #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
        Files(PathBuf),
        #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
        Database { admin_url: String, name: String },
    }

    impl TestDb {
        pub async fn finish(self) {
            self.ctx.store.close().await;
            match self.cleanup {
                Cleanup::Files(path) => {
                    for suffix in ["", "-wal", "-shm"] {
                        let mut file = path.clone().into_os_string();
                        file.push(suffix);
                        let _ = std::fs::remove_file(file);
                    }
                }
                Cleanup::Database { admin_url, name } => drop_database(&admin_url, &name).await,
            }
        }
    }

    #[cfg(feature = "sqlite")]
    pub async fn sqlite(case: &str) -> TestDb {
        let path = std::env::temp_dir().join(format!(
            "registryo-store-{}-{}-{case}.db",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        // Half the cases use the URL form, half the plain path.
        let url = if case.len().is_multiple_of(2) {
            format!("sqlite://{}?mode=rwc", path.display())
        } else {
            path.display().to_string()
        };
        let store = Store::connect(&url).await.expect("open SQLite");
        assert_eq!(store.backend_kind(), BackendKind::Sqlite);
        TestDb {
            ctx: Ctx { store, url },
            cleanup: Cleanup::Files(path),
        }
    }

    /// The admin URL, or `None` (after saying so) when the suite is not to run on PostgreSQL.
    fn admin_url(case: &str) -> Option<String> {
        match std::env::var(POSTGRES_ENV) {
            Ok(url) if !url.trim().is_empty() => Some(url),
            _ => {
                eprintln!("postgres::{case}: not run ({POSTGRES_ENV} is not set)");
                None
            }
        }
    }

    #[cfg(not(feature = "postgres"))]
    pub async fn postgres(case: &str) -> Option<TestDb> {
        if admin_url(case).is_some() {
            panic!(
                "{POSTGRES_ENV} is set but registryo-store was built without the `postgres` \
                 feature: run `cargo test -p registryo-store --features postgres`"
            );
        }
        None
    }

    #[cfg(feature = "postgres")]
    pub async fn postgres(case: &str) -> Option<TestDb> {
        use sqlx::Connection;

        let admin_url = admin_url(case)?;
        let name = format!(
            "registryo_t{}_{}_{case}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("{POSTGRES_ENV} is set but unreachable: {e}"));
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\""))
            .execute(&mut admin)
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
        admin.close().await.unwrap();

        let mut url = url::Url::parse(&admin_url).expect("REGISTRYO_TEST_POSTGRES_URL is a URL");
        url.set_path(&format!("/{name}"));
        let url = url.to_string();
        let store = Store::connect(&url).await.expect("open PostgreSQL");
        assert_eq!(store.backend_kind(), BackendKind::Postgres);
        Some(TestDb {
            ctx: Ctx { store, url },
            cleanup: Cleanup::Database { admin_url, name },
        })
    }

    #[cfg(feature = "postgres")]
    async fn drop_database(admin_url: &str, name: &str) {
        use sqlx::Connection;

        let mut admin = sqlx::PgConnection::connect(admin_url).await.unwrap();
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
    }

    #[cfg(not(feature = "postgres"))]
    async fn drop_database(_admin_url: &str, _name: &str) {}
}
