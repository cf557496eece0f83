//! `registryo serve`: open the store, make the first admin and the keys, and serve `/token`,
//! the web UI and the admin API on one address.

use registryo_core::storage::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use registryo_core::app::App;
use registryo_core::app::accounts::{Accounts, AccountsConfig};
use registryo_core::app::keys::{self, SharedKeys};
use registryo_core::app::mail::{Mail, MailSettings};
use registryo_core::app::ops;
use registryo_core::app::registry::RegistryOptions;
use registryo_core::service::TokenConfig;
use registryo_core::throttle::GuessLimits;
use registryo_core::token::KeySet;
use registryo_http::app::{AppState, EdgeConfig, router};
use registryo_http::forwarded::TrustedProxies;
use registryo_http::mail::{SmtpConfig, SmtpSender};
use registryo_http::session::WebConfig;
use registryo_store::{
    BackendKind, MigrationBackups, NewUser, Store, StoreError, StoreOptions, UserKind,
};
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::serve::{ServeOptions, connection_cap, raise_open_files_limit, serve};

/// Whether opening the store may create it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// `serve`, or an admin command with `--init`: a missing data directory and database
    /// are created (an existing database is never re-initialised).
    CreateIfMissing,
    /// The admin commands: only an existing database is opened; a missing one is an error
    /// that names the data directory looked in and how to point at the right one.
    ExistingOnly,
}

/// Open the data directory and the database: check them (an empty, foreign or damaged
/// SQLite file is refused), narrow modes that are too wide, and create them only when
/// missing and `mode` allows it.
pub async fn open_store(settings: &Settings, mode: OpenMode) -> Result<Store> {
    let create = mode == OpenMode::CreateIfMissing;
    let sqlite_in_data = settings.database_url.is_empty();
    if sqlite_in_data {
        crate::files::prepare_data_dir(&settings.data, create)?;
    }
    let options = StoreOptions {
        acquire_timeout: Duration::from_secs(settings.database_timeout_secs),
        create,
        migration_backups: (settings.migration_backups > 0).then(|| MigrationBackups {
            dir: crate::files::absolute(&crate::files::backups_dir(settings)),
            keep: settings.migration_backups as usize,
        }),
        ..StoreOptions::default()
    };
    let url = settings.database_url();
    match Store::connect_with(&url, &options).await {
        Ok(store) => {
            report_migration(settings, &store);
            Ok(store)
        }
        Err(StoreError::NotMigrated(what)) => bail!(
            "{what}. The database was left as it was. Make room for the backup (or fix the \
             directory) and start again; or back the database up yourself (`registryo backup \
             FILE` with the version that made it) and set migration_backups = 0 \
             (REGISTRYO_MIGRATION_BACKUPS=0) to migrate without an automatic backup"
        ),
        Err(StoreError::Uninitialised(what)) if sqlite_in_data => bail!(
            "no Registryo database in the data directory {dir} (looked for {what}). Admin \
             commands do not create one: run them with the settings `registryo serve` uses, \
             pointing at its data directory with --data DIR or REGISTRYO_DATA=DIR (or \
             `data = \"DIR\"` in registryo.toml); or pass --init to create a new database \
             here.",
            dir = crate::files::absolute(&settings.data).display(),
        ),
        Err(StoreError::Uninitialised(what)) => bail!(
            "no Registryo database at {what}. Admin commands do not create one: check \
             database_url (REGISTRYO_DATABASE_URL), or pass --init to initialise this database"
        ),
        Err(e @ StoreError::Damaged(_)) => Err(e.into()),
        Err(e) => Err(e).with_context(|| {
            format!(
                "cannot open the database {}",
                crate::config::redact_url(&url)
            )
        }),
    }
}

