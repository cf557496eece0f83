//! Migrating an existing database to this version's schema, and the backup made before.
//!
//! A database migrated by a newer version is refused by an older one ([`Store::migrate`]), so
//! going back after an upgrade means restoring a copy made before it. When a SQLite database
//! that already holds Registryo's tables has migrations to apply and
//! [`StoreOptions::migration_backups`](crate::StoreOptions::migration_backups) names a
//! directory, [`Store::connect_with`] first copies it there with `VACUUM INTO` (the
//! consistent copy `registryo backup` makes, written to `.NAME.partial`, synced, then renamed),
//! named after the schema it had: `registryo-<newest migration>-<UTC time>.db`. It then keeps
//! the newest [`MigrationBackups::keep`] of those files, removes the older ones, and migrates.
//! A backup that fails stops the open with [`StoreError::NotMigrated`]: no migration is
//! applied.
//!
//! Several processes may open one database at once (the server, CLI commands, servers
//! sharing one file): the backup and the migrations run under an exclusive lock on
//! `<dir>/.migrating.lock`, and the pending migrations are read again once it is held, so the
//! one process that migrates is the one that backs up; the others find nothing to do.
//!
//! A PostgreSQL server's database cannot be copied from here: its migrations run without a
//! backup (sqlx holds an advisory lock meanwhile, so one replica applies them) and
//! [`Migrated::backup`] is `None`, for the caller to say so.

use std::path::{Path, PathBuf};

use crate::StoreError;
use crate::error::db;
use crate::store::{Backend, BackendKind, Store};

/// Where [`Store::connect_with`] puts the copy of a SQLite database it is about to migrate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationBackups {
    /// The directory (created owner-only, `0700`, when missing).
    pub dir: PathBuf,
    /// How many of these backups to keep, the newest (at least 1): older ones are removed
    /// after a new one is made.
    pub keep: usize,
}

/// What [`Store::connect_with`] did to an existing database's schema ([`Store::migrated`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// The backend.
    pub backend: BackendKind,
    /// The newest migration the database had.
    pub from: i64,
    /// The newest migration it has now.
    pub to: i64,
    /// The migrations applied, `VERSION description`, oldest first.
    pub applied: Vec<String>,
    /// The backup made before (SQLite with [`MigrationBackups`]); `None`: migrated without one.
    pub backup: Option<PathBuf>,
    /// Older automatic backups removed to keep [`MigrationBackups::keep`].
    pub removed: Vec<PathBuf>,
    /// Older backups that could not be removed, with why.
    pub not_removed: Vec<String>,
}

/// The file name of an automatic backup, and what it sorts by (its time, then its name).
fn backup_key(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix("registryo-")?.strip_suffix(".db")?;
    let (schema, time) = rest.split_once('-')?;
    let time_ok = time.len() == 16
        && time.as_bytes()[8] == b'T'
        && time.ends_with('Z')
        && time[..8]
            .bytes()
            .chain(time[9..15].bytes())
            .all(|b| b.is_ascii_digit());
    (!schema.is_empty() && schema.bytes().all(|b| b.is_ascii_digit()) && time_ok)
        .then_some((time, name))
}

