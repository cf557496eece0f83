//! Manifests, blobs and deletion.

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, Method, Request, Response};
use tower_service::Service;

use super::Digest;
use super::error::RegistryError;
use super::manifest::{FetchedManifest, ImageConfig, ImageManifest, Manifest};
use super::registry::RegistryClient;
use super::version::RegistryVersion;
use crate::scope::RepositoryName;

/// The body limit for manifests: 4 MiB (distribution's own limit).
pub const MAX_MANIFEST_SIZE: u64 = 4 << 20;
/// The body limit for image configurations: 8 MiB.
pub const MAX_CONFIG_SIZE: u64 = 8 << 20;
/// The header naming a manifest's or blob's digest.
pub const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";

/// A manifest deleted by digest, and the tags that went with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedManifest {
    /// The digest of the deleted manifest.
    pub digest: Digest,
    /// Every tag that pointed to it (the registry removes them all), sorted.
    pub tags: Vec<String>,
}

/// What [`RegistryClient::delete_tag`] did, which depends on the registry's version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagDeletion {
    /// distribution v3: the tag alone was removed; its manifest stays, with any other tags.
    Untagged {
        /// The manifest the tag pointed to.
        digest: Digest,
    },
    /// distribution 2.8: the manifest was deleted by digest, and every tag on it with it.
    ManifestDeleted(DeletedManifest),
}

impl TagDeletion {
    /// The manifest the tag pointed to.
    pub fn digest(&self) -> &Digest {
        match self {
            TagDeletion::Untagged { digest } => digest,
            TagDeletion::ManifestDeleted(m) => &m.digest,
        }
    }
}

/// How many tag look-ups [`RegistryClient::tags_sharing`] keeps in flight.
const TAG_LOOKUPS_IN_FLIGHT: usize = 8;

