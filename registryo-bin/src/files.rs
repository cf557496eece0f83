//! The files `registryo` keeps on disk, and who may read them.
//!
//! - The **data directory** is owner-only (`0700`) and the SQLite database in it — which holds
//!   the private signing keys — with its `-wal`, `-shm` and `-journal` files owner-only
//!   (`0600`), whether or not the directory existed before: a wider mode found at start is
//!   narrowed, with a message. The store creates a missing database file `0600` before SQLite
//!   opens it, and SQLite gives the `-wal`/`-shm` files the main file's mode.
//! - The **certificate bundle** (the public certificates for the registry's
//!   `rootcertbundle`) is public: written `0644` into a directory the registry's own user can
//!   reach (`0755`), by default `<data>-public/registry-bundle.pem` beside the data directory
//!   (the setting `bundle_path` chooses another place). A bundle left in the data directory
//!   by an older version (`<data>/registry-bundle.pem`) is kept up to date while it exists, so
//!   a registry configured with it keeps working where it could read it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::config::Settings;

/// The name of the bundle file, in the default place and in the old one.
const BUNDLE_FILE: &str = "registry-bundle.pem";
/// The name of the JWKS file, beside the bundle by default.
const JWKS_FILE: &str = "registry-jwks.json";
/// The database file in the data directory (when `database_url` is empty).
const DB_FILE: &str = "registryo.db";

/// Says something the operator should know: a warning in the log when `serve` has set up
/// logging, else a line on standard error (the CLI).
pub fn notice(message: &str) {
    if tracing::dispatcher::has_been_set() {
        tracing::warn!("{message}");
    } else {
        eprintln!("registryo: {message}");
    }
}

/// Tells the operator something that went as it should: an info line of the server's log, or
/// a line on standard error for the other commands.
pub fn inform(message: &str) {
    if tracing::dispatcher::has_been_set() {
        tracing::info!("{message}");
    } else {
        eprintln!("registryo: {message}");
    }
}

/// Where the automatic backups made before migrations go: `<data>/backups`.
pub fn backups_dir(settings: &Settings) -> PathBuf {
    settings.data.join("backups")
}

/// The path made absolute (against the current directory), for messages and configs.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// Prepares the data directory before the store opens it: creates it `0700` when `create`
/// (and it is missing), narrows it to `0700` and the database files in it to `0600` when
/// they are wider. Without `create` a missing directory is left missing (the store then
/// reports that there is no database).
pub fn prepare_data_dir(dir: &Path, create: bool) -> Result<()> {
    if !dir.exists() {
        if !create {
            return Ok(());
        }
        create_dir(dir, 0o700)
            .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    }
    narrow(dir, 0o700, "the data directory");
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let file = dir.join(format!("{DB_FILE}{suffix}"));
        if file.is_file() {
            narrow(&file, 0o600, "the database file");
        }
    }
    Ok(())
}

/// Creates `dir` (and missing parents, with the usual mode) with exactly `mode`.
fn create_dir(dir: &Path, mode: u32) -> std::io::Result<()> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(mode);
    }
    match builder.create(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => {}
        other => other?,
    }
    // The umask may have taken bits away: set exactly the mode asked for.
    set_mode(dir, mode)
}

