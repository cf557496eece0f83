//! Signing keys kept in the store, so every replica signs with the same keys and a rotation
//! made anywhere reaches every running server.
//!
//! The setting `signing_keys` holds, as JSON, a long-lived **CA** and the **keys**:
//! - the CA's certificate is the registry's bundle (`rootcertbundle`); it issues each key a
//!   certificate valid for [`LEAF_LIFETIME_SECS`], sent in the token's `x5c`, so a new key signs
//!   at once without the registry reading anything (both 2.8 and v3 read the bundle only at
//!   start and verify `x5c` as a chain to it);
//! - the keys, in signing order: the **signing** key, the **previous** ones (still trusted, so
//!   tokens they signed stay valid) and one **next** key, made ahead of use and already in the
//!   JWKS, so a v3 registry that knows keys only from its `jwks` file (read at start) trusts the
//!   next key after its next restart, before the key signs.
//!
//! Older versions stored a bare list of keys with self-signed certificates (and a two-step
//! rotation). Such a list is read as it is; the first load adds a CA and a next key, and the
//! old keys' certificates stay in the bundle while they are kept, so a registry still running
//! on the old bundle keeps accepting the old signing key until a rotation moves on.
//!
//! Every change is a compare-and-swap of the setting ([`Storage::replace_setting`]): of two
//! rotations started at once, one wins and the other is told it lost.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::service::TokenSigner;
use crate::storage::{Audit, Storage, StoreError};
use crate::time::unix_now as now;
use crate::token::{
    Algorithm, CertificateAuthority, Claims, KeyReference, KeySet, KidStyle, SigningKey, TokenError,
};
use serde::{Deserialize, Serialize};

/// The setting that holds the keys.
pub const SETTING: &str = "signing_keys";
/// How many keys that signed before are kept (trusted) beside the signing and the next one.
pub const KEEP_PREVIOUS: usize = 2;
/// How long a signing key's certificate is valid: 30 days from when it starts signing.
pub const LEAF_LIFETIME_SECS: i64 = 30 * 86_400;
/// The signing key is renewed (a rotation) when its certificate has less than this left:
/// 21 days, so a key signs for about 9 days and stays trusted for 21 more.
pub const RENEW_BEFORE_SECS: i64 = 21 * 86_400;

/// Why keys could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key could not be generated or parsed.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// A rotation that cannot go ahead (another won, or the registry does not trust the key).
    #[error("{0}")]
    Rotation(String),
    /// The stored keys are not valid.
    #[error("the stored signing keys are corrupt: {0}")]
    Corrupt(String),
}

#[derive(Clone, Serialize, Deserialize)]
struct StoredKey {
    key_pem: String,
    cert_pem: String,
    created_at: i64,
    /// A staged (next) key is published but does not sign yet.
    #[serde(default = "yes")]
    active: bool,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Serialize, Deserialize)]
struct StoredCa {
    key_pem: String,
    cert_pem: String,
    created_at: i64,
}

/// What the setting holds. Older versions stored `keys` alone, as a JSON list.
#[derive(Clone, Serialize, Deserialize)]
struct Stored {
    ca: Option<StoredCa>,
    keys: Vec<StoredKey>,
}

fn encode(stored: &Stored) -> Result<String, KeyError> {
    serde_json::to_string(stored).map_err(|e| KeyError::Corrupt(e.to_string()))
}

fn parse_stored(text: &str) -> Result<Stored, KeyError> {
    let corrupt = |e: serde_json::Error| KeyError::Corrupt(e.to_string());
    let mut stored = if text.trim_start().starts_with('[') {
        Stored {
            ca: None,
            keys: serde_json::from_str(text).map_err(corrupt)?,
        }
    } else {
        serde_json::from_str::<Stored>(text).map_err(corrupt)?
    };
    if !stored.keys.iter().any(|k| k.active) {
        return Err(KeyError::Corrupt("no active key".to_owned()));
    }
    // Signing order: the active keys newest first, then the staged one.
    stored
        .keys
        .sort_by_key(|k| (!k.active, std::cmp::Reverse(k.created_at)));
    Ok(stored)
}