impl Store {
    /// The migrations this build knows for its backend: version and description.
    fn known_migrations(&self) -> Vec<(i64, String)> {
        let migrator = match &self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(_) => &crate::store::SQLITE_MIGRATOR,
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => &crate::store::POSTGRES_MIGRATOR,
        };
        migrator
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| (m.version, m.description.to_string()))
            .collect()
    }

    /// The versions of the migrations applied to the database, oldest first.
    async fn applied_migrations(&self) -> Result<Vec<i64>, StoreError> {
        dispatch!(self, pool => sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version"
        )
        .fetch_all(pool)
        .await
        .map_err(db))
    }

    /// The known migrations not applied yet; a database with one this build does not know
    /// is refused ([`Store::newer`]).
    fn pending(&self, applied: &[i64]) -> Result<Vec<(i64, String)>, StoreError> {
        let known = self.known_migrations();
        if let Some(v) = applied.iter().find(|v| !known.iter().any(|(k, _)| k == *v)) {
            return Err(self.newer(*v));
        }
        Ok(known
            .into_iter()
            .filter(|(v, _)| !applied.contains(v))
            .collect())
    }

    /// Migrates a database that holds Registryo's tables (`initialised`), backing it up
    /// first when `backups` is given, it is a SQLite file (`file_backed`) and it has
    /// migrations to apply. `Some` when migrations were applied to it here.
    pub(crate) async fn upgrade(
        &self,
        initialised: bool,
        file_backed: bool,
        backups: Option<&MigrationBackups>,
    ) -> Result<Option<Migrated>, StoreError> {
        if !initialised {
            self.migrate().await?;
            return Ok(None);
        }
        let applied = self.applied_migrations().await?;
        let pending = self.pending(&applied)?;
        let Some(&from) = applied.last() else {
            self.migrate().await?;
            return Ok(None);
        };
        if pending.is_empty() {
            // Checks what is applied (checksums) and applies nothing.
            self.migrate().await?;
            return Ok(None);
        }
        let backups = backups.filter(|_| file_backed && self.backend_kind() == BackendKind::Sqlite);
        let Some(backups) = backups else {
            self.migrate().await?;
            return Ok(Some(self.report(from, pending, None)));
        };
        let lock = lock(&backups.dir).await?;
        // Another process may have migrated while this one waited for the lock.
        let applied = self.applied_migrations().await?;
        let pending = self.pending(&applied)?;
        let from = applied.last().copied().unwrap_or(from);
        if pending.is_empty() {
            self.migrate().await?;
            return Ok(None);
        }
        let backup = self.backup_before(backups, from, &pending).await?;
        let (removed, not_removed) = prune(backups, &backup);
        if let Err(e) = self.migrate().await {
            return Err(StoreError::NotMigrated(format!(
                "migrating {} failed ({e}); the backup made before is {}",
                self.redacted_url(),
                backup.display()
            )));
        }
        drop(lock);
        Ok(Some(Migrated {
            removed,
            not_removed,
            ..self.report(from, pending, Some(backup))
        }))
    }

    fn report(&self, from: i64, pending: Vec<(i64, String)>, backup: Option<PathBuf>) -> Migrated {
        Migrated {
            backend: self.backend_kind(),
            from,
            to: pending.last().map_or(from, |(v, _)| *v),
            applied: pending
                .into_iter()
                .map(|(v, d)| format!("{v} {d}"))
                .collect(),
            backup,
            removed: Vec::new(),
            not_removed: Vec::new(),
        }
    }

    /// The copy of the database before migrations: `VACUUM INTO` a new owner-only file,
    /// synced, then renamed to its name. Fails with [`StoreError::NotMigrated`], leaving no file.
    async fn backup_before(
        &self,
        backups: &MigrationBackups,
        from: i64,
        pending: &[(i64, String)],
    ) -> Result<PathBuf, StoreError> {
        let name = format!(
            "registryo-{from}-{}.db",
            registryo_core::time::compact(registryo_core::time::unix_now())
        );
        let path = backups.dir.join(&name);
        let partial = backups.dir.join(format!(".{name}.partial"));
        let refused = |why: String| {
            StoreError::NotMigrated(format!(
                "{} has migrations to apply ({}), and none was applied: the backup to be made \
                 before them, {}, failed: {why}",
                self.redacted_url(),
                pending
                    .iter()
                    .map(|(v, d)| format!("{v} {d}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                path.display()
            ))
        };
        if path.exists() {
            return Err(refused("the file exists already".to_owned()));
        }
        let _ = std::fs::remove_file(&partial);
        create_private(&partial).map_err(|e| refused(e.to_string()))?;
        let copied = async {
            self.vacuum_into(&partial).await.map_err(|e| match e {
                StoreError::Unavailable { kind, source } => format!("{kind} ({source})"),
                e => e.to_string(),
            })?;
            let sync = |p: &Path| std::fs::File::open(p).and_then(|f| f.sync_all());
            sync(&partial).map_err(|e| e.to_string())?;
            std::fs::rename(&partial, &path).map_err(|e| e.to_string())?;
            // The rename itself reaches the disk with the directory.
            sync(&backups.dir).map_err(|e| e.to_string())
        }
        .await;
        if let Err(why) = copied {
            let _ = std::fs::remove_file(&partial);
            let _ = std::fs::remove_file(&path);
            return Err(refused(why));
        }
        Ok(path)
    }
}

/// Creates the new file `path`, owner-only (`0600`): the copy holds the private keys.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop)
}

