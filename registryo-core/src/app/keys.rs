//! Signing keys kept in the store, so every replica signs with the same keys and a rotation
//! made by the CLI reaches running servers.
//!
//! The keys live in the setting `signing_keys` as a JSON list, newest first: the newest signs,
//! all are published (JWKS, certificate bundle), so tokens signed by the previous key stay
//! valid while the registry learns the new certificate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::service::TokenSigner;
use crate::storage::{Audit, Storage, StoreError};
use crate::time::unix_now as now;
use crate::token::{Algorithm, Claims, KeySet, KidStyle, SigningKey, TokenError};
use serde::{Deserialize, Serialize};

/// The setting that holds the keys.
pub const SETTING: &str = "signing_keys";
/// How many keys a rotation keeps (the new one and the previous ones).
pub const KEEP_KEYS: usize = 3;

/// Why keys could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key could not be generated or parsed.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// A rotation step that does not fit the keys' state.
    #[error("{0}")]
    Rotation(String),
    /// The stored list is not valid JSON.
    #[error("the stored signing keys are corrupt: {0}")]
    Corrupt(String),
}

#[derive(Serialize, Deserialize)]
struct StoredKey {
    key_pem: String,
    cert_pem: String,
    created_at: i64,
    /// A staged key is published but does not sign yet.
    #[serde(default = "yes")]
    active: bool,
}

fn yes() -> bool {
    true
}

fn encode(keys: &[StoredKey]) -> Result<String, KeyError> {
    serde_json::to_string(keys).map_err(|e| KeyError::Corrupt(e.to_string()))
}

fn parse_stored(text: &str) -> Result<Vec<StoredKey>, KeyError> {
    serde_json::from_str(text).map_err(|e| KeyError::Corrupt(e.to_string()))
}

/// The keys in signing order: the active ones (newest first), then the staged ones.
fn decode(text: &str) -> Result<Vec<SigningKey>, KeyError> {
    let mut stored = parse_stored(text)?;
    if !stored.iter().any(|k| k.active) {
        return Err(KeyError::Corrupt("no active key".to_owned()));
    }
    stored.sort_by_key(|k| !k.active);
    stored
        .iter()
        .map(|k| SigningKey::from_pem(&k.key_pem, &k.cert_pem).map_err(KeyError::from))
        .collect()
}

fn generate(alg: Algorithm, issuer: &str) -> Result<StoredKey, KeyError> {
    let key = SigningKey::generate(alg, issuer)?;
    Ok(StoredKey {
        key_pem: key.key_pem(),
        cert_pem: key.cert_pem(),
        created_at: now(),
        active: true,
    })
}

/// The stored keys, generating the first one when there is none. Two servers starting at once
/// agree on one key.
pub async fn load_or_generate(
    store: &dyn Storage,
    alg: Algorithm,
    issuer: &str,
) -> Result<Vec<SigningKey>, KeyError> {
    if let Some(text) = store.get_setting(SETTING).await? {
        return decode(&text);
    }
    let first = encode(&[generate(alg, issuer)?])?;
    let text = store.get_or_init_setting(SETTING, &first).await?;
    decode(&text)
}

/// The stored keys, if any.
pub async fn load(store: &dyn Storage) -> Result<Option<Vec<SigningKey>>, KeyError> {
    match store.get_setting(SETTING).await? {
        Some(text) => Ok(Some(decode(&text)?)),
        None => Ok(None),
    }
}

/// Each key in signing order with its state: `signing`, `published` or `staged`.
pub async fn describe(store: &dyn Storage) -> Result<Vec<(SigningKey, &'static str)>, KeyError> {
    let Some(text) = store.get_setting(SETTING).await? else {
        return Ok(Vec::new());
    };
    let mut stored = parse_stored(&text)?;
    stored.sort_by_key(|k| !k.active);
    let mut out = Vec::with_capacity(stored.len());
    for (i, k) in stored.iter().enumerate() {
        let state = match (k.active, i) {
            (false, _) => "staged",
            (true, 0) => "signing",
            (true, _) => "published",
        };
        out.push((SigningKey::from_pem(&k.key_pem, &k.cert_pem)?, state));
    }
    Ok(out)
}

