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

/// The variables of the three files.
#[derive(Debug)]
pub struct Env(HashMap<String, String>);

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
        Env(vars)
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
    /// One of the wrappers scripts/e2e/start wrote (they carry every per-run flag).
    pub fn wrapper(&self, name: &str) -> PathBuf {
        Path::new(self.get("E2E_BIN")).join(name)
    }
}
