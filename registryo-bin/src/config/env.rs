//! The `REGISTRYO_*` environment, over figment's [`Env`] provider.
//!
//! - `REGISTRYO_<SETTING>` sets a setting; its value is kept as the text written (see
//!   [`Environment`]), and numbers and booleans are read from that text when the setting is
//!   one (the settings are extracted with figment's `extract_lossy`). A list setting takes a
//!   comma-separated value ([`list`]).
//! - `REGISTRYO_<SECRET>_FILE` names a file holding a secret (its trailing newline dropped):
//!   `admin_password`, `database_url`, `smtp_password` and `metrics_token`.
//! - The tooling's own variables (`REGISTRYO_LOG`, `REGISTRYO_TEST_POSTGRES_URL`,
//!   `REGISTRYO_E2E*`) are ignored; any other `REGISTRYO_*` variable is refused with the list
//!   of settings, so a typo is not silently a default.

use std::fmt;

use figment::providers::Env;
use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider};
use serde::de::{self, Deserializer, SeqAccess, Visitor};

use super::ConfigError;

/// The prefix of the variables.
const PREFIX: &str = "REGISTRYO_";
/// The name of the environment's metadata, which errors are told by.
pub(super) const NAME: &str = "the environment";
/// The secrets that may come from `REGISTRYO_<NAME>_FILE`.
const SECRET_FILES: &[&str] = &[
    "admin_password",
    "database_url",
    "smtp_password",
    "metrics_token",
];

/// Variables with the prefix that are not settings (the test scripts and tooling): these, and
/// every `REGISTRYO_E2E_*`.
fn ignored(key: &str) -> bool {
    matches!(key, "log" | "test_postgres_url" | "e2e") || key.starts_with("e2e_")
}

/// The variable's name for a key: `REGISTRYO_KEY_ALGORITHM`.
fn var(key: &str) -> String {
    format!("{PREFIX}{}", key.to_ascii_uppercase())
}

/// The environment's layer: the settings' variables through [`Env::prefixed`], and the secrets
/// read from `*_FILE` files.
///
/// Values stay text: figment's `Env` would parse each one as a value of its own small
/// language, reading a password `0123` as the number 123, `"x"` as x, `[a]` as a list, and
/// trimming spaces. Settings that want a number or a boolean parse it from the text instead.
pub(super) struct Environment {
    settings: Env,
    secrets: Dict,
}

impl Environment {
    /// The environment's layer for these settings. Refuses a `REGISTRYO_*` variable that is
    /// none of them, a secret set both directly and as a file, and an unreadable secret file.
    pub(super) fn read(settings: &[String]) -> Result<Environment, ConfigError> {
        let names = settings.to_vec();
        let env = Env::prefixed(PREFIX).filter(move |key| names.iter().any(|n| key == n.as_str()));
        let mut secrets = Dict::new();
        for (key, value) in Env::prefixed(PREFIX).iter() {
            let key = key.as_str();
            if settings.iter().any(|s| s == key) || ignored(key) {
                continue;
            }
            let secret = key
                .strip_suffix("_file")
                .filter(|secret| SECRET_FILES.contains(secret));
            let Some(secret) = secret else {
                return Err(ConfigError::Invalid(format!(
                    "unknown environment variable {} (settings: {}; secrets also as \
                     {PREFIX}<NAME>_FILE: {})",
                    var(key),
                    settings.join(", "),
                    SECRET_FILES.join(", "),
                )));
            };
            if env.iter().any(|(k, _)| k.as_str() == secret) {
                return Err(ConfigError::Invalid(format!(
                    "{} and {} are both set: set one",
                    var(secret),
                    var(key)
                )));
            }
            let text =
                std::fs::read_to_string(&value).map_err(|source| ConfigError::SecretFile {
                    var: var(key),
                    path: value.clone(),
                    source,
                })?;
            let text = text.trim_end_matches(['\n', '\r']).to_owned();
            secrets.insert(secret.to_owned(), Value::from(text));
        }
        Ok(Environment {
            settings: env,
            secrets,
        })
    }
}

impl Provider for Environment {
    fn metadata(&self) -> Metadata {
        Metadata::named(NAME).interpolater(|_: &Profile, path: &[&str]| var(&path.join("_")))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = self.secrets.clone();
        for (key, value) in self.settings.iter() {
            dict.insert(key.into_string(), Value::from(value));
        }
        Ok(self.settings.profile.collect(dict))
    }
}

/// A list setting: a TOML array, or one string of comma-separated items, as the environment
/// gives it (`REGISTRYO_TRUSTED_PROXIES=10.0.0.1,192.168.0.0/16`). Empty items are dropped.
pub(super) fn list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    struct List;

    impl<'de> Visitor<'de> for List {
        type Value = Vec<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of strings, or one comma-separated string")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<String>, E> {
            Ok(v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect())
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element::<String>()? {
                items.push(item);
            }
            Ok(items)
        }
    }

    deserializer.deserialize_any(List)
}
