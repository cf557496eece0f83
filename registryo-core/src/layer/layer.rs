//! [`RequireRegistryTokenLayer`]: the tower [`Layer`].

use std::sync::Arc;

use tower_layer::Layer;

use super::{Challenge, RegistryApiScopes, RequireRegistryToken};
use crate::token::Verifier;

/// A tower [`Layer`] that requires a valid registry token; see the [module docs](crate::layer).
#[derive(Debug, Clone)]
pub struct RequireRegistryTokenLayer<R = RegistryApiScopes> {
    verifier: Arc<Verifier>,
    challenge: Arc<Challenge>,
    resolver: R,
}

impl RequireRegistryTokenLayer<RegistryApiScopes> {
    /// A layer with distribution's scope mapping.
    pub fn new(verifier: Arc<Verifier>, challenge: Challenge) -> Self {
        RequireRegistryTokenLayer {
            verifier,
            challenge: Arc::new(challenge),
            resolver: RegistryApiScopes::new(),
        }
    }
}

impl<R> RequireRegistryTokenLayer<R> {
    /// The same layer with another way of finding the scopes a request needs.
    pub fn with_resolver<R2>(self, resolver: R2) -> RequireRegistryTokenLayer<R2> {
        RequireRegistryTokenLayer {
            verifier: self.verifier,
            challenge: self.challenge,
            resolver,
        }
    }
}

impl<S, R: Clone> Layer<S> for RequireRegistryTokenLayer<R> {
    type Service = RequireRegistryToken<S, R>;
    fn layer(&self, inner: S) -> Self::Service {
        RequireRegistryToken {
            inner,
            verifier: Arc::clone(&self.verifier),
            challenge: Arc::clone(&self.challenge),
            resolver: self.resolver.clone(),
        }
    }
}
