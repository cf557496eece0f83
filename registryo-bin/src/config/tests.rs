//! The configuration's tests: layering, secrets, bad values, the example.
//!
//! Each runs in a figment [`Jail`]: one at a time, in a fresh current directory, with an
//! environment of its own that is restored afterwards.

use figment::Jail;

use super::*;

/// [`Settings::load`] with these variables and no other.
fn load_with(
    jail: &mut Jail,
    config: Option<&Path>,
    overrides: &Overrides,
    vars: &[(&str, &str)],
) -> Result<Settings, ConfigError> {
    jail.clear_env();
    for (k, v) in vars {
        jail.set_env(k, v);
    }
    Settings::load(config, overrides)
}

/// [`load_with`] without flags.
fn load(
    jail: &mut Jail,
    config: Option<&Path>,
    vars: &[(&str, &str)],
) -> Result<Settings, ConfigError> {
    load_with(jail, config, &Overrides::default(), vars)
}

/// The error of loading with these variables.
fn refused(jail: &mut Jail, vars: &[(&str, &str)]) -> String {
    load(jail, None, vars).unwrap_err().to_string()
}

/// Run a test in a jail.
#[allow(clippy::result_large_err)] // figment's error, from a closure of the test's.
fn jailed(test: impl FnOnce(&mut Jail)) {
    Jail::expect_with(|jail| {
        test(jail);
        Ok(())
    });
}

/// A file in the jail's directory.
fn file(jail: &Jail, name: &str, contents: &str) -> PathBuf {
    let path = jail.directory().join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn layers_apply_in_order() {
    jailed(|jail| {
        let file = file(
            jail,
            "r.toml",
            "listen = \"127.0.0.1:7000\"\nissuer = \"from-file\"\n",
        );
        let s = load(
            jail,
            Some(&file),
            &[
                ("REGISTRYO_ISSUER", "from-env"),
                ("REGISTRYO_TOKEN_TTL_SECS", "600"),
            ],
        )
        .unwrap();
        assert_eq!(s.listen.port(), 7000);
        assert_eq!(s.issuer, "from-env");
        assert_eq!(s.token_ttl_secs, 600);
        let s = load_with(
            jail,
            Some(&file),
            &Overrides {
                listen: Some("127.0.0.1:7001".parse().unwrap()),
                data: None,
            },
            &[("REGISTRYO_LISTEN", "127.0.0.1:7002")],
        )
        .unwrap();
        assert_eq!(s.listen.port(), 7001);
    });
}

#[test]
fn registryo_toml_in_the_current_directory_is_read_unless_another_file_is_named() {
    jailed(|jail| {
        assert_eq!(load(jail, None, &[]).unwrap().issuer, "registryo");
        file(jail, "registryo.toml", "issuer = \"from-cwd\"\n");
        let other = file(jail, "other.toml", "service = \"from-other\"\n");
        assert_eq!(load(jail, None, &[]).unwrap().issuer, "from-cwd");
        let s = load(jail, Some(&other), &[]).unwrap();
        assert_eq!(
            (s.issuer.as_str(), s.service.as_str()),
            ("registryo", "from-other")
        );
    });
}

#[test]
fn secrets_from_files_and_hidden_from_debug() {
    jailed(|jail| {
        let f = file(jail, "pw", "hunter2\n");
        let s = load(
            jail,
            None,
            &[
                ("REGISTRYO_ADMIN_PASSWORD_FILE", f.to_str().unwrap()),
                ("REGISTRYO_DATABASE_URL", "postgres://u:topsecret@h/db"),
            ],
        )
        .unwrap();
        assert_eq!(s.admin_password.expose(), "hunter2");
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("hunter2"));
        assert!(!dbg.contains("topsecret"));
        assert!(dbg.contains("postgres://u:***@h/db"));
    });
}

