//! "Registry token required": a tower layer for Rust servers that serve the registry API
//! themselves.
//!
//! [`RequireRegistryTokenLayer`] checks the `Authorization: Bearer` token of every request: its
//! signature (by a trusted key), issuer, audience, expiry and not-before (60 s leeway), and
//! that its `access` claim covers the scopes the request needs. A request that fails gets the
//! same `401` distribution sends:
//!
//! ```text
//! WWW-Authenticate: Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull",error="insufficient_scope"
//! ```
//!
//! with `error="invalid_token"` for a bad token and no `error` when there was no token. What a
//! request needs comes from a [`ScopeResolver`] as a [`Needed`]; [`RegistryApiScopes`] is
//! distribution's mapping (GET/HEAD → `pull`; POST/PUT/PATCH → `pull,push`; DELETE → `delete`;
//! a blob mount also needs `pull` on the source; `/v2/_catalog` → `registry:catalog:*`; `/v2/`
//! → any valid token). Verified claims are put into the request's extensions as
//! [`VerifiedToken`].
//!
//! **It fails closed**: a request the resolver cannot map to a scope (`/v2//v2/a/tags/list`, a
//! repository name that is no valid name, a path outside `/v2/`) is refused with `404` before
//! the inner service sees it, whatever token it carries, unless the resolver says
//! [`Needed::Open`] (or [`RegistryApiScopes::with_open_paths`] lists the path).
//!
//! # Example
//! ```
//! use std::sync::Arc;
//! use registryo_core::layer::{Challenge, RequireRegistryTokenLayer};
//! use registryo_core::token::{Algorithm, KeySet, KidStyle, SigningKey};
//! use tower_layer::Layer;
//!
//! let keys = KeySet::new(vec![SigningKey::generate(Algorithm::ES256, "registryo").unwrap()], KidStyle::Libtrust).unwrap();
//! let layer = RequireRegistryTokenLayer::new(
//!     Arc::new(keys.verifier()),
//!     Challenge::new("http://127.0.0.1:8080/token", "registry.example.com", "registryo"),
//! );
//! let inner = tower_service_fn(|_req: http::Request<()>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(bytes::Bytes::from("ok"))))
//! });
//! let _protected = layer.layer(inner);
//! # fn tower_service_fn<F>(f: F) -> F { f }
//! ```
//!
//! # Code map
//! `scopes` (the challenge, [`Needed`], [`ScopeResolver`], distribution's
//! [`RegistryApiScopes`], [`covers`]), then the tower shape: `layer`
//! ([`RequireRegistryTokenLayer`]) → `service` ([`RequireRegistryToken`], the check) →
//! `future` ([`ResponseFuture`]).

mod future;
// The tower shape (`layer` / `service` / `future`), as in `client::auth`.
#[allow(clippy::module_inception)]
mod layer;
mod scopes;
mod service;

pub use future::ResponseFuture;
pub use layer::RequireRegistryTokenLayer;
pub use scopes::{Challenge, Needed, RegistryApiScopes, ScopeResolver, VerifiedToken, covers};
pub use service::{Refusal, RequireRegistryToken};
