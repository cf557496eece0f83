//! Bearer-token authentication against the registry, as a tower middleware.
//!
//! [`RegistryAuthLayer`] wraps any HTTP client service
//! (`Service<http::Request<Bytes>, Response = http::Response<Bytes>>`). For each request it
//! predicts the scopes the registry will ask for (distribution's mapping:
//! [`RegistryApiScopes`](crate::layer::RegistryApiScopes)), takes a token for them from its
//! [`TokenCache`](super::TokenCache) or its [`TokenSource`](super::TokenSource), and sends the
//! request with `Authorization: Bearer …`. When the registry still answers `401` with a
//! `Bearer` challenge, the token is dropped from the cache, a fresh one is minted for the
//! challenge's `scope`, and the request is sent once more; a second `401` is returned as is (the
//! [`RegistryClient`](super::RegistryClient) turns it into
//! [`RegistryError::Unauthorized`](super::RegistryError::Unauthorized)). A request that already
//! carries an `Authorization` header is passed through untouched.
//!
//! # Example
//! ```no_run
//! use std::sync::Arc;
//! use registryo_core::client::{ReqwestTransport, RegistryAuthLayer, SelfSignedTokens};
//! use registryo_core::token::{Algorithm, KeySet, KidStyle, SigningKey};
//! use tower_layer::Layer;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let keys = Arc::new(KeySet::new(vec![SigningKey::generate(Algorithm::ES256, "registryo")?], KidStyle::Libtrust)?);
//! let tokens = SelfSignedTokens::new(keys, "registryo", "registry.example");
//! let authed = RegistryAuthLayer::new(tokens).layer(ReqwestTransport::new()?);
//! # let _ = authed;
//! # Ok(())
//! # }
//! ```

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::RegistryAuthLayer;
pub use service::RegistryAuth;
