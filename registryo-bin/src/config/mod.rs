//! Settings: defaults → `registryo.toml` → `REGISTRYO_*` environment → command-line flags.
//! Secrets may also come from files named by `REGISTRYO_*_FILE`.
//!
//! Values are parsed once, at the edge: figment deserialises [`Settings`], whose enumerated
//! settings are typed (`Algorithm`, `KidStyle`, `SmtpTls`, `VersionSetting`) and whose secrets are [`Secret`]s;
//! [`Settings::load`] then checks only what types cannot say (ranges, settings that go
//! together). `env.rs`: the environment layer; `secret.rs`: the secret types; `example.rs`:
//! `registryo config-example`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::error::Kind;
use figment::providers::{Format, Serialized, Toml};
use figment::value::Value;
use registryo_core::client::VersionSetting;
use registryo_core::token::{Algorithm, KeyReference, KidStyle};
use registryo_http::mail::SmtpTls;
use serde::{Deserialize, Serialize};

mod env;
mod example;
mod secret;
#[cfg(test)]
mod tests;

pub use example::example_toml;
pub use secret::{Secret, SecretUrl, redact_url};

/// Every setting of the server and the CLI. Its `Debug` hides the secrets.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The data directory (owner-only, 0700): the SQLite database, which holds the signing
    /// keys.
    pub data: PathBuf,
    /// Where the certificate bundle for the registry's `rootcertbundle` is written (public:
    /// mode 0644, in a 0755 directory); empty means `registry-bundle.pem` in a directory
    /// beside the data directory, named after it with `-public` (`./registryo-data-public/`).
    pub bundle_path: PathBuf,
    /// Where the public keys are written as a JWKS (distribution v3's `auth.token.jwks`;
    /// public like the bundle); empty means `registry-jwks.json` beside the bundle.
    pub jwks_path: PathBuf,
    /// How the registry knows the signing keys: `bundle` (its `rootcertbundle` holds our CA;
    /// tokens carry `x5c`; distribution 2.8 and v3) or `jwks` (v3 with `auth.token.jwks`
    /// only; tokens carry no `x5c`, only the `kid` the JWKS names).
    pub registry_keys: RegistryKeys,
    /// The database URL; empty means the SQLite file `registryo.db` in the data directory.
    /// `postgres://…` chooses PostgreSQL.
    pub database_url: SecretUrl,
    /// How long a request waits for a database connection before it is answered `503`
    /// (database unreachable or overloaded), in seconds.
    pub database_timeout_secs: u64,
    /// How many automatic backups of the SQLite database to keep in `<data>/backups`: one is
    /// made before migrations are applied to it (an upgrade), older ones are removed. 0: no
    /// backup before migrating.
    pub migration_backups: u32,
    /// The URL clients reach this server at; the token realm is `{public_url}/token`.
    pub public_url: String,
    /// A PEM certificate chain: with `tls_key`, `serve` speaks https itself (read again
    /// when the files change). Empty: plain HTTP (behind a TLS proxy, or on 127.0.0.1).
    pub tls_cert: PathBuf,
    /// The PEM private key of `tls_cert` (secret: keep it `0600`).
    pub tls_key: PathBuf,
    /// The `iss` of tokens; the registry's `auth.token.issuer`.
    pub issuer: String,
    /// The registry's `auth.token.service`; the `aud` of tokens.
    pub service: String,
    /// Lifetime of access tokens, in seconds.
    pub token_ttl_secs: u64,
    /// The `kid` in token headers and in the JWKS: `libtrust` or `rfc7638`. With
    /// `registry_keys = "bundle"` neither registry version looks at it (they find the key by
    /// `x5c`); with `jwks`, v3 matches it against the JWKS as a plain string.
    pub kid_style: KidStyle,
    /// Algorithm of generated keys: `ES256` (default), `ES384` or `RS256`.
    pub key_algorithm: Algorithm,
    /// How long verified credentials are remembered, in seconds (0 turns the cache off).
    pub credential_cache_secs: u64,
    /// The first admin's password, used only when the database is created. Generated and
    /// printed once when empty.
    pub admin_password: Secret,
    /// The registry's URL, for the web UI (empty: no registry browsing).
    pub registry_url: String,
    /// The registry as people's clients name it (`HOST[:PORT]`, as in `docker login HOST`
    /// and `docker pull HOST/REPO`), shown in the UI's commands; empty: the host and port of
    /// `registry_url` (which may be a name only this server resolves, as in compose).
    pub registry_host: String,
    /// Mark the web UI's cookies `Secure` even when `public_url` is not https (behind a
    /// TLS-terminating proxy reached under another name).
    pub secure_cookies: bool,
    /// How long a web UI session lasts after sign-in, in seconds.
    pub session_ttl_secs: u64,
    /// The SMTP server for password reset and invitation e-mails; empty: no e-mail.
    pub smtp_host: String,
    /// Its port; 0 takes the TLS mode's usual one (25, 587, 465).
    pub smtp_port: u16,
    /// `none`, `starttls` (default) or `tls`.
    pub smtp_tls: SmtpTls,
    /// The SMTP user name, if the server wants one.
    pub smtp_username: String,
    /// The SMTP password (secret: also `REGISTRYO_SMTP_PASSWORD_FILE`).
    pub smtp_password: Secret,
    /// The From address of the e-mails.
    pub smtp_from: String,
    /// How long a password reset link works, in seconds.
    pub reset_token_ttl_secs: u64,
    /// How long an invitation link works, in seconds.
    pub invite_token_ttl_secs: u64,
    /// Guessing limit: failed password checks one client address may make on one account
    /// within about a minute (0: no limit).
    pub max_failures_per_account_and_address: u32,
    /// Guessing limit: failed password checks all addresses together may make on one account
    /// within about a minute; the account's usual addresses are spared (0: no limit).
    pub max_failures_per_account: u32,
    /// A docker login (refresh token) unused for this many days stops working.
    pub refresh_token_idle_days: u64,
    /// Audit events older than this many days are removed (0: kept forever).
    pub audit_retention_days: u64,
    /// How `serve` logs: `text` (for people; colours on a terminal) or `json` (one JSON
    /// object a line, for a log collector).
    pub log_format: LogFormat,

    // --- Connections and the network edge (issue 8: the server under hostile traffic).
    /// Seconds a client has to send a request's line and headers, from their first byte (a
    /// new connection: from connecting); slower clients are disconnected.
    pub header_read_timeout_secs: u64,
    /// Seconds a kept-alive connection may wait for its next request, and a client may stop
    /// reading a response, before the connection is closed.
    pub idle_timeout_secs: u64,
    /// The most client connections served at once; more wait to be accepted.
    pub max_connections: u64,
    /// Seconds requests in flight get to finish on SIGTERM before every connection is dropped.
    pub shutdown_grace_secs: u64,
    /// Reverse proxies whose `X-Forwarded-For` / `Forwarded` headers name the client: IP
    /// addresses or CIDR ranges. Empty: the headers are ignored. In the environment a
    /// comma-separated list.
    #[serde(deserialize_with = "env::list")]
    pub trusted_proxies: Vec<String>,
    /// Seconds the web UI waits for the registry (each request; viewers waiting for the
    /// first catalog).
    pub registry_timeout_secs: u64,
    /// Which distribution the registry is: `auto` (detected once, asked again when an answer
    /// contradicts it), `2` or `3`. On 3 the UI's delete removes the tag alone; on 2 it deletes
    /// the manifest, with every tag on it.
    pub registry_version: VersionSetting,

    // --- Metrics (issue 12).
    /// Serve `/metrics` in the Prometheus text format (to `metrics_allow` and, when set,
    /// with `metrics_token`).
    pub metrics: bool,
    /// The client addresses and CIDR ranges `/metrics` answers (others: 403); the client as
    /// `trusted_proxies` resolves it. In the environment a comma-separated list.
    #[serde(deserialize_with = "env::list")]
    pub metrics_allow: Vec<String>,
    /// A bearer token `/metrics` asks for (`Authorization: Bearer …`; else 401); empty: none
    /// asked. Secret: also `REGISTRYO_METRICS_TOKEN_FILE`.
    pub metrics_token: Secret,
    // --- The registry's notifications (issue 13: activity).
    /// The addresses (IPs or CIDR ranges) the registry's notifications may come from; others
    /// get 403 whatever secret they send (distribution 2.8 logs the secret header at start-up).
    /// Default: loopback and the private ranges. In the environment a comma-separated list.
    #[serde(deserialize_with = "env::list")]
    pub notifications_from: Vec<String>,
    /// Registry events (pushes, pulls per day, mounts, deletions) older than this many days are
    /// removed (0: kept until `activity_max_events`).
    pub activity_retention_days: u64,
    /// At most this many registry events are kept, the oldest removed first (0: no limit).
    pub activity_max_events: u64,
}