/// Takes the exclusive lock of `dir` (created `0700` if missing), waiting for another
/// process that holds it; released when the file is dropped (or the process ends).
async fn lock(dir: &Path) -> Result<std::fs::File, StoreError> {
    let dir = dir.to_owned();
    let failed = |dir: &Path, e: std::io::Error| {
        StoreError::NotMigrated(format!(
            "the database has migrations to apply, and none was applied: the backup directory \
             {} cannot be used: {e}",
            dir.display()
        ))
    };
    tokio::task::spawn_blocking(move || {
        if dir.symlink_metadata().is_ok_and(|m| !m.is_dir()) && !dir.is_dir() {
            let e = std::io::Error::other("it exists and is not a directory");
            return Err(failed(&dir, e));
        }
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir).map_err(|e| failed(&dir, e))?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(".migrating.lock"))
            .map_err(|e| failed(&dir, e))?;
        file.lock().map_err(|e| failed(&dir, e))?;
        Ok(file)
    })
    .await
    .map_err(|e| StoreError::NotMigrated(format!("taking the migration lock failed: {e}")))?
}

/// Removes the automatic backups in the directory but the newest `keep` (and leftovers of
/// backups that did not finish), never `made`. Returns what it removed and what it could not.
fn prune(backups: &MigrationBackups, made: &Path) -> (Vec<PathBuf>, Vec<String>) {
    let mut removed = Vec::new();
    let mut failed = Vec::new();
    let Ok(entries) = std::fs::read_dir(&backups.dir) else {
        return (removed, failed);
    };
    let names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    let mut kept: Vec<(&str, &str)> = names.iter().filter_map(|n| backup_key(n)).collect();
    kept.sort_unstable_by(|a, b| b.cmp(a));
    let old = kept
        .iter()
        .skip(backups.keep.max(1))
        .map(|(_, name)| *name)
        .chain(
            names
                .iter()
                .map(String::as_str)
                .filter(|n| n.starts_with(".registryo-") && n.ends_with(".partial")),
        );
    for name in old {
        let path = backups.dir.join(name);
        if path == made {
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => removed.push(path),
            Err(e) => failed.push(format!("{}: {e}", path.display())),
        }
    }
    (removed, failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreOptions;

    /// A SQLite file at the schema of the previous version (every migration but the newest)
    /// holding one group, `before`. Returns its path and the newest migration it has.
    #[cfg(feature = "sqlite")]
    async fn older_database(dir: &Path) -> (PathBuf, i64) {
        use sqlx::Connection as _;
        let sources = dir.join("migrations");
        std::fs::create_dir(&sources).unwrap();
        let mut files: Vec<_> =
            std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
        files.sort();
        files.pop();
        for f in &files {
            std::fs::copy(f, sources.join(f.file_name().unwrap())).unwrap();
        }
        let old = sqlx::migrate::Migrator::new(sources.as_path())
            .await
            .unwrap();
        let db = dir.join("registryo.db");
        let url = format!("sqlite://{}?mode=rwc", db.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&mut conn)
            .await
            .unwrap();
        old.run_direct(&mut conn).await.unwrap();
        sqlx::query("INSERT INTO groups (name, created_at) VALUES ('before', 1)")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let version = old.iter().last().unwrap().version;
        (db, version)
    }

    /// The newest migration and the groups of a SQLite file, read without migrating it.
    #[cfg(feature = "sqlite")]
    async fn look(db: &Path) -> (i64, Vec<String>) {
        use sqlx::Connection as _;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let version: i64 = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let groups = sqlx::query_scalar("SELECT name FROM groups ORDER BY name")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        (version, groups)
    }

    #[cfg(feature = "sqlite")]
    fn options(dir: &Path, keep: usize) -> StoreOptions {
        StoreOptions {
            migration_backups: Some(MigrationBackups {
                dir: dir.to_owned(),
                keep,
            }),
            ..StoreOptions::default()
        }
    }

    #[cfg(feature = "sqlite")]
    fn backups_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .map(|e| e.unwrap().file_name().into_string().unwrap())
                    .filter(|n| n != ".migrating.lock")
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn an_older_database_is_backed_up_before_it_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let (db, old) = older_database(dir.path()).await;
        let backups = dir.path().join("backups");
        let store = Store::connect_with(db.to_str().unwrap(), &options(&backups, 3))
            .await
            .unwrap();
        let newest = crate::store::SQLITE_MIGRATOR.iter().last().unwrap().version;
        let migrated = store.migrated().expect("migrations were applied").clone();
        assert_eq!((migrated.from, migrated.to), (old, newest));
        assert_eq!(migrated.applied.len(), 1, "{:?}", migrated.applied);
        assert!(migrated.applied[0].starts_with(&newest.to_string()));
        let backup = migrated.backup.expect("a backup was made");
        assert_eq!(backup.parent(), Some(backups.as_path()));
        let name = backup.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with(&format!("registryo-{old}-")), "{name}");
        assert_eq!(backups_in(&backups), [name]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&backup), 0o600, "it holds the private keys");
            assert_eq!(mode(&backups), 0o700);
        }
        // The backup has the data and the old schema; the database the new one.
        assert_eq!(look(&backup).await, (old, vec!["before".to_owned()]));
        store.checkpoint_and_close().await.unwrap();
        assert_eq!(look(&db).await, (newest, vec!["before".to_owned()]));

        // Opening it again migrates nothing and backs nothing up.
        let again = Store::connect_with(db.to_str().unwrap(), &options(&backups, 3))
            .await
            .unwrap();
        assert_eq!(again.migrated(), None);
        assert_eq!(backups_in(&backups), [name]);
        again.close().await;
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn a_new_database_takes_no_backup() {
        let dir = tempfile::tempdir().unwrap();
        let backups = dir.path().join("backups");
        let db = dir.path().join("registryo.db");
        let store = Store::connect_with(db.to_str().unwrap(), &options(&backups, 3))
            .await
            .unwrap();
        assert_eq!(store.migrated(), None);
        assert!(!backups.exists());
        store.close().await;
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn a_failed_backup_applies_no_migration() {
        let dir = tempfile::tempdir().unwrap();
        let (db, old) = older_database(dir.path()).await;
        // The backup directory cannot be made: a file is in its place.
        let backups = dir.path().join("backups");
        std::fs::write(&backups, "in the way").unwrap();
        let err = Store::connect_with(db.to_str().unwrap(), &options(&backups, 3))
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, StoreError::NotMigrated(_)), "{err:?}");
        assert!(
            text.contains("none was applied") && text.contains(&*backups.to_string_lossy()),
            "{text}"
        );
        assert_eq!(look(&db).await, (old, vec!["before".to_owned()]));
        assert_eq!(std::fs::read(&backups).unwrap(), b"in the way");
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn only_the_newest_backups_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (db, _) = older_database(dir.path()).await;
        let backups = dir.path().join("backups");
        std::fs::create_dir(&backups).unwrap();
        let older = [
            "registryo-20250101000000-20260101T000000Z.db",
            "registryo-20250601000000-20260201T000000Z.db",
            "registryo-20261201000000-20260301T000000Z.db",
        ];
        for name in older
            .iter()
            .chain(&[".registryo-1-20260301T000000Z.db.partial", "mine.db"])
        {
            std::fs::write(backups.join(name), "").unwrap();
        }
        let store = Store::connect_with(db.to_str().unwrap(), &options(&backups, 2))
            .await
            .unwrap();
        let migrated = store.migrated().unwrap();
        let made = migrated.backup.as_ref().unwrap().file_name().unwrap();
        let mut want = vec![
            made.to_str().unwrap().to_owned(),
            older[2].to_owned(),
            "mine.db".to_owned(),
        ];
        want.sort();
        assert_eq!(backups_in(&backups), want);
        assert_eq!(migrated.removed.len(), 3, "{:?}", migrated.removed);
        store.close().await;
    }

    /// Servers and CLI commands opening one older database at once: one backs up and
    /// migrates, the others wait for it and find nothing to do.
    #[cfg(feature = "sqlite")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn of_several_openers_at_once_one_backs_up() {
        let dir = tempfile::tempdir().unwrap();
        let (db, _) = older_database(dir.path()).await;
        let backups = dir.path().join("backups");
        let openers: Vec<_> = (0..6)
            .map(|_| {
                let (db, options) = (db.clone(), options(&backups, 3));
                tokio::spawn(async move {
                    Store::connect_with(db.to_str().unwrap(), &options)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut migrated = 0;
        for opener in openers {
            let store = opener.await.unwrap();
            migrated += usize::from(store.migrated().is_some());
            store.close().await;
        }
        assert_eq!(migrated, 1);
        assert_eq!(backups_in(&backups).len(), 1, "{:?}", backups_in(&backups));
    }

    #[test]
    fn backup_names() {
        assert_eq!(
            backup_key("registryo-20261214120000-20261201T181818Z.db"),
            Some((
                "20261201T181818Z",
                "registryo-20261214120000-20261201T181818Z.db"
            ))
        );
        for other in [
            "registryo.db",
            "registryo-20261214120000-20261201T181818Z.db-wal",
            "registryo--20261201T181818Z.db",
            "registryo-x-20261201T181818Z.db",
            "registryo-1-20261201T18181Z.db",
            "registryo-1-2026120xT181818Z.db",
            ".registryo-1-20261201T181818Z.db.partial",
            "mine.db",
        ] {
            assert_eq!(backup_key(other), None, "{other}");
        }
    }
}
