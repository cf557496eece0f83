//! The configuration's tests: layering, secrets, bad values, the example.

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn layers_apply_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:7000\"\nissuer = \"from-file\"\n",
    )
    .unwrap();
    let s = Settings::load_from(
        Some(&file),
        &Overrides::default(),
        env(&[
            ("REGISTRYO_ISSUER", "from-env"),
            ("REGISTRYO_TOKEN_TTL_SECS", "600"),
        ]),
    )
    .unwrap();
    assert_eq!(s.listen.port(), 7000);
    assert_eq!(s.issuer, "from-env");
    assert_eq!(s.token_ttl_secs, 600);
    let s = Settings::load_from(
        Some(&file),
        &Overrides {
            listen: Some("127.0.0.1:7001".parse().unwrap()),
            data: None,
        },
        env(&[("REGISTRYO_LISTEN", "127.0.0.1:7002")]),
    )
    .unwrap();
    assert_eq!(s.listen.port(), 7001);
}

#[test]
fn secrets_from_files_and_hidden_from_debug() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("pw");
    std::fs::write(&f, "hunter2\n").unwrap();
    let s = Settings::load_from(
        None,
        &Overrides::default(),
        env(&[
            ("REGISTRYO_ADMIN_PASSWORD_FILE", f.to_str().unwrap()),
            ("REGISTRYO_DATABASE_URL", "postgres://u:topsecret@h/db"),
        ]),
    )
    .unwrap();
    assert_eq!(s.admin_password.expose(), "hunter2");
    let dbg = format!("{s:?}");
    assert!(!dbg.contains("hunter2"));
    assert!(!dbg.contains("topsecret"));
    assert!(dbg.contains("postgres://u:***@h/db"));
}

#[test]
fn smtp_settings_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("smtp");
    std::fs::write(&f, "mail-secret\n").unwrap();
    let s = Settings::load_from(
        None,
        &Overrides::default(),
        env(&[
            ("REGISTRYO_SMTP_HOST", "mail.example.com"),
            ("REGISTRYO_SMTP_PORT", "2525"),
            ("REGISTRYO_SMTP_TLS", "tls"),
            ("REGISTRYO_SMTP_USERNAME", "ro"),
            ("REGISTRYO_SMTP_PASSWORD_FILE", f.to_str().unwrap()),
            ("REGISTRYO_SMTP_FROM", "Registryo <ro@example.com>"),
            ("REGISTRYO_RESET_TOKEN_TTL_SECS", "600"),
        ]),
    )
    .unwrap();
    assert_eq!((s.smtp_port, s.smtp_tls), (2525, SmtpTls::Tls));
    assert_eq!(s.smtp_password.expose(), "mail-secret");
    assert_eq!(s.reset_token_ttl_secs, 600);
    assert!(!format!("{s:?}").contains("mail-secret"));
    for (k, v) in [("REGISTRYO_SMTP_TLS", "ssl"), ("REGISTRYO_SMTP_HOST", "h")] {
        assert!(Settings::load_from(None, &Overrides::default(), env(&[(k, v)])).is_err());
    }
}