/// The keys of the store, parsed: what a server signs with and publishes.
#[derive(Debug)]
pub struct Keys {
    /// Signing order: the signing key, the previous ones, then the next (staged) one.
    pub keys: Vec<SigningKey>,
    /// How many of `keys` are active (the signing key and the previous ones).
    pub active: usize,
    /// The CA that issues the keys' certificates (absent only in an older installation's
    /// keys, before the first load of this version adds it).
    pub authority: Option<CertificateAuthority>,
}

impl Keys {
    /// The key set a server signs with: its tokens name their key as `reference` says, in
    /// `style`; the CA's certificate heads the bundle.
    pub fn into_key_set(
        self,
        style: KidStyle,
        reference: KeyReference,
    ) -> Result<KeySet, KeyError> {
        let ca = self.authority.map(|ca| ca.cert_der().to_vec());
        let set = KeySet::new(self.keys, style)?.with_reference(reference);
        Ok(match ca {
            Some(der) => set.with_authority(der),
            None => set,
        })
    }

    /// Each key with its state: `signing`, `published` (signed before, still trusted) or
    /// `next` (trusted, in the JWKS, signs after the next rotation).
    pub fn states(&self) -> impl Iterator<Item = (&SigningKey, &'static str)> {
        self.keys.iter().enumerate().map(|(i, k)| {
            let state = match i {
                0 => "signing",
                i if i < self.active => "published",
                _ => "next",
            };
            (k, state)
        })
    }
}

fn decode(text: &str) -> Result<Keys, KeyError> {
    decode_stored(&parse_stored(text)?)
}

fn decode_stored(stored: &Stored) -> Result<Keys, KeyError> {
    let keys = stored
        .keys
        .iter()
        .map(|k| SigningKey::from_pem(&k.key_pem, &k.cert_pem).map_err(KeyError::from))
        .collect::<Result<Vec<_>, _>>()?;
    let authority = match &stored.ca {
        Some(ca) => Some(CertificateAuthority::from_pem(&ca.key_pem, &ca.cert_pem)?),
        None => None,
    };
    Ok(Keys {
        active: stored.keys.iter().filter(|k| k.active).count(),
        keys,
        authority,
    })
}

/// The common name of the CA and of the keys' certificates.
fn ca_name(issuer: &str) -> String {
    format!("{issuer} token CA")
}

fn stored_key(key: &SigningKey, active: bool) -> StoredKey {
    StoredKey {
        key_pem: key.key_pem(),
        cert_pem: key.cert_pem(),
        created_at: now(),
        active,
    }
}

fn new_ca(alg: Algorithm, issuer: &str) -> Result<(CertificateAuthority, StoredCa), KeyError> {
    let ca = CertificateAuthority::generate(alg, &ca_name(issuer))?;
    let stored = StoredCa {
        key_pem: ca.key_pem(),
        cert_pem: ca.cert_pem(),
        created_at: now(),
    };
    Ok((ca, stored))
}

/// A new key with a certificate from `ca`.
fn issue(ca: &CertificateAuthority, alg: Algorithm, issuer: &str) -> Result<SigningKey, KeyError> {
    Ok(ca.issue(alg, issuer, LEAF_LIFETIME_SECS)?)
}

/// A first set of keys: a CA, a signing key and a next key.
fn first_keys(alg: Algorithm, issuer: &str) -> Result<Stored, KeyError> {
    let (ca, stored_ca) = new_ca(alg, issuer)?;
    let signing = stored_key(&issue(&ca, alg, issuer)?, true);
    let next = stored_key(&issue(&ca, alg, issuer)?, false);
    Ok(Stored {
        ca: Some(stored_ca),
        keys: vec![signing, next],
    })
}

