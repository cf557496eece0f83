//! The [`Store`] handle: connecting, migrating, choosing the backend from the URL.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::StoreError;
use crate::error::db;
use crate::upgrade::{Migrated, MigrationBackups};

#[cfg(feature = "sqlite")]
pub(crate) static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
/// How often opening a fresh SQLite file and migrating it are tried before giving up.
#[cfg(feature = "sqlite")]
const SQLITE_MIGRATE_ATTEMPTS: u32 = 5;
#[cfg(feature = "postgres")]
pub(crate) static POSTGRES_MIGRATOR: sqlx::migrate::Migrator =
    sqlx::migrate!("./migrations/postgres");

/// The migration a database has that this build does not know: it was migrated by a newer
/// Registryo, and this one must not touch it.
fn newer_schema(err: &sqlx::migrate::MigrateError) -> Option<i64> {
    match err {
        sqlx::migrate::MigrateError::VersionMissing(v) => Some(*v),
        _ => None,
    }
}

/// What opening a SQLite file found ([`crate::sqlite_file::prepare`]).
#[cfg(feature = "sqlite")]
type SqliteFile = crate::sqlite_file::FileState;
/// Without SQLite there is never a file.
#[cfg(not(feature = "sqlite"))]
type SqliteFile = std::convert::Infallible;

/// The pool of the backend in use.
#[derive(Clone)]
pub(crate) enum Backend {
    /// Embedded SQLite.
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
    /// PostgreSQL.
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
}

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Beginning a transaction that will write, per backend.
pub(crate) trait WritePool {
    /// The backend.
    type Db: sqlx::Database;

    /// Begins a transaction that takes the write lock at once (SQLite: `BEGIN IMMEDIATE`, so
    /// the busy timeout applies instead of a failed lock upgrade).
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>;
}

#[cfg(feature = "sqlite")]
impl WritePool for sqlx::SqlitePool {
    type Db = sqlx::Sqlite;

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

#[cfg(feature = "postgres")]
impl WritePool for sqlx::PgPool {
    type Db = sqlx::Postgres;

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error> {
        self.begin().await
    }
}

/// Tuning for [`Store::connect_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// The most connections the pool opens (default 10; an in-memory SQLite database always
    /// uses 1).
    pub max_connections: u32,
    /// How long a call waits for a connection (a free one, or a new one to a database that
    /// does not answer) before it fails with [`StoreError::Unavailable`]
    /// ([`Outage::Timeout`](crate::Outage::Timeout)); default 10 s. A server sets it short,
    /// so an outage is answered with a 503 at once instead of after a long wait.
    pub acquire_timeout: Duration,
    /// SQLite only: how long a writer waits for another process's lock (default 5 s).
    pub busy_timeout: Duration,
    /// Create and initialise a store that does not exist yet (default `true`): a SQLite file
    /// that is missing (only when the URL allows it: a plain path or `mode=rwc`), or a
    /// PostgreSQL database without Registryo's tables. When `false`, such a store is
    /// [`StoreError::Uninitialised`] and nothing is created. An **existing** SQLite file is
    /// never initialised either way: an empty, foreign or damaged one is
    /// [`StoreError::Damaged`].
    pub create: bool,
    /// Back up an existing SQLite file into this directory before applying migrations to
    /// it (default `None`: no backup); see [`crate::upgrade`]. Ignored for PostgreSQL and
    /// in-memory databases, and for a database that has no Registryo tables yet.
    pub migration_backups: Option<MigrationBackups>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(10),
            busy_timeout: Duration::from_secs(5),
            create: true,
            migration_backups: None,
        }
    }
}

/// The storage handle: cheap to clone (the pool is shared), safe to use from many tasks.
///
/// Its `Debug` shows the backend and the URL with the password hidden.
#[derive(Clone)]
pub struct Store {
    pub(crate) backend: Backend,
    redacted_url: Arc<str>,
    migrated: Option<Arc<Migrated>>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend_kind())
            .field("url", &&*self.redacted_url)
            .finish()
    }
}