#[test]
fn bad_values_are_refused_clearly() {
    for (k, v, needle) in [
        ("REGISTRYO_LISTEN", "nope", "listen"),
        ("REGISTRYO_KID_STYLE", "x", "kid_style"),
        ("REGISTRYO_TOKEN_TTL_SECS", "5", "token_ttl_secs"),
        ("REGISTRYO_TYPO", "1", "unknown environment variable"),
        (
            "REGISTRYO_ADMIN_PASSWORD_FILE",
            "/nonexistent/x",
            "cannot read",
        ),
    ] {
        let err = Settings::load_from(None, &Overrides::default(), env(&[(k, v)]))
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{k}={v}: {err}");
    }
    let err = Settings::load_from(
        Some(Path::new("/nonexistent.toml")),
        &Overrides::default(),
        env(&[]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("does not exist"));
}

#[test]
fn connection_and_edge_settings() {
    let s = Settings::load_from(
        None,
        &Overrides::default(),
        env(&[
            ("REGISTRYO_HEADER_READ_TIMEOUT_SECS", "2"),
            ("REGISTRYO_MAX_CONNECTIONS", "50"),
            ("REGISTRYO_TRUSTED_PROXIES", "10.0.0.1, 192.168.0.0/16,::1"),
        ]),
    )
    .unwrap();
    assert_eq!((s.header_read_timeout_secs, s.max_connections), (2, 50));
    assert_eq!(s.trusted_proxies, ["10.0.0.1", "192.168.0.0/16", "::1"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.toml");
    std::fs::write(
        &file,
        "trusted_proxies = [\"127.0.0.1\"]\nidle_timeout_secs = 75\n",
    )
    .unwrap();
    let s = Settings::load_from(Some(&file), &Overrides::default(), env(&[])).unwrap();
    assert_eq!((s.trusted_proxies.len(), s.idle_timeout_secs), (1, 75));
    for (k, v, needle) in [
        (
            "REGISTRYO_TRUSTED_PROXIES",
            "10.0.0.0/33",
            "trusted_proxies",
        ),
        (
            "REGISTRYO_TRUSTED_PROXIES",
            "proxy.example",
            "trusted_proxies",
        ),
        (
            "REGISTRYO_HEADER_READ_TIMEOUT_SECS",
            "0",
            "header_read_timeout_secs",
        ),
        ("REGISTRYO_MAX_CONNECTIONS", "0", "max_connections"),
        (
            "REGISTRYO_REGISTRY_TIMEOUT_SECS",
            "x",
            "registry_timeout_secs",
        ),
    ] {
        let err = Settings::load_from(None, &Overrides::default(), env(&[(k, v)]))
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{k}={v}: {err}");
    }
}

#[test]
fn storage_settings_from_the_environment() {
    let s = Settings::load_from(None, &Overrides::default(), env(&[])).unwrap();
    assert_eq!(s.database_timeout_secs, 3);
    assert!(s.bundle_path.as_os_str().is_empty());
    let s = Settings::load_from(
        None,
        &Overrides::default(),
        env(&[
            ("REGISTRYO_DATABASE_TIMEOUT_SECS", "7"),
            (
                "REGISTRYO_BUNDLE_PATH",
                "/etc/docker/registry/registryo.pem",
            ),
        ]),
    )
    .unwrap();
    assert_eq!(s.database_timeout_secs, 7);
    assert_eq!(
        s.bundle_path,
        PathBuf::from("/etc/docker/registry/registryo.pem")
    );
    for v in ["0", "301", "soon"] {
        let err = Settings::load_from(
            None,
            &Overrides::default(),
            env(&[("REGISTRYO_DATABASE_TIMEOUT_SECS", v)]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("database_timeout_secs"), "{v}: {err}");
    }
}

#[test]
fn example_toml_parses_to_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.toml");
    std::fs::write(&file, example_toml()).unwrap();
    let s = Settings::load_from(Some(&file), &Overrides::default(), env(&[])).unwrap();
    assert_eq!(format!("{s:?}"), format!("{:?}", Settings::default()));
}

#[test]
fn enumerated_settings_take_their_spellings_and_name_the_allowed_ones() {
    let s = Settings::load_from(
        None,
        &Overrides::default(),
        env(&[
            ("REGISTRYO_KEY_ALGORITHM", "RS256"),
            ("REGISTRYO_KID_STYLE", "rfc7638"),
            ("REGISTRYO_SMTP_TLS", "none"),
        ]),
    )
    .unwrap();
    assert_eq!(
        (s.key_algorithm, s.kid_style, s.smtp_tls),
        (Algorithm::RS256, KidStyle::Rfc7638, SmtpTls::None)
    );
    for (k, v, want) in [
        (
            "REGISTRYO_KEY_ALGORITHM",
            "HS256",
            "key_algorithm must be ES256, ES384 or RS256, not \"HS256\"",
        ),
        (
            "REGISTRYO_KEY_ALGORITHM",
            "es256",
            "key_algorithm must be ES256, ES384 or RS256, not \"es256\"",
        ),
        (
            "REGISTRYO_KID_STYLE",
            "x",
            "kid_style must be libtrust or rfc7638, not \"x\"",
        ),
        (
            "REGISTRYO_SMTP_TLS",
            "ssl",
            "smtp_tls must be none, starttls or tls, not \"ssl\"",
        ),
    ] {
        let err = Settings::load_from(None, &Overrides::default(), env(&[(k, v)]))
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{k}={v}: {err}");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.toml");
    std::fs::write(&file, "kid_style = \"RFC7638\"\n").unwrap();
    let err = Settings::load_from(Some(&file), &Overrides::default(), env(&[]))
        .unwrap_err()
        .to_string();
    let want = format!(
        "kid_style must be libtrust or rfc7638, not \"RFC7638\" (in {})",
        file.display()
    );
    assert!(err.contains(&want), "{err}");
}
