//! The registry's tags: deleting one, audited.

use crate::client::DeletedManifest;
use crate::scope::RepositoryName;

use super::super::App;
use super::{Actor, OpError};

/// Delete a tag of `name`, which deletes its manifest and so every tag that points to it
/// (the registry has no other way), audited as `registry.tag.delete` with the manifest and
/// the tags removed. With `seen`, the digest a confirmation showed, a tag that points
/// elsewhere by now is refused ([`OpError::Conflict`]) rather than deleted. Whether the actor
/// may delete is the caller's to decide (the web UI decides from the policy);
/// [`OpError::NotFound`] when no registry is configured.
pub async fn delete_tag(
    app: &App,
    actor: &Actor,
    name: &RepositoryName,
    tag: &str,
    seen: Option<&str>,
) -> Result<DeletedManifest, OpError> {
    let client = app
        .registry
        .client()
        .ok_or_else(|| OpError::NotFound("the registry (not set up on this server)".to_owned()))?;
    let tag_error = |e| OpError::registry(&e, "tag");
    if let Some(seen) = seen {
        let now = client.manifest_digest(name, tag).await.map_err(tag_error)?;
        if now.as_str() != seen {
            return Err(OpError::Conflict(format!(
                "{name}:{tag} changed since the confirmation: look again before deleting"
            )));
        }
    }
    let deleted = client.delete_tag(name, tag).await.map_err(tag_error)?;
    // Nothing in the store changes: the event is written on its own, after the registry's answer.
    app.accounts
        .audit(
            Some(&actor.username),
            "registry.tag.delete",
            Some(&format!("{name}:{tag}")),
            Some(format!(
                "manifest {} with tags {}",
                deleted.digest,
                deleted.tags.join(", ")
            )),
            actor.remote,
        )
        .await;
    Ok(deleted)
}
