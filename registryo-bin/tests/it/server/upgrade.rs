//! An upgrade from the previous release's database: `tests/fixtures/previous-release/`, made
//! by `scripts/make-upgrade-fixture` with the older binary itself (its README names the
//! commit). This version backs the database up, migrates it, and everything the older one
//! stored still works: passwords, the disabled account, the docker login, the rules, the keys.

use std::path::PathBuf;

use registryo_core::testing::{RegistryConfig, TestRegistry};
use registryo_core::token::Verifier;

use super::*;
use crate::support::binary::refused;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/previous-release")
}

fn fixture() -> Value {
    let text = std::fs::read_to_string(fixture_dir().join("fixture.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A data directory holding a copy of the fixture's database.
fn data_dir() -> tempfile::TempDir {
    let data = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture_dir().join("registryo.db"),
        data.path().join("registryo.db"),
    )
    .unwrap();
    data
}

/// The newest migration of a SQLite file and how many users and rules it holds, read
/// without migrating it.
async fn look(db: &Path) -> (i64, i64, i64) {
    use sqlx::Connection as _;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", db.display()))
        .await
        .unwrap();
    let mut counts = Vec::new();
    for sql in [
        "SELECT max(version) FROM _sqlx_migrations",
        "SELECT count(*) FROM users",
        "SELECT count(*) FROM acl_rules",
    ] {
        counts.push(sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap());
    }
    conn.close().await.unwrap();
    (counts[0], counts[1], counts[2])
}

/// `serve` on `data` with the settings the fixture was made with (the tests' service and
/// issuer), and docker logins that never go idle: the fixture's login was last used when it
/// was made.
fn serve_on(data: &Path) -> Command {
    let mut cmd = base_command(data);
    cmd.env("REGISTRYO_REFRESH_TOKEN_IDLE_DAYS", "36500");
    cmd
}

fn backups(data: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(data.join("backups"))
        .map(|entries| {
            entries
                .map(|e| e.unwrap().path())
                .filter(|p| !p.file_name().unwrap().to_str().unwrap().starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

#[tokio::test]
async fn the_previous_release_s_database_is_backed_up_migrated_and_keeps_working() {
    let fixture = fixture();
    let data = data_dir();
    let db = data.path().join("registryo.db");
    let (old_schema, users, rules) = look(&db).await;
    let newest = {
        let mut names: Vec<String> = std::fs::read_dir(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../registryo-store/migrations/sqlite"),
        )
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
        names.sort();
        names
            .last()
            .unwrap()
            .split('_')
            .next()
            .unwrap()
            .parse::<i64>()
            .unwrap()
    };
    assert!(
        old_schema < newest,
        "the fixture must predate the newest migration ({old_schema} vs {newest}): make a \
         new one with scripts/make-upgrade-fixture (tests/fixtures/previous-release/README.md)"
    );

    let server = started(serve_on(data.path())).owning(data);
    let data = server.data().to_owned();

    // The automatic backup: one file, named after the old schema, with the old schema and
    // every user and rule; the log says where it is and how to go back.
    let made = backups(&data);
    assert_eq!(made.len(), 1, "{made:?}");
    let backup = &made[0];
    let name = backup.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with(&format!("registryo-{old_schema}-")),
        "{name}"
    );
    assert_eq!(look(backup).await, (old_schema, users, rules));
    let said = server.lines.join("\n");
    assert!(
        said.contains(&format!("from schema {old_schema} to {newest}"))
            && said.contains(&*backup.to_string_lossy())
            && said.contains("registryo restore"),
        "{said}"
    );
    assert_eq!(look(&db).await.0, newest);

    // Every password still works, on /token and the UI; the disabled person is refused.
    let passwords = fixture["passwords"].as_object().unwrap();
    for (user, password) in passwords {
        let password = password.as_str().unwrap();
        let (status, body) = server
            .token("service=registry.test", Some((user, password)))
            .await;
        let disabled = fixture["disabled"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d == user.as_str());
        assert_eq!(status, if disabled { 401 } else { 200 }, "{user}: {body}");
        if user != "ci" {
            // People sign in to the UI (a service account cannot).
            let signed_in = sign_in(&no_redirects(), &server.url(""), user, password, &[]).await;
            let session = set_cookie(&signed_in, "registryo_session");
            assert_eq!(session.is_some(), !disabled, "{user} signing in to the UI");
        }
    }
    let (status, _) = server
        .token("service=registry.test", Some(("alice", "wrong-password")))
        .await;
    assert_eq!(status, 401);

    // The rules decide as they did: every request the older version answered gets the
    // same access (the fixture holds what it granted).
    for case in fixture["decisions"].as_array().unwrap() {
        let scope = case["scope"].as_str().unwrap();
        let query = format!("service=registry.test&scope={scope}");
        let auth = case["user"]
            .as_str()
            .map(|u| (u, passwords[u].as_str().unwrap()));
        let (status, body) = server.token(&query, auth).await;
        assert_eq!(status, 200, "{case}: {body}");
        let got = jwt::claims(body["token"].as_str().unwrap())["access"].clone();
        let want = &case["access"];
        let got = if got.is_null() { json!([]) } else { got };
        assert_eq!(&got, want, "{case}");
    }

    // The docker login the older version issued still works.
    let login = &fixture["refresh_token"];
    let (status, body) = server
        .post(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", login["token"].as_str().unwrap()),
            ("client_id", login["client_id"].as_str().unwrap()),
            ("service", "registry.test"),
            ("scope", "repository:alice/app:pull,push"),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        access(&body),
        [(
            "alice/app".to_owned(),
            vec!["pull".to_owned(), "push".to_owned()]
        )]
    );

    // The keys survived: the bundle this version writes is the one the older wrote, and a
    // token the older one signed verifies against it (when it was valid).
    let bundle = std::fs::read_to_string(public_dir(&data).join("registry-bundle.pem")).unwrap();
    let old_bundle = std::fs::read_to_string(fixture_dir().join("registry-bundle.pem")).unwrap();
    assert_eq!(bundle, old_bundle, "the registry's bundle is unchanged");
    let signed = &fixture["signed_token"];
    let claims = Verifier::from_cert_bundle_pem(&bundle)
        .unwrap()
        .verify_at(
            signed["token"].as_str().unwrap(),
            "registryo-test",
            "registry.test",
            jwt::claims(signed["token"].as_str().unwrap())["iat"]
                .as_i64()
                .unwrap()
                + 1,
        )
        .unwrap();
    assert_eq!(claims.sub, "bob");

    // A registry still configured with the older version's bundle takes this version's
    // tokens: a push through the docker login (a blob upload begins).
    let registry = TestRegistry::start(RegistryConfig {
        bundle_pem: &old_bundle,
        issuer: "registryo-test",
        service: "registry.test",
        delete_enabled: false,
    })
    .await;
    let http = reqwest::Client::new();
    eventually(
        "the registry takes a token of the upgraded server",
        || async {
            // Asked afresh each time: at start the server renews a signing key whose
            // certificate is due (the fixture's may be old), and a renewed key signs at once.
            let (_, body) = server
                .post(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", login["token"].as_str().unwrap()),
                    ("client_id", "docker"),
                    ("service", "registry.test"),
                    ("scope", "repository:alice/app:pull,push"),
                ])
                .await;
            let token = body["token"].as_str().unwrap().to_owned();
            let upload = http
                .post(format!("{}/v2/alice/app/blobs/uploads/", registry.url()))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            upload.status() == 202
        },
    )
    .await;

    // Started again: nothing to migrate, no second backup.
    drop(server);
}

/// A backup that cannot be made stops the start with the reason and the way out, and no
/// migration is applied; with `migration_backups = 0` the start migrates without one and
/// says so.
#[tokio::test]
async fn a_failed_backup_stops_the_upgrade_and_changes_nothing() {
    let data = data_dir();
    let db = data.path().join("registryo.db");
    let before = look(&db).await;
    let old_schema = before.0;
    std::fs::write(data.path().join("backups"), "a file in the way").unwrap();
    let out = refused(serve_on(data.path()));
    assert!(
        out.contains("none was applied")
            && out.contains("backups")
            && out.contains("migration_backups = 0"),
        "{out}"
    );
    // As it was (opening it may only have switched its journal to WAL, as every open does).
    assert_eq!(look(&db).await, before, "the database is as it was");
    // An admin command opening it refuses the same way.
    let mut list = base_command(data.path());
    list.args(["user", "list"]);
    let out = output(list, None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("none was applied"));
    assert_eq!(look(&db).await, before);

    let mut cmd = serve_on(data.path());
    cmd.env("REGISTRYO_MIGRATION_BACKUPS", "0");
    let server = started(cmd);
    let said = server.lines.join("\n");
    assert!(said.contains("without a backup"), "{said}");
    assert!(look(&db).await.0 > old_schema);
    drop(server);
    // Again: nothing to migrate, nothing said about it.
    let server = started(serve_on(data.path()));
    assert!(
        !server.lines.join("\n").contains("schema"),
        "{:?}",
        server.lines
    );
    drop(server);
    drop(data);
}
