//! The registry as the application sees it: a client signing its own tokens, and the
//! catalog cache (the UI's pages and the `${account}` namespace check read it).
//!
//! [`RegistryBrowser`] holds the core's [`RegistryClient`] over [`UiTokens`] (tokens the server
//! signs for itself with its current keys), every request bounded by
//! [`RegistryOptions::timeout`], and the catalog: fetched by one task at a time, kept for the
//! catalog TTL, and never holding a viewer longer than the refresh wait once there is one.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::{
    RegistryAuth, RegistryAuthLayer, RegistryClient, RegistryError, ReqwestTransport,
    SelfSignedTokens, TokenSource, VersionSetting,
};
use crate::scope::ScopeSet;
use crate::token::TokenError;
use tower_layer::Layer;

use super::keys::SharedKeys;

/// How long the catalog is kept in memory before it is fetched again.
pub const CATALOG_TTL: Duration = Duration::from_secs(15);
/// How long a registry request may take by default (the `registry_timeout_secs` setting).
pub const REGISTRY_TIMEOUT: Duration = Duration::from_secs(10);

/// How the UI talks to the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryOptions {
    /// Every request to the registry (connecting included) gives up after this, and so does a
    /// viewer waiting for the first catalog.
    pub timeout: Duration,
    /// How long a fetched catalog is served before it is refreshed.
    pub catalog_ttl: Duration,
    /// How long a viewer who finds the catalog stale waits for its refresh before being
    /// shown the stale one (a refresh usually takes well under a second).
    pub refresh_wait: Duration,
    /// Which distribution the registry is (the `registry_version` setting): detected by
    /// default. It decides what deleting a tag does: on v3 the tag alone goes, on 2.8 its
    /// manifest with every tag on it.
    pub version: VersionSetting,
}

impl Default for RegistryOptions {
    fn default() -> RegistryOptions {
        RegistryOptions {
            timeout: REGISTRY_TIMEOUT,
            catalog_ttl: CATALOG_TTL,
            refresh_wait: Duration::from_secs(1),
            version: VersionSetting::Auto,
        }
    }
}

/// Tokens the server signs for itself with its current signing keys (read from
/// [`SharedKeys`] for every token, so a rotation applies at once).
#[derive(Debug, Clone)]
pub struct UiTokens {
    keys: Arc<SharedKeys>,
    issuer: String,
    service: String,
}

impl UiTokens {
    /// Tokens from `issuer` for the registry's `service`.
    pub fn new(keys: Arc<SharedKeys>, issuer: &str, service: &str) -> UiTokens {
        UiTokens {
            keys,
            issuer: issuer.to_owned(),
            service: service.to_owned(),
        }
    }
}

impl TokenSource for UiTokens {
    type Error = TokenError;

    fn token(&self, scopes: &ScopeSet) -> impl Future<Output = Result<String, TokenError>> + Send {
        let tokens = SelfSignedTokens::new(
            self.keys.current(),
            self.issuer.as_str(),
            self.service.as_str(),
        );
        std::future::ready(tokens.sign(scopes))
    }
}

/// The registry client the UI uses.
pub type UiClient = RegistryClient<RegistryAuth<ReqwestTransport, UiTokens>>;

/// The outcome of one catalog fetch, shared by every viewer waiting for it.
pub type Fetched = Result<Arc<Vec<String>>, Arc<RegistryError>>;

/// The catalog kept in memory, and the fetch under way.
#[derive(Debug, Default)]
struct CatalogCache {
    /// The last catalog fetched, and when.
    last: Option<(Instant, Arc<Vec<String>>)>,
    /// The fetch in flight: its outcome arrives here.
    flight: Option<tokio::sync::watch::Receiver<Option<Fetched>>>,
}

/// The UI's view of the registry: a client (when `registry_url` is set) and the catalog cache.
///
/// The catalog is refreshed by one fetch at a time, in a task of its own, that never holds
/// a viewer long: a viewer who finds it stale waits for the refresh at most
/// [`RegistryOptions::refresh_wait`] and then gets the last catalog, however old; only when
/// there is none yet does a viewer wait longer, at most [`RegistryOptions::timeout`], and then
/// get the "registry unreachable" page.
#[derive(Debug)]
pub struct RegistryBrowser {
    client: Option<UiClient>,
    options: RegistryOptions,
    catalog: std::sync::Mutex<CatalogCache>,
}

