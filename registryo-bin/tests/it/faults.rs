//! The `registryo` binary when its storage fails or its files are wrong (issue 8, "faults"
//! and "files"): a full disk, a PostgreSQL outage, an empty or damaged database, the CLI run
//! from the wrong folder, file permissions, and a registry running as another user.
//!
//! Some cases need more than a plain `cargo test`: root (to mount a small filesystem), the
//! PostgreSQL that `scripts/postgres-test-server` starts (`REGISTRYO_TEST_POSTGRES_URL`), or
//! Debian's `docker-registry`. Without them a case prints that it was not run; under
//! `./scripts/test` (which sets `REGISTRYO_E2E_ENV` and provides all of them) a missing
//! prerequisite fails the case instead, so none is skipped there.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use crate::support::binary::{self, Server, refused, started};
use crate::support::command::output;
use crate::support::until;

mod postgres;
mod registry;

const ADMIN_PASSWORD: &str = "faults-admin-password";

// ---------------------------------------------------------------------------------------------
// Harness.
// ---------------------------------------------------------------------------------------------

/// Whether the suite runs under `./scripts/test`, where every prerequisite must be present.
fn under_scripts_test() -> bool {
    std::env::var_os("REGISTRYO_E2E_ENV").is_some()
}

/// Skips a case whose prerequisite is missing, or fails it under `./scripts/test`.
fn not_run(case: &str, why: &str) {
    assert!(
        !under_scripts_test(),
        "{case}: {why}; ./scripts/test provides it, so this is a failure"
    );
    eprintln!("{case}: not run: {why}");
}

