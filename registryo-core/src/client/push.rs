//! Push helpers: a blob uploaded in one piece, a manifest put with its media type. Enough to
//! populate a registry in tests and fixtures without skopeo.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue, LOCATION};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use tower_service::Service;

use super::Digest;
use super::content::{check_reference, header_digest};
use super::error::RegistryError;
use super::manifest::Descriptor;
use super::registry::RegistryClient;
use crate::scope::RepositoryName;

impl<S> RegistryClient<S>
where
    S: Service<Request<Bytes>, Response = Response<Bytes>, Error = RegistryError> + Clone,
{
    /// Uploads `bytes` as a blob of `name` in one piece (`POST /v2/<name>/blobs/uploads/`,
    /// then `PUT <location>?digest=…`), unless the registry already has it. Returns its
    /// descriptor with `media_type`.
    pub async fn push_blob(
        &self,
        name: &RepositoryName,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<Descriptor, RegistryError> {
        let descriptor = Descriptor::of(media_type, &bytes);
        let digest = &descriptor.digest;
        let head = self.request(
            Method::HEAD,
            &format!("/v2/{name}/blobs/{digest}"),
            HeaderMap::new(),
            Bytes::new(),
            0,
        )?;
        let resp = self.send(head).await?;
        if resp.status() == StatusCode::OK {
            return Ok(descriptor);
        }
        let start = self.request(
            Method::POST,
            &format!("/v2/{name}/blobs/uploads/"),
            HeaderMap::new(),
            Bytes::new(),
            1 << 16,
        )?;
        let resp = self.send_ok(start).await?;
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegistryError::Malformed("upload reply without Location".into()))?;
        let location = self.same_origin_path(location)?;
        let separator = if location.contains('?') { '&' } else { '?' };
        let digest_query = serde_urlencoded::to_string([("digest", digest.as_str())])
            .map_err(|e| RegistryError::InvalidInput(e.to_string()))?;
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        let put = self.request(
            Method::PUT,
            &format!("{location}{separator}{digest_query}"),
            headers,
            bytes,
            1 << 16,
        )?;
        self.send_ok(put).await?;
        Ok(descriptor)
    }

    /// Mounts the blob `digest` of `from` into `name` without uploading it
    /// (`POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<from>`; the token then needs
    /// `pull` on `from` too). `true` when mounted; `false` when the registry started an upload
    /// instead (it does not have the blob in `from`, or may not mount it), which is then
    /// cancelled.
    pub async fn mount_blob(
        &self,
        name: &RepositoryName,
        from: &RepositoryName,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let query =
            serde_urlencoded::to_string([("mount", digest.as_str()), ("from", from.as_str())])
                .map_err(|e| RegistryError::InvalidInput(e.to_string()))?;
        let start = self.request(
            Method::POST,
            &format!("/v2/{name}/blobs/uploads/?{query}"),
            HeaderMap::new(),
            Bytes::new(),
            1 << 16,
        )?;
        let resp = self.send_ok(start).await?;
        if resp.status() == StatusCode::CREATED {
            return Ok(true);
        }
        // An upload session was opened instead: close it, the blob stays unmounted.
        if let Some(location) = resp.headers().get(LOCATION).and_then(|v| v.to_str().ok()) {
            let location = self.same_origin_path(location)?;
            let cancel = self.request(
                Method::DELETE,
                &location,
                HeaderMap::new(),
                Bytes::new(),
                1 << 16,
            )?;
            let _ = self.send(cancel).await;
        }
        Ok(false)
    }

    /// Puts `bytes` as the manifest `reference` (a tag or a digest) of `name`, with
    /// `media_type` as its `Content-Type`. Returns its digest, checked against the registry's
    /// `Docker-Content-Digest`.
    pub async fn push_manifest(
        &self,
        name: &RepositoryName,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<Digest, RegistryError> {
        check_reference(reference)?;
        let digest = Digest::sha256(&bytes);
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::try_from(media_type)
                .map_err(|_| RegistryError::InvalidInput(format!("media type {media_type:?}")))?,
        );
        let put = self.request(
            Method::PUT,
            &format!("/v2/{name}/manifests/{reference}"),
            headers,
            bytes,
            1 << 16,
        )?;
        let resp = self.send_ok(put).await?;
        if let Some(served) = header_digest(resp.headers())?
            && served != digest
        {
            return Err(RegistryError::DigestMismatch {
                expected: served.to_string(),
                actual: digest.to_string(),
            });
        }
        Ok(digest)
    }
}
