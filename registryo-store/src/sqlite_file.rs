//! The SQLite file, before and after SQLite opens it.
//!
//! **Only a missing file is created**, and it is created owner-only (`0600` on Unix) *before*
//! SQLite opens it, so its `-wal` and `-shm` files get the same mode (SQLite gives them the
//! main file's). An existing file is never re-initialised: an empty (zero-length) file, a file
//! that is not SQLite, one with damaged pages (`PRAGMA quick_check`) or another program's
//! database is refused with [`StoreError::Damaged`], whose text says what to do. Initialising
//! one would silently make a new administrator and a new signing key, and every registry
//! configured with the old key would refuse every token.

use crate::error::db;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::StoreError;

/// The first 16 bytes of every SQLite 3 database file.
const HEADER: &[u8; 16] = b"SQLite format 3\0";

/// How long an empty file may stay empty before it is refused: a process that has just
/// created it (the server and the CLI starting at once) writes its first page within
/// milliseconds.
const EMPTY_GRACE: Duration = Duration::from_secs(1);

/// What [`prepare`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileState {
    /// The file did not exist; it was created, empty and owner-only.
    Created(PathBuf),
    /// The file exists and is a sound SQLite database; `initialised` when it holds
    /// Registryo's migrations table (else it has no table at all: another process has just
    /// created it and is initialising it).
    Existing {
        /// Whether Registryo's migrations table is there.
        initialised: bool,
    },
}

/// Checks the file at `path` before the pool opens it, or creates it when it is missing and
/// `may_create`. An existing file is checked without being changed: its header, then
/// through one plain connection (no journal mode set) `PRAGMA quick_check` and its tables.
pub(crate) async fn prepare(
    path: &Path,
    may_create: bool,
    busy_timeout: Duration,
) -> Result<FileState, StoreError> {
    loop {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_file() => break,
            Ok(_) => {
                return Err(StoreError::Damaged(format!(
                    "the database path {} is not a file: check database_url or the data directory",
                    path.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !may_create {
                    return Err(StoreError::Uninitialised(format!(
                        "{}, which does not exist",
                        path.display()
                    )));
                }
                match create_private(path) {
                    Ok(()) => return Ok(FileState::Created(path.to_owned())),
                    // Another process made it in between: check it like any existing file.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                    Err(e) => {
                        return Err(StoreError::Invalid(format!(
                            "cannot create the database file {}: {e}",
                            path.display()
                        )));
                    }
                }
            }
            Err(e) => {
                return Err(StoreError::Invalid(format!(
                    "cannot read the database file {}: {e}",
                    path.display()
                )));
            }
        }
    }
    let started = tokio::time::Instant::now();
    while file_len(path) == Some(0) && started.elapsed() < EMPTY_GRACE {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if file_len(path) == Some(0) {
        return Err(StoreError::Damaged(format!(
            "the database file {} is empty (0 bytes). It is not a Registryo database, and \
             Registryo never re-initialises an existing file (that would make a new \
             administrator and a new signing key, and every registry would refuse its \
             tokens). Restore the file from a backup; to start afresh on purpose, delete it.",
            path.display()
        )));
    }
    let mut head = [0u8; 16];
    let read = std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head));
    if read.is_err() || &head != HEADER {
        return Err(not_sqlite(path));
    }
    let initialised = verify(path, busy_timeout).await.map_err(db)?;
    Ok(FileState::Existing { initialised })
}

fn file_len(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

/// Creates an empty file readable by its owner only; fails if it exists.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map(drop)
}

