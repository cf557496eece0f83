//! The programs `./scripts/test` started for the end-to-end and browser tests, as it describes
//! them: a file of `KEY=value` lines named by `REGISTRYO_E2E_ENV`, which names two more
//! (`REGISTRYO_E2E_INFRA_ENV`, `REGISTRYO_E2E_IMAGES_ENV`: scripts/e2e's `DIR/env` format).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// `KEY=value` lines, a value bare or in single quotes (scripts/e2e's DIR/env format).
fn parse_env_file(path: &Path) -> HashMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "cannot read the e2e environment file {}: {e}",
            path.display()
        )
    });
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("{}: not KEY=value: {l}", path.display()));
            let v = v
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .unwrap_or(v);
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// The variables of the three files, and the targets.
#[derive(Debug)]
pub struct Env(HashMap<String, String>, Vec<Target>);

/// A registry the tests push to and pull from, with the `registryo serve` that issues its
/// tokens (`REGISTRYO_E2E_TARGET_<NAME>` in the description).
#[derive(Debug)]
pub struct Target {
    /// `v2`, `v3`, `rs256-v2`, … : in test names and failure messages.
    pub name: String,
    /// The registry's major version: `2` (distribution 2.8) or `3` (v3.1.1).
    pub version: String,
    /// The registry's `host:port`.
    pub host: String,
    /// The registry's log (the reason it refuses a token is only there).
    pub registry_log: String,
    /// The registryo serving it: `http://ADDR`, its data directory and log.
    pub registryo: String,
    pub data: String,
    pub log: String,
    /// That registryo's settings (`REGISTRYO_KEY_ALGORITHM`, `_REGISTRY_KEYS`, `_KID_STYLE`,
    /// `_REGISTRY_URL`), for the CLI run on its data directory.
    pub settings: Vec<(String, String)>,
}

impl Target {
    fn parse(name: &str, words: &str) -> Target {
        let mut fields: HashMap<&str, &str> = HashMap::new();
        for word in words.split_whitespace() {
            let (k, v) = word
                .split_once('=')
                .unwrap_or_else(|| panic!("target {name}: not KEY=value: {word}"));
            fields.insert(k, v);
        }
        let field = |k: &str| {
            fields
                .get(k)
                .unwrap_or_else(|| panic!("target {name} lacks {k}"))
                .to_string()
        };
        Target {
            name: name.to_owned(),
            version: field("version"),
            host: field("host"),
            registry_log: field("registry_log"),
            registryo: field("registryo"),
            data: field("data"),
            log: field("log"),
            settings: fields
                .iter()
                .filter(|(k, _)| k.starts_with("REGISTRYO_"))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// `http://host:port`.
    pub fn registry_url(&self) -> String {
        format!("http://{}", self.host)
    }

    /// One of this target's registryo settings (e.g. `REGISTRYO_KEY_ALGORITHM`).
    pub fn setting(&self, key: &str) -> &str {
        self.settings
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("target {} has no {key}", self.name))
    }

    /// "v3 (distribution 3, ES256, keys by bundle)": for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "{} (distribution {}, {}, keys by {})",
            self.name,
            self.version,
            self.setting("REGISTRYO_KEY_ALGORITHM"),
            self.setting("REGISTRYO_REGISTRY_KEYS")
        )
    }
}

/// The description, read once; panics (the test fails loudly) without `REGISTRYO_E2E_ENV`.
pub fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let path = std::env::var_os("REGISTRYO_E2E_ENV").unwrap_or_else(|| {
            panic!(
                "REGISTRYO_E2E_ENV is not set. These tests drive the real registry and clients \
                 that ./scripts/test starts; run ./scripts/test (it sets REGISTRYO_E2E_ENV)."
            )
        });
        let mut vars = parse_env_file(Path::new(&path));
        for key in ["REGISTRYO_E2E_INFRA_ENV", "REGISTRYO_E2E_IMAGES_ENV"] {
            let file = vars
                .get(key)
                .cloned()
                .unwrap_or_else(|| panic!("{key} missing from {}", path.to_string_lossy()));
            vars.extend(parse_env_file(Path::new(&file)));
        }
        let targets = vars
            .get("REGISTRYO_E2E_TARGETS")
            .map(|names| {
                names
                    .split_whitespace()
                    .map(|name| {
                        let key = format!("REGISTRYO_E2E_TARGET_{name}");
                        let words = vars
                            .get(&key)
                            .unwrap_or_else(|| panic!("{key} missing from the e2e environment"));
                        Target::parse(name, words)
                    })
                    .collect()
            })
            .unwrap_or_default();
        Env(vars, targets)
    })
}

impl Env {
    pub fn get(&self, key: &str) -> &str {
        self.0
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing from the e2e environment"))
    }
    /// The registry's `host:port`.
    pub fn host(&self) -> &str {
        self.get("E2E_REGISTRY_HOST")
    }
    pub fn admin_password(&self) -> &str {
        self.get("REGISTRYO_E2E_ADMIN_PASSWORD")
    }
    /// The shared `registryo serve`: `http://ADDR`.
    pub fn registryo_url(&self) -> &str {
        self.get("REGISTRYO_E2E_URL")
    }
    pub fn service(&self) -> &str {
        self.get("REGISTRYO_E2E_SERVICE")
    }
    /// The target named `name` (`v2`, `v3`, `rs256-v2`, …).
    pub fn target(&self, name: &str) -> &Target {
        self.1
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no e2e target {name} (REGISTRYO_E2E_TARGETS)"))
    }

    /// One of the wrappers scripts/e2e/start wrote (they carry every per-run flag).
    pub fn wrapper(&self, name: &str) -> PathBuf {
        Path::new(self.get("E2E_BIN")).join(name)
    }
}