#[test]
fn every_secret_comes_from_its_file() {
    jailed(|jail| {
        let admin = file(jail, "admin", "  spaces kept \r\n\n");
        let url = file(jail, "url", "postgres://u:db-secret@h/db\n");
        let smtp = file(jail, "smtp", "mail-secret");
        let s = load(
            jail,
            None,
            &[
                ("REGISTRYO_ADMIN_PASSWORD_FILE", admin.to_str().unwrap()),
                ("REGISTRYO_DATABASE_URL_FILE", url.to_str().unwrap()),
                ("REGISTRYO_SMTP_PASSWORD_FILE", smtp.to_str().unwrap()),
                ("REGISTRYO_SMTP_USERNAME", "ro"),
            ],
        )
        .unwrap();
        assert_eq!(s.admin_password.expose(), "  spaces kept ");
        assert_eq!(s.database_url(), "postgres://u:db-secret@h/db");
        assert_eq!(s.smtp_password.expose(), "mail-secret");
        let dbg = format!("{s:?}");
        for secret in ["spaces kept", "db-secret", "mail-secret"] {
            assert!(!dbg.contains(secret), "{secret} in {dbg}");
        }
        // A file replaces the file's setting in registryo.toml, like the variable would.
        let toml = file(jail, "r.toml", "admin_password = \"from-file\"\n");
        let s = load(
            jail,
            Some(&toml),
            &[("REGISTRYO_ADMIN_PASSWORD_FILE", admin.to_str().unwrap())],
        )
        .unwrap();
        assert_eq!(s.admin_password.expose(), "  spaces kept ");

        let err = refused(jail, &[("REGISTRYO_SMTP_PASSWORD_FILE", "/nonexistent/pw")]);
        assert!(
            err.starts_with("cannot read REGISTRYO_SMTP_PASSWORD_FILE (/nonexistent/pw): "),
            "{err}"
        );
        let err = refused(
            jail,
            &[
                ("REGISTRYO_ADMIN_PASSWORD", "a"),
                ("REGISTRYO_ADMIN_PASSWORD_FILE", admin.to_str().unwrap()),
            ],
        );
        assert!(
            err.contains("REGISTRYO_ADMIN_PASSWORD and REGISTRYO_ADMIN_PASSWORD_FILE are both set"),
            "{err}"
        );
        // Only secrets come from files.
        let err = refused(jail, &[("REGISTRYO_ISSUER_FILE", admin.to_str().unwrap())]);
        assert!(
            err.contains("unknown environment variable REGISTRYO_ISSUER_FILE"),
            "{err}"
        );
    });
}

#[test]
fn values_from_the_environment_are_taken_as_written() {
    jailed(|jail| {
        // figment's own reading of variables would make these 123, a list, unquoted, trimmed.
        for pw in [
            "0123",
            "[x]",
            "\"quoted\"",
            " padded ",
            "true",
            "1.50",
            "{a=b}",
        ] {
            let s = load(jail, None, &[("REGISTRYO_ADMIN_PASSWORD", pw)]).unwrap();
            assert_eq!(s.admin_password.expose(), pw);
        }
        let s = load(
            jail,
            None,
            &[
                ("REGISTRYO_ISSUER", "007"),
                ("REGISTRYO_TOKEN_TTL_SECS", " 600 "),
                ("REGISTRYO_SECURE_COOKIES", "true"),
                ("REGISTRYO_SMTP_PORT", "2525"),
            ],
        )
        .unwrap();
        assert_eq!(s.issuer, "007");
        assert_eq!(s.token_ttl_secs, 600);
        assert!(s.secure_cookies);
        assert_eq!(s.smtp_port, 2525);
        let err = refused(jail, &[("REGISTRYO_SECURE_COOKIES", "maybe")]);
        assert!(
            err.contains(
                "secure_cookies must be a boolean, not string \"maybe\" \
                 (from REGISTRYO_SECURE_COOKIES)"
            ),
            "{err}"
        );
        let err = refused(jail, &[("REGISTRYO_SMTP_PORT", "70000")]);
        assert!(
            err.contains("smtp_port must be a whole number from 0 to 65535"),
            "{err}"
        );
    });
}

#[test]
fn unknown_variables_are_refused_with_the_settings_and_the_tooling_s_are_ignored() {
    jailed(|jail| {
        let err = refused(jail, &[("REGISTRYO_TYPO", "1")]);
        assert!(
            err.starts_with(
                "configuration: unknown environment variable REGISTRYO_TYPO (settings: "
            ),
            "{err}"
        );
        for name in setting_names().unwrap() {
            assert!(err.contains(&name), "{name} missing from {err}");
        }
        assert!(err.contains("REGISTRYO_<NAME>_FILE: admin_password, database_url, smtp_password"));
        load(
            jail,
            None,
            &[
                ("REGISTRYO_LOG", "debug"),
                ("REGISTRYO_TEST_POSTGRES_URL", "postgres://t@h/db"),
                ("REGISTRYO_E2E", "1"),
                ("REGISTRYO_E2E_ENV", "/tmp/env"),
                ("REGISTRYO_E2E_ADMIN_PASSWORD", "x"),
                ("REGISTRY_TYPO", "not our prefix"),
            ],
        )
        .unwrap();
    });
}

