//! The layer: a token source and its cache, shared by every service it wraps.

use std::sync::Arc;

use tower_layer::Layer;

use super::service::RegistryAuth;
use crate::client::error::RegistryError;
use crate::client::tokens::{TokenCache, TokenSource};
use crate::scope::ScopeSet;

/// Adds bearer tokens from a [`TokenSource`] to requests, answering the registry's `401`
/// challenge. See the [module docs](super).
#[derive(Debug)]
pub struct RegistryAuthLayer<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for RegistryAuthLayer<T> {
    fn clone(&self) -> Self {
        RegistryAuthLayer {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T: TokenSource> RegistryAuthLayer<T> {
    /// A layer over `source`, with a [`TokenCache::default`].
    pub fn new(source: T) -> RegistryAuthLayer<T> {
        RegistryAuthLayer::with_cache(source, TokenCache::default())
    }

    /// A layer over `source` with `cache`.
    pub fn with_cache(source: T, cache: TokenCache) -> RegistryAuthLayer<T> {
        RegistryAuthLayer {
            shared: Arc::new(Shared { source, cache }),
        }
    }
}

impl<S, T> Layer<S> for RegistryAuthLayer<T> {
    type Service = RegistryAuth<S, T>;

    fn layer(&self, inner: S) -> Self::Service {
        RegistryAuth::new(inner, Arc::clone(&self.shared))
    }
}

/// The token source and cache behind a layer and its services.
#[derive(Debug)]
pub(crate) struct Shared<T> {
    pub(crate) source: T,
    pub(crate) cache: TokenCache,
}

impl<T: TokenSource> Shared<T> {
    /// A token for `scopes`: the cached one, or a new one (then cached).
    pub(crate) async fn token(&self, scopes: &ScopeSet) -> Result<String, RegistryError> {
        if let Some(token) = self.cache.get(scopes) {
            return Ok(token);
        }
        self.fresh_token(scopes).await
    }

    /// A new token for `scopes`, cached.
    pub(crate) async fn fresh_token(&self, scopes: &ScopeSet) -> Result<String, RegistryError> {
        let token = self
            .source
            .token(scopes)
            .await
            .map_err(|e| RegistryError::TokenSource(Box::new(e)))?;
        self.cache.put(scopes, &token);
        Ok(token)
    }
}