/// The default of `notifications_from`: loopback and the private ranges, where a registry
/// beside registryo (the same host, a compose network, a private network) sends from.
pub const NOTIFICATIONS_FROM: [&str; 7] = [
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
    "fe80::/10",
];

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 5001)),
            data: PathBuf::from("./registryo-data"),
            bundle_path: PathBuf::new(),
            jwks_path: PathBuf::new(),
            registry_keys: RegistryKeys::Bundle,
            database_url: SecretUrl::default(),
            database_timeout_secs: 3,
            migration_backups: 3,
            public_url: String::new(),
            tls_cert: PathBuf::new(),
            tls_key: PathBuf::new(),
            issuer: "registryo".to_owned(),
            service: "registryo".to_owned(),
            token_ttl_secs: 300,
            kid_style: KidStyle::Libtrust,
            key_algorithm: Algorithm::ES256,
            credential_cache_secs: 300,
            admin_password: Secret::default(),
            registry_url: String::new(),
            registry_host: String::new(),
            secure_cookies: false,
            session_ttl_secs: 12 * 3600,
            smtp_host: String::new(),
            smtp_port: 0,
            smtp_tls: SmtpTls::StartTls,
            smtp_username: String::new(),
            smtp_password: Secret::default(),
            smtp_from: String::new(),
            reset_token_ttl_secs: 3600,
            invite_token_ttl_secs: 7 * 86_400,
            max_failures_per_account_and_address: 10,
            max_failures_per_account: 100,
            refresh_token_idle_days: 90,
            audit_retention_days: 400,
            log_format: LogFormat::Text,
            // Connections and the network edge.
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            max_connections: 4096,
            shutdown_grace_secs: 10,
            trusted_proxies: Vec::new(),
            registry_timeout_secs: 10,
            registry_version: VersionSetting::Auto,
            // On, but for this machine only: the numbers name no one, yet say how busy the
            // server is and how many guesses it refuses, which is nobody else's business
            // until the operator says so.
            metrics: true,
            metrics_allow: registryo_http::metrics::LOOPBACK
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            metrics_token: Secret::default(),
            notifications_from: NOTIFICATIONS_FROM.map(str::to_owned).to_vec(),
            activity_retention_days: 90,
            activity_max_events: 1_000_000,
        }
    }
}