#[test]
fn a_list_from_the_environment_is_comma_separated() {
    jailed(|jail| {
        let proxies = |vars: &[(&str, &str)], toml: Option<&Path>, jail: &mut Jail| {
            load(jail, toml, vars).unwrap().trusted_proxies
        };
        let var = "REGISTRYO_TRUSTED_PROXIES";
        assert_eq!(proxies(&[(var, "10.0.0.1")], None, jail), ["10.0.0.1"]);
        assert_eq!(
            proxies(&[(var, " 10.0.0.1 ,,192.168.0.0/16, ")], None, jail),
            ["10.0.0.1", "192.168.0.0/16"]
        );
        assert!(proxies(&[(var, "")], None, jail).is_empty());
        let toml = file(
            jail,
            "r.toml",
            "trusted_proxies = [\"127.0.0.1\", \"::1\"]\n",
        );
        assert_eq!(proxies(&[], Some(&toml), jail), ["127.0.0.1", "::1"]);
        assert_eq!(
            proxies(&[(var, "10.0.0.2")], Some(&toml), jail),
            ["10.0.0.2"]
        );
        let bad = file(jail, "bad.toml", "trusted_proxies = [1]\n");
        let err = load(jail, Some(&bad), &[]).unwrap_err().to_string();
        assert!(err.contains("trusted_proxies"), "{err}");
    });
}

#[test]
fn smtp_settings_from_the_environment() {
    jailed(|jail| {
        let f = file(jail, "smtp", "mail-secret\n");
        let s = load(
            jail,
            None,
            &[
                ("REGISTRYO_SMTP_HOST", "mail.example.com"),
                ("REGISTRYO_SMTP_PORT", "2525"),
                ("REGISTRYO_SMTP_TLS", "tls"),
                ("REGISTRYO_SMTP_USERNAME", "ro"),
                ("REGISTRYO_SMTP_PASSWORD_FILE", f.to_str().unwrap()),
                ("REGISTRYO_SMTP_FROM", "Registryo <ro@example.com>"),
                ("REGISTRYO_RESET_TOKEN_TTL_SECS", "600"),
            ],
        )
        .unwrap();
        assert_eq!((s.smtp_port, s.smtp_tls), (2525, SmtpTls::Tls));
        assert_eq!(s.smtp_password.expose(), "mail-secret");
        assert_eq!(s.reset_token_ttl_secs, 600);
        assert!(!format!("{s:?}").contains("mail-secret"));
        for (k, v) in [("REGISTRYO_SMTP_TLS", "ssl"), ("REGISTRYO_SMTP_HOST", "h")] {
            assert!(load(jail, None, &[(k, v)]).is_err());
        }
    });
}

#[test]
fn bad_values_are_refused_clearly() {
    jailed(|jail| {
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
            let err = refused(jail, &[(k, v)]);
            assert!(err.contains(needle), "{k}={v}: {err}");
        }
        let err = load(jail, Some(Path::new("/nonexistent.toml")), &[]).unwrap_err();
        assert!(err.to_string().contains("does not exist"));
    });
}

#[test]
fn enumerated_settings_take_their_spellings_and_name_the_allowed_ones() {
    jailed(|jail| {
        let s = load(
            jail,
            None,
            &[
                ("REGISTRYO_KEY_ALGORITHM", "RS256"),
                ("REGISTRYO_KID_STYLE", "rfc7638"),
                ("REGISTRYO_SMTP_TLS", "none"),
            ],
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
                "key_algorithm must be ES256, ES384 or RS256, not \"HS256\" \
                 (from REGISTRYO_KEY_ALGORITHM)",
            ),
            (
                "REGISTRYO_KEY_ALGORITHM",
                "es256",
                "key_algorithm must be ES256, ES384 or RS256, not \"es256\" \
                 (from REGISTRYO_KEY_ALGORITHM)",
            ),
            (
                "REGISTRYO_KID_STYLE",
                "x",
                "kid_style must be libtrust or rfc7638, not \"x\" (from REGISTRYO_KID_STYLE)",
            ),
            (
                "REGISTRYO_SMTP_TLS",
                "ssl",
                "smtp_tls must be none, starttls or tls, not \"ssl\" (from REGISTRYO_SMTP_TLS)",
            ),
        ] {
            let err = refused(jail, &[(k, v)]);
            assert_eq!(err, format!("configuration: {want}"), "{k}={v}");
        }
        let toml = file(jail, "r.toml", "kid_style = \"RFC7638\"\n");
        let err = load(jail, Some(&toml), &[]).unwrap_err().to_string();
        let want = format!(
            "configuration: kid_style must be libtrust or rfc7638, not \"RFC7638\" (in {})",
            toml.display()
        );
        assert_eq!(err, want);
    });
}

#[test]
fn connection_and_edge_settings() {
    jailed(|jail| {
        let s = load(
            jail,
            None,
            &[
                ("REGISTRYO_HEADER_READ_TIMEOUT_SECS", "2"),
                ("REGISTRYO_MAX_CONNECTIONS", "50"),
                ("REGISTRYO_TRUSTED_PROXIES", "10.0.0.1, 192.168.0.0/16,::1"),
            ],
        )
        .unwrap();
        assert_eq!((s.header_read_timeout_secs, s.max_connections), (2, 50));
        assert_eq!(s.trusted_proxies, ["10.0.0.1", "192.168.0.0/16", "::1"]);
        let toml = file(
            jail,
            "r.toml",
            "trusted_proxies = [\"127.0.0.1\"]\nidle_timeout_secs = 75\n",
        );
        let s = load(jail, Some(&toml), &[]).unwrap();
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
            let err = refused(jail, &[(k, v)]);
            assert!(err.contains(needle), "{k}={v}: {err}");
        }
    });
}

