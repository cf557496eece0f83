//! `registryo backup` while the server takes writes, and `registryo restore` into an empty data
//! directory: every write acknowledged before the backup began is in the restored database.

use super::*;

#[tokio::test]
async fn a_backup_under_load_restores_every_acknowledged_write() {
    let server = start(Some("admin-password-1"));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let writer = {
        let (url, stop, acked) = (server.url("/api/v1/groups"), stop.clone(), acked.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let name = format!("g{i}");
                let resp = http
                    .post(&url)
                    .basic_auth("admin", Some("admin-password-1"))
                    .json(&json!({ "name": name }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 201, "{name}");
                acked.lock().unwrap().push(name);
            }
        })
    };
    eventually("some writes acknowledged", || async {
        acked.lock().unwrap().len() >= 20
    })
    .await;
    let before: Vec<String> = acked.lock().unwrap().clone();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("registryo.backup");
    let out = server.cli_ok(&["backup", file.to_str().unwrap()], None);
    assert!(out.contains("backed up into"), "{out}");
    // Writes went on during the backup.
    let during = acked.lock().unwrap().len();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.unwrap();
    assert!(during >= before.len());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a backup holds the private keys");
    }
    // A backup never overwrites.
    let err = server.cli_err(&["backup", file.to_str().unwrap()], None);
    assert!(err.contains("exists already"), "{err}");

    // Restore into a new data directory, then serve it: every acknowledged group is there,
    // and so are the keys (the same bundle).
    let restored = tempfile::tempdir().unwrap();
    let data = restored.path().to_owned();
    let mut cmd = base_command(&data);
    cmd.args(["restore", file.to_str().unwrap()]);
    let out = output(cmd, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut cmd = base_command(&data);
    cmd.env("REGISTRYO_LOG", "warn");
    let again = started(cmd).owning(restored);
    let groups = again.cli_ok(&["group", "list"], None);
    let names: std::collections::HashSet<&str> = groups
        .lines()
        .map(|l| l.split(':').next().unwrap())
        .collect();
    for g in &before {
        assert!(
            names.contains(g.as_str()),
            "{g} was acknowledged before the backup"
        );
    }
    assert_eq!(
        std::fs::read_to_string(public_dir(&data).join("registry-bundle.pem")).unwrap(),
        std::fs::read_to_string(public_dir(server.data()).join("registry-bundle.pem")).unwrap(),
        "the restored server trusts the same CA"
    );
    let (status, _) = again
        .token("service=registry.test", Some(("admin", "admin-password-1")))
        .await;
    assert_eq!(status, 200);

    // Restoring over a database, or something that is not a backup, is refused.
    let mut cmd = base_command(&data);
    cmd.args(["restore", file.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&output(cmd, None).stderr).into_owned();
    assert!(err.contains("has a database already"), "{err}");
    let junk = dir.path().join("junk");
    std::fs::write(&junk, "not a database").unwrap();
    let empty_dir = tempfile::tempdir().unwrap();
    let empty = empty_dir.path().to_owned();
    let mut cmd = base_command(&empty);
    cmd.args(["restore", junk.to_str().unwrap()]);
    let out = output(cmd, None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a Registryo database"), "{err}");
    assert!(!empty.join("registryo.db").exists(), "nothing left behind");
}

/// A database a newer Registryo migrated is refused by this one, with the way back (that
/// version, or a backup made before the upgrade), and left as it is.
#[tokio::test]
async fn a_database_from_a_newer_version_is_refused_and_left_alone() {
    let data = tempfile::tempdir().unwrap();
    let mut init = base_command(data.path());
    init.args(["--init", "user", "list"]);
    assert!(output(init, None).status.success());
    let db = data.path().join("registryo.db");
    {
        use sqlx::Connection as _;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (99991231000000, 'from a newer version', TRUE, x'00', 0)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
    }
    let before = std::fs::read(&db).unwrap();
    let mut list = base_command(data.path());
    list.args(["user", "list"]);
    let out = output(list, None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("upgraded by a newer version of Registryo")
            && err.contains("99991231000000")
            && err.contains("registryo restore"),
        "{err}"
    );
    let mut serve = base_command(data.path());
    serve.env("REGISTRYO_ADMIN_PASSWORD", "admin-password-1");
    let refused = crate::support::binary::serve(serve)
        .err()
        .expect("serve refuses");
    assert!(refused.contains("newer version"), "{refused}");
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the database is left as it was"
    );
}
