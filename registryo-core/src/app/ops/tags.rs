//! The registry's tags: deleting one, audited.

use crate::client::{RegistryVersion, TagDeletion};
use crate::scope::RepositoryName;

use super::super::App;
use super::{Actor, OpError};

/// What a confirmation showed the person: the digest the tag pointed to, and whether it said
/// the tag goes alone (a v3 registry) or with its manifest and every tag on it (2.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confirmed<'a> {
    /// The manifest digest the tag pointed to.
    pub digest: &'a str,
    /// The registry version the confirmation was worded for.
    pub version: RegistryVersion,
}

/// Delete a tag of `name` as the registry's version allows
/// ([`RegistryClient::registry_version`](crate::client::RegistryClient::registry_version): the
/// `registry_version` setting, or detected): on distribution v3 the tag alone is removed,
/// audited as `registry.tag.untag` (the manifest stays); on 2.8 its manifest is deleted, and
/// so every tag that points to it (the registry has no other way), audited as
/// `registry.tag.delete` with the manifest and the tags removed.
///
/// With `confirmed`, what a confirmation showed, a tag that points elsewhere by now, or a
/// registry whose version changed since (the deletion would not be the one described), is
/// refused ([`OpError::Conflict`]) rather than deleted. Whether the actor may delete is the
/// caller's to decide (the web UI decides from the policy); [`OpError::NotFound`] when no
/// registry is configured.
pub async fn delete_tag(
    app: &App,
    actor: &Actor,
    name: &RepositoryName,
    tag: &str,
    confirmed: Option<Confirmed<'_>>,
) -> Result<TagDeletion, OpError> {
    let client = app
        .registry
        .client()
        .ok_or_else(|| OpError::NotFound("the registry (not set up on this server)".to_owned()))?;
    let tag_error = |e| OpError::registry(&e, "tag");
    let version = client.registry_version().await.map_err(tag_error)?;
    if let Some(seen) = confirmed {
        let now = client.manifest_digest(name, tag).await.map_err(tag_error)?;
        if now.as_str() != seen.digest {
            return Err(OpError::Conflict(format!(
                "{name}:{tag} changed since the confirmation: look again before deleting"
            )));
        }
        if seen.version != version {
            return Err(OpError::Conflict(format!(
                "the registry now answers as distribution {version}, not {}: deleting \
                 {name}:{tag} would not do what the confirmation said; look again",
                seen.version
            )));
        }
    }
    let deleted = client
        .delete_tag_as(name, tag, version)
        .await
        .map_err(tag_error)?;
    let (action, detail) = match &deleted {
        TagDeletion::Untagged { digest } => (
            "registry.tag.untag",
            format!("tag removed alone; manifest {digest} stays"),
        ),
        TagDeletion::ManifestDeleted(m) => (
            "registry.tag.delete",
            format!(
                "manifest {} deleted with tags {}",
                m.digest,
                m.tags.join(", ")
            ),
        ),
    };
    // Nothing in the store changes: the event is written on its own, after the registry's answer.
    app.accounts
        .audit(
            Some(&actor.username),
            action,
            Some(&format!("{name}:{tag}")),
            Some(detail),
            actor.remote,
        )
        .await;
    Ok(deleted)
}