impl Store {
    /// Connects with [`StoreOptions::default`] and applies the migrations.
    ///
    /// `sqlite://path?mode=rwc` (creates the file), `sqlite://path` (the file must exist),
    /// `sqlite::memory:` or a plain file path (created if missing) select SQLite;
    /// `postgres://…` or `postgresql://…` select PostgreSQL. A backend whose feature is not
    /// compiled in, or another scheme, is [`StoreError::Invalid`].
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::connect_with(url, &StoreOptions::default()).await
    }

    /// Connects with the given options, checks the database and applies the migrations.
    ///
    /// A SQLite file is created only when it is missing and [`StoreOptions::create`] allows
    /// it; an existing one must be a sound SQLite database (`PRAGMA quick_check`) holding
    /// Registryo's tables (or no table at all: another process has just created it): an
    /// empty (zero-length), foreign or damaged file is [`StoreError::Damaged`]. When opening
    /// a file this call created fails before anything was written into it, it is removed.
    pub async fn connect_with(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
        let redacted_url: Arc<str> = redact_url(url).into();
        let lower = url.to_ascii_lowercase();
        let (backend, file) =
            if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
                (connect_postgres(url, options).await.map_err(db)?, None)
            } else if lower.starts_with("sqlite:") {
                connect_sqlite(url, false, options).await.map_err(db)?
            } else if url.contains("://") {
                return Err(StoreError::Invalid(format!(
                    "unsupported database URL {redacted_url} (expected sqlite://… or postgres://…)"
                )));
            } else if url.is_empty() {
                return Err(StoreError::Invalid("empty database URL".to_owned()));
            } else {
                connect_sqlite(url, true, options).await.map_err(db)?
            };
        let mut store = Store {
            backend,
            redacted_url,
            migrated: None,
        };
        match store.check_and_migrate(file.as_ref(), options).await {
            Ok(migrated) => {
                store.migrated = migrated.map(Arc::new);
                Ok(store)
            }
            Err(e) => {
                store.close().await;
                #[cfg(feature = "sqlite")]
                if let Some(crate::sqlite_file::FileState::Created(path)) = &file {
                    crate::sqlite_file::remove_if_still_empty(path);
                }
                Err(e)
            }
        }
    }

    /// The checks of [`Store::connect_with`] after connecting, then the migrations (with a
    /// backup before them: [`crate::upgrade`]).
    async fn check_and_migrate(
        &self,
        file: Option<&SqliteFile>,
        options: &StoreOptions,
    ) -> Result<Option<Migrated>, StoreError> {
        let initialised = match file {
            #[cfg(feature = "sqlite")]
            Some(SqliteFile::Existing { initialised }) => *initialised,
            #[cfg(feature = "sqlite")]
            Some(SqliteFile::Created(_)) => false,
            #[cfg(not(feature = "sqlite"))]
            Some(never) => match *never {},
            None => self.has_migrations_table().await.map_err(db)?,
        };
        if !initialised && !options.create {
            return Err(StoreError::Uninitialised(format!(
                "{}, which has none of Registryo's tables",
                self.redacted_url
            )));
        }
        self.upgrade(
            initialised,
            file.is_some(),
            options.migration_backups.as_ref(),
        )
        .await
    }

    /// What opening did to an existing database's schema: `Some` when it applied
    /// migrations to it (with the backup made before, if any).
    pub fn migrated(&self) -> Option<&Migrated> {
        self.migrated.as_deref()
    }

    /// The database URL, any password hidden.
    pub(crate) fn redacted_url(&self) -> &str {
        &self.redacted_url
    }

    /// Whether the database holds sqlx's migrations table (it was initialised by Registryo).
    async fn has_migrations_table(&self) -> Result<bool, StoreError> {
        let n: i64 = match &self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(pool) => sqlx::query_scalar(
                "SELECT count(*) FROM sqlite_master \
                     WHERE type = 'table' AND name = '_sqlx_migrations'",
            )
            .fetch_one(pool)
            .await
            .map_err(db)?,
            #[cfg(feature = "postgres")]
            Backend::Postgres(pool) => sqlx::query_scalar(
                "SELECT count(*) FROM information_schema.tables \
                     WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'",
            )
            .fetch_one(pool)
            .await
            .map_err(db)?,
        };
        Ok(n > 0)
    }

    /// Applies the embedded migrations that are not yet applied. [`Store::connect`] does it.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(pool) => {
                // SQLite has no migration lock: when two processes (the CLI and the server)
                // migrate a fresh file at once, the loser's migration fails ("table already
                // exists") after the winner's commits. Each migration is one transaction, so
                // trying again is safe and then finds it applied.
                let mut attempt = 1;
                loop {
                    match SQLITE_MIGRATOR.run(pool).await {
                        Ok(()) => break,
                        Err(err) if newer_schema(&err).is_some() => {
                            return Err(self.newer(newer_schema(&err).unwrap_or_default()));
                        }
                        Err(_) if attempt < SQLITE_MIGRATE_ATTEMPTS => {
                            attempt += 1;
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        Err(err) => return Err(db(err)),
                    }
                }
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres(pool) => match POSTGRES_MIGRATOR.run(pool).await {
                Ok(()) => {}
                Err(err) if newer_schema(&err).is_some() => {
                    return Err(self.newer(newer_schema(&err).unwrap_or_default()));
                }
                Err(err) => return Err(db(err)),
            },
        }
        Ok(())
    }

    /// The refusal of a database that a newer Registryo migrated: it has the migration
    /// `version`, which this build does not know.
    pub(crate) fn newer(&self, version: i64) -> StoreError {
        StoreError::Damaged(format!(
            "{} was upgraded by a newer version of Registryo (its schema has migration {version}, \
             which this version does not know): run that newer version, or restore a backup \
             made before the upgrade (`registryo restore`) to go back",
            self.redacted_url
        ))
    }

    /// Writes a consistent copy of the whole database into the new file `path` while others
    /// go on reading and writing (SQLite's `VACUUM INTO`: one read transaction, so the copy
    /// holds every write committed before it began and none half-done). The copy is a SQLite
    /// database of its own, compacted, with no `-wal` file. A `path` that exists is refused.
    /// PostgreSQL: [`StoreError::Invalid`] saying to use `pg_dump`.
    pub async fn backup_into(&self, path: &std::path::Path) -> Result<(), StoreError> {
        if path.exists() {
            return Err(StoreError::Invalid(format!(
                "{} exists already: a backup never overwrites a file",
                path.display()
            )));
        }
        self.vacuum_into(path).await
    }

    /// `VACUUM INTO path` (a new or empty file); PostgreSQL: [`StoreError::Invalid`].
    pub(crate) async fn vacuum_into(&self, path: &std::path::Path) -> Result<(), StoreError> {
        let target = path.to_str().ok_or_else(|| {
            StoreError::Invalid(format!("{} is not a UTF-8 path", path.display()))
        })?;
        match &self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(pool) => {
                sqlx::query("VACUUM INTO $1")
                    .bind(target)
                    .execute(pool)
                    .await
                    .map_err(db)?;
                Ok(())
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => Err(StoreError::Invalid(
                "the database is PostgreSQL: back it up with its own tools, e.g. \
                 `pg_dump --format=custom --file=FILE DATABASE_URL` (and `pg_restore` into an \
                 empty database)"
                    .to_owned(),
            )),
        }
    }

    /// Which database this store talks to.
    pub fn backend_kind(&self) -> BackendKind {
        match &self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(_) => BackendKind::Sqlite,
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => BackendKind::Postgres,
        }
    }

    /// Closes every connection; later calls fail.
    pub async fn close(&self) {
        dispatch!(self, pool => pool.close().await)
    }

    /// SQLite: copies the write-ahead log into the database file and empties it
    /// (`PRAGMA wal_checkpoint(TRUNCATE)`), so the `.db` file alone holds every committed
    /// change; a no-op on PostgreSQL. Returns `false` when another process (a CLI command)
    /// was reading or writing and part of the log could not be copied yet.
    pub async fn checkpoint(&self) -> Result<bool, StoreError> {
        match &self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(pool) => {
                // On a connection of its own, closed here: one given back to the pool is
                // returned by a background task, which a closing pool does not always wait
                // for (see [`Store::checkpoint_and_close`]).
                let mut conn = pool.acquire().await.map_err(db)?;
                // One row: busy (0/1), frames in the log, frames copied.
                let (busy, _log, _copied): (i64, i64, i64) =
                    sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                        .fetch_one(&mut *conn)
                        .await
                        .map_err(db)?;
                conn.close().await.map_err(db)?;
                Ok(busy == 0)
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => Ok(true),
        }
    }

    /// [`Store::checkpoint`], then [`Store::close`]: what a server does when it stops, so a
    /// SQLite database is left as one file (SQLite removes the emptied `-wal` and `-shm`
    /// files when the last connection closes).
    ///
    /// It then waits, a second at most, for connections that were being given back to the
    /// pool as it closed (sqlx's `Pool::close` can return before they are closed, and a
    /// process that exits then leaves them open: on SQLite, the `-wal` file stays).
    pub async fn checkpoint_and_close(&self) -> Result<bool, StoreError> {
        let done = self.checkpoint().await;
        self.close().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        while dispatch!(self, pool => pool.size()) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        done
    }
}