impl<S> RegistryClient<S>
where
    S: Service<Request<Bytes>, Response = Response<Bytes>, Error = RegistryError> + Clone,
{
    /// Fetches a manifest by tag or digest, sending all four manifest media types in `Accept`.
    /// The `Docker-Content-Digest` is checked against the bytes (and against `reference`, when
    /// it is a digest); replies over [`MAX_MANIFEST_SIZE`] are refused.
    pub async fn manifest(
        &self,
        name: &RepositoryName,
        reference: &str,
    ) -> Result<FetchedManifest, RegistryError> {
        let req = self.manifest_request(Method::GET, name, reference)?;
        let resp = self.send_ok(req).await?;
        let raw = resp.body().clone();
        let digest = match header_digest(resp.headers())? {
            Some(d) => {
                d.verify(&raw)?;
                d
            }
            None => Digest::sha256(&raw),
        };
        if let Ok(wanted) = Digest::parse(reference) {
            wanted.verify(&raw)?;
        }
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .unwrap_or("");
        let (media_type, manifest) = Manifest::parse(content_type, &raw)?;
        Ok(FetchedManifest {
            media_type,
            digest,
            manifest,
            raw,
        })
    }

    /// The digest of the manifest a tag (or digest) names: `HEAD` with all four `Accept` types
    /// and its `Docker-Content-Digest`; a `GET` when the header is missing.
    pub async fn manifest_digest(
        &self,
        name: &RepositoryName,
        reference: &str,
    ) -> Result<Digest, RegistryError> {
        let req = self.manifest_request(Method::HEAD, name, reference)?;
        let resp = self.send_ok(req).await?;
        let digest = match header_digest(resp.headers())? {
            Some(d) => d,
            None => self.manifest(name, reference).await?.digest,
        };
        if Digest::parse(reference).is_err() {
            self.digest_index().put(name.as_str(), reference, &digest);
        }
        Ok(digest)
    }

    /// A blob's bytes, at most `limit` of them, checked against `digest`. Redirects to a
    /// storage backend are followed.
    pub async fn blob(
        &self,
        name: &RepositoryName,
        digest: &Digest,
        limit: u64,
    ) -> Result<Bytes, RegistryError> {
        let req = self.request(
            Method::GET,
            &format!("/v2/{name}/blobs/{digest}"),
            HeaderMap::new(),
            Bytes::new(),
            limit,
        )?;
        let body = self.send_ok(req).await?.into_body();
        digest.verify(&body)?;
        Ok(body)
    }

    /// The image configuration of `manifest` (at most [`MAX_CONFIG_SIZE`]).
    pub async fn config(
        &self,
        name: &RepositoryName,
        manifest: &ImageManifest,
    ) -> Result<ImageConfig, RegistryError> {
        let body = self
            .blob(name, &manifest.config.digest, MAX_CONFIG_SIZE)
            .await?;
        serde_json::from_slice(&body)
            .map_err(|e| RegistryError::Malformed(format!("image configuration: {e}")))
    }

    /// Deletes the manifest `digest` (and with it, on 2.8, every tag pointing to it).
    /// `405` (deleting disabled) is [`RegistryError::Unsupported`].
    pub async fn delete_manifest(
        &self,
        name: &RepositoryName,
        digest: &Digest,
    ) -> Result<(), RegistryError> {
        let req = self.request(
            Method::DELETE,
            &format!("/v2/{name}/manifests/{digest}"),
            HeaderMap::new(),
            Bytes::new(),
            1 << 16,
        )?;
        let deleted = self.send_ok(req).await.map(drop);
        self.digest_index().forget_repository(name.as_str());
        deleted
    }

    /// The tags of `name` whose manifest is `digest`, sorted. Resolves the tags
    /// eight at a time (one `HEAD` each: the registry has no reverse index).
    pub async fn tags_sharing(
        &self,
        name: &RepositoryName,
        digest: &Digest,
    ) -> Result<Vec<String>, RegistryError> {
        self.sharing(name, digest, false).await
    }

    /// Learns what `tag` of `name` points to from elsewhere (the registry's push
    /// notification), as if the client had resolved it: [`RegistryClient::tags_sharing_cached`]
    /// then asks the registry nothing about it for its digest time to live.
    pub fn learn_digest(&self, name: &RepositoryName, tag: &str, digest: &Digest) {
        self.digest_index().put(name.as_str(), tag, digest);
    }

    /// Forgets what the tags of `name` pointed to (the registry reported a deletion in it).
    pub fn forget_digests(&self, name: &RepositoryName) {
        self.digest_index().forget_repository(name.as_str());
    }

    /// [`RegistryClient::tags_sharing`], taking what each tag pointed to from what the client
    /// learnt within its digest time to live ([`RegistryClient::with_digest_ttl`]) and asking
    /// the registry only about the others: one tag list and no `HEAD` once warm. A tag moved
    /// within that time may be reported where it was: for showing, never for deciding.
    pub async fn tags_sharing_cached(
        &self,
        name: &RepositoryName,
        digest: &Digest,
    ) -> Result<Vec<String>, RegistryError> {
        self.sharing(name, digest, true).await
    }

    async fn sharing(
        &self,
        name: &RepositoryName,
        digest: &Digest,
        cached: bool,
    ) -> Result<Vec<String>, RegistryError> {
        use futures_util::stream::{self, StreamExt, TryStreamExt};
        let tags = self.tags_all(name).await?;
        let mut sharing: Vec<String> = stream::iter(tags)
            .map(|tag| async move {
                let known = cached
                    .then(|| self.digest_index().get(name.as_str(), &tag))
                    .flatten();
                let found = match known {
                    Some(d) => Ok(d),
                    None => self.manifest_digest(name, &tag).await,
                };
                match found {
                    Ok(d) if d == *digest => Ok(Some(tag)),
                    Ok(_) => Ok(None),
                    // Deleted meanwhile.
                    Err(e) if e.is_not_found() => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .buffer_unordered(TAG_LOOKUPS_IN_FLIGHT)
            .try_filter_map(|t| async move { Ok(t) })
            .try_collect()
            .await?;
        sharing.sort();
        Ok(sharing)
    }

    /// Removes the tag alone: `DELETE /v2/<name>/manifests/<tag>`, which distribution v3
    /// answers `202` (the manifest and its other tags stay). distribution 2.8 refuses it with
    /// `400 DIGEST_INVALID`: that is [`RegistryError::CannotUntag`], and the version this
    /// client had detected is forgotten (the next [`RegistryClient::registry_version`] asks
    /// again). A digest is refused ([`RegistryError::InvalidInput`]): deleting by digest is
    /// [`RegistryClient::delete_manifest`].
    pub async fn untag(&self, name: &RepositoryName, tag: &str) -> Result<(), RegistryError> {
        check_reference(tag)?;
        if Digest::parse(tag).is_ok() {
            return Err(RegistryError::InvalidInput(format!(
                "{tag} is a digest, not a tag"
            )));
        }
        let req = self.request(
            Method::DELETE,
            &format!("/v2/{name}/manifests/{tag}"),
            HeaderMap::new(),
            Bytes::new(),
            1 << 16,
        )?;
        let answer = self.send_ok(req).await;
        self.digest_index().forget_repository(name.as_str());
        match answer {
            Ok(_) => Ok(()),
            Err(e) if e.codes().contains(&"DIGEST_INVALID") => {
                self.version_cell().forget();
                let errors = match e {
                    RegistryError::Status { errors, .. } => errors,
                    _ => Vec::new(),
                };
                Err(RegistryError::CannotUntag { errors })
            }
            Err(e) => Err(e),
        }
    }

    /// Deletes a tag as the registry's version allows ([`RegistryClient::registry_version`]):
    /// see [`RegistryClient::delete_tag_as`].
    pub async fn delete_tag(
        &self,
        name: &RepositoryName,
        tag: &str,
    ) -> Result<TagDeletion, RegistryError> {
        let version = self.registry_version().await?;
        self.delete_tag_as(name, tag, version).await
    }

    /// Deletes a tag the way `version` can. On v3: resolves the tag to its manifest digest
    /// (for the record) and removes the tag alone ([`RegistryClient::untag`]). On 2.8, the
    /// only way it has: resolves the tag to its real manifest digest, lists the tags sharing
    /// it, and deletes the manifest by digest, which removes them all.
    pub async fn delete_tag_as(
        &self,
        name: &RepositoryName,
        tag: &str,
        version: RegistryVersion,
    ) -> Result<TagDeletion, RegistryError> {
        let digest = self.manifest_digest(name, tag).await?;
        if version.untags() {
            self.untag(name, tag).await?;
            return Ok(TagDeletion::Untagged { digest });
        }
        let mut tags = self.tags_sharing(name, &digest).await?;
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_owned());
            tags.sort();
        }
        self.delete_manifest(name, &digest).await?;
        Ok(TagDeletion::ManifestDeleted(DeletedManifest {
            digest,
            tags,
        }))
    }

    fn manifest_request(
        &self,
        method: Method,
        name: &RepositoryName,
        reference: &str,
    ) -> Result<Request<Bytes>, RegistryError> {
        check_reference(reference)?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(ACCEPT_VALUE));
        self.request(
            method,
            &format!("/v2/{name}/manifests/{reference}"),
            headers,
            Bytes::new(),
            MAX_MANIFEST_SIZE,
        )
    }
}

