//! The signing keys: showing them and rotating them, each rotation audited in the transaction
//! that writes the keys and, when the registry is known, only after it has shown that it
//! trusts the key about to sign.
//!
//! They take the store rather than an [`App`](super::super::App): a rotation runs on a
//! machine whose server may be down, and it needs no accounts.

use std::time::Duration;

use crate::storage::{NewAuditEvent, Storage};
use crate::token::{Algorithm, Claims, KeyReference, KeySet, KidStyle, SigningKey};

use super::super::keys::{self, KeyError, Keys};
use super::{Actor, OpError};

/// The stored keys (signing order, with their states: [`Keys::states`]); the first keys are
/// made when there are none, as a starting server would.
pub async fn published_keys(
    store: &dyn Storage,
    alg: Algorithm,
    issuer: &str,
) -> Result<Keys, OpError> {
    Ok(keys::load_or_generate(store, alg, issuer).await?)
}

/// Asks the registry whether it trusts a key: `GET /v2/` with a token the key signed, as a
/// `docker login` does. The registry answers 200 only to a token it verified.
#[derive(Debug, Clone)]
pub struct RegistryProbe {
    /// The registry's base URL (`http://host:port`).
    pub url: String,
    /// The tokens' `iss` and `aud`, as the registry expects them.
    pub issuer: String,
    /// The registry's `service`.
    pub service: String,
    /// How the server's tokens name their key.
    pub style: KidStyle,
    /// With `x5c` or by `kid` only.
    pub reference: KeyReference,
    /// Gives up after this.
    pub timeout: Duration,
}

impl RegistryProbe {
    /// `Ok` when the registry accepts a token signed by `key`; else why not, for a person.
    pub async fn trusts(&self, key: &SigningKey) -> Result<(), String> {
        let copy =
            SigningKey::from_pem(&key.key_pem(), &key.cert_pem()).map_err(|e| e.to_string())?;
        let set = KeySet::new(vec![copy], self.style)
            .map_err(|e| e.to_string())?
            .with_reference(self.reference);
        let claims = Claims::new(
            &self.issuer,
            "",
            &self.service,
            Duration::from_secs(60),
            vec![],
        );
        let token = set.sign(&claims).map_err(|e| e.to_string())?;
        let url = format!("{}/v2/", self.url.trim_end_matches('/'));
        let client = reqwest::Client::builder()
            .timeout(self.timeout)
            .build()
            .map_err(|e| e.to_string())?;
        let reply = client
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| format!("cannot reach the registry at {url}: {e}"))?;
        match reply.status().as_u16() {
            200 => Ok(()),
            401 => Err(format!(
                "the registry at {url} does not trust the key {} yet (it reads its \
                 rootcertbundle and jwks files only when it starts: restart it, then rotate again)",
                key.kid(KidStyle::Rfc7638)
            )),
            status => Err(format!(
                "the registry at {url} answered {status} to a signed request"
            )),
        }
    }
}

/// A rotation: the next key signs, the signing one stays trusted, a new next key is made
/// ([`keys::plan_rotation`]). With a `probe`, refused (nothing changes) unless the registry
/// trusts the key that would sign. Refused too when another rotation wins the race.
pub async fn rotate_keys(
    store: &dyn Storage,
    actor: &Actor,
    alg: Algorithm,
    issuer: &str,
    probe: Option<&RegistryProbe>,
) -> Result<Keys, OpError> {
    let rotation = keys::plan_rotation(store, alg, issuer).await?;
    if let Some(probe) = probe {
        probe
            .trusts(rotation.candidate())
            .await
            .map_err(|m| OpError::from(KeyError::Rotation(m)))?;
    }
    let audit = |published: &Keys| key_events(actor, "keys.rotate", published);
    Ok(rotation.commit(store, &audit).await?)
}

/// A rotation when the signing key's certificate is due for renewal ([`keys::renewal_due`]);
/// `None` when it is not due. The server's janitor calls it.
pub async fn renew_keys_if_due(
    store: &dyn Storage,
    alg: Algorithm,
    issuer: &str,
    probe: Option<&RegistryProbe>,
) -> Result<Option<Keys>, OpError> {
    let current = keys::load_or_generate(store, alg, issuer).await?;
    if !keys::renewal_due(&current, crate::time::unix_now()) {
        return Ok(None);
    }
    let actor = Actor {
        username: "registryo".to_owned(),
        remote: None,
        console: true,
    };
    rotate_keys(store, &actor, alg, issuer, probe)
        .await
        .map(Some)
}

/// The event of a rotation: how many keys are trusted, and the signing one.
fn key_events(actor: &Actor, action: &str, published: &Keys) -> Vec<NewAuditEvent> {
    let detail = published.keys.first().map(|k| {
        format!(
            "{} key(s) published, signing {:?} {}",
            published.keys.len(),
            k.algorithm(),
            k.kid(KidStyle::Rfc7638)
        )
    });
    vec![NewAuditEvent {
        detail,
        ..actor.event(action, "signing keys", None)
    }]
}