/// An older installation's keys with a CA and a next key added (a staged key it has is kept
/// as the next one). `None` when nothing needs adding.
fn upgraded(stored: &Stored, alg: Algorithm, issuer: &str) -> Result<Option<Stored>, KeyError> {
    let has_next = stored.keys.iter().any(|k| !k.active);
    if stored.ca.is_some() && has_next {
        return Ok(None);
    }
    let mut stored = stored.clone();
    let ca = match &stored.ca {
        Some(ca) => CertificateAuthority::from_pem(&ca.key_pem, &ca.cert_pem)?,
        None => {
            let (ca, stored_ca) = new_ca(alg, issuer)?;
            stored.ca = Some(stored_ca);
            ca
        }
    };
    if !has_next {
        stored
            .keys
            .push(stored_key(&issue(&ca, alg, issuer)?, false));
    }
    Ok(Some(stored))
}

/// The stored keys, making them when there are none and adding a CA and a next key to an
/// older installation's. Several servers starting at once agree on one set.
pub async fn load_or_generate(
    store: &dyn Storage,
    alg: Algorithm,
    issuer: &str,
) -> Result<Keys, KeyError> {
    let (_, stored) = current(store, alg, issuer).await?;
    decode_stored(&stored)
}

/// The setting's text and what it holds, made first when there is none and upgraded (a CA,
/// a next key) when an older version wrote it; another server's upgrade is taken as it is.
async fn current(
    store: &dyn Storage,
    alg: Algorithm,
    issuer: &str,
) -> Result<(String, Stored), KeyError> {
    let text = match store.get_setting(SETTING).await? {
        Some(text) => text,
        None => {
            let first = encode(&first_keys(alg, issuer)?)?;
            store.get_or_init_setting(SETTING, &first).await?
        }
    };
    let stored = parse_stored(&text)?;
    let Some(new) = upgraded(&stored, alg, issuer)? else {
        return Ok((text, stored));
    };
    let new_text = encode(&new)?;
    if store
        .replace_setting(SETTING, &text, &new_text, &|()| Vec::new())
        .await?
    {
        return Ok((new_text, new));
    }
    // Another server upgraded them first: take its keys.
    let text = store
        .get_setting(SETTING)
        .await?
        .ok_or_else(|| KeyError::Corrupt("the signing keys disappeared".to_owned()))?;
    let stored = parse_stored(&text)?;
    Ok((text, stored))
}

/// The stored keys, if any.
pub async fn load(store: &dyn Storage) -> Result<Option<Keys>, KeyError> {
    match store.get_setting(SETTING).await? {
        Some(text) => Ok(Some(decode(&text)?)),
        None => Ok(None),
    }
}

/// A rotation worked out but not written: [`plan_rotation`], then the caller may check that
/// the registry trusts [`Rotation::candidate`], then [`Rotation::commit`].
pub struct Rotation {
    read: String,
    stored: Stored,
    keys: Keys,
}

impl std::fmt::Debug for Rotation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rotation")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl Rotation {
    /// The key that signs once the rotation is committed.
    pub fn candidate(&self) -> &SigningKey {
        &self.keys.keys[0]
    }

    /// The keys as they will be.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Writes the new keys with their audit events, unless the keys changed since they were
    /// read: then nothing is written and the rotation lost ([`KeyError::Rotation`]).
    pub async fn commit(
        self,
        store: &dyn Storage,
        audit: Audit<'_, Keys>,
    ) -> Result<Keys, KeyError> {
        let events = audit(&self.keys);
        let text = encode(&self.stored)?;
        if store
            .replace_setting(SETTING, &self.read, &text, &|()| events.clone())
            .await?
        {
            Ok(self.keys)
        } else {
            Err(KeyError::Rotation(
                "another rotation changed the signing keys first; nothing was changed by this \
                 one (see `registryo keys show`)"
                    .to_owned(),
            ))
        }
    }
}

