//! The command line: `serve`, `registry-config`, and the administration commands.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use registryo_core::app::OpError;
use registryo_core::app::ops;

use crate::config::{Overrides, Settings, example_toml};
use crate::server::{self, Application, OpenMode};

mod admin;

use admin::admin;

/// Registryo: users, groups and repository rules for the Docker registry's token
/// authentication.
#[derive(Debug, Parser)]
#[command(name = "registryo", version, about)]
pub struct Cli {
    /// The configuration file (default: ./registryo.toml when it exists).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The data directory (database, keys); REGISTRYO_DATA.
    #[arg(long, global = true, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Create the data directory and the database when they do not exist. `serve` always
    /// may; the other commands refuse, so that one run from the wrong folder does not
    /// silently make a new, empty database.
    #[arg(long, global = true)]
    init: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve /token (and the UI) on the configured address.
    Serve {
        /// Address to listen on; REGISTRYO_LISTEN.
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
    },
    /// Print a complete distribution config.yml that uses this server, and write the
    /// certificate bundle and the JWKS it names.
    RegistryConfig {
        /// The token endpoint URL clients reach, e.g. http://127.0.0.1:5001/token.
        #[arg(long)]
        realm: String,
        /// The registry's service name (must equal this server's `service` setting).
        #[arg(long)]
        service: Option<String>,
        /// The registry's listen address.
        #[arg(long, default_value = "127.0.0.1:5000")]
        addr: String,
        /// The registry's storage directory.
        #[arg(long, default_value = "/var/lib/docker-registry")]
        storage: String,
        /// The registry's major version: 2 (distribution 2.8, Debian's docker-registry) or 3.
        #[arg(long, default_value = "2", value_parser = ["2", "3"])]
        registry_version: String,
        /// Write the config to FILE (mode 0644, replaced atomically) instead of standard
        /// output: for a container without a shell (compose.yaml's `registry-config`).
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Where the registry sends its notifications (pushes, pulls, mounts, deletions):
        /// default the realm's origin with /registry/events. Give the address the registry
        /// reaches this server at when it differs from the clients' (a compose network).
        #[arg(long, value_name = "URL", conflicts_with = "no_events")]
        events_url: Option<String>,
        /// Leave the notifications out: no activity, pushed at / by, or registry events in
        /// the audit log.
        #[arg(long)]
        no_events: bool,
    },
    /// Manage users.
    #[command(subcommand)]
    User(UserCmd),
    /// Manage groups.
    #[command(subcommand)]
    Group(GroupCmd),
    /// Manage repository rules.
    #[command(subcommand)]
    Acl(AclCmd),
    /// Manage refresh tokens (docker logins).
    #[command(subcommand)]
    Token(TokenCmd),
    /// Show, export or rotate the signing keys.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Show the registry's activity (from its notifications), newest first: pushes, pulls
    /// (one line per day, actor and repository), mounts and deletions.
    Activity {
        /// Only this repository.
        #[arg(long, value_name = "R")]
        repository: Option<String>,
        /// Only this user's.
        #[arg(long, value_name = "U")]
        actor: Option<String>,
        /// Only push, pull, mount or delete.
        #[arg(long)]
        action: Option<String>,
        /// Only this tag.
        #[arg(long)]
        tag: Option<String>,
        /// Only from this time: RFC 3339, YYYY-MM-DD (UTC), or a time ago (90m, 24h, 7d).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Only before this time (the same forms).
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// Events older than this (the key printed after a page).
        #[arg(long, value_name = "KEY")]
        after: Option<String>,
        /// At most this many events (1 to 1000; default 50).
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
        /// One JSON object a line, as the API gives them.
        #[arg(long)]
        json: bool,
    },
    /// Exit 0 when the server answers its health check.
    Healthcheck {
        /// The server's address (default: the `listen` setting).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Print an example registryo.toml with every setting.
    ConfigExample,
    /// Write a consistent copy of the SQLite database into FILE (a new file), also while
    /// `serve` runs: every write acknowledged before the backup started is in it.
    Backup {
        /// The new file.
        file: PathBuf,
    },
    /// Put a backup made by `registryo backup` in place as the database of an empty data
    /// directory (one without a database), after checking it.
    Restore {
        /// The backup file.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum UserCmd {
    /// Add a user; the password comes from stdin with --password-stdin, else one is generated
    /// and printed once. With --stdin, add many people in one transaction: one per line,
    /// `USERNAME [PASSWORD]` (no password: none is set), blank lines and `#` comments skipped;
    /// all or nothing, the first bad line named.
    Add {
        /// The username (not with --stdin).
        #[arg(required_unless_present = "stdin")]
        name: Option<String>,
        /// Read many users from standard input, one per line.
        #[arg(long, conflicts_with_all = ["name", "service", "email", "password_stdin"])]
        stdin: bool,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
        /// A service (machine) account: cannot sign in to the UI.
        #[arg(long)]
        service: bool,
        /// E-mail address.
        #[arg(long)]
        email: Option<String>,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Create the account even though `${account}` rules would give it repositories that
        /// already exist (the registry is asked when `registry_url` is set).
        #[arg(long)]
        force: bool,
    },
    /// Set a user's password, read from standard input.
    Passwd {
        /// The username.
        name: String,
        /// Read the password from standard input (required).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Disable a user: no more tokens, by password or refresh token.
    Disable {
        /// The username.
        name: String,
    },
    /// Enable a disabled user.
    Enable {
        /// The username.
        name: String,
    },
    /// List users.
    List(ListArgs),
    /// Remove a user with their memberships and refresh tokens.
    Rm {
        /// The username.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum GroupCmd {
    /// Add a group.
    Add {
        /// The group name.
        name: String,
    },
    /// Remove a group.
    Rm {
        /// The group name.
        name: String,
    },
    /// List groups and their members.
    List(ListArgs),
    /// Manage members.
    #[command(subcommand)]
    Member(MemberCmd),
}

#[derive(Debug, Subcommand)]
enum MemberCmd {
    /// Add a user to a group.
    Add {
        /// The group.
        group: String,
        /// The user.
        user: String,
    },
    /// Remove a user from a group.
    Rm {
        /// The group.
        group: String,
        /// The user.
        user: String,
    },
}

#[derive(Debug, Subcommand)]
enum AclCmd {
    /// Add a rule: SUBJECT (user:NAME, group:NAME, anonymous, authenticated), PATTERN
    /// (`*` within a segment, `**` across, `?`, `${account}`), ACTIONS (pull,push,delete or *).
    ///
    /// With --stdin, add many rules in one transaction: one per line, `SUBJECT PATTERN
    /// ACTIONS`, blank lines and `#` comments skipped; all or nothing, the first bad line named.
    Add {
        /// Who the rule is for.
        #[arg(required_unless_present = "stdin")]
        subject: Option<String>,
        /// Which repositories.
        #[arg(required_unless_present = "stdin")]
        pattern: Option<String>,
        /// Which actions.
        #[arg(required_unless_present = "stdin")]
        actions: Option<String>,
        /// Read many rules from standard input, one per line.
        #[arg(long, conflicts_with_all = ["subject", "pattern", "actions"])]
        stdin: bool,
    },
    /// List rules.
    List(ListArgs),
    /// Remove a rule by id.
    Rm {
        /// The rule's id.
        id: i64,
    },
    /// Say which rules grant what of a scope to a user (or `anonymous`).
    Explain {
        /// The username, or `anonymous`.
        user: String,
        /// The scope, e.g. repository:team/app:pull,push.
        scope: String,
    },
}

/// The flags of the list commands: without `--limit`, everything (fetched a page at a time).
#[derive(Debug, clap::Args)]
struct ListArgs {
    /// Only those containing this text (users: in the username, names or e-mail address;
    /// groups: in the name; rules: in the subject or pattern), without regard to case.
    #[arg(long)]
    filter: Option<String>,
    /// Show one page of at most this many (1 to 1000); the key of the next page is printed
    /// on standard error.
    #[arg(long)]
    limit: Option<u32>,
    /// Start after this key (a username, a group name, a rule id): the `--after` printed
    /// under the previous page.
    #[arg(long)]
    after: Option<String>,
}

#[derive(Debug, Subcommand)]
enum TokenCmd {
    /// Revoke a user's refresh tokens (docker logins).
    Revoke {
        /// The username.
        user: String,
        /// Only those of this client (e.g. docker).
        #[arg(long)]
        client_id: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCmd {
    /// List the keys: algorithm, key ids, which one signs.
    Show,
    /// Print the public keys as a JWKS document.
    Jwks,
    /// Rotate the signing key: the next key (already in the JWKS) signs from now on, the
    /// current one stays trusted, and a new next key is made. With `registry_url` set, the
    /// registry is asked first whether it trusts the next key; nothing changes if it does not.
    Rotate {
        /// Rotate without asking the registry.
        #[arg(long)]
        force: bool,
        /// Accepted for older scripts (rotations had two steps): the same as without it.
        #[arg(long, hide = true)]
        activate: bool,
    },
}

/// Run a command.
pub async fn run(cli: Cli) -> Result<()> {
    let listen = match &cli.command {
        Command::Serve { listen } | Command::Healthcheck { listen } => *listen,
        _ => None,
    };
    let settings = Settings::load(
        cli.config.as_deref(),
        &Overrides {
            listen,
            data: cli.data.clone(),
        },
    )?;
    let open_mode = if cli.init {
        OpenMode::CreateIfMissing
    } else {
        OpenMode::ExistingOnly
    };
    match cli.command {
        Command::Serve { .. } => {
            init_tracing(settings.log_format);
            Application::build(&settings).await?.run().await
        }
        Command::ConfigExample => {
            out_raw!("{}", example_toml());
            Ok(())
        }
        Command::Healthcheck { .. } => {
            healthcheck(settings.listen, !settings.tls_cert.as_os_str().is_empty())
        }
        Command::Backup { file } => {
            let store = server::open_store(&settings, open_mode).await?;
            let result = store.backup_into(&file).await;
            store.close().await;
            result.with_context(|| format!("cannot back up into {}", file.display()))?;
            crate::files::restrict(&file);
            out!("backed up into {}", crate::files::absolute(&file).display());
            Ok(())
        }
        Command::Restore { file } => crate::files::restore(&settings, &file).await,
        Command::RegistryConfig {
            realm,
            service,
            addr,
            storage,
            registry_version,
            output,
            events_url,
            no_events,
        } => {
            let events = if no_events {
                None
            } else {
                Some(events_url.unwrap_or_else(|| default_events_url(&realm)))
            };
            let target = RegistryTarget {
                realm: &realm,
                service,
                addr: &addr,
                storage: &storage,
                v3: registry_version == "3",
                output,
                events,
            };
            registry_config(&settings, open_mode, target).await
        }
        other => {
            let store = server::open_store(&settings, open_mode).await?;
            let result = admin(&settings, &store, other).await;
            store.close().await;
            result
        }
    }
}

fn init_tracing(format: crate::config::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("REGISTRYO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match format {
        crate::config::LogFormat::Json => {
            // The request's fields (id, method, path, user) with every event of it.
            let _ = builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .try_init();
            crate::LOG_JSON.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        crate::config::LogFormat::Text => {
            // Colours only on a terminal: logs that go to a file or journald stay plain text.
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
            let _ = builder.with_ansi(ansi).try_init();
        }
    }
}

fn healthcheck(listen: SocketAddr, tls: bool) -> Result<()> {
    use std::io::Write;
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let s = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(5))
        .with_context(|| format!("cannot reach registryo at {addr}"))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    s.set_write_timeout(Some(std::time::Duration::from_secs(5)))?;
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut reply = String::new();
    if tls {
        let mut stream = crate::tls::probe::connect(s)?;
        stream.write_all(request.as_bytes())?;
        // A server that closes without TLS's close_notify still gave its answer.
        let _ = stream.read_to_string(&mut reply);
    } else {
        let mut s = s;
        s.write_all(request.as_bytes())?;
        s.read_to_string(&mut reply)?;
    }
    let status = reply.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) == Some("200") {
        out!("ok");
        Ok(())
    } else {
        bail!("unhealthy: {status}")
    }
}

/// What `registry-config` describes.
struct RegistryTarget<'a> {
    realm: &'a str,
    service: Option<String>,
    addr: &'a str,
    storage: &'a str,
    /// distribution v3 (else 2.8).
    v3: bool,
    /// Where to write the config (else standard output).
    output: Option<PathBuf>,
    /// Where the registry sends its notifications (none: no `notifications` section).
    events: Option<String>,
}

/// The realm's origin (`http://host:port`) with [`EVENTS_PATH`](registryo_http::events::EVENTS_PATH).
fn default_events_url(realm: &str) -> String {
    let after_scheme = realm.find("://").map_or(0, |i| i + 3);
    let origin = match realm[after_scheme..].find('/') {
        Some(i) => &realm[..after_scheme + i],
        None => realm,
    };
    format!("{origin}{}", registryo_http::events::EVENTS_PATH)
}

async fn registry_config(
    settings: &Settings,
    open_mode: OpenMode,
    target: RegistryTarget<'_>,
) -> Result<()> {
    use crate::config::RegistryKeys;
    let realm = target.realm;
    if !(realm.starts_with("http://") || realm.starts_with("https://")) {
        bail!("--realm must be an http:// or https:// URL, e.g. http://127.0.0.1:5001/token");
    }
    if settings.registry_keys == RegistryKeys::Jwks && !target.v3 {
        bail!(
            "registry_keys is \"jwks\", which distribution 2.8 cannot read (it has no \
             auth.token.jwks): pass --registry-version 3, or set registry_keys = \"bundle\" \
             (REGISTRYO_REGISTRY_KEYS=bundle), which both versions read"
        );
    }
    let service = target.service.unwrap_or_else(|| settings.service.clone());
    if service != settings.service {
        eprintln!(
            "warning: --service {service:?} differs from this server's service setting {:?}: \
             a registry with this configuration asks for tokens for {service:?}, which \
             `registryo serve` refuses (clients show only \"400 (Bad Request)\"; the server's \
             log names both services). Set REGISTRYO_SERVICE={service} for `registryo serve` \
             too, or leave --service out.",
            settings.service
        );
    }
    if let Some(url) = &target.events
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        bail!(
            "--events-url must be an http:// or https:// URL, e.g. http://registryo:5001/registry/events"
        );
    }
    let store = server::open_store(settings, open_mode).await?;
    let keys = op(ops::published_keys(
        &store,
        settings.key_algorithm,
        &settings.issuer,
    ))
    .await;
    let events_secret = match &target.events {
        Some(_) => Some(op(registryo_core::app::notifications::secret(&store)).await),
        None => None,
    };
    store.close().await;
    let events_secret = events_secret.transpose()?;
    let set = server::key_set(settings, keys?)?;
    let files = server::write_registry_files(settings, &set)?;
    if let Some(note) = server::upgrade_note(settings, &set) {
        eprintln!("registryo: {note}");
    }
    let (key_line, written) = match settings.registry_keys {
        RegistryKeys::Bundle => (
            format!("rootcertbundle: {}", q(&files.bundle.display().to_string())),
            &files.bundle,
        ),
        RegistryKeys::Jwks => (
            format!("jwks: {}", q(&files.jwks.display().to_string())),
            &files.jwks,
        ),
    };
    eprintln!(
        "registryo: wrote {} ({}), which the registry reads at start",
        written.display(),
        crate::files::describe_modes(written)
    );
    // http.secret signs upload state; without it every registry process picks its own, and
    // uploads fail behind a load balancer (2.8 warns at start-up). Share it between replicas.
    let secret = registryo_core::secret::random_hex::<32>()?;
    let (title, run) = if target.v3 {
        (
            "distribution v3",
            "OTEL_TRACES_EXPORTER=none registry serve config.yml",
        )
    } else {
        (
            "distribution 2.8 (Debian's docker-registry)",
            "docker-registry serve config.yml",
        )
    };
    let config = format!(
        "# {title} configuration using registryo for token auth.
# Run: {run}
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: {addr}
  # The same on every replica behind one address.
  secret: {secret}
  headers:
    X-Content-Type-Options: [nosniff]
auth:
  token:
    realm: {realm}
    service: {service}
    issuer: {issuer}
    {key_line}",
        storage = q(target.storage),
        addr = q(target.addr),
        secret = q(&secret),
        realm = q(realm),
        service = q(&service),
        issuer = q(&settings.issuer),
    );
    let mut config = config;
    if let (Some(url), Some(secret)) = (&target.events, &events_secret) {
        // Pushes, pulls, mounts and deletions, with who and when: what the registry itself
        // keeps nowhere. The secret travels in a header (2.8 logs it at start-up: registryo
        // also takes notifications only from the addresses of notifications_from).
        config.push_str(&format!(
            "
notifications:
  endpoints:
    - name: registryo
      url: {url}
      headers:
        Authorization: [{auth}]
      timeout: 5s
      threshold: 5
      backoff: 10s",
            url = q(url),
            auth = q(&format!("Bearer {secret}")),
        ));
    }
    match target.output {
        None => out!("{config}"),
        Some(path) => {
            crate::files::write_public(&path, &format!("{config}\n"))
                .with_context(|| format!("cannot write the registry config {}", path.display()))?;
            eprintln!(
                "registryo: wrote the registry config {} ({})",
                path.display(),
                crate::files::describe_modes(&path)
            );
        }
    }
    Ok(())
}

/// A YAML double-quoted string (JSON's quoting is a subset).
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// The lines of standard input that hold an item, numbered from 1 (blank lines and `#`
/// comments skipped), for the bulk imports.
fn read_items_stdin() -> Result<Vec<(usize, String)>> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .context("cannot read standard input")?;
    Ok(s.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim().to_owned()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .collect())
}

fn read_password_stdin() -> Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut s)
        .context("cannot read the password from standard input")?;
    let pw = s.trim_end_matches(['\n', '\r']).to_owned();
    Ok(pw)
}

/// An operation's error, worded for the command line.
fn cli_error(e: OpError) -> anyhow::Error {
    match (&e, e.field()) {
        (_, Some(field)) => anyhow::anyhow!("the {} {}", field.replace('_', " "), e.message()),
        (OpError::NeedsConfirmation(m), None) => anyhow::anyhow!("{m} (--force)"),
        (OpError::Internal(detail), None) => anyhow::anyhow!("internal error: {detail}"),
        _ => anyhow::anyhow!("{}", e.message()),
    }
}

/// Run an operation; its error worded for the command line.
async fn op<T>(f: impl std::future::Future<Output = Result<T, OpError>>) -> Result<T> {
    f.await.map_err(cli_error)
}
