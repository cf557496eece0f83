//! The administration commands: each runs the application's operation (`registryo_core::app::ops`)
//! that the UI and the API run, and words its result for the terminal.

use anyhow::{Result, bail};
use registryo_core::app::App;
use registryo_core::app::OpError;
use registryo_core::app::ops::{self, Actor};
use registryo_core::scope::Scope;
use registryo_core::storage::{AclRule, Group, ListQuery, Page, User};
use registryo_core::token::KidStyle;
use registryo_store::Store;

use super::{
    AclCmd, Command, GroupCmd, KeysCmd, MemberCmd, TokenCmd, UserCmd, cli_error, op,
    read_items_stdin, read_password_stdin,
};
use crate::config::Settings;
use crate::server;

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

pub(super) async fn admin(settings: &Settings, store: &Store, cmd: Command) -> Result<()> {
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
        Command::Activity {
            repository,
            actor: who,
            action,
            tag,
            since,
            until,
            after,
            limit,
            json,
        } => {
            let filter = ops::ActivityFilter {
                repository,
                actor: who,
                action,
                tag,
                since,
                until,
                before: after,
                limit,
            };
            // The console sees every repository, as an administrator does.
            let everyone = registryo_core::acl::Principal::user("cli").with_admin(true);
            let page = op(ops::activity_page(&app, &everyone, &filter)).await?;
            for e in &page.items {
                if json {
                    out!("{}", ops::activity_json(e));
                } else {
                    out!("{}", activity_line(e));
                }
            }
            if let Some(next) = page.next {
                eprintln!("registryo: more after this page: --after {next}");
            }
            Ok(())
        }
        Command::Keys(_)
        | Command::Serve { .. }
        | Command::RegistryConfig { .. }
        | Command::Healthcheck { .. }
        | Command::Backup { .. }
        | Command::Restore { .. }
        | Command::ConfigExample => Ok(()),
    }
}