/// How `serve` writes its log (the `log_format` setting).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Lines for people, coloured on a terminal.
    #[default]
    Text,
    /// One JSON object a line: time, level, message, and the request's id, method, path,
    /// user, status and latency.
    Json,
}

/// How the registry knows the signing keys (the `registry_keys` setting).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistryKeys {
    /// `auth.token.rootcertbundle`: the CA certificate (and older self-signed ones); tokens
    /// carry `x5c`. Distribution 2.8 and v3; keys rotate without the registry noticing.
    #[default]
    Bundle,
    /// `auth.token.jwks` (distribution v3 only): tokens carry only the `kid`, found in the
    /// JWKS the registry read at its start, which lists the next key ahead of its use.
    Jwks,
}

impl RegistryKeys {
    /// How tokens name their key in this mode.
    pub fn reference(self) -> KeyReference {
        match self {
            RegistryKeys::Bundle => KeyReference::X5c,
            RegistryKeys::Jwks => KeyReference::Kid,
        }
    }
}

/// Settings that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or the environment holds a bad value.
    #[error("configuration: {0}")]
    Invalid(String),
    /// A `*_FILE` secret could not be read.
    #[error("cannot read {var} ({path}): {source}")]
    SecretFile {
        /// The variable.
        var: String,
        /// The file it names.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Flags that override the layered settings.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--data`.
    pub data: Option<PathBuf>,
}