/// Removes a file [`prepare`] created, with the `-wal`, `-shm` and `-journal` files SQLite
/// may have made beside it, when opening or initialising it failed before SQLite wrote
/// anything into it: the next start then begins afresh instead of refusing an empty file. A
/// file that holds something is left alone (another process may be using it, and a start
/// continues a half-applied initialisation: the migrations table is made first).
pub(crate) fn remove_if_still_empty(path: &Path) {
    if file_len(path) != Some(0) {
        return;
    }
    let _ = std::fs::remove_file(path);
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

fn not_sqlite(path: &Path) -> StoreError {
    StoreError::Damaged(format!(
        "the database file {} is not an SQLite database (it does not start with \"SQLite \
         format 3\"). Check database_url or the data directory, or restore the file from a \
         backup; Registryo does not overwrite it.",
        path.display()
    ))
}

/// Whether an error opening an existing file says the file is damaged or not a database
/// (SQLITE_CORRUPT, SQLITE_NOTADB); then the refusal explains it.
pub(crate) fn damage(err: &sqlx::Error, path: &Path) -> Option<StoreError> {
    let code = err.as_database_error()?.code()?.parse::<i32>().ok()?;
    match code & 0xff {
        11 => Some(damaged_pages(path, "SQLITE_CORRUPT")),
        26 => Some(not_sqlite(path)),
        _ => None,
    }
}

fn damaged_pages(path: &Path, found: &str) -> StoreError {
    StoreError::Damaged(format!(
        "the database file {} is damaged (SQLite found: {found}). Stop every registryo \
         process using it and restore it from a backup (`sqlite3 FILE .recover` may save what \
         is left); Registryo does not serve a damaged database.",
        path.display()
    ))
}

/// `PRAGMA quick_check` must answer `ok`, and a file with tables must hold Registryo's (the
/// migrations table). Returns whether it has them.
async fn verify(path: &Path, busy_timeout: Duration) -> Result<bool, StoreError> {
    use sqlx::{ConnectOptions, Connection};

    let mut conn = match sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(busy_timeout)
        .connect()
        .await
    {
        Ok(c) => c,
        Err(e) => return Err(damage(&e, path).unwrap_or_else(|| crate::error::db(e))),
    };
    let checked = check(&mut conn, path).await;
    let _ = conn.close().await;
    checked
}

async fn check(conn: &mut sqlx::SqliteConnection, path: &Path) -> Result<bool, StoreError> {
    let report: Vec<String> = match sqlx::query_scalar("PRAGMA quick_check")
        .fetch_all(&mut *conn)
        .await
    {
        Ok(rows) => rows,
        Err(e) => return Err(damage(&e, path).unwrap_or_else(|| crate::error::db(e))),
    };
    if report.len() != 1 || report[0] != "ok" {
        let mut found: Vec<&str> = report.iter().map(String::as_str).take(3).collect();
        if report.len() > 3 {
            found.push("…");
        }
        return Err(damaged_pages(path, &found.join("; ")));
    }
    let (tables, ours): (i64, i64) = sqlx::query_as(
        "SELECT count(*), coalesce(sum(name = '_sqlx_migrations'), 0) \
         FROM sqlite_master WHERE type = 'table'",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(db)?;
    if tables > 0 && ours == 0 {
        return Err(StoreError::Damaged(format!(
            "{} is an SQLite database, but not Registryo's (it has tables, and not Registryo's \
             migrations). Check database_url or the data directory; Registryo does not add \
             its tables to another program's database.",
            path.display()
        )));
    }
    Ok(ours > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_a_missing_file_is_created_and_it_is_private() {
        let dir =
            std::env::temp_dir().join(format!("registryo-sqlite-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("new.db");
        let _ = std::fs::remove_file(&path);
        let busy = Duration::from_secs(1);
        assert!(matches!(
            prepare(&path, false, busy).await,
            Err(StoreError::Uninitialised(_))
        ));
        assert!(!path.exists(), "not created without may_create");
        assert_eq!(
            prepare(&path, true, busy).await.unwrap(),
            FileState::Created(path.clone())
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Now it exists, empty: refused, never initialised.
        let err = prepare(&path, true, busy).await.unwrap_err().to_string();
        assert!(err.contains("is empty (0 bytes)"), "{err}");
        std::fs::write(&path, b"PK\x03\x04 not a database at all").unwrap();
        let err = prepare(&path, true, busy).await.unwrap_err().to_string();
        assert!(err.contains("not an SQLite database"), "{err}");
        remove_if_still_empty(&path);
        assert!(path.exists(), "a file with content is left alone");
        std::fs::write(&path, b"").unwrap();
        remove_if_still_empty(&path);
        assert!(!path.exists());
        let _ = std::fs::remove_dir(&dir);
    }
}
