//! A client of the registry's `/v2/` API that authenticates with tokens it mints itself
//! (feature `client`).
//!
//! The Registryo server signs tokens for itself: [`SelfSignedTokens`] signs, with the server's
//! [`KeySet`](crate::token::KeySet), a token with exactly the scopes each request needs; no
//! password is stored. The layers, bottom up:
//!
//! - [`ReqwestTransport`]: a `tower` `Service<http::Request<Bytes>>` over reqwest that reads
//!   bodies up to a [`ResponseLimit`] and maps connection failures and timeouts to
//!   [`RegistryError`]. Any other HTTP client service can take its place.
//! - [`RegistryAuthLayer`] → [`RegistryAuth`] → [`auth::ResponseFuture`]: the bearer
//!   challenge handled as a tower middleware, with tokens cached per scope set
//!   ([`TokenCache`]) until shortly before `exp`.
//! - [`RegistryClient`]: catalog and tags (one [`Page`] at a time, or all of them), manifests
//!   ([`FetchedManifest`]: typed, with media type and verified digest), image configurations
//!   ([`ImageConfig`]), deleting a tag as the registry's version allows
//!   ([`RegistryClient::delete_tag`]: on v3 the tag alone, on 2.8 its manifest by real digest,
//!   with every tag on it; the version is the `registry_version` setting or detected once,
//!   [`RegistryClient::registry_version`]), and push helpers for tests and fixtures.
//!
//! Every registry reply becomes `Ok` or a [`RegistryError`]; none panics, and bodies are never
//! read past their limit ([`MAX_MANIFEST_SIZE`], [`MAX_CONFIG_SIZE`], [`MAX_LIST_SIZE`]).
//!
//! # Example
//! ```no_run
//! use std::sync::Arc;
//! use registryo_core::client::{Manifest, RegistryClient, SelfSignedTokens};
//! use registryo_core::scope::RepositoryName;
//! use registryo_core::token::{Algorithm, KeySet, KidStyle, SigningKey};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let keys = Arc::new(KeySet::new(vec![SigningKey::generate(Algorithm::ES256, "registryo")?], KidStyle::Libtrust)?);
//! let tokens = SelfSignedTokens::new(keys, "registryo", "registry.example");
//! let client = RegistryClient::connect("http://127.0.0.1:5000", tokens)?;
//!
//! let page = client.catalog_page(Some(50), None).await?;
//! for repo in &page.items {
//!     let name: RepositoryName = repo.parse()?;
//!     for tag in client.tags_all(&name).await? {
//!         let fetched = client.manifest(&name, &tag).await?;
//!         if let Manifest::Image(image) = &fetched.manifest {
//!             let config = client.config(&name, image).await?;
//!             println!("{repo}:{tag} {} {}/{}", fetched.digest, config.os, config.architecture);
//!         }
//!     }
//! }
//! let next_last = page.next_last(); // for the next page's `last`
//! # let _ = next_last;
//! # Ok(())
//! # }
//! ```

pub mod auth;
mod challenge;
mod content;
mod digest;
mod digests;
mod error;
#[cfg(test)]
mod fake;
mod manifest;
mod page;
mod push;
mod registry;
mod tokens;
mod transport;
mod version;

pub use auth::{RegistryAuth, RegistryAuthLayer};
pub use challenge::{BearerChallenge, ChallengeError};
pub use content::{
    DOCKER_CONTENT_DIGEST, DeletedManifest, MAX_CONFIG_SIZE, MAX_MANIFEST_SIZE, TagDeletion,
};
pub use digest::Digest;
pub use digests::DIGEST_TTL;
pub use error::{BoxError, ErrorEntry, RegistryError};
pub use manifest::{
    DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V2, Descriptor,
    FetchedManifest, History, ImageConfig, ImageIndex, ImageManifest, MANIFEST_ACCEPT, Manifest,
    OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST, Platform, RuntimeConfig,
};
pub use page::{MAX_PAGE_SIZE, Page, next_link};
pub use registry::{MAX_LIST_SIZE, RegistryClient};
pub use tokens::{SelfSignedTokens, TokenCache, TokenSource};
pub use transport::{ReqwestTransport, ResponseLimit, TransportFuture};
pub use version::{RegistryVersion, VersionSetting};
