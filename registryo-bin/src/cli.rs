//! The command line: `serve`, `registry-config`, and the administration commands.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use registryo_core::app::App;
use registryo_core::app::OpError;
use registryo_core::app::ops::{self, Actor};
use registryo_core::scope::Scope;
use registryo_core::storage::{Group, User};
use registryo_core::token::KidStyle;
use registryo_store::Store;

use crate::config::{Overrides, Settings, example_toml};
use crate::server::{self, Application, OpenMode};

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
    /// certificate bundle it names.
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
    /// Exit 0 when the server answers its health check.
    Healthcheck {
        /// The server's address (default: the `listen` setting).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Print an example registryo.toml with every setting.
    ConfigExample,
}

#[derive(Debug, Subcommand)]
enum UserCmd {
    /// Add a user; the password comes from stdin with --password-stdin, else one is generated
    /// and printed once.
    Add {
        /// The username.
        name: String,
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
    List,
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
    List,
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
    Add {
        /// Who the rule is for.
        subject: String,
        /// Which repositories.
        pattern: String,
        /// Which actions.
        actions: String,
    },
    /// List rules.
    List,
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
    /// Rotate the signing key in two steps: without flags, stage a new key (published in the
    /// bundle and JWKS, not yet signing); once the registry has been restarted with the new
    /// bundle, `--activate` makes it sign.
    Rotate {
        /// Make the staged key the signing key.
        #[arg(long)]
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
            init_tracing();
            Application::build(&settings).await?.run().await
        }
        Command::ConfigExample => {
            out_raw!("{}", example_toml());
            Ok(())
        }
        Command::Healthcheck { .. } => healthcheck(settings.listen),
        Command::RegistryConfig {
            realm,
            service,
            addr,
            storage,
        } => registry_config(&settings, open_mode, &realm, service, &addr, &storage).await,
        other => {
            let store = server::open_store(&settings, open_mode).await?;
            let result = admin(&settings, &store, other).await;
            store.close().await;
            result
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("REGISTRYO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: logs that go to a file or journald stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .try_init();
}

fn healthcheck(listen: SocketAddr) -> Result<()> {
    use std::io::Write;
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let mut s = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(5))
        .with_context(|| format!("cannot reach registryo at {addr}"))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    write!(
        s,
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)?;
    let status = reply.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) == Some("200") {
        out!("ok");
        Ok(())
    } else {
        bail!("unhealthy: {status}")
    }
}

async fn registry_config(
    settings: &Settings,
    open_mode: OpenMode,
    realm: &str,
    service: Option<String>,
    addr: &str,
    storage: &str,
) -> Result<()> {
    if !(realm.starts_with("http://") || realm.starts_with("https://")) {
        bail!("--realm must be an http:// or https:// URL, e.g. http://127.0.0.1:5001/token");
    }
    let service = service.unwrap_or_else(|| settings.service.clone());
    if service != settings.service {
        eprintln!(
            "warning: --service {service:?} differs from this server's service setting {:?}; \
             set REGISTRYO_SERVICE={service} for `registryo serve` too",
            settings.service
        );
    }
    let store = server::open_store(settings, open_mode).await?;
    let signing = op(ops::published_keys(
        &store,
        settings.key_algorithm,
        &settings.issuer,
    ))
    .await;
    store.close().await;
    let bundle = server::write_bundle(settings, &signing?)?;
    eprintln!(
        "registryo: wrote the certificate bundle {} ({}): the registry's rootcertbundle",
        bundle.display(),
        crate::files::describe_modes(&bundle)
    );
    // http.secret signs upload state; without it every registry process picks its own, and
    // uploads fail behind a load balancer (2.8 warns at start-up). Share it between replicas.
    let secret = registryo_core::secret::random_hex::<32>()?;
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    out!(
        "# distribution (docker-registry) configuration using registryo for token auth.
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
    rootcertbundle: {bundle}",
        storage = q(storage),
        addr = q(addr),
        secret = q(&secret),
        realm = q(realm),
        service = q(&service),
        issuer = q(&settings.issuer),
        bundle = q(&bundle.display().to_string()),
    );
    Ok(())
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

async fn user_named(app: &App, name: &str) -> Result<User> {
    match ops::user_named(app, name).await {
        Ok(u) => Ok(u),
        Err(OpError::NotFound(_)) => bail!("no user named {name:?}"),
        Err(e) => Err(cli_error(e)),
    }
}

async fn group_named(app: &App, name: &str) -> Result<Group> {
    match ops::group_named(app, name).await {
        Ok(g) => Ok(g),
        Err(OpError::NotFound(_)) => bail!("no group named {name:?}"),
        Err(e) => Err(cli_error(e)),
    }
}

async fn admin(settings: &Settings, store: &Store, cmd: Command) -> Result<()> {
    if let Command::Keys(c) = cmd {
        return keys_cmd(settings, store, c).await;
    }
    // The same application as `serve`: every command runs the operation the UI and the API
    // run, with the same validation, audit event and policy change.
    let app = server::app(settings, store).await?;
    let actor = Actor::cli();
    match cmd {
        Command::User(c) => user_cmd(&app, &actor, c).await,
        Command::Group(c) => group_cmd(&app, &actor, c).await,
        Command::Acl(c) => acl_cmd(&app, &actor, c).await,
        Command::Token(TokenCmd::Revoke { user, client_id }) => {
            let u = user_named(&app, &user).await?;
            let n = op(ops::revoke_logins(&app, &actor, &u, client_id.as_deref())).await?;
            out!("revoked {n} refresh token(s) of {}", u.username);
            Ok(())
        }
        Command::Keys(_)
        | Command::Serve { .. }
        | Command::RegistryConfig { .. }
        | Command::Healthcheck { .. }
        | Command::ConfigExample => Ok(()),
    }
}

async fn user_cmd(app: &App, actor: &Actor, cmd: UserCmd) -> Result<()> {
    match cmd {
        UserCmd::Add {
            name,
            admin,
            service,
            email,
            password_stdin,
            force,
        } => {
            if email.as_deref().is_some_and(|e| e.trim().is_empty()) {
                bail!("the e-mail address is empty");
            }
            // Refuse a bad name before asking for a password.
            ops::username("username", &name).map_err(cli_error)?;
            let (pw, generated) = if password_stdin {
                (read_password_stdin()?, false)
            } else {
                (server::generate_password()?, true)
            };
            let email = email.unwrap_or_default();
            let user = if service {
                let new = ops::NewService {
                    username: name.clone(),
                    secret: Some(pw.clone()),
                    admin,
                    email,
                    force,
                    ..ops::NewService::default()
                };
                op(ops::create_service(app, actor, new)).await?.0
            } else {
                let new = ops::NewHuman {
                    username: name.clone(),
                    password: pw.clone(),
                    email,
                    admin,
                    force,
                    ..ops::NewHuman::default()
                };
                op(ops::create_human(app, actor, new)).await?
            };
            out!("added user {}", user.username);
            if generated {
                out!("password: {pw}");
                out!("(shown once)");
            }
            Ok(())
        }
        UserCmd::Passwd { name, .. } => {
            let u = user_named(app, &name).await?;
            let pw = read_password_stdin()?;
            op(ops::set_password(app, actor, &u, &pw)).await?;
            out!(
                "password of {} changed; their web sessions and docker logins ended",
                u.username
            );
            Ok(())
        }
        UserCmd::Disable { name } => {
            let u = user_named(app, &name).await?;
            op(ops::set_disabled(app, actor, &u, true)).await?;
            out!(
                "disabled {}: no more tokens, their refresh tokens are refused and their web \
                 sessions ended",
                u.username
            );
            Ok(())
        }
        UserCmd::Enable { name } => {
            let u = user_named(app, &name).await?;
            op(ops::set_disabled(app, actor, &u, false)).await?;
            out!("enabled {}", u.username);
            Ok(())
        }
        UserCmd::List => {
            let users = op(ops::users(app)).await?;
            out!(
                "{:<24} {:<8} {:<6} {:<9} EMAIL",
                "USERNAME",
                "KIND",
                "ADMIN",
                "DISABLED"
            );
            for u in users {
                out!(
                    "{:<24} {:<8} {:<6} {:<9} {}",
                    u.username,
                    u.kind,
                    if u.is_admin { "yes" } else { "no" },
                    if u.disabled { "yes" } else { "no" },
                    u.email.unwrap_or_default()
                );
            }
            Ok(())
        }
        UserCmd::Rm { name } => {
            let u = user_named(app, &name).await?;
            let removed = op(ops::delete_user(app, actor, &u)).await?;
            out!("removed {}", u.username);
            for r in removed {
                out!(
                    "removed rule {}: {} {} {}",
                    r.id,
                    r.subject,
                    r.pattern,
                    r.actions
                );
            }
            Ok(())
        }
    }
}

async fn group_cmd(app: &App, actor: &Actor, cmd: GroupCmd) -> Result<()> {
    match cmd {
        GroupCmd::Add { name } => {
            let g = op(ops::create_group(app, actor, &name)).await?;
            out!("added group {}", g.name);
            Ok(())
        }
        GroupCmd::Rm { name } => {
            let g = group_named(app, &name).await?;
            let removed = op(ops::delete_group(app, actor, &g)).await?;
            out!("removed group {}", g.name);
            for r in removed {
                out!(
                    "removed rule {}: {} {} {}",
                    r.id,
                    r.subject,
                    r.pattern,
                    r.actions
                );
            }
            Ok(())
        }
        GroupCmd::List => {
            for (g, members) in op(ops::groups(app)).await? {
                out!("{}: {}", g.name, members.join(", "));
            }
            Ok(())
        }
        GroupCmd::Member(MemberCmd::Add { group, user }) => {
            let g = group_named(app, &group).await?;
            let u = user_named(app, &user).await?;
            if op(ops::add_member(app, actor, &g, &u.username)).await? {
                out!("{} is now a member of {}", u.username, g.name);
            } else {
                out!("{} was already a member of {}", u.username, g.name);
            }
            Ok(())
        }
        GroupCmd::Member(MemberCmd::Rm { group, user }) => {
            let g = group_named(app, &group).await?;
            let u = user_named(app, &user).await?;
            if op(ops::remove_member(app, actor, &g, &u)).await? {
                out!("{} is no longer a member of {}", u.username, g.name);
                Ok(())
            } else {
                bail!("{} is not a member of {}", u.username, g.name)
            }
        }
    }
}

async fn acl_cmd(app: &App, actor: &Actor, cmd: AclCmd) -> Result<()> {
    match cmd {
        AclCmd::Add {
            subject,
            pattern,
            actions,
        } => {
            let stored = match ops::add_rule(app, actor, &subject, &pattern, &actions).await {
                Ok(r) => r,
                Err(e @ OpError::Invalid { .. }) => match e.field() {
                    Some(field) => bail!("invalid rule ({field}): {}", e.message()),
                    None => bail!("invalid rule: {}", e.message()),
                },
                Err(e) => return Err(cli_error(e)),
            };
            if !op(ops::subject_exists(app, &stored)).await? {
                eprintln!(
                    "warning: {} does not exist (yet); the rule is kept",
                    stored.subject
                );
            }
            out!(
                "added rule {}: {} {} {}",
                stored.id,
                stored.subject,
                stored.pattern,
                stored.actions
            );
            Ok(())
        }
        AclCmd::List => {
            out!("{:<6} {:<24} {:<32} ACTIONS", "ID", "SUBJECT", "PATTERN");
            for r in op(ops::rules(app)).await? {
                out!(
                    "{:<6} {:<24} {:<32} {}",
                    r.id,
                    r.subject,
                    r.pattern,
                    r.actions
                );
            }
            Ok(())
        }
        AclCmd::Rm { id } => {
            match ops::delete_rule(app, actor, id).await {
                Ok(()) => {}
                Err(OpError::NotFound(_)) => bail!("no rule with id {id}"),
                Err(e) => return Err(cli_error(e)),
            }
            out!("removed rule {id}");
            Ok(())
        }
        AclCmd::Explain { user, scope } => {
            let scope = scope.trim();
            Scope::parse(scope).map_err(|e| anyhow::anyhow!("invalid scope: {e}"))?;
            let ex = match ops::explain(app, &user, scope) {
                Ok(ex) => ex,
                Err(OpError::Invalid { field: Some(f), .. }) if f == "user" => {
                    bail!("no user named {user:?}")
                }
                Err(e) => return Err(cli_error(e)),
            };
            out!("{} asks {}", ex.principal, ex.scope);
            if ex.inactive {
                out!("  the account is disabled or expired: it gets no token at all");
            }
            if ex.admin {
                out!("  administrator: everything is allowed");
            }
            for m in &ex.rules {
                out!(
                    "  rule {}: {} {} {} -> {}",
                    m.id,
                    m.subject,
                    m.pattern,
                    m.actions,
                    if m.contributed.is_empty() {
                        "nothing asked"
                    } else {
                        &m.contributed
                    }
                );
            }
            if ex.rules.is_empty() && !ex.admin {
                out!("  no rule matches");
            }
            let granted = if ex.inactive { "" } else { &ex.granted };
            out!(
                "granted: {}",
                if granted.is_empty() {
                    "nothing"
                } else {
                    granted
                }
            );
            Ok(())
        }
    }
}

async fn keys_cmd(settings: &Settings, store: &Store, cmd: KeysCmd) -> Result<()> {
    let alg = settings.key_algorithm;
    match cmd {
        KeysCmd::Show => {
            for (k, state) in op(ops::signing_keys(store, alg, &settings.issuer)).await? {
                out!(
                    "{state:<9} {:?} kid(libtrust)={} kid(rfc7638)={}",
                    k.algorithm(),
                    k.kid(KidStyle::Libtrust),
                    k.kid(KidStyle::Rfc7638),
                );
            }
            Ok(())
        }
        KeysCmd::Jwks => {
            let ks = op(ops::published_keys(store, alg, &settings.issuer)).await?;
            let set = registryo_core::token::KeySet::new(ks, settings.kid_style)?;
            out!("{}", serde_json::to_string_pretty(&set.jwks())?);
            Ok(())
        }
        KeysCmd::Rotate { activate: false } => {
            let ks = op(ops::stage_key(store, &Actor::cli(), alg, &settings.issuer)).await?;
            let bundle = server::write_bundle(settings, &ks)?;
            out!("staged a new signing key; {} key(s) published", ks.len());
            out!(
                "1. Restart the registry so it reads {} (it now holds the new certificate).",
                bundle.display()
            );
            out!("2. Run `registryo keys rotate --activate`: servers switch within 5 seconds.");
            Ok(())
        }
        KeysCmd::Rotate { activate: true } => {
            let ks = op(ops::activate_key(store, &Actor::cli())).await?;
            let bundle = server::write_bundle(settings, &ks)?;
            if let Some(k) = ks.first() {
                out!(
                    "key {} signs now; {} key(s) published in {}",
                    k.kid(KidStyle::Libtrust),
                    ks.len(),
                    bundle.display()
                );
            }
            Ok(())
        }
    }
}