impl Settings {
    /// Load the settings: defaults, then the TOML file (`config`, or `registryo.toml` in the
    /// current directory when it exists), then the `REGISTRYO_*` environment (see
    /// [`env`]), then the flags.
    pub fn load(config: Option<&Path>, overrides: &Overrides) -> Result<Settings, ConfigError> {
        let environment = env::Environment::read(&setting_names()?)?;
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        match config {
            Some(path) => {
                if !path.exists() {
                    return Err(ConfigError::Invalid(format!(
                        "the configuration file {} does not exist",
                        path.display()
                    )));
                }
                fig = fig.merge(Toml::file_exact(path));
            }
            None => {
                let default = Path::new("registryo.toml");
                if default.exists() {
                    fig = fig.merge(Toml::file_exact(default));
                }
            }
        }
        // Lossy: a number or a boolean may be given as text, as the environment gives them.
        let mut s: Settings = fig.merge(environment).extract_lossy().map_err(describe)?;
        if let Some(l) = overrides.listen {
            s.listen = l;
        }
        if let Some(d) = &overrides.data {
            s.data.clone_from(d);
        }
        s.validate()?;
        Ok(s)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.token_ttl_secs < 60 || self.token_ttl_secs > 86_400 {
            return bad("token_ttl_secs must be between 60 and 86400".to_owned());
        }
        if self.issuer.is_empty() || self.service.is_empty() {
            return bad("issuer and service must not be empty".to_owned());
        }
        if self.issuer.contains('"') || self.service.contains('"') {
            return bad("issuer and service must not contain '\"'".to_owned());
        }
        let url = &self.public_url;
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            return bad(format!(
                "public_url must start with http:// or https://, not {:?}",
                self.public_url
            ));
        }
        if let Err(e) = registry_host_of(&self.registry_host) {
            return bad(e);
        }
        if !self.smtp_host.is_empty() && !self.smtp_from.contains('@') {
            return bad(
                "smtp_from (the From address of e-mails) must be set with smtp_host".to_owned(),
            );
        }
        if self.tls_cert.as_os_str().is_empty() != self.tls_key.as_os_str().is_empty() {
            return bad("tls_cert and tls_key go together".to_owned());
        }
        if self.smtp_password.is_empty() != self.smtp_username.is_empty() {
            return bad("smtp_username and smtp_password go together".to_owned());
        }
        if self.refresh_token_idle_days == 0 {
            return bad("refresh_token_idle_days must be at least 1".to_owned());
        }
        if !(1..=300).contains(&self.database_timeout_secs) {
            return bad("database_timeout_secs must be between 1 and 300".to_owned());
        }
        if self.migration_backups > 100 {
            return bad("migration_backups must be between 0 and 100".to_owned());
        }
        if self.reset_token_ttl_secs == 0 || self.invite_token_ttl_secs == 0 {
            return bad(
                "reset_token_ttl_secs and invite_token_ttl_secs must be at least 1".to_owned(),
            );
        }
        self.validate_edge()
    }

    /// Connections and the network edge.
    fn validate_edge(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        for (name, value) in [
            ("header_read_timeout_secs", self.header_read_timeout_secs),
            ("idle_timeout_secs", self.idle_timeout_secs),
            ("registry_timeout_secs", self.registry_timeout_secs),
        ] {
            if !(1..=3600).contains(&value) {
                return bad(format!("{name} must be between 1 and 3600, not {value}"));
            }
        }
        if self.shutdown_grace_secs > 3600 {
            return bad("shutdown_grace_secs must be at most 3600".to_owned());
        }
        if !(1..=1_000_000).contains(&self.max_connections) {
            return bad(format!(
                "max_connections must be between 1 and 1000000, not {}",
                self.max_connections
            ));
        }
        if let Err(e) = registryo_http::forwarded::TrustedProxies::parse(&self.trusted_proxies) {
            return bad(format!("trusted_proxies: {e}"));
        }
        if let Err(e) = registryo_http::forwarded::TrustedProxies::parse(&self.metrics_allow) {
            return bad(format!("metrics_allow: {e}"));
        }
        let token = self.metrics_token.expose();
        if !token.is_empty() && (token.len() < 16 || !token.bytes().all(|b| b.is_ascii_graphic())) {
            return bad(
                "metrics_token must be at least 16 printable ASCII characters without spaces"
                    .to_owned(),
            );
        }
        if let Err(e) = registryo_http::forwarded::TrustedProxies::parse(&self.notifications_from) {
            return bad(format!("notifications_from: {e}"));
        }
        Ok(())
    }

    /// The database URL, defaulting to SQLite in the data directory (made absolute, so
    /// messages name the file unambiguously).
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            let data = std::path::absolute(&self.data).unwrap_or_else(|_| self.data.clone());
            format!("sqlite://{}?mode=rwc", data.join("registryo.db").display())
        } else {
            self.database_url.expose().to_owned()
        }
    }

    /// The URL clients reach this server at.
    /// The registry's host for people's commands: `registry_host`, else the host and port
    /// of `registry_url`; empty when neither is set.
    pub fn registry_host(&self) -> String {
        if !self.registry_host.is_empty() {
            return self.registry_host.clone();
        }
        url::Url::parse(&self.registry_url)
            .ok()
            .and_then(|u| {
                let host = u.host_str()?.to_owned();
                Some(match u.port() {
                    Some(p) => format!("{host}:{p}"),
                    None => host,
                })
            })
            .unwrap_or_default()
    }

    pub fn public_url(&self) -> String {
        if self.public_url.is_empty() {
            let host = if self.listen.ip().is_unspecified() {
                "127.0.0.1".to_owned()
            } else {
                self.listen.ip().to_string()
            };
            let scheme = if self.tls_cert.as_os_str().is_empty() {
                "http"
            } else {
                "https"
            };
            format!("{scheme}://{host}:{}", self.listen.port())
        } else {
            self.public_url.trim_end_matches('/').to_owned()
        }
    }

    /// The token realm.
    pub fn realm(&self) -> String {
        format!("{}/token", self.public_url())
    }
}