impl RegistryBrowser {
    /// No registry configured: the pages say so.
    pub fn disabled() -> RegistryBrowser {
        RegistryBrowser {
            client: None,
            options: RegistryOptions::default(),
            catalog: std::sync::Mutex::default(),
        }
    }

    /// A browser of the registry at `url` (`http(s)://host[:port]`), with tokens signed by
    /// `keys` for `issuer` and `service` (the registry's `auth.token` settings); every request
    /// times out after `options.timeout`.
    pub fn connect(
        url: &str,
        keys: Arc<SharedKeys>,
        issuer: &str,
        service: &str,
        options: RegistryOptions,
    ) -> Result<RegistryBrowser, RegistryError> {
        let transport = ReqwestTransport::with_timeouts(options.timeout, options.timeout)?;
        let service = RegistryAuthLayer::new(UiTokens::new(keys, issuer, service)).layer(transport);
        Ok(RegistryBrowser {
            client: Some(RegistryClient::new(url, service)?.with_version_setting(options.version)),
            options,
            catalog: std::sync::Mutex::default(),
        })
    }

    /// The client, when a registry is configured.
    pub fn client(&self) -> Option<&UiClient> {
        self.client.as_ref()
    }

    /// Every repository of the registry (the catalog, as the pages get it), or `None` when no
    /// registry is configured.
    pub async fn repositories(
        self: &Arc<Self>,
    ) -> Result<Option<Arc<Vec<String>>>, Arc<RegistryError>> {
        if self.client.is_none() {
            return Ok(None);
        }
        self.catalog().await.map(Some)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, CatalogCache> {
        self.catalog.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every repository: the cached catalog while it is younger than the catalog TTL; else
    /// the refreshed one if the refresh ends within the refresh wait, or the last one; with
    /// none yet, the refresh's outcome, waited for at most the registry time-out.
    pub async fn catalog(self: &Arc<Self>) -> Fetched {
        let (mut flight, last) = {
            let mut cache = self.cache();
            let last = match &cache.last {
                Some((at, list)) if at.elapsed() < self.options.catalog_ttl => {
                    return Ok(Arc::clone(list));
                }
                last => last.as_ref().map(|(_, list)| Arc::clone(list)),
            };
            // A flight whose task is gone (it cannot panic, but) is replaced.
            let flight = match &cache.flight {
                Some(rx) if rx.has_changed().is_ok() => rx.clone(),
                _ => {
                    let rx = self.refresh();
                    cache.flight = Some(rx.clone());
                    rx
                }
            };
            (flight, last)
        };
        let wait = match &last {
            Some(_) => self.options.refresh_wait.min(self.options.timeout),
            None => self.options.timeout,
        };
        let outcome = match tokio::time::timeout(wait, flight.wait_for(Option::is_some)).await {
            Ok(Ok(outcome)) => outcome.clone(),
            Ok(Err(_)) | Err(_) => None,
        };
        match (outcome, last) {
            (Some(Ok(list)), _) => Ok(list),
            // The refresh failed or is still running: the last catalog, if there is one.
            (_, Some(list)) => Ok(list),
            (Some(Err(e)), None) => Err(e),
            (None, None) => Err(Arc::new(self.timed_out())),
        }
    }

    /// Fetch the catalog in a task of its own; its outcome arrives on the receiver.
    fn refresh(self: &Arc<Self>) -> tokio::sync::watch::Receiver<Option<Fetched>> {
        let (tx, rx) = tokio::sync::watch::channel(None);
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let outcome: Fetched = match &this.client {
                Some(client) => client.catalog_all().await.map(Arc::new).map_err(Arc::new),
                None => Err(Arc::new(this.timed_out())),
            };
            {
                let mut cache = this.cache();
                if let Ok(list) = &outcome {
                    cache.last = Some((Instant::now(), Arc::clone(list)));
                }
                cache.flight = None;
            }
            let _ = tx.send(Some(outcome));
        });
        rx
    }

    fn timed_out(&self) -> RegistryError {
        RegistryError::Timeout {
            url: self
                .client
                .as_ref()
                .map(|c| format!("{}/v2/_catalog", c.base_url()))
                .unwrap_or_default(),
        }
    }
}