/// Says what opening the store did to the schema of an existing database: where the backup
/// made before the migrations is and how to go back with it, or that there is none.
fn report_migration(settings: &Settings, store: &Store) {
    let Some(m) = store.migrated() else { return };
    let (from, to, applied) = (m.from, m.to, m.applied.join(", "));
    let older = "An older version of Registryo refuses the database from now on";
    match (&m.backup, m.backend) {
        (Some(backup), _) => crate::files::inform(&format!(
            "upgraded the database from schema {from} to {to} (applied {applied}); a copy of \
             it as it was is in {backup}. {older}: to go back, stop registryo, move the \
             database away and put the copy in its place with the older version's `registryo \
             restore {backup}` (the copy is a complete SQLite database), then start the older \
             version",
            backup = backup.display()
        )),
        (None, BackendKind::Postgres) => crate::files::notice(&format!(
            "migrated the PostgreSQL database from schema {from} to {to} (applied {applied}) \
             without a backup: registryo cannot copy a PostgreSQL server's database. {older}: \
             going back means restoring a dump taken before the upgrade (pg_dump \
             --format=custom, then pg_restore into an empty database) and running the older \
             version, so take one before every upgrade"
        )),
        (None, _) => crate::files::notice(&format!(
            "migrated the database from schema {from} to {to} (applied {applied}) without a \
             backup (migration_backups = 0). {older}: going back needs a backup made before"
        )),
    }
    if !m.removed.is_empty() {
        crate::files::inform(&format!(
            "removed older automatic backups (keeping the newest {}): {}",
            settings.migration_backups,
            m.removed
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for failed in &m.not_removed {
        crate::files::notice(&format!(
            "cannot remove an older automatic backup: {failed}"
        ));
    }
}

/// Write what the registry needs to trust the keys (public: see [`crate::files`]): the
/// certificate bundle (the CA, and older self-signed certificates while they are kept) and
/// the JWKS (every key, the next one included).
pub fn write_registry_files(settings: &Settings, keys: &KeySet) -> Result<RegistryFiles> {
    let bundle = crate::files::write_bundle(settings, &keys.cert_bundle_pem())?;
    let jwks = serde_json::to_string_pretty(&keys.jwks())?;
    let jwks = crate::files::write_jwks(settings, &jwks)?;
    Ok(RegistryFiles { bundle, jwks })
}

/// The files [`write_registry_files`] wrote.
#[derive(Debug, Clone)]
pub struct RegistryFiles {
    /// The certificate bundle (`auth.token.rootcertbundle`).
    pub bundle: PathBuf,
    /// The JWKS (`auth.token.jwks`, distribution v3).
    pub jwks: PathBuf,
}

/// What to tell the operator of an installation upgraded from self-signed keys while one of
/// them still signs: the bundle now holds the CA too, and a rotation moves to the CA's keys
/// once the registry has read it.
pub fn upgrade_note(settings: &Settings, set: &KeySet) -> Option<String> {
    let signing = set.signing_key();
    (settings.registry_keys == crate::config::RegistryKeys::Bundle && signing.is_self_signed())
        .then(|| {
            format!(
                "the signing key is an older self-signed one; the bundle {} now also holds \
                 registryo's CA. Restart the registry when convenient so it reads the bundle, \
                 then run `registryo keys rotate`: from then on keys rotate without restarts",
                crate::files::bundle_path(settings).display()
            )
        })
}

/// The signing keys' set as this server's settings want it (kid style, `x5c` or not).
pub fn key_set(settings: &Settings, keys: keys::Keys) -> Result<KeySet> {
    Ok(keys.into_key_set(settings.kid_style, settings.registry_keys.reference())?)
}

/// How a rotation asks the registry whether it trusts the next key: `None` without
/// `registry_url`.
pub fn registry_probe(settings: &Settings) -> Option<ops::RegistryProbe> {
    (!settings.registry_url.is_empty()).then(|| ops::RegistryProbe {
        url: settings.registry_url.clone(),
        issuer: settings.issuer.clone(),
        service: settings.service.clone(),
        style: settings.kid_style,
        reference: settings.registry_keys.reference(),
        timeout: Duration::from_secs(settings.registry_timeout_secs),
    })
}

/// A random password of 24 characters from an unambiguous alphabet.
pub fn generate_password() -> Result<String> {
    Ok(registryo_core::secret::random_password()?)
}

/// Create the `admin` user when the database holds no user. Returns the generated password,
/// if one was generated.
pub async fn bootstrap_admin(store: &Store, settings: &Settings) -> Result<Option<String>> {
    if store.count_users().await? > 0 {
        return Ok(None);
    }
    let (password, generated) = if settings.admin_password.is_empty() {
        (generate_password()?, true)
    } else {
        (settings.admin_password.expose().to_owned(), false)
    };
    let pw = password.clone();
    let hash = tokio::task::spawn_blocking(move || {
        registryo_core::app::accounts::hash_password_blocking(&pw)
    })
    .await??;
    let admin = registryo_core::names::Username::new("admin")?;
    let user = NewUser::new(admin, UserKind::Human)
        .password_hash(hash)
        .admin(true);
    // Made by the first start, by no one: not audited.
    match store.create_user(&user, &|_| Vec::new()).await {
        Ok(_) => {}
        // Another replica made it first.
        Err(registryo_store::StoreError::Conflict(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    Ok(generated.then_some(password))
}

/// How often a server looks for keys rotated elsewhere, in seconds.
pub const KEY_POLL_SECS: u64 = 5;

/// Token settings from the configuration.
pub fn token_config(settings: &Settings) -> TokenConfig {
    let mut c = TokenConfig::new(&settings.issuer, &settings.service);
    c.token_ttl = Duration::from_secs(settings.token_ttl_secs);
    c
}

/// Web UI settings from the configuration: cookies are `Secure` when the public URL is
/// https or `secure_cookies` says so.
pub fn web_config(settings: &Settings) -> WebConfig {
    WebConfig {
        secure_cookies: settings.secure_cookies || settings.public_url().starts_with("https://"),
        session_ttl: Duration::from_secs(settings.session_ttl_secs.max(60)),
        registry_host: settings.registry_host(),
    }
}

// --- Connections and the network edge (issue 8).

/// The serve loop's limits from the configuration, the connection cap lowered to fit the
/// open-files limit `nofile`.
pub fn serve_options(settings: &Settings, nofile: Option<u64>) -> ServeOptions {
    let wanted = usize::try_from(settings.max_connections).unwrap_or(usize::MAX);
    ServeOptions {
        header_read_timeout: Duration::from_secs(settings.header_read_timeout_secs),
        idle_timeout: Duration::from_secs(settings.idle_timeout_secs),
        max_connections: connection_cap(wanted, nofile),
        grace: Duration::from_secs(settings.shutdown_grace_secs),
    }
}

/// Trusted proxies, and HSTS when the public URL is https.
pub fn edge_config(settings: &Settings) -> Result<EdgeConfig> {
    Ok(EdgeConfig {
        trusted_proxies: TrustedProxies::parse(&settings.trusted_proxies)
            .context("trusted_proxies")?,
        hsts: settings.public_url().starts_with("https://"),
        // Added by `serve`, which installs the recorder.
        metrics: None,
        notifications_from: TrustedProxies::parse(&settings.notifications_from)
            .context("notifications_from")?,
    })
}

/// The UI's registry time-out from the configuration.
pub fn registry_options(settings: &Settings) -> RegistryOptions {
    RegistryOptions {
        timeout: Duration::from_secs(settings.registry_timeout_secs),
        version: settings.registry_version,
        ..RegistryOptions::default()
    }
}

// --- end of connections and the network edge.

/// E-mail from the configuration, when `smtp_host` is set.
pub fn mail(settings: &Settings) -> Result<Option<Mail>> {
    if settings.smtp_host.is_empty() {
        return Ok(None);
    }
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let smtp = SmtpConfig {
        host: settings.smtp_host.clone(),
        port: settings.smtp_port,
        tls: settings.smtp_tls,
        username: nonempty(&settings.smtp_username),
        password: nonempty(settings.smtp_password.expose()),
    };
    let sender = SmtpSender::new(&smtp).map_err(anyhow::Error::msg)?;
    let mut ms = MailSettings::new(&settings.smtp_from, settings.public_url());
    ms.reset_ttl = Duration::from_secs(settings.reset_token_ttl_secs);
    ms.invite_ttl = Duration::from_secs(settings.invite_token_ttl_secs);
    let mail = Mail::new(ms, Arc::new(sender)).map_err(anyhow::Error::msg)?;
    Ok(Some(mail))
}

/// The accounts' settings from the configuration.
pub fn accounts_config(settings: &Settings) -> AccountsConfig {
    let mut c = AccountsConfig::new(Duration::from_secs(settings.credential_cache_secs));
    c.limits = GuessLimits {
        per_account_and_address: settings.max_failures_per_account_and_address,
        per_account: settings.max_failures_per_account,
    };
    c.refresh_idle = Duration::from_secs(settings.refresh_token_idle_days.saturating_mul(86_400));
    c
}

/// The application over a store: accounts, keys, the token service and, when configured, the
/// registry the UI browses. `serve` and every admin command build it here, so the CLI runs
/// the same operations as the UI and the API.
pub async fn app_state(settings: &Settings, store: &Store) -> Result<AppState> {
    let app = app(settings, store).await?;
    Ok(AppState::from_app(app, token_config(settings))
        .with_web_config(web_config(settings))
        .with_edge(edge_config(settings)?))
}

/// The application (core's [`App`]) from the configuration: the accounts over the store,
/// the signing keys and the registry (e-mail is added by `serve`, which knows the address
/// links point to). The command line runs its operations on this.
pub async fn app(settings: &Settings, store: &Store) -> Result<App> {
    let signing = keys::load_or_generate(store, settings.key_algorithm, &settings.issuer).await?;
    let shared = Arc::new(SharedKeys::new(
        signing,
        settings.kid_style,
        settings.registry_keys.reference(),
    )?);
    let accounts = Accounts::with_config(
        std::sync::Arc::new(store.clone()),
        accounts_config(settings),
    )
    .await?;
    let secret = registryo_core::app::notifications::secret(store)
        .await
        .map_err(|e| anyhow::anyhow!("cannot read the notifications secret: {}", e.message()))?;
    let mut app = App::new(accounts, shared).with_notifications(secret);
    if !settings.registry_url.is_empty() {
        app = app
            .with_registry(
                &settings.registry_url,
                &settings.issuer,
                &settings.service,
                registry_options(settings),
            )
            .with_context(|| format!("registry_url {:?} cannot be used", settings.registry_url))?;
    }
    Ok(app)
}

/// Everything `serve` needs, built and bound (`Application::build`), ready to `run`.
pub struct Application {
    listener: TcpListener,
    /// https when `tls_cert` and `tls_key` are set.
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: axum::Router,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Its refresh tokens' last uses are written when serving ends.
    accounts: Accounts,
    /// Checkpointed and closed when serving ends.
    store: Store,
    /// Connection limits and the grace period.
    options: ServeOptions,
    /// SIGTERM, listened to from before "listening" is printed (no window where it kills).
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl Application {
    /// Open the store, bootstrap, load the keys and bind the listener.
    pub async fn build(settings: &Settings) -> Result<Application> {
        // Before anything opens files: every connection is one.
        let nofile = raise_open_files_limit();
        let options = serve_options(settings, nofile);
        // Before any part that records is made: they take their handles when made.
        let metrics = if settings.metrics {
            Some(crate::metrics::install()?)
        } else {
            None
        };
        let store = open_store(settings, OpenMode::CreateIfMissing).await?;
        if let Some(pw) = bootstrap_admin(&store, settings).await? {
            say!("Created the first administrator.");
            say!("  username: admin");
            say!("  password: {pw}");
            say!("  (shown once: change it after signing in)");
        }
        let mut state = app_state(settings, &store).await?;
        if let Some(handle) = &metrics {
            let endpoint = crate::metrics::endpoint(settings, handle.clone())?;
            state = state.with_edge(EdgeConfig {
                metrics: Some(Arc::new(endpoint)),
                ..edge_config(settings)?
            });
        }
        let files = write_registry_files(settings, &state.keys.current())?;
        if let Some(note) = upgrade_note(settings, &state.keys.current()) {
            say!("Note: {note}.");
        }
        // Every replica rewrites its files when the keys change, wherever they changed.
        let on_change = {
            let settings = settings.clone();
            Box::new(move |set: &KeySet| {
                if let Err(e) = write_registry_files(&settings, set) {
                    tracing::error!(error = %format!("{e:#}"), "could not rewrite the registry's key files");
                }
            })
        };
        let mut tasks = vec![
            state.accounts.spawn_watcher(Duration::from_secs(1)),
            state.keys.spawn_watcher(
                state.accounts.store().clone(),
                Duration::from_secs(KEY_POLL_SECS),
                on_change,
            ),
            crate::janitor::spawn_janitor(
                store.clone(),
                settings.clone(),
                Duration::from_secs(3600),
            ),
        ];
        if let Some(handle) = metrics {
            tasks.push(crate::metrics::spawn_upkeep(handle));
        }
        let tls = if settings.tls_cert.as_os_str().is_empty() {
            None
        } else {
            Some(crate::tls::acceptor(&settings.tls_cert, &settings.tls_key)?)
        };
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let addr = listener.local_addr()?;
        // Links in e-mails need the real port when listening on port 0 without a public URL.
        let mut link_settings = settings.clone();
        if link_settings.public_url.is_empty() {
            link_settings.listen = addr;
        }
        match mail(&link_settings)? {
            Some(mail) => state = state.with_mail(mail),
            None => say!(
                "E-mail is not configured (smtp_host is empty): no \"forgot password\" link, no invitations."
            ),
        }
        let accounts = state.accounts.clone();
        let app = router(state);
        say!("Registry configuration (auth.token):");
        say!("  realm: {}", settings.realm());
        say!("  service: {}", settings.service);
        say!("  issuer: {}", settings.issuer);
        match settings.registry_keys {
            crate::config::RegistryKeys::Bundle => {
                say!("  rootcertbundle: {}", files.bundle.display());
            }
            crate::config::RegistryKeys::Jwks => say!("  jwks: {}", files.jwks.display()),
        }
        say!(
            "`registryo registry-config --realm {}` prints a whole config.yml.",
            settings.realm()
        );
        #[cfg(unix)]
        let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let scheme = if tls.is_some() { "https" } else { "http" };
        say!("registryo listening on {scheme}://{addr}");
        Ok(Application {
            listener,
            tls,
            app,
            tasks,
            accounts,
            store,
            options,
            #[cfg(unix)]
            term,
        })
    }

    /// Serve until SIGTERM or Ctrl-C; requests in flight get the grace period to finish, then
    /// every connection is dropped, the background tasks stop, the refresh tokens' last uses
    /// are written and the store is checkpointed and closed (a SQLite database is then its `.db` file alone).
    pub async fn run(self) -> Result<()> {
        let signal = shutdown_signal(
            #[cfg(unix)]
            self.term,
        );
        serve(self.listener, self.app, self.options, self.tls, signal).await;
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
        // The uses recorded since the watcher's last write: the idle rule reads them.
        match tokio::time::timeout(Duration::from_secs(5), self.accounts.flush_token_uses()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "could not record refresh token uses"),
            Err(_) => tracing::warn!("recording refresh token uses took too long"),
        }
        // Bounded: a stuck database must not keep the process from exiting.
        match tokio::time::timeout(Duration::from_secs(5), self.store.checkpoint_and_close()).await
        {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => tracing::warn!(
                "the database log could not be copied entirely (another process is using it)"
            ),
            Ok(Err(e)) => tracing::warn!(error = %e, "could not checkpoint the database"),
            Err(_) => tracing::warn!("closing the database took too long"),
        }
        tracing::info!("stopped");
        Ok(())
    }
}

async fn shutdown_signal(#[cfg(unix)] term: Option<tokio::signal::unix::Signal>) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async move {
        match term {
            Some(mut s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