#[cfg(feature = "sqlite")]
async fn connect_sqlite(
    url: &str,
    plain_path: bool,
    options: &StoreOptions,
) -> Result<(Backend, Option<SqliteFile>), StoreError> {
    use std::str::FromStr;

    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };

    let connect = if plain_path {
        SqliteConnectOptions::new()
            .filename(url)
            .create_if_missing(true)
    } else {
        SqliteConnectOptions::from_str(url).map_err(db)?
    };
    let connect = connect
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(options.busy_timeout);
    let in_memory = !plain_path && (url.contains(":memory:") || url.contains("mode=memory"));
    // Only a missing file is created (owner-only, before SQLite opens it); an existing one
    // is checked first. The URL decides whether creating is allowed at all.
    let file = if in_memory {
        None
    } else {
        let may_create = options.create && (plain_path || url.contains("mode=rwc"));
        Some(
            crate::sqlite_file::prepare(connect.get_filename(), may_create, options.busy_timeout)
                .await
                .map_err(db)?,
        )
    };
    let mut pool = SqlitePoolOptions::new()
        .acquire_timeout(options.acquire_timeout)
        .before_acquire(|conn, _| {
            Box::pin(async move { Ok(!crate::health::conn_in_transaction(conn)) })
        });
    pool = if in_memory {
        // The database lives as long as a connection does: keep exactly one, forever.
        pool.max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        pool.max_connections(options.max_connections.max(1))
    };
    // Opening a fresh file switches it to WAL, which needs an exclusive lock: when two
    // processes (the CLI and the server) open it at once, SQLite may answer SQLITE_BUSY at
    // once instead of waiting (it does so to avoid a deadlock between two lock upgrades).
    // Opening again is safe and then finds the file in WAL mode.
    let mut attempt = 1;
    let failed = loop {
        match pool.clone().connect_with(connect.clone()).await {
            Ok(pool) => return Ok((Backend::Sqlite(pool), file)),
            Err(err) if attempt < SQLITE_MIGRATE_ATTEMPTS && sqlite_busy(&err) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
            }
            Err(err) => break err,
        }
    };
    match &file {
        Some(SqliteFile::Created(path)) => {
            crate::sqlite_file::remove_if_still_empty(path);
            Err(db(failed))
        }
        Some(SqliteFile::Existing { .. }) => {
            Err(crate::sqlite_file::damage(&failed, connect.get_filename())
                .unwrap_or_else(|| db(failed)))
        }
        None => Err(db(failed)),
    }
}