#[cfg(unix)]
fn mode_of(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn mode_of(_path: &Path) -> Option<u32> {
    None
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

/// Takes away every permission bit of `path` beyond `max`, saying so.
fn narrow(path: &Path, max: u32, what: &str) {
    let Some(mode) = mode_of(path) else { return };
    if mode & !max == 0 {
        return;
    }
    let narrowed = mode & max;
    match set_mode(path, narrowed) {
        Ok(()) => notice(&format!(
            "{what} {} had mode {mode:04o}, readable by other users; narrowed it to \
             {narrowed:04o} (it holds the private signing keys)",
            absolute(path).display()
        )),
        Err(e) => notice(&format!(
            "{what} {} has mode {mode:04o}, readable by other users, and cannot be narrowed \
             ({e}): run `chmod {narrowed:o} {}`",
            absolute(path).display(),
            absolute(path).display()
        )),
    }
}

/// The default bundle directory: beside the data directory, named after it with `-public`.
fn default_bundle_dir(data: &Path) -> PathBuf {
    let data = absolute(data);
    match (data.parent(), data.file_name()) {
        (Some(parent), Some(name)) => {
            let mut name = name.to_owned();
            name.push("-public");
            parent.join(name)
        }
        // The data directory is `/`: nothing beside it.
        _ => data.join("registryo-public"),
    }
}

/// Where the certificate bundle for the registry's `rootcertbundle` is written (absolute).
pub fn bundle_path(settings: &Settings) -> PathBuf {
    if settings.bundle_path.as_os_str().is_empty() {
        default_bundle_dir(&settings.data).join(BUNDLE_FILE)
    } else {
        absolute(&settings.bundle_path)
    }
}

/// Where the JWKS for distribution v3's `auth.token.jwks` is written (absolute): beside the
/// bundle unless `jwks_path` says otherwise.
pub fn jwks_path(settings: &Settings) -> PathBuf {
    if settings.jwks_path.as_os_str().is_empty() {
        bundle_path(settings).with_file_name(JWKS_FILE)
    } else {
        absolute(&settings.jwks_path)
    }
}

/// Writes the JWKS, public (`0644`) and atomically, like the bundle; its directory must exist
/// (the bundle's is made by [`write_bundle`], which runs first). Returns the path.
pub fn write_jwks(settings: &Settings, json: &str) -> Result<PathBuf> {
    let path = jwks_path(settings);
    if let Some(dir) = path.parent().filter(|d| !d.exists()) {
        create_dir(dir, 0o755)
            .with_context(|| format!("cannot create the JWKS directory {}", dir.display()))?;
    }
    write_public(&path, json)
        .with_context(|| format!("cannot write the JWKS {}", path.display()))?;
    Ok(path)
}

/// The bundle of older versions, inside the data directory.
fn legacy_bundle_path(settings: &Settings) -> PathBuf {
    absolute(&settings.data).join(BUNDLE_FILE)
}

/// Writes the certificates of every key for the registry: `0644` at [`bundle_path`] (its
/// directory created `0755` when missing; the default directory is kept `0755`), replaced
/// atomically so the registry never reads half a file. An old bundle in the data directory
/// is rewritten too while it exists. Returns the path.
pub fn write_bundle(settings: &Settings, pem: &str) -> Result<PathBuf> {
    let path = bundle_path(settings);
    let dir = path
        .parent()
        .map(Path::to_owned)
        .unwrap_or_else(|| PathBuf::from("/"));
    let default_dir = settings.bundle_path.as_os_str().is_empty();
    if !dir.exists() {
        create_dir(&dir, 0o755)
            .with_context(|| format!("cannot create the bundle directory {}", dir.display()))?;
    } else if default_dir && mode_of(&dir).is_some_and(|m| m & 0o005 != 0o005) {
        set_mode(&dir, 0o755).with_context(|| {
            format!(
                "cannot make the bundle directory {} readable",
                dir.display()
            )
        })?;
    } else if mode_of(&dir).is_some_and(|m| m & 0o001 == 0) {
        notice(&format!(
            "the bundle directory {} is not searchable by other users: a registry running \
             as another user cannot read {}",
            dir.display(),
            path.display()
        ));
    }
    if path.starts_with(absolute(&settings.data)) {
        notice(&format!(
            "bundle_path {} is inside the data directory, which is 0700: a registry running \
             as another user cannot read it",
            path.display()
        ));
    }
    write_public(&path, pem)
        .with_context(|| format!("cannot write the certificate bundle {}", path.display()))?;
    let legacy = legacy_bundle_path(settings);
    if legacy != path && legacy.is_file() {
        write_public(&legacy, pem).with_context(|| {
            format!(
                "cannot update the old certificate bundle {}",
                legacy.display()
            )
        })?;
        notice(&format!(
            "also updated the old certificate bundle {} (inside the data directory, which a \
             registry running as another user cannot read): point the registry's \
             rootcertbundle at {} and delete the old file",
            legacy.display(),
            path.display()
        ));
    }
    Ok(path)
}

/// Narrows a file this process wrote that holds the private keys (a backup) to `0600`.
pub fn restrict(path: &Path) {
    if let Err(e) = set_mode(path, 0o600) {
        notice(&format!(
            "cannot make {} owner-only ({e}): it holds the private signing keys",
            path.display()
        ));
    }
}

/// `registryo restore FILE`: checks that FILE is a Registryo SQLite database (opening a copy
/// of it migrates it to this version, and refuses a foreign or damaged file), then puts it in
/// place as the database of the data directory, which must not have one. The copy is made
/// next to the target and renamed, so a failure leaves no half-written database.
pub async fn restore(settings: &Settings, file: &Path) -> Result<()> {
    if !settings.database_url.is_empty() {
        anyhow::bail!(
            "database_url is set (not the SQLite file in the data directory): restore a \
             PostgreSQL database with its own tools (pg_restore)"
        );
    }
    if !file.is_file() {
        anyhow::bail!("{} is not a file", file.display());
    }
    let dir = &settings.data;
    let db = dir.join(DB_FILE);
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let f = dir.join(format!("{DB_FILE}{suffix}"));
        if f.exists() {
            anyhow::bail!(
                "the data directory {} has a database already ({}): restore into an empty \
                 data directory (stop the server, move the directory away, and try again)",
                absolute(dir).display(),
                f.display()
            );
        }
    }
    prepare_data_dir(dir, true)?;
    let staging = dir.join(format!(".{DB_FILE}.restore.{}", std::process::id()));
    std::fs::copy(file, &staging)
        .with_context(|| format!("cannot copy {} into {}", file.display(), dir.display()))?;
    set_mode(&staging, 0o600).ok();
    let url = format!("sqlite://{}", staging.display());
    let options = registryo_store::StoreOptions {
        create: false,
        ..registryo_store::StoreOptions::default()
    };
    let checked = match registryo_store::Store::connect_with(&url, &options).await {
        Ok(store) => {
            use registryo_core::storage::prelude::UserStore as _;
            let users = store.count_users().await;
            let done = store.checkpoint_and_close().await;
            users
                .map_err(anyhow::Error::from)
                .and(done.map_err(anyhow::Error::from))
        }
        Err(e) => Err(e.into()),
    };
    if let Err(e) = checked {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", staging.display()));
        }
        return Err(e.context(format!(
            "{} is not a Registryo database this version can use",
            file.display()
        )));
    }
    std::fs::rename(&staging, &db)
        .with_context(|| format!("cannot move the restored database to {}", db.display()))?;
    let _ = std::fs::remove_file(format!("{}-shm", staging.display()));
    out!(
        "restored {} into {}: start `registryo serve` on this data directory",
        file.display(),
        absolute(&db).display()
    );
    Ok(())
}