/// The errors of extraction as one message, each naming the setting, what it must be and where
/// the bad value came from: `key_algorithm must be ES256, ES384 or RS256, not "HS256" (in
/// registryo.toml)`. The enumerated settings (`key_algorithm`, `kid_style`, `smtp_tls`,
/// `registry_version`) have no
/// other check than their types' `Deserialize`, whose error this words.
fn describe(error: figment::Error) -> ConfigError {
    let lines: Vec<String> = error
        .into_iter()
        .map(|e| {
            let setting = e.path.join(".");
            let what = match &e.kind {
                Kind::UnknownVariant(value, allowed) => {
                    format!("{setting} must be {}, not {value:?}", one_of(allowed))
                }
                Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected)
                    if !setting.is_empty() =>
                {
                    format!("{setting} must be {}, not {actual}", plain(expected))
                }
                Kind::UnknownField(name, settings) => {
                    format!(
                        "unknown setting {name:?} (settings: {})",
                        settings.join(", ")
                    )
                }
                kind if setting.is_empty() => kind.to_string().trim_end().to_owned(),
                kind => format!("{setting}: {}", kind.to_string().trim_end()),
            };
            match origin(&e) {
                Some(origin) => format!("{what} ({origin})"),
                None => what,
            }
        })
        .collect();
    ConfigError::Invalid(lines.join("; "))
}

/// `a`, `a or b`, `a, b or c`.
fn one_of(names: &[&str]) -> String {
    match names {
        [] => "nothing".to_owned(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// What serde expected, in words.
fn plain(expected: &str) -> String {
    match expected {
        "u8" => "a whole number from 0 to 255".to_owned(),
        "u16" => "a whole number from 0 to 65535".to_owned(),
        "u32" => "a whole number from 0 to 4294967295".to_owned(),
        "u64" => "a whole number".to_owned(),
        "socket address" => "an address and port such as 127.0.0.1:5001".to_owned(),
        other => other.to_owned(),
    }
}

/// Where the value of an error came from: the file, or the environment variable.
fn origin(e: &figment::Error) -> Option<String> {
    let md = e.metadata.as_ref()?;
    match &md.source {
        Some(figment::Source::File(path)) => Some(format!("in {}", path.display())),
        _ if md.name == env::NAME && !e.path.is_empty() => {
            let profile = e.profile.clone().unwrap_or_default();
            Some(format!("from {}", md.interpolate(&profile, &e.path)))
        }
        _ => None,
    }
}

/// The names of the settings, from the serialised defaults (so they cannot drift from the
/// struct).
fn setting_names() -> Result<Vec<String>, ConfigError> {
    match Value::serialize(Settings::default()) {
        Ok(Value::Dict(_, settings)) => Ok(settings.into_keys().collect()),
        Ok(_) => Err(ConfigError::Invalid(
            "the settings do not serialise as a table".to_owned(),
        )),
        Err(e) => Err(ConfigError::Invalid(e.to_string())),
    }
}

/// `registry_host` checked: empty, or `HOST[:PORT]` with nothing else (no scheme, path,
/// user or space), as docker takes it.
fn registry_host_of(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Ok(());
    }
    let bad = || {
        format!(
            "registry_host must be HOST or HOST:PORT as clients name the registry \
             (e.g. registry.example.com or 10.0.0.5:5000), not {text:?}"
        )
    };
    if text.contains(['/', '@', '?', '#', ' ']) || text.chars().any(char::is_control) {
        return Err(bad());
    }
    let u = url::Url::parse(&format!("http://{text}/")).map_err(|_| bad())?;
    if u.host_str().is_none() || u.path() != "/" {
        return Err(bad());
    }
    Ok(())
}
