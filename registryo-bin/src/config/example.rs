//! `registryo config-example`: an example `registryo.toml` with every setting and its default.

use super::Settings;

/// An example `registryo.toml` with every setting and its default.
pub fn example_toml() -> String {
    let d = Settings::default();
    format!(
        r#"# registryo.toml — every setting, with its default. Each can also be set in the
# environment as REGISTRYO_<NAME> (e.g. REGISTRYO_LISTEN), and the secrets as
# REGISTRYO_<NAME>_FILE naming a file that holds the value.

# Address to listen on.
listen = "{listen}"
# Data directory (kept 0700): the SQLite database (0600), which holds the signing keys.
data = "{data}"
# The certificate bundle for the registry's rootcertbundle (public: 0644 in a 0755 directory);
# empty = registry-bundle.pem in "<data>-public/" beside the data directory.
bundle_path = ""
# Database URL; empty = SQLite file in the data directory. postgres://user:pass@host/db for PostgreSQL.
database_url = ""
# Seconds a request waits for the database before it is answered 503 (unreachable, overloaded): 1..300.
database_timeout_secs = {db_timeout}
# URL clients reach this server at (the token realm is <public_url>/token); empty = from `listen`.
public_url = ""
# Must equal the registry's auth.token.issuer and auth.token.service.
issuer = "{issuer}"
service = "{service}"
# Access token lifetime, seconds (60..86400).
token_ttl_secs = {ttl}
# Key id style: "libtrust" (distribution 2.8) or "rfc7638" (distribution v3).
kid_style = "{kid}"
# Algorithm of generated signing keys: ES256, ES384 or RS256.
key_algorithm = "{alg}"
# Seconds verified credentials are remembered (argon2 runs at most once per user and password in that time).
credential_cache_secs = {cache}
# First admin's password, used only when the database is created (secret: prefer REGISTRYO_ADMIN_PASSWORD_FILE).
admin_password = ""
# The registry's URL, for the web UI.
registry_url = ""
# Web UI cookies are Secure when public_url is https; true forces it (TLS proxy under another name).
secure_cookies = false
# Web UI session lifetime after sign-in, seconds.
session_ttl_secs = {session}

# E-mail ("forgot password" and invitations), over SMTP. Empty smtp_host: no e-mail.
smtp_host = ""
# 0 = the TLS mode's usual port (none: 25, starttls: 587, tls: 465).
smtp_port = 0
# "none" (a local relay only), "starttls" or "tls".
smtp_tls = "{smtp_tls}"
smtp_username = ""
# Secret: prefer REGISTRYO_SMTP_PASSWORD_FILE.
smtp_password = ""
# The From address, e.g. "Registryo <registryo@example.com>".
smtp_from = ""
# How long a password reset link works, seconds; and an invitation link.
reset_token_ttl_secs = {reset}
invite_token_ttl_secs = {invite}

# Guessing limits (per about a minute): failed password checks one address may make on one
# account, and all addresses together on one account (the account's usual addresses, where it
# signed in before, are spared). Past a limit: HTTP 429 with Retry-After. 0 = no limit.
max_failures_per_account_and_address = {per_pair}
max_failures_per_account = {per_account}
# A docker login (refresh token) unused for this many days stops working.
refresh_token_idle_days = {idle}
# Audit events older than this many days are removed (0 = kept forever).
audit_retention_days = {retention}
# Connections. A request's line and headers must arrive within header_read_timeout_secs
# (from their first byte, or from connecting); a kept-alive connection waits idle_timeout_secs
# for its next request (and a client that stops reading is dropped after as long).
header_read_timeout_secs = {header_read}
idle_timeout_secs = {idle_timeout}
# The most client connections at once (lowered to fit the open-files limit, which serve raises
# to its hard limit at start); more wait to be accepted.
max_connections = {max_conn}
# On SIGTERM: seconds requests in flight get to finish before every connection is dropped.
shutdown_grace_secs = {grace}
# Reverse proxies whose X-Forwarded-For / Forwarded headers name the client (IP addresses or
# CIDR ranges, e.g. ["10.0.0.1", "192.168.0.0/16"]); the environment takes a comma-separated list.
# Empty: the headers are ignored and the client is the peer of the TCP connection.
trusted_proxies = []
# Seconds the web UI waits for the registry.
registry_timeout_secs = {registry_timeout}
"#,
        listen = d.listen,
        data = d.data.display(),
        db_timeout = d.database_timeout_secs,
        issuer = d.issuer,
        service = d.service,
        ttl = d.token_ttl_secs,
        kid = d.kid_style,
        alg = d.key_algorithm,
        cache = d.credential_cache_secs,
        session = d.session_ttl_secs,
        smtp_tls = name(&d.smtp_tls),
        reset = d.reset_token_ttl_secs,
        invite = d.invite_token_ttl_secs,
        per_pair = d.max_failures_per_account_and_address,
        per_account = d.max_failures_per_account,
        idle = d.refresh_token_idle_days,
        retention = d.audit_retention_days,
        header_read = d.header_read_timeout_secs,
        idle_timeout = d.idle_timeout_secs,
        max_conn = d.max_connections,
        grace = d.shutdown_grace_secs,
        registry_timeout = d.registry_timeout_secs,
    )
}

/// A value's name in the configuration (its serialised form: `starttls`).
fn name(value: &impl serde::Serialize) -> String {
    match figment::value::Value::serialize(value) {
        Ok(figment::value::Value::String(_, s)) => s,
        _ => String::new(),
    }
}