/// Works out a rotation: the next key signs (with a fresh certificate from the CA), the
/// signing key and up to [`KEEP_PREVIOUS`] in all of the earlier ones stay trusted, and a new
/// next key is made. Keys older than that are dropped. Nothing is written yet.
pub async fn plan_rotation(
    store: &dyn Storage,
    alg: Algorithm,
    issuer: &str,
) -> Result<Rotation, KeyError> {
    let (read, mut stored) = current(store, alg, issuer).await?;
    let ca_stored = stored
        .ca
        .clone()
        .ok_or_else(|| KeyError::Corrupt("no CA after the upgrade".to_owned()))?;
    let ca = CertificateAuthority::from_pem(&ca_stored.key_pem, &ca_stored.cert_pem)?;
    let (staged, mut active): (Vec<StoredKey>, Vec<StoredKey>) =
        stored.keys.drain(..).partition(|k| !k.active);
    let candidate = match staged.into_iter().next() {
        Some(next) => {
            let key = SigningKey::from_pem(&next.key_pem, &next.cert_pem)?;
            // A key the CA issued gets a certificate valid from now; an older self-signed
            // one keeps its own (the registry knows it by that certificate).
            if key.is_self_signed() {
                key
            } else {
                ca.reissue(&key, issuer, LEAF_LIFETIME_SECS)?
            }
        }
        None => issue(&ca, alg, issuer)?,
    };
    active.truncate(KEEP_PREVIOUS);
    let mut keys = vec![stored_key(&candidate, true)];
    keys.extend(active);
    keys.push(stored_key(&issue(&ca, alg, issuer)?, false));
    stored.keys = keys;
    let parsed = decode_stored(&stored)?;
    Ok(Rotation {
        read,
        stored,
        keys: parsed,
    })
}

/// Whether the signing key's certificate, issued by the CA, expires within
/// [`RENEW_BEFORE_SECS`] of `at`: then it is time for a rotation.
pub fn renewal_due(keys: &Keys, at: i64) -> bool {
    keys.keys.first().is_some_and(|k| {
        !k.is_self_signed() && k.not_after().saturating_sub(at) < RENEW_BEFORE_SECS
    })
}

/// A [`KeySet`] that can be replaced while the server runs.
#[derive(Debug)]
pub struct SharedKeys {
    set: RwLock<Arc<KeySet>>,
    style: KidStyle,
    reference: KeyReference,
    generation: AtomicU64,
}

impl SharedKeys {
    /// Shared keys over a first set.
    pub fn new(
        keys: Keys,
        style: KidStyle,
        reference: KeyReference,
    ) -> Result<SharedKeys, KeyError> {
        Ok(SharedKeys {
            set: RwLock::new(Arc::new(keys.into_key_set(style, reference)?)),
            style,
            reference,
            generation: AtomicU64::new(0),
        })
    }

    /// Shared keys over bare signing keys, without a CA (tests, libraries).
    pub fn from_signing_keys(keys: Vec<SigningKey>, style: KidStyle) -> Result<Self, KeyError> {
        let keys = Keys {
            active: keys.len(),
            keys,
            authority: None,
        };
        SharedKeys::new(keys, style, KeyReference::X5c)
    }

    /// The keys in force.
    pub fn current(&self) -> Arc<KeySet> {
        match self.set.read() {
            Ok(s) => Arc::clone(&s),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// Replace the keys.
    pub fn replace(&self, keys: Keys) -> Result<(), KeyError> {
        let set = Arc::new(keys.into_key_set(self.style, self.reference)?);
        if let Ok(mut s) = self.set.write() {
            *s = set;
        }
        self.generation.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Poll the store every `every` and take up keys rotated elsewhere; `changed` is called
    /// with each new set (to rewrite the registry's bundle and JWKS files).
    pub fn spawn_watcher(
        self: &Arc<Self>,
        store: Arc<dyn Storage>,
        every: Duration,
        changed: Box<dyn Fn(&KeySet) + Send + Sync>,
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
                            Ok(()) => {
                                tracing::info!("signing keys reloaded");
                                changed(&this.current());
                            }
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
