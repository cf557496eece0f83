//! `registryo config-example`: an example `registryo.toml` with every setting and its default.
//!
//! The text around each setting is written here, in [`SETTINGS`]; the values are the
//! serialised [`Settings::default`], so the example cannot show a stale default, and a test
//! fails while a setting is missing from the table.

use std::fmt::Write as _;

use figment::value::Value;

use super::Settings;

/// The example's first lines.
const HEADER: &str = "\
# registryo.toml — every setting, with its default. Each can also be set in the
# environment as REGISTRYO_<NAME> (e.g. REGISTRYO_LISTEN), and the secrets as
# REGISTRYO_<NAME>_FILE naming a file that holds the value.
";

/// Every setting, in the example's order, with the comment lines above it: a leading empty
/// line starts a group, and an empty comment leaves the one above to speak for it too.
const SETTINGS: &[(&str, &str)] = &[
    ("listen", "\n# Address to listen on."),
    (
        "data",
        "# Data directory (kept 0700): the SQLite database (0600), which holds the signing keys.",
    ),
    (
        "bundle_path",
        "# The certificate bundle for the registry's rootcertbundle (public: 0644 in a 0755 directory);
# empty = registry-bundle.pem in \"<data>-public/\" beside the data directory.",
    ),
    (
        "jwks_path",
        "# The public keys as a JWKS, for distribution v3's auth.token.jwks (public, like the bundle);
# empty = registry-jwks.json beside the bundle.",
    ),
    (
        "registry_keys",
        "# How the registry knows the keys: \"bundle\" (rootcertbundle holds registryo's CA; tokens carry x5c;
# distribution 2.8 and v3; rotations need nothing from the registry) or \"jwks\" (v3 with auth.token.jwks
# only; tokens carry just the kid; a rotation's next key is in the JWKS ahead of use).",
    ),
    (
        "database_url",
        "# Database URL; empty = SQLite file in the data directory. postgres://user:pass@host/db for PostgreSQL.",
    ),
    (
        "database_timeout_secs",
        "# Seconds a request waits for the database before it is answered 503 (unreachable, overloaded): 1..300.",
    ),
    (
        "migration_backups",
        "# SQLite: before an upgrade applies migrations, the database is copied to <data>/backups/
# registryo-<schema>-<UTC time>.db; this many are kept, the newest (0 = no backup before migrating).",
    ),
    (
        "public_url",
        "# URL clients reach this server at (the token realm is <public_url>/token); empty = from `listen`.",
    ),
    (
        "tls_cert",
        "# https served by registryo itself: a PEM certificate chain and its key (read again when the files
# change). Empty: plain HTTP, e.g. behind a TLS-terminating proxy.",
    ),
    ("tls_key", ""),
    (
        "issuer",
        "# Must equal the registry's auth.token.issuer and auth.token.service.",
    ),
    ("service", ""),
    ("token_ttl_secs", "# Access token lifetime, seconds (60..86400)."),
    (
        "kid_style",
        "# The kid in tokens and the JWKS: \"libtrust\" or \"rfc7638\". With registry_keys = \"bundle\" no
# registry version reads it (x5c decides); with \"jwks\" v3 matches it against the JWKS as a string.",
    ),
    (
        "key_algorithm",
        "# Algorithm of generated signing keys: ES256, ES384 or RS256.",
    ),
    (
        "credential_cache_secs",
        "# Seconds verified credentials are remembered (argon2 runs at most once per user and password in that time).",
    ),
    (
        "admin_password",
        "# First admin's password, used only when the database is created (secret: prefer REGISTRYO_ADMIN_PASSWORD_FILE).",
    ),
    ("registry_url", "# The registry's URL, for the web UI."),
    (
        "registry_host",
        "# The registry as clients name it (docker login HOST); empty: the host of registry_url.",
    ),
    (
        "secure_cookies",
        "# Web UI cookies are Secure when public_url is https; true forces it (TLS proxy under another name).",
    ),
    (
        "session_ttl_secs",
        "# Web UI session lifetime after sign-in, seconds.",
    ),
    (
        "smtp_host",
        "\n# E-mail (\"forgot password\" and invitations), over SMTP. Empty smtp_host: no e-mail.",
    ),
    (
        "smtp_port",
        "# 0 = the TLS mode's usual port (none: 25, starttls: 587, tls: 465).",
    ),
    (
        "smtp_tls",
        "# \"none\" (a local relay only), \"starttls\" or \"tls\".",
    ),
    ("smtp_username", ""),
    (
        "smtp_password",
        "# Secret: prefer REGISTRYO_SMTP_PASSWORD_FILE.",
    ),
    (
        "smtp_from",
        "# The From address, e.g. \"Registryo <registryo@example.com>\".",
    ),
    (
        "reset_token_ttl_secs",
        "# How long a password reset link works, seconds; and an invitation link.",
    ),
    ("invite_token_ttl_secs", ""),
    (
        "max_failures_per_account_and_address",
        "
# Guessing limits (per about a minute): failed password checks one address may make on one
# account, and all addresses together on one account (the account's usual addresses, where it
# signed in before, are spared). Past a limit: HTTP 429 with Retry-After. 0 = no limit.",
    ),
    ("max_failures_per_account", ""),
    (
        "refresh_token_idle_days",
        "# A docker login (refresh token) unused for this many days stops working.",
    ),
    (
        "audit_retention_days",
        "# Audit events older than this many days are removed (0 = kept forever).",
    ),
    (
        "log_format",
        "# How serve logs: \"text\" (for people) or \"json\" (one object a line: time, level, message, request id,
# method, path, user, status, latency; never a secret). REGISTRYO_LOG sets the level (info, debug, warn).",
    ),
    (
        "header_read_timeout_secs",
        "# Connections. A request's line and headers must arrive within header_read_timeout_secs
# (from their first byte, or from connecting); a kept-alive connection waits idle_timeout_secs
# for its next request (and a client that stops reading is dropped after as long).",
    ),
    ("idle_timeout_secs", ""),
    (
        "max_connections",
        "# The most client connections at once (lowered to fit the open-files limit, which serve raises
# to its hard limit at start); more wait to be accepted.",
    ),
    (
        "shutdown_grace_secs",
        "# On SIGTERM: seconds requests in flight get to finish before every connection is dropped.",
    ),
    (
        "trusted_proxies",
        "# Reverse proxies whose X-Forwarded-For / Forwarded headers name the client (IP addresses or
# CIDR ranges, e.g. [\"10.0.0.1\", \"192.168.0.0/16\"]); the environment takes a comma-separated list.
# Empty: the headers are ignored and the client is the peer of the TCP connection.",
    ),
    (
        "registry_timeout_secs",
        "# Seconds the web UI waits for the registry.",
    ),
    (
        "registry_version",
        "# Which distribution the registry is: \"auto\" (asked once: GET /v2/_catalog?n=-1 is refused by v3
# and ignored by 2.8), \"2\" or \"3\". Deleting a tag in the UI removes that tag alone on 3, and on 2
# its manifest with every tag on it (2.8 deletes by digest only; the confirmation names them).",
    ),
    (
        "metrics",
        "
# /metrics in the Prometheus text format (token requests, latencies, argon2, caches, guessing
# limits, policy reloads, database and registry errors, UI requests). Served only to the client
# addresses in metrics_allow (others: 403; the client as trusted_proxies resolves it: behind a
# reverse proxy on this machine, trust it, or every request looks local), and, when
# metrics_token is set, only with \"Authorization: Bearer <metrics_token>\" (else 401).
# Any address: [\"0.0.0.0/0\", \"::/0\"]. The token is a secret: prefer REGISTRYO_METRICS_TOKEN_FILE.",
    ),
    ("metrics_allow", ""),
    ("metrics_token", ""),
    (
        "notifications_from",
        "# The registry's notifications (POST /registry/events, which registry-config sets up with a secret):
# accepted only from these addresses or CIDR ranges (2.8 logs the secret header at start-up, so the
# secret alone is not enough). Default: loopback and the private ranges.",
    ),
    (
        "activity_retention_days",
        "# Registry events (pushes, mounts, deletions; pulls counted per day, actor and repository) older than
# this many days are removed (0 = no age limit), and at most activity_max_events are kept (0 = no limit).",
    ),
    ("activity_max_events", ""),
];

/// An example `registryo.toml` with every setting and its default.
pub fn example_toml() -> String {
    let defaults = match Value::serialize(Settings::default()) {
        Ok(Value::Dict(_, defaults)) => defaults,
        _ => Default::default(),
    };
    let mut out = HEADER.to_owned();
    for (name, comment) in SETTINGS {
        if !comment.is_empty() {
            out.push_str(comment);
            out.push('\n');
        }
        // A JSON string, number, boolean or list of strings is the same in TOML.
        let value = defaults
            .get(*name)
            .and_then(|v| serde_json::to_string(v).ok())
            .unwrap_or_default();
        let _ = writeln!(out, "{name} = {value}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_has_every_setting_once() {
        let mut listed: Vec<&str> = SETTINGS.iter().map(|(name, _)| *name).collect();
        listed.sort_unstable();
        let settings = super::super::setting_names().unwrap();
        assert_eq!(
            listed, settings,
            "config/example.rs: SETTINGS must name every setting once"
        );
    }
}