/// The four manifest types, comma-separated.
const ACCEPT_VALUE: &str = "application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json";

/// The `Docker-Content-Digest` header, parsed, if present.
pub(crate) fn header_digest(headers: &HeaderMap) -> Result<Option<Digest>, RegistryError> {
    let Some(value) = headers.get(DOCKER_CONTENT_DIGEST) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| RegistryError::Malformed("Docker-Content-Digest is not ASCII".into()))?;
    Digest::parse(value.trim())
        .map(Some)
        .map_err(|_| RegistryError::Malformed(format!("Docker-Content-Digest {value:?}")))
}

/// A tag (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`) or a digest.
pub(crate) fn check_reference(reference: &str) -> Result<(), RegistryError> {
    let is_tag = reference.len() <= 128
        && reference.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_alphanumeric() || b == b'_' || (i > 0 && (b == b'.' || b == b'-'))
        })
        && !reference.is_empty();
    if is_tag || Digest::parse(reference).is_ok() {
        Ok(())
    } else {
        Err(RegistryError::InvalidInput(format!(
            "{:?} is neither a tag nor a digest",
            reference.chars().take(140).collect::<String>()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::client::MANIFEST_ACCEPT;

    #[test]
    fn accept_lists_the_four_types() {
        for t in MANIFEST_ACCEPT {
            assert!(ACCEPT_VALUE.contains(t), "{t}");
        }
    }

    #[test]
    fn references() {
        for good in ["latest", "v1.2-rc_3", "_x", &"a".repeat(128)] {
            assert!(check_reference(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".x",
            "-x",
            "a/b",
            "a?b",
            "a b",
            &"a".repeat(129),
            "sha256:zz",
        ] {
            assert!(check_reference(bad).is_err(), "{bad}");
        }
        let d = Digest::sha256(b"x");
        assert!(check_reference(d.as_str()).is_ok());
    }
}