/// Writes `text` to `path` through a temporary file in the same directory, mode `0644`.
pub fn write_public(path: &Path, text: &str) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| BUNDLE_FILE.to_owned());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = std::fs::write(&tmp, text)
        .and_then(|()| set_mode(&tmp, 0o644))
        .and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// "mode 0644, in a directory of mode 0755", for telling the operator what was written.
pub fn describe_modes(path: &Path) -> String {
    let dir = path.parent().and_then(mode_of);
    match (mode_of(path), dir) {
        (Some(f), Some(d)) => format!("mode {f:04o}, in a directory of mode {d:04o}"),
        _ => "permissions unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_bundle_lives_beside_the_data_directory() {
        let s = Settings {
            data: PathBuf::from("/var/lib/registryo"),
            ..Settings::default()
        };
        assert_eq!(
            bundle_path(&s),
            PathBuf::from("/var/lib/registryo-public/registry-bundle.pem")
        );
        let s = Settings {
            data: PathBuf::from("/var/lib/registryo/"),
            ..Settings::default()
        };
        assert_eq!(
            bundle_path(&s),
            PathBuf::from("/var/lib/registryo-public/registry-bundle.pem")
        );
        let s = Settings {
            bundle_path: PathBuf::from("/etc/docker/registry/registryo.pem"),
            ..Settings::default()
        };
        assert_eq!(
            bundle_path(&s),
            PathBuf::from("/etc/docker/registry/registryo.pem")
        );
    }

    #[cfg(unix)]
    #[test]
    fn modes_are_narrowed_and_the_bundle_is_public() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        std::fs::create_dir(&data).unwrap();
        set_mode(&data, 0o755).unwrap();
        let db = data.join(DB_FILE);
        std::fs::write(&db, b"x").unwrap();
        set_mode(&db, 0o644).unwrap();
        std::fs::write(data.join(BUNDLE_FILE), b"old").unwrap();
        prepare_data_dir(&data, false).unwrap();
        assert_eq!(mode_of(&data), Some(0o700));
        assert_eq!(mode_of(&db), Some(0o600));

        let s = Settings {
            data: data.clone(),
            ..Settings::default()
        };
        let path = write_bundle(&s, "PEM").unwrap();
        assert_eq!(path, root.path().join("data-public").join(BUNDLE_FILE));
        assert_eq!(mode_of(&path), Some(0o644));
        assert_eq!(mode_of(path.parent().unwrap()), Some(0o755));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "PEM");
        // The old bundle in the data directory is kept up to date.
        assert_eq!(
            std::fs::read_to_string(data.join(BUNDLE_FILE)).unwrap(),
            "PEM"
        );
        assert!(describe_modes(&path).contains("mode 0644"));

        // A missing directory is not created without `create`.
        let missing = root.path().join("missing");
        prepare_data_dir(&missing, false).unwrap();
        assert!(!missing.exists());
        prepare_data_dir(&missing, true).unwrap();
        assert_eq!(mode_of(&missing), Some(0o700));
    }
}