async fn user_cmd(app: &App, actor: &Actor, cmd: UserCmd) -> Result<()> {
    match cmd {
        UserCmd::Add {
            stdin: true,
            admin,
            force,
            ..
        } => import_users(app, actor, admin, force).await,
        UserCmd::Add {
            name,
            admin,
            service,
            email,
            password_stdin,
            force,
            stdin: _,
        } => {
            let name = name.unwrap_or_default();
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
        UserCmd::List(args) => {
            out!(
                "{:<24} {:<8} {:<6} {:<9} EMAIL",
                "USERNAME",
                "KIND",
                "ADMIN",
                "DISABLED"
            );
            pages(
                &args,
                |q| async move { ops::users_page(app, &q).await },
                |u| {
                    out!(
                        "{:<24} {:<8} {:<6} {:<9} {}",
                        u.username,
                        u.kind,
                        if u.is_admin { "yes" } else { "no" },
                        if u.disabled { "yes" } else { "no" },
                        u.email.unwrap_or_default()
                    );
                },
            )
            .await
        }
        UserCmd::Rm { name } => {
            let u = user_named(app, &name).await?;
            let removed = op(ops::delete_user(app, actor, &u)).await?;
            out!("removed {}", u.username);
            for r in removed {
                out!("removed rule {}", rule_line(&r));
            }
            Ok(())
        }
    }
}

/// A rule as the commands print it: `ID: SUBJECT PATTERN ACTIONS`.
fn rule_line(r: &AclRule) -> String {
    format!("{}: {} {} {}", r.id, r.subject, r.pattern, r.actions)
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
                out!("removed rule {}", rule_line(&r));
            }
            Ok(())
        }
        GroupCmd::List(args) => {
            pages(
                &args,
                |q| async move { ops::groups_page(app, &q).await },
                |(g, members)| out!("{}: {}", g.name, members.join(", ")),
            )
            .await
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
        AclCmd::Add { stdin: true, .. } => import_rules(app, actor).await,
        AclCmd::Add {
            subject,
            pattern,
            actions,
            stdin: _,
        } => {
            let (subject, pattern, actions) = (
                subject.unwrap_or_default(),
                pattern.unwrap_or_default(),
                actions.unwrap_or_default(),
            );
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
            out!("added rule {}", rule_line(&stored));
            Ok(())
        }
        AclCmd::List(args) => {
            out!("{:<6} {:<24} {:<32} ACTIONS", "ID", "SUBJECT", "PATTERN");
            pages(
                &args,
                |q| async move { ops::rules_page(app, &q).await },
                |ops::ListedRule { rule: r, broken }| {
                    out!(
                        "{:<6} {:<24} {:<32} {}{}",
                        r.id,
                        r.subject,
                        r.pattern,
                        r.actions,
                        broken
                            .map(|b| format!("  (skipped: {b})"))
                            .unwrap_or_default()
                    );
                },
            )
            .await
        }
        AclCmd::Rm { id } => {
            let rule = match ops::delete_rule(app, actor, id).await {
                Ok(rule) => rule,
                Err(OpError::NotFound(_)) => bail!("no rule with id {id}"),
                Err(e) => return Err(cli_error(e)),
            };
            out!(
                "removed rule {id} ({} {} {})",
                rule.subject,
                rule.pattern,
                rule.actions
            );
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

/// An event on one line: time, action, what, who, from where.
fn activity_line(e: &registryo_core::storage::RegistryEvent) -> String {
    let mut what = e.repository.clone();
    if let Some(tag) = &e.tag {
        what.push(':');
        what.push_str(tag);
    }
    if let Some(digest) = &e.digest {
        what.push('@');
        what.push_str(digest);
    }
    if let Some(from) = &e.from_repository {
        what.push_str(&format!(" from {from}"));
    }
    let count = if e.action == "pull" {
        format!(" ({} that day)", e.count)
    } else {
        String::new()
    };
    format!(
        "{}  {:<6} {:<10} {what}{count}  by {} from {}",
        registryo_core::time::rfc3339(e.at),
        e.action,
        e.subject,
        e.actor.as_deref().unwrap_or("(anonymous)"),
        e.remote_addr.as_deref().unwrap_or("?"),
    )
}

/// Shows the pages of a list: one of `--limit` items (the next page's key on standard error),
/// or without it every page, 1000 items at a time.
async fn pages<T, Fut>(
    args: &super::ListArgs,
    fetch: impl Fn(ListQuery) -> Fut,
    mut show: impl FnMut(T),
) -> Result<()>
where
    Fut: std::future::Future<Output = Result<Page<T>, OpError>>,
{
    if let Some(n) = args.limit
        && !(1..=ListQuery::MAX_LIMIT).contains(&n)
    {
        bail!(
            "--limit must be from 1 to {}, not {n}",
            ListQuery::MAX_LIMIT
        );
    }
    let mut query = ListQuery {
        filter: args.filter.clone().unwrap_or_default(),
        after: args.after.clone(),
        limit: args.limit.unwrap_or(ListQuery::MAX_LIMIT),
    };
    loop {
        let page = op(fetch(query.clone())).await?;
        page.items.into_iter().for_each(&mut show);
        match page.next {
            Some(next) if args.limit.is_none() => query.after = Some(next),
            Some(next) => {
                eprintln!("registryo: more after this page: --after {next}");
                return Ok(());
            }
            None => return Ok(()),
        }
    }
}

async fn keys_cmd(settings: &Settings, store: &Store, cmd: KeysCmd) -> Result<()> {
    let alg = settings.key_algorithm;
    let expiry = |t: i64| registryo_core::time::datetime(t);
    match cmd {
        KeysCmd::Show => {
            let keys = op(ops::published_keys(store, alg, &settings.issuer)).await?;
            if let Some(ca) = &keys.authority {
                out!(
                    "CA        certificate until {} (in the bundle)",
                    expiry(ca.not_after())
                );
            }
            for (k, state) in keys.states() {
                out!(
                    "{state:<9} {:?} kid(libtrust)={} kid(rfc7638)={} certificate until {}{}",
                    k.algorithm(),
                    k.kid(KidStyle::Libtrust),
                    k.kid(KidStyle::Rfc7638),
                    expiry(k.not_after()),
                    if k.is_self_signed() {
                        " (self-signed, in the bundle)"
                    } else {
                        ""
                    },
                );
            }
            Ok(())
        }
        KeysCmd::Jwks => {
            let keys = op(ops::published_keys(store, alg, &settings.issuer)).await?;
            let set = server::key_set(settings, keys)?;
            out!("{}", serde_json::to_string_pretty(&set.jwks())?);
            Ok(())
        }
        KeysCmd::Rotate { force, activate } => {
            if activate {
                crate::files::notice("rotations take one step now: `--activate` is not needed");
            }
            let probe = if force {
                None
            } else {
                server::registry_probe(settings)
            };
            let keys = op(ops::rotate_keys(
                store,
                &Actor::cli(),
                alg,
                &settings.issuer,
                probe.as_ref(),
            ))
            .await?;
            let signing = keys
                .keys
                .first()
                .map(|k| k.kid(KidStyle::Rfc7638).to_owned());
            let set = server::key_set(settings, keys)?;
            let files = server::write_registry_files(settings, &set)?;
            out!(
                "key {} signs now; {} key(s) trusted ({} and {}); running servers switch within {} seconds",
                signing.unwrap_or_default(),
                set.keys().len(),
                files.bundle.display(),
                files.jwks.display(),
                server::KEY_POLL_SECS,
            );
            if probe.is_some() {
                out!("the registry at {} trusts it", settings.registry_url);
            }
            Ok(())
        }
    }
}

/// A bulk import's refusal: nothing was written.
fn import_error(e: OpError) -> anyhow::Error {
    match &e {
        OpError::Invalid { .. } | OpError::Conflict(_) => {
            anyhow::anyhow!("nothing imported: {}", e.message())
        }
        _ => cli_error(e),
    }
}

/// `acl add --stdin`: `SUBJECT PATTERN ACTIONS` per line.
async fn import_rules(app: &App, actor: &Actor) -> Result<()> {
    let mut items = Vec::new();
    for (line, text) in read_items_stdin()? {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [subject, pattern, actions] = fields[..] else {
            bail!(
                "nothing imported: line {line}: expected SUBJECT PATTERN ACTIONS, found {} field(s)",
                fields.len()
            );
        };
        let rule = ops::RuleText {
            subject: subject.to_owned(),
            pattern: pattern.to_owned(),
            actions: actions.to_owned(),
        };
        items.push((format!("line {line}"), rule));
    }
    let stored = ops::import_rules(app, actor, &items)
        .await
        .map_err(import_error)?;
    out!("added {} rule(s)", stored.len());
    Ok(())
}

/// `user add --stdin`: `USERNAME [PASSWORD]` per line.
async fn import_users(app: &App, actor: &Actor, admin: bool, force: bool) -> Result<()> {
    let mut items = Vec::new();
    for (line, text) in read_items_stdin()? {
        let (name, password) = text
            .split_once(char::is_whitespace)
            .map_or((text.as_str(), ""), |(n, p)| (n, p.trim()));
        let user = ops::UserText {
            username: name.to_owned(),
            password: password.to_owned(),
            admin,
            ..ops::UserText::default()
        };
        items.push((format!("line {line}"), user));
    }
    let made = ops::import_users(app, actor, &items, force)
        .await
        .map_err(import_error)?;
    out!("added {} user(s)", made.len());
    Ok(())
}