/// Whether an error is SQLite's SQLITE_BUSY ("database is locked"), extended codes included.
#[cfg(feature = "sqlite")]
fn sqlite_busy(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(e) => e
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .is_some_and(|c| c & 0xff == 5),
        _ => false,
    }
}

#[cfg(not(feature = "sqlite"))]
async fn connect_sqlite(
    _url: &str,
    _plain_path: bool,
    _options: &StoreOptions,
) -> Result<(Backend, Option<SqliteFile>), StoreError> {
    Err(StoreError::Invalid(
        "SQLite support is not compiled in (cargo feature `sqlite`)".to_owned(),
    ))
}

#[cfg(feature = "postgres")]
async fn connect_postgres(url: &str, options: &StoreOptions) -> Result<Backend, StoreError> {
    use std::str::FromStr;

    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

    let connect = PgConnectOptions::from_str(url).map_err(db)?;
    let pool = PgPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(options.acquire_timeout)
        .before_acquire(|conn, _| {
            Box::pin(async move { Ok(!crate::health::conn_in_transaction(conn)) })
        })
        .connect_with(connect)
        .await
        .map_err(db)?;
    Ok(Backend::Postgres(pool))
}

#[cfg(not(feature = "postgres"))]
async fn connect_postgres(_url: &str, _options: &StoreOptions) -> Result<Backend, StoreError> {
    Err(StoreError::Invalid(
        "PostgreSQL support is not compiled in (cargo feature `postgres`)".to_owned(),
    ))
}

