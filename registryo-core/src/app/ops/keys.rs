//! The signing keys: showing them and the two steps of a rotation, each audited.
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
    let published = keys::stage(store, alg, issuer).await?;
    audit_key(store, actor, "keys.stage", &published).await;
    Ok(published)
}

/// Step two ([`keys::activate`]): the staged key signs from now on.
pub async fn activate_key(store: &dyn Storage, actor: &Actor) -> Result<Vec<SigningKey>, OpError> {
    let published = keys::activate(store).await?;
    audit_key(store, actor, "keys.activate", &published).await;
    Ok(published)
}

async fn audit_key(store: &dyn Storage, actor: &Actor, action: &str, published: &[SigningKey]) {
    let ev = NewAuditEvent {
        actor: Some(actor.username.clone()),
        action: action.to_owned(),
        target: Some("signing keys".to_owned()),
        detail: published.first().map(|k| {
            format!(
                "{} key(s) published, newest {:?}",
                published.len(),
                k.algorithm()
            )
        }),
        remote_addr: actor.remote.map(|a| a.ip().to_string()),
    };
    if let Err(e) = store.insert_audit_event(&ev).await {
        tracing::warn!(error = %e, action, "could not write an audit event");
    }
}