/// `registryo` with a [clean environment](binary::clean_env) and these variables, run from
/// `cwd`.
fn registryo(cwd: &Path, env: &[(&str, &str)]) -> Command {
    let mut c = binary::registryo(cwd);
    c.env("REGISTRYO_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("REGISTRYO_LOG", "warn");
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// Runs a CLI command to its end.
fn run(mut cmd: Command, args: &[&str]) -> Output {
    cmd.args(args);
    output(cmd, None)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An HTTP answer: status, `Retry-After`, body.
#[derive(Debug)]
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// A 503 that says when to retry.
    fn is_unavailable(&self) -> bool {
        self.status == 503 && self.retry_after.as_deref().is_some_and(|v| !v.is_empty())
    }
}

fn client() -> reqwest::Client {
    // Generous: no case may hang, none measures time.
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn answer(req: reqwest::RequestBuilder) -> Answer {
    let resp = req.send().await.expect("the server answered within 60 s");
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let body = resp.text().await.unwrap_or_default();
    Answer {
        status,
        retry_after,
        body,
    }
}

async fn healthz(s: &Server) -> Answer {
    answer(client().get(s.url("/healthz"))).await
}

/// A write through the admin API: create a group.
async fn add_group(s: &Server, name: &str) -> Answer {
    answer(
        client()
            .post(s.url("/api/v1/groups"))
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .json(&serde_json::json!({ "name": name })),
    )
    .await
}

/// The pause between two looks of [`until`] (which counts looks, never time).
const LOOK_EVERY: Duration = Duration::from_millis(250);

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[cfg(unix)]
fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| text(&o.stdout).trim() == "0")
}

// ---------------------------------------------------------------------------------------------
// A full disk.
// ---------------------------------------------------------------------------------------------

/// A small tmpfs, mounted for one case and unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// Mounts one, or says why it cannot.
    fn mount(size: &str) -> Result<SmallDisk, String> {
        if !is_root() {
            return Err("mounting a tmpfs needs root".to_owned());
        }
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                text(&out.stderr).trim()
            ));
        }
        Ok(SmallDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn filler(&self) -> PathBuf {
        self.path().join("filler")
    }

    /// Fills every free byte with a file.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.filler()).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        // The last partial chunk: byte by byte until it fails too.
        while f.write_all(&[0u8]).is_ok() {}
    }

    fn free(&self) {
        std::fs::remove_file(self.filler()).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

/// On a full disk a write fails with a clear 503 and `/healthz` says 503; once space is
/// freed, writes work and `/healthz` is 200 again, without a restart. (Before: 500s until a
/// restart, because a connection whose write failed with SQLITE_FULL was reused, and
/// `/healthz` said 200 throughout.)
#[tokio::test]
async fn a_full_disk_is_a_503_and_writes_work_again_when_space_returns() {
    let case = "a_full_disk_is_a_503_and_writes_work_again_when_space_returns";
    let disk = match SmallDisk::mount("4m") {
        Ok(d) => d,
        Err(why) => return not_run(case, &why),
    };
    let data = disk.path().join("data");
    let data_env = data.display().to_string();
    let mut server = started(registryo(disk.path(), &[("REGISTRYO_DATA", &data_env)]));
    assert_eq!(healthz(&server).await.status, 200);
    assert_eq!(add_group(&server, "before").await.status, 201);

    disk.fill();
    for i in 0..3 {
        let a = add_group(&server, &format!("full{i}")).await;
        assert!(a.is_unavailable(), "a write on a full disk: {a:?}");
        let message = a.json()["error"]["message"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        assert!(message.contains("storage is full"), "{message}");
    }
    until(
        "/healthz reports the store that cannot write",
        40,
        LOOK_EVERY,
        || async {
            let h = healthz(&server).await;
            h.is_unavailable() && h.json()["reason"].as_str().unwrap_or("").contains("full")
        },
    )
    .await;

    disk.free();
    // The very next write works: no connection is left broken by the failed ones.
    let a = add_group(&server, "after").await;
    assert_eq!(a.status, 201, "{a:?}");
    until("/healthz is 200 again", 40, LOOK_EVERY, || async {
        healthz(&server).await.status == 200
    })
    .await;
    for i in 0..3 {
        assert_eq!(add_group(&server, &format!("again{i}")).await.status, 201);
    }
    // The failed writes are in the metrics, by their kind.
    let scrape = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let full = crate::support::metrics::Scrape::parse(&scrape)
        .count("registryo_database_errors_total", &[("kind", "full")]);
    assert!(full >= 3.0, "database errors of kind full: {full}");
    server.assert_running();
}

// ---------------------------------------------------------------------------------------------
// Existing databases are never re-initialised.
// ---------------------------------------------------------------------------------------------

/// A data directory holding a real database, written by `serve`, checkpointed into the main
/// file (no `-wal`), so its pages can be damaged on purpose.
async fn made_database(root: &Path) -> PathBuf {
    let data = root.join("data");
    let data_env = data.display().to_string();
    drop(started(registryo(root, &[("REGISTRYO_DATA", &data_env)])));
    let db = data.join("registryo.db");
    use sqlx::ConnectOptions;
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&db)
        .connect()
        .await
        .unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("PRAGMA journal_mode = DELETE")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::Connection::close(conn).await.unwrap();
    db
}

/// A zero-length file, a file that is not SQLite and a database with damaged pages are
/// refused at start with a message that says what to do, and left as they were. (Before: the
/// empty file became a new database with a new admin and signing key; the damaged one was
/// served with `/healthz` 200.)
#[tokio::test]
async fn an_empty_foreign_or_damaged_database_is_refused_and_left_alone() {
    let root = tempfile::tempdir().unwrap();
    let db = made_database(root.path()).await;
    let data_env = db.parent().unwrap().display().to_string();
    let env = [("REGISTRYO_DATA", data_env.as_str())];

    // Damaged pages: the last page overwritten. The header and the schema still read.
    let mut bytes = std::fs::read(&db).unwrap();
    let pages = bytes.len() / 4096;
    assert!(pages > 4, "a real database has pages: {pages}");
    bytes[(pages - 1) * 4096..].fill(0x55);
    std::fs::write(&db, &bytes).unwrap();
    let out = refused(registryo(root.path(), &env));
    assert!(out.contains("is damaged"), "{out}");
    assert!(out.contains("backup"), "{out}");
    assert_eq!(std::fs::read(&db).unwrap(), bytes, "left as it was");

    // Zero length: refused, still zero length, nothing created.
    std::fs::write(&db, b"").unwrap();
    let out = refused(registryo(root.path(), &env));
    assert!(out.contains("is empty (0 bytes)"), "{out}");
    assert!(out.contains("never re-initialises"), "{out}");
    assert_eq!(std::fs::metadata(&db).unwrap().len(), 0);

    // Not SQLite at all.
    std::fs::write(&db, b"this is not a database\n").unwrap();
    let out = refused(registryo(root.path(), &env));
    assert!(out.contains("not an SQLite database"), "{out}");
    assert_eq!(std::fs::read(&db).unwrap(), b"this is not a database\n");

    // The admin commands refuse them just the same.
    let out = run(registryo(root.path(), &env), &["user", "list"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not an SQLite database"),
        "{}",
        text(&out.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// The CLI run from another folder.
// ---------------------------------------------------------------------------------------------

/// Admin commands never create a store: run where there is none, they fail, name the data
/// directory they looked in (absolute) and how to point at the right one, and leave nothing
/// behind; `--init` creates one. (Before: a new, empty database and "success".)
#[tokio::test]
async fn admin_commands_refuse_to_create_a_store_without_init() {
    let elsewhere = tempfile::tempdir().unwrap();
    let cwd = elsewhere.path();
    let looked_in = cwd.join("registryo-data");
    let commands: &[&[&str]] = &[
        &["user", "list"],
        &["user", "add", "alice"],
        &["group", "list"],
        &["acl", "list"],
        &["token", "revoke", "alice"],
        &["keys", "show"],
        &["registry-config", "--realm", "http://127.0.0.1:5001/token"],
    ];
    for args in commands {
        let out = run(registryo(cwd, &[]), args);
        let err = text(&out.stderr);
        assert!(
            !out.status.success(),
            "{args:?} succeeded: {}",
            text(&out.stdout)
        );
        assert!(
            err.contains(&format!("data directory {}", looked_in.display())),
            "{args:?}: {err}"
        );
        for needle in ["--data", "REGISTRYO_DATA", "--init"] {
            assert!(err.contains(needle), "{args:?}: {needle} missing in {err}");
        }
        assert!(
            !looked_in.exists(),
            "{args:?} created {}",
            looked_in.display()
        );
    }
    // An explicit --data naming a folder that is not one: the same, with that folder.
    let wrong = cwd.join("typo");
    let wrong_env = wrong.display().to_string();
    let out = run(
        registryo(cwd, &[]),
        &["--data", &wrong_env, "group", "list"],
    );
    assert!(text(&out.stderr).contains(&format!("data directory {wrong_env}")));
    assert!(!wrong.exists());

    // --init creates it; the output is the command's usual one.
    let out = run(registryo(cwd, &[]), &["--init", "user", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("USERNAME"),
        "{}",
        text(&out.stdout)
    );
    assert!(looked_in.join("registryo.db").is_file());
    // From now on no flag is needed.
    let out = run(registryo(cwd, &[]), &["group", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

// ---------------------------------------------------------------------------------------------
// Permissions.
// ---------------------------------------------------------------------------------------------

/// The data directory is 0700 and the database with its `-wal`/`-shm` files 0600, also in a
/// directory that existed before; wider modes found at start are narrowed, with a log line.
/// The certificate bundle is public: 0644 in a 0755 directory beside the data directory.
/// (Before: a pre-existing directory left `registryo.db` 0644, readable by any local user.)
#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_and_database_are_owner_only() {
    let root = tempfile::tempdir().unwrap();
    chmod(root.path(), 0o755);
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    chmod(&data, 0o755);
    let data_env = data.display().to_string();
    let env = [("REGISTRYO_DATA", data_env.as_str())];
    let db = data.join("registryo.db");
    let wal = data.join("registryo.db-wal");
    let shm = data.join("registryo.db-shm");

    let server = started(registryo(root.path(), &env));
    assert_eq!(mode(&data), 0o700);
    for f in [&db, &wal, &shm] {
        assert!(f.is_file(), "{} exists while serving", f.display());
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    let bundle = root.path().join("data-public").join("registry-bundle.pem");
    assert_eq!(mode(&bundle), 0o644);
    assert_eq!(mode(bundle.parent().unwrap()), 0o755);
    drop(server); // killed: the -wal and -shm stay

    // Someone widened them; the next start narrows them and says so.
    chmod(&data, 0o755);
    for f in [&db, &wal, &shm] {
        if f.exists() {
            chmod(f, 0o644);
        }
    }
    let server = started(registryo(root.path(), &env));
    let log = server.lines.join("\n");
    assert!(
        log.contains(&format!("{} had mode 0755", data.display())) && log.contains("0700"),
        "{log}"
    );
    assert!(
        log.contains(&format!("{} had mode 0644", db.display())),
        "{log}"
    );
    assert_eq!(mode(&data), 0o700);
    for f in [&db, &wal, &shm] {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
}