/// The current time in unix seconds.
pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Refuses text that is empty or longer than `max` bytes.
pub(crate) fn check_text(what: &str, value: &str, max: usize) -> Result<(), StoreError> {
    if value.trim().is_empty() {
        return Err(StoreError::Invalid(format!("{what} is empty")));
    }
    if value.len() > max {
        return Err(StoreError::Invalid(format!(
            "{what} is longer than {max} bytes"
        )));
    }
    Ok(())
}

/// Checks a SHA-256 hex digest and returns it lower-cased.
pub(crate) fn check_hash(what: &str, value: &str) -> Result<String, StoreError> {
    if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(StoreError::Invalid(format!(
            "{what} is not a SHA-256 hex digest (64 hex digits)"
        )))
    }
}

/// The URL with any password (in the user info or a `password=` parameter) replaced by `***`.
pub(crate) fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            let authority = match authority.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _password)) => format!("{user}:***@{host}"),
                    None => format!("{userinfo}@{host}"),
                },
                None => authority.to_owned(),
            };
            format!("{scheme}://{authority}{path}")
        }
        None => base.to_owned(),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => param.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use registryo_core::storage::prelude::*;

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn checkpoint_and_close_leave_the_database_in_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("r.db");
        let url = format!("sqlite://{}?mode=rwc", db.display());
        let store = Store::connect(&url).await.unwrap();
        store
            .create_user(
                &crate::NewUser::new(
                    registryo_core::names::Username::new("alice").unwrap(),
                    crate::UserKind::Human,
                ),
                &|_| Vec::new(),
            )
            .await
            .unwrap();
        let wal = dir.path().join("r.db-wal");
        assert!(wal.exists(), "WAL mode writes the log first");
        assert!(store.checkpoint_and_close().await.unwrap());
        assert!(!wal.exists(), "the log is gone after a clean close");
        assert!(!dir.path().join("r.db-shm").exists());
        // The .db file alone, copied elsewhere, holds everything.
        let other = tempfile::tempdir().unwrap();
        let copy = other.path().join("copy.db");
        std::fs::copy(&db, &copy).unwrap();
        let again = Store::connect(&format!("sqlite://{}", copy.display()))
            .await
            .unwrap();
        assert_eq!(
            again.get_user_by_name("alice").await.unwrap().username,
            "alice"
        );
        again.close().await;
    }

    #[test]
    fn redacts_passwords() {
        let cases = [
            (
                "postgres://u:secret@db:5432/x",
                "postgres://u:***@db:5432/x",
            ),
            ("postgres://u@db/x", "postgres://u@db/x"),
            (
                "postgres://u:p@ss@db/x?sslmode=require",
                "postgres://u:***@db/x?sslmode=require",
            ),
            (
                "postgres://db/x?user=u&password=secret",
                "postgres://db/x?user=u&password=***",
            ),
            ("postgresql://u:secret@db", "postgresql://u:***@db"),
            (
                "sqlite://data/registryo.db?mode=rwc",
                "sqlite://data/registryo.db?mode=rwc",
            ),
            ("registryo.db", "registryo.db"),
        ];
        for (url, want) in cases {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }

    #[test]
    fn checks_hashes() {
        let upper = "AB".repeat(32);
        assert_eq!(check_hash("h", &upper).unwrap(), "ab".repeat(32));
        assert!(check_hash("h", "abc").is_err());
        assert!(check_hash("h", &"zz".repeat(32)).is_err());
    }
}