/// Step one of a rotation: a new key, published (bundle, JWKS) but not signing yet, so the
/// registry can learn its certificate first. Refused while another key is staged. The audit
/// events, made of the keys then published (in signing order), are written with the keys.
pub async fn stage(
    store: &dyn Storage,
    alg: Algorithm,
    issuer: &str,
    audit: Audit<'_, [SigningKey]>,
) -> Result<Vec<SigningKey>, KeyError> {
    let text = match store.get_setting(SETTING).await? {
        Some(t) => t,
        None => {
            load_or_generate(store, alg, issuer).await?;
            store.get_setting(SETTING).await?.unwrap_or_default()
        }
    };
    let mut stored = parse_stored(&text)?;
    if stored.iter().any(|k| !k.active) {
        return Err(KeyError::Rotation(
            "a staged key exists already: activate it with `registryo keys rotate --activate`"
                .to_owned(),
        ));
    }
    let mut new = generate(alg, issuer)?;
    new.active = false;
    stored.insert(0, new);
    write_audited(store, &encode(&stored)?, audit).await
}

/// Step two: the staged key signs from now on; the previous ones stay published (at most
/// [`KEEP_KEYS`] in all). Audited as [`stage`] is.
pub async fn activate(
    store: &dyn Storage,
    audit: Audit<'_, [SigningKey]>,
) -> Result<Vec<SigningKey>, KeyError> {
    let text = store
        .get_setting(SETTING)
        .await?
        .ok_or_else(|| KeyError::Rotation("there are no keys yet".to_owned()))?;
    let mut stored = parse_stored(&text)?;
    if stored.iter().all(|k| k.active) {
        return Err(KeyError::Rotation(
            "no key is staged: run `registryo keys rotate` first".to_owned(),
        ));
    }
    for k in &mut stored {
        k.active = true;
    }
    stored.sort_by_key(|k| std::cmp::Reverse(k.created_at));
    stored.truncate(KEEP_KEYS);
    write_audited(store, &encode(&stored)?, audit).await
}

/// Stores the keys `text` with the audit events made of them, in one transaction; returns
/// them in signing order.
async fn write_audited(
    store: &dyn Storage,
    text: &str,
    audit: Audit<'_, [SigningKey]>,
) -> Result<Vec<SigningKey>, KeyError> {
    let published = decode(text)?;
    let events = audit(&published);
    store
        .set_setting(SETTING, text, &|()| events.clone())
        .await?;
    Ok(published)
}

/// A [`KeySet`] that can be replaced while the server runs.
#[derive(Debug)]
pub struct SharedKeys {
    set: RwLock<Arc<KeySet>>,
    style: KidStyle,
    generation: AtomicU64,
}

impl SharedKeys {
    /// Shared keys over a first set.
    pub fn new(keys: Vec<SigningKey>, style: KidStyle) -> Result<SharedKeys, KeyError> {
        Ok(SharedKeys {
            set: RwLock::new(Arc::new(KeySet::new(keys, style)?)),
            style,
            generation: AtomicU64::new(0),
        })
    }

    /// The keys in force.
    pub fn current(&self) -> Arc<KeySet> {
        match self.set.read() {
            Ok(s) => Arc::clone(&s),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// Replace the keys.
    pub fn replace(&self, keys: Vec<SigningKey>) -> Result<(), KeyError> {
        let set = Arc::new(KeySet::new(keys, self.style)?);
        if let Ok(mut s) = self.set.write() {
            *s = set;
        }
        self.generation.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Poll the store every `every` and take up keys rotated elsewhere.
    pub fn spawn_watcher(
        self: &Arc<Self>,
        store: Arc<dyn Storage>,
        every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut last = store.get_setting(SETTING).await.ok().flatten();
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match store.get_setting(SETTING).await {
                    Ok(Some(text)) if Some(&text) != last.as_ref() => {
                        match decode(&text).and_then(|k| this.replace(k)) {
                            Ok(()) => tracing::info!("signing keys reloaded"),
                            Err(e) => tracing::error!(error = %e, "could not load rotated keys"),
                        }
                        last = Some(text);
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "could not poll the signing keys"),
                }
            }
        })
    }
}

impl TokenSigner for SharedKeys {
    fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        self.current().sign(claims)
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }
}
