//! The signing keys: showing them and the two steps of a rotation, each audited in the
//! transaction that writes the keys.
//!
//! They take the store rather than an [`App`](super::super::App): a rotation runs on a
//! machine whose server may be down, and it needs no accounts.

use crate::storage::{NewAuditEvent, Storage};
use crate::token::{Algorithm, SigningKey};

use super::super::keys;
use super::{Actor, OpError};

/// Each key in signing order with its state (`signing`, `published` or `staged`); the first
/// key is made when there is none, as a starting server would.
pub async fn signing_keys(
    store: &dyn Storage,
    alg: Algorithm,
    issuer: &str,
) -> Result<Vec<(SigningKey, &'static str)>, OpError> {
    keys::load_or_generate(store, alg, issuer).await?;
    Ok(keys::describe(store).await?)
}

/// The published keys, the signing one first (the registry's certificate bundle, the JWKS);
/// the first key is made when there is none.
pub async fn published_keys(
    store: &dyn Storage,
    alg: Algorithm,
    issuer: &str,
) -> Result<Vec<SigningKey>, OpError> {
    Ok(keys::load_or_generate(store, alg, issuer).await?)
}

/// Step one of a rotation ([`keys::stage`]): a new key, published but not signing.
pub async fn stage_key(
    store: &dyn Storage,
    actor: &Actor,
    alg: Algorithm,
    issuer: &str,
) -> Result<Vec<SigningKey>, OpError> {
    let audit = |published: &[SigningKey]| key_events(actor, "keys.stage", published);
    Ok(keys::stage(store, alg, issuer, &audit).await?)
}

/// Step two ([`keys::activate`]): the staged key signs from now on.
pub async fn activate_key(store: &dyn Storage, actor: &Actor) -> Result<Vec<SigningKey>, OpError> {
    let audit = |published: &[SigningKey]| key_events(actor, "keys.activate", published);
    Ok(keys::activate(store, &audit).await?)
}

/// The event of a rotation step: how many keys are published, and the newest's algorithm.
fn key_events(actor: &Actor, action: &str, published: &[SigningKey]) -> Vec<NewAuditEvent> {
    let detail = published.first().map(|k| {
        format!(
            "{} key(s) published, newest {:?}",
            published.len(),
            k.algorithm()
        )
    });
    vec![NewAuditEvent {
        detail,
        ..actor.event(action, "signing keys", None)
    }]
}