#[test]
fn storage_settings_from_the_environment() {
    jailed(|jail| {
        let s = load(jail, None, &[]).unwrap();
        assert_eq!(s.database_timeout_secs, 3);
        assert!(s.bundle_path.as_os_str().is_empty());
        let s = load(
            jail,
            None,
            &[
                ("REGISTRYO_DATABASE_TIMEOUT_SECS", "7"),
                (
                    "REGISTRYO_BUNDLE_PATH",
                    "/etc/docker/registry/registryo.pem",
                ),
            ],
        )
        .unwrap();
        assert_eq!(s.database_timeout_secs, 7);
        assert_eq!(
            s.bundle_path,
            PathBuf::from("/etc/docker/registry/registryo.pem")
        );
        for v in ["0", "301", "soon"] {
            let err = refused(jail, &[("REGISTRYO_DATABASE_TIMEOUT_SECS", v)]);
            assert!(err.contains("database_timeout_secs"), "{v}: {err}");
        }
    });
}

#[test]
fn example_toml_parses_to_the_defaults() {
    jailed(|jail| {
        let toml = file(jail, "r.toml", &example_toml());
        let s = load(jail, Some(&toml), &[]).unwrap();
        assert_eq!(format!("{s:?}"), format!("{:?}", Settings::default()));
    });
}

#[test]
fn registry_version_is_auto_2_or_3() {
    use registryo_core::client::{RegistryVersion, VersionSetting};
    jailed(|jail| {
        assert_eq!(
            load(jail, None, &[]).unwrap().registry_version,
            VersionSetting::Auto
        );
        for (v, want) in [
            ("auto", VersionSetting::Auto),
            ("2", VersionSetting::Fixed(RegistryVersion::V2)),
            ("3", VersionSetting::Fixed(RegistryVersion::V3)),
        ] {
            let s = load(jail, None, &[("REGISTRYO_REGISTRY_VERSION", v)]).unwrap();
            assert_eq!(s.registry_version, want, "{v}");
        }
        // TOML takes the number or the string.
        for text in ["registry_version = 3\n", "registry_version = \"3\"\n"] {
            let toml = file(jail, "r.toml", text);
            let s = load(jail, Some(&toml), &[]).unwrap();
            assert_eq!(
                s.registry_version,
                VersionSetting::Fixed(RegistryVersion::V3)
            );
        }
        for v in ["4", "v3", "Auto", "", "2.8"] {
            let err = refused(jail, &[("REGISTRYO_REGISTRY_VERSION", v)]);
            assert_eq!(
                err,
                format!(
                    "configuration: registry_version must be auto, 2 or 3, not {v:?} \
                     (from REGISTRYO_REGISTRY_VERSION)"
                ),
                "{v}"
            );
        }
        let toml = file(jail, "r.toml", "registry_version = 4\n");
        let err = load(jail, Some(&toml), &[]).unwrap_err().to_string();
        assert!(
            err.contains("registry_version must be auto, 2 or 3"),
            "{err}"
        );
        assert!(example_toml().contains("\nregistry_version = \"auto\"\n"));
    });
}

#[test]
fn the_registry_host_comes_from_its_setting_or_from_registry_url() {
    jailed(|jail| {
        let s = load(
            jail,
            None,
            &[("REGISTRYO_REGISTRY_URL", "http://registry:5000/")],
        )
        .unwrap();
        assert_eq!(s.registry_host(), "registry:5000");
        let s = load(
            jail,
            None,
            &[("REGISTRYO_REGISTRY_URL", "https://reg.example.com")],
        )
        .unwrap();
        assert_eq!(s.registry_host(), "reg.example.com");
        let s = load(
            jail,
            None,
            &[
                ("REGISTRYO_REGISTRY_URL", "http://registry:5000"),
                ("REGISTRYO_REGISTRY_HOST", "localhost:5000"),
            ],
        )
        .unwrap();
        assert_eq!(s.registry_host(), "localhost:5000");
        assert_eq!(load(jail, None, &[]).unwrap().registry_host(), "");
        for bad in ["http://x", "x/y", "a b", "u@x", "x:port", ":5000"] {
            let err = refused(jail, &[("REGISTRYO_REGISTRY_HOST", bad)]);
            assert!(
                err.contains("registry_host must be HOST or HOST:PORT"),
                "{bad}: {err}"
            );
        }
    });
}
