//! The command line: `serve`, `registry-config`, and the administration commands.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use registryo_core::acl::{Principal, Subject};
use registryo_core::scope::Scope;
use registryo_core::token::KidStyle;
use registryo_http::accounts::{self, Accounts};
use registryo_http::{keys, ops};
use registryo_store::{NewAclRule, NewAuditEvent, NewUser, Store, StoreError, UserKind};

use crate::config::{Overrides, Settings, example_toml};
use crate::server::{self, Application};

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
    match cli.command {
        Command::Serve { .. } => {
            init_tracing();
            Application::build(&settings).await?.run().await
        }
        Command::ConfigExample => {
            print!("{}", example_toml());
            Ok(())
        }
        Command::Healthcheck { .. } => healthcheck(settings.listen),
        Command::RegistryConfig {
            realm,
            service,
            addr,
            storage,
        } => registry_config(&settings, &realm, service, &addr, &storage).await,
        other => {
            let store = server::open_store(&settings).await?;
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
        println!("ok");
        Ok(())
    } else {
        bail!("unhealthy: {status}")
    }
}

async fn registry_config(
    settings: &Settings,
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
    let store = server::open_store(settings).await?;
    let alg = keys::algorithm(&settings.key_algorithm).context("bad key_algorithm")?;
    let signing = keys::load_or_generate(&store, alg, &settings.issuer).await?;
    store.close().await;
    let bundle = server::write_bundle(settings, &signing)?;
    // http.secret signs upload state; without it every registry process picks its own, and
    // uploads fail behind a load balancer (2.8 warns at start-up). Share it between replicas.
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let secret: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    println!(
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

/// The UI's and API's validation (registryo_http::ops), worded for the command line.
fn valid(r: Result<(), registryo_http::error::AppError>) -> Result<()> {
    r.map_err(|e| match e.field() {
        Some(field) => anyhow::anyhow!("the {field} {}", e.message()),
        None => anyhow::anyhow!("{}", e.message()),
    })
}

async fn audit(store: &Store, action: &str, target: &str, detail: Option<String>) {
    let ev = NewAuditEvent {
        actor: Some("cli".to_owned()),
        action: action.to_owned(),
        target: Some(target.to_owned()),
        detail,
        remote_addr: None,
    };
    if let Err(e) = store.insert_audit_event(&ev).await {
        eprintln!("warning: could not write the audit event: {e}");
    }
}

async fn user_named(store: &Store, name: &str) -> Result<registryo_store::User> {
    match store.get_user_by_name(name).await {
        Ok(u) => Ok(u),
        Err(StoreError::NotFound(_)) => bail!("no user named {name:?}"),
        Err(e) => Err(e.into()),
    }
}

async fn group_named(store: &Store, name: &str) -> Result<registryo_store::Group> {
    match store.get_group_by_name(name).await {
        Ok(g) => Ok(g),
        Err(StoreError::NotFound(_)) => bail!("no group named {name:?}"),
        Err(e) => Err(e.into()),
    }
}

async fn hash(pw: String) -> Result<String> {
    Ok(tokio::task::spawn_blocking(move || accounts::hash_password_blocking(&pw)).await??)
}

async fn admin(settings: &Settings, store: &Store, cmd: Command) -> Result<()> {
    match cmd {
        Command::User(c) => user_cmd(store, c).await,
        Command::Group(c) => group_cmd(store, c).await,
        Command::Acl(c) => acl_cmd(settings, store, c).await,
        Command::Token(TokenCmd::Revoke { user, client_id }) => {
            let u = user_named(store, &user).await?;
            let n = store
                .revoke_refresh_tokens_of_user(u.id, client_id.as_deref())
                .await?;
            audit(
                store,
                "token.revoke",
                &user,
                client_id.map(|c| format!("client_id={c}")),
            )
            .await;
            println!("revoked {n} refresh token(s) of {user}");
            Ok(())
        }
        Command::Keys(c) => keys_cmd(settings, store, c).await,
        Command::Serve { .. }
        | Command::RegistryConfig { .. }
        | Command::Healthcheck { .. }
        | Command::ConfigExample => Ok(()),
    }
}

async fn user_cmd(store: &Store, cmd: UserCmd) -> Result<()> {
    match cmd {
        UserCmd::Add {
            name,
            admin,
            service,
            email,
            password_stdin,
        } => {
            valid(ops::check_username("username", &name))?;
            let email = match email {
                Some(e) => Some(
                    ops::check_email(&e)
                        .map_err(|_| anyhow::anyhow!("{e:?} is not an e-mail address"))?
                        .ok_or_else(|| anyhow::anyhow!("the e-mail address is empty"))?,
                ),
                None => None,
            };
            let (pw, generated) = if password_stdin {
                (read_password_stdin()?, false)
            } else {
                (server::generate_password()?, true)
            };
            valid(ops::check_password("password", &name, &pw))?;
            let kind = if service {
                UserKind::Service
            } else {
                UserKind::Human
            };
            let mut new = NewUser::new(&name, kind)
                .password_hash(hash(pw.clone()).await?)
                .admin(admin);
            if let Some(e) = email {
                new = new.email(e);
            }
            match store.create_user(&new).await {
                Ok(_) => {}
                Err(StoreError::Conflict(_)) => bail!("a user named {name:?} already exists"),
                Err(e) => return Err(e.into()),
            }
            audit(
                store,
                "user.create",
                &name,
                Some(format!("kind={kind} admin={admin}")),
            )
            .await;
            println!("added user {name}");
            if generated {
                println!("password: {pw}");
                println!("(shown once)");
            }
            Ok(())
        }
        UserCmd::Passwd { name, .. } => {
            let u = user_named(store, &name).await?;
            let pw = read_password_stdin()?;
            valid(ops::check_password("password", &name, &pw))?;
            store
                .set_password_hash(u.id, Some(&hash(pw).await?))
                .await?;
            audit(store, "user.password", &name, None).await;
            println!("password of {name} changed");
            Ok(())
        }
        UserCmd::Disable { name } => {
            let u = user_named(store, &name).await?;
            store.set_disabled(u.id, true).await?;
            audit(store, "user.disable", &name, None).await;
            println!("disabled {name}: no more tokens, and their refresh tokens are refused");
            Ok(())
        }
        UserCmd::Enable { name } => {
            let u = user_named(store, &name).await?;
            store.set_disabled(u.id, false).await?;
            audit(store, "user.enable", &name, None).await;
            println!("enabled {name}");
            Ok(())
        }
        UserCmd::List => {
            let users = store.list_users().await?;
            println!(
                "{:<24} {:<8} {:<6} {:<9} EMAIL",
                "USERNAME", "KIND", "ADMIN", "DISABLED"
            );
            for u in users {
                println!(
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
            let u = user_named(store, &name).await?;
            store.delete_user(u.id).await?;
            audit(store, "user.delete", &name, None).await;
            println!("removed {name}");
            Ok(())
        }
    }
}

async fn group_cmd(store: &Store, cmd: GroupCmd) -> Result<()> {
    match cmd {
        GroupCmd::Add { name } => {
            valid(ops::check_username("group name", &name))?;
            match store.create_group(&name).await {
                Ok(_) => {}
                Err(StoreError::Conflict(_)) => bail!("a group named {name:?} already exists"),
                Err(e) => return Err(e.into()),
            }
            audit(store, "group.create", &name, None).await;
            println!("added group {name}");
            Ok(())
        }
        GroupCmd::Rm { name } => {
            let g = group_named(store, &name).await?;
            store.delete_group(g.id).await?;
            audit(store, "group.delete", &name, None).await;
            println!("removed group {name}");
            Ok(())
        }
        GroupCmd::List => {
            let memberships = store.list_memberships().await?;
            for g in store.list_groups().await? {
                let members: Vec<&str> = memberships
                    .iter()
                    .filter(|(group, _)| *group == g.name)
                    .map(|(_, u)| u.as_str())
                    .collect();
                println!("{}: {}", g.name, members.join(", "));
            }
            Ok(())
        }
        GroupCmd::Member(MemberCmd::Add { group, user }) => {
            let g = group_named(store, &group).await?;
            let u = user_named(store, &user).await?;
            let added = store.add_group_member(g.id, u.id).await?;
            if added {
                audit(
                    store,
                    "group.add_member",
                    &group,
                    Some(format!("user={user}")),
                )
                .await;
                println!("{user} is now a member of {group}");
            } else {
                println!("{user} was already a member of {group}");
            }
            Ok(())
        }
        GroupCmd::Member(MemberCmd::Rm { group, user }) => {
            let g = group_named(store, &group).await?;
            let u = user_named(store, &user).await?;
            if store.remove_group_member(g.id, u.id).await? {
                audit(
                    store,
                    "group.remove_member",
                    &group,
                    Some(format!("user={user}")),
                )
                .await;
                println!("{user} is no longer a member of {group}");
                Ok(())
            } else {
                bail!("{user} is not a member of {group}")
            }
        }
    }
}

async fn acl_cmd(_settings: &Settings, store: &Store, cmd: AclCmd) -> Result<()> {
    match cmd {
        AclCmd::Add {
            subject,
            pattern,
            actions,
        } => {
            // Validate with the same parser the server compiles rules with.
            let rule = accounts::parse_rule(0, &subject, &pattern, &actions)
                .map_err(|e| anyhow::anyhow!("invalid rule: {e}"))?;
            if let Subject::User(name) | Subject::Group(name) = &rule.subject {
                let exists = match &rule.subject {
                    Subject::User(_) => store.get_user_by_name(name).await.is_ok(),
                    _ => store.get_group_by_name(name).await.is_ok(),
                };
                if !exists {
                    eprintln!("warning: {subject} does not exist (yet); the rule is kept");
                }
            }
            let stored = store
                .add_acl_rule(&NewAclRule {
                    subject: rule.subject.to_string(),
                    pattern: rule.pattern.to_string(),
                    actions: rule.actions.to_string(),
                    created_by: Some("cli".to_owned()),
                })
                .await?;
            audit(
                store,
                "acl.add",
                &format!("rule {}", stored.id),
                Some(format!(
                    "{} {} {}",
                    stored.subject, stored.pattern, stored.actions
                )),
            )
            .await;
            println!(
                "added rule {}: {} {} {}",
                stored.id, stored.subject, stored.pattern, stored.actions
            );
            Ok(())
        }
        AclCmd::List => {
            println!("{:<6} {:<24} {:<32} ACTIONS", "ID", "SUBJECT", "PATTERN");
            for r in store.list_acl_rules().await? {
                println!(
                    "{:<6} {:<24} {:<32} {}",
                    r.id, r.subject, r.pattern, r.actions
                );
            }
            Ok(())
        }
        AclCmd::Rm { id } => {
            match store.delete_acl_rule(id).await {
                Ok(()) => {}
                Err(StoreError::NotFound(_)) => bail!("no rule with id {id}"),
                Err(e) => return Err(e.into()),
            }
            audit(store, "acl.remove", &format!("rule {id}"), None).await;
            println!("removed rule {id}");
            Ok(())
        }
        AclCmd::Explain { user, scope } => {
            let scope: Scope = scope
                .parse()
                .map_err(|e| anyhow::anyhow!("invalid scope: {e}"))?;
            let accounts = Accounts::new(store.clone(), std::time::Duration::ZERO).await?;
            let snap = accounts.snapshot();
            let principal = if user == "anonymous" {
                Principal::anonymous()
            } else {
                let Some(entry) = snap.users.get(&user) else {
                    bail!("no user named {user:?}");
                };
                Principal {
                    account: Some(user.clone()),
                    groups: entry.groups.clone(),
                    admin: entry.admin,
                }
            };
            let active = user == "anonymous"
                || snap
                    .users
                    .get(&user)
                    .is_some_and(|u| u.active(registryo_http::timefmt::now()));
            let ex = snap.acl.explain(&principal, &scope);
            println!("{user} asks {scope}");
            if !active {
                println!("  the account is disabled or expired: it gets no token at all");
            }
            if ex.admin {
                println!("  administrator: everything is allowed");
            }
            for m in &ex.matches {
                println!(
                    "  rule {}: {} {} {} -> {}",
                    m.rule.id,
                    m.rule.subject,
                    m.rule.pattern,
                    m.rule.actions,
                    if m.contributed.is_empty() {
                        "nothing asked".to_owned()
                    } else {
                        m.contributed.to_string()
                    }
                );
            }
            if ex.matches.is_empty() && !ex.admin {
                println!("  no rule matches");
            }
            let granted = if active {
                ex.granted
            } else {
                registryo_core::scope::Actions::NONE
            };
            println!(
                "granted: {}",
                if granted.is_empty() {
                    "nothing".to_owned()
                } else {
                    granted.to_string()
                }
            );
            Ok(())
        }
    }
}

async fn keys_cmd(settings: &Settings, store: &Store, cmd: KeysCmd) -> Result<()> {
    let alg = keys::algorithm(&settings.key_algorithm).context("bad key_algorithm")?;
    match cmd {
        KeysCmd::Show => {
            keys::load_or_generate(store, alg, &settings.issuer).await?;
            for (k, state) in keys::describe(store).await? {
                println!(
                    "{state:<9} {:?} kid(libtrust)={} kid(rfc7638)={}",
                    k.algorithm(),
                    k.kid(KidStyle::Libtrust),
                    k.kid(KidStyle::Rfc7638),
                );
            }
            Ok(())
        }
        KeysCmd::Jwks => {
            let ks = keys::load_or_generate(store, alg, &settings.issuer).await?;
            let style = keys::kid_style(&settings.kid_style).context("bad kid_style")?;
            let set = registryo_core::token::KeySet::new(ks, style)?;
            println!("{}", serde_json::to_string_pretty(&set.jwks())?);
            Ok(())
        }
        KeysCmd::Rotate { activate: false } => {
            let ks = keys::stage(store, alg, &settings.issuer).await?;
            let bundle = server::write_bundle(settings, &ks)?;
            audit(store, "keys.stage", "signing keys", None).await;
            println!("staged a new signing key; {} key(s) published", ks.len());
            println!(
                "1. Restart the registry so it reads {} (it now holds the new certificate).",
                bundle.display()
            );
            println!("2. Run `registryo keys rotate --activate`: servers switch within 5 seconds.");
            Ok(())
        }
        KeysCmd::Rotate { activate: true } => {
            let ks = keys::activate(store).await?;
            let bundle = server::write_bundle(settings, &ks)?;
            audit(store, "keys.activate", "signing keys", None).await;
            if let Some(k) = ks.first() {
                println!(
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
