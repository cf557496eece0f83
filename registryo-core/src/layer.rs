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

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use tower_layer::Layer;
use tower_service::Service;

use crate::envelope::error_body;
use crate::scope::{Actions, RepositoryName, Resource, Scope, ScopeSet};
use crate::token::{Claims, Verifier};

/// What the `WWW-Authenticate: Bearer` challenge names, and what tokens must carry.
#[derive(Debug, Clone)]
pub struct Challenge {
    /// The token endpoint's URL (`realm`).
    pub realm: String,
    /// The registry's service name (`service`); tokens must have it as `aud`.
    pub service: String,
    /// The token issuer; tokens must have it as `iss`.
    pub issuer: String,
}

impl Challenge {
    /// A challenge for a realm, a service and an issuer.
    pub fn new(
        realm: impl Into<String>,
        service: impl Into<String>,
        issuer: impl Into<String>,
    ) -> Challenge {
        Challenge {
            realm: realm.into(),
            service: service.into(),
            issuer: issuer.into(),
        }
    }

    /// The header value for a request that needs `scopes`, with an optional `error`.
    pub fn header_value(&self, scopes: &ScopeSet, error: Option<&str>) -> String {
        let clean = |s: &str| s.replace(['"', '\\'], "");
        let mut v = format!(
            "Bearer realm=\"{}\",service=\"{}\"",
            clean(&self.realm),
            clean(&self.service)
        );
        if !scopes.is_empty() {
            v.push_str(&format!(",scope=\"{scopes}\""));
        }
        if let Some(e) = error {
            v.push_str(&format!(",error=\"{e}\""));
        }
        v
    }
}

/// The claims of a token that passed the check, put into the request's extensions.
#[derive(Debug, Clone)]
pub struct VerifiedToken(pub Claims);

/// What a request needs to pass [`RequireRegistryToken`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Needed {
    /// A valid token covering these scopes.
    Scopes(ScopeSet),
    /// Any valid token, whatever its `access` (distribution's `GET /v2/`).
    AnyToken,
    /// No token: the embedder marked the path open.
    Open,
    /// The request cannot be mapped to a scope: refused (`404`), never passed on.
    Unmapped,
}

impl Needed {
    /// The scopes to name in a challenge (none unless [`Needed::Scopes`]).
    pub fn scopes(&self) -> ScopeSet {
        match self {
            Needed::Scopes(s) => s.clone(),
            _ => ScopeSet::new(),
        }
    }
}

/// Says what a request needs.
pub trait ScopeResolver<B>: Clone {
    /// What `req` needs; see [`Needed`].
    fn required(&self, req: &Request<B>) -> Needed;
}

impl<B, F> ScopeResolver<B> for F
where
    F: Fn(&Request<B>) -> Needed + Clone,
{
    fn required(&self, req: &Request<B>) -> Needed {
        self(req)
    }
}

/// What distribution requires for its `/v2/` API; every other path is [`Needed::Unmapped`],
/// but for the open paths the embedder lists.
#[derive(Debug, Clone, Default)]
pub struct RegistryApiScopes {
    open: Arc<[String]>,
}

impl RegistryApiScopes {
    /// distribution's mapping, with no open path.
    pub fn new() -> RegistryApiScopes {
        RegistryApiScopes::default()
    }

    /// The same mapping, with these exact paths open (no token needed), e.g. `/healthz`.
    pub fn with_open_paths<I, P>(paths: I) -> RegistryApiScopes
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        RegistryApiScopes {
            open: paths.into_iter().map(Into::into).collect(),
        }
    }

    /// What a method, a path and a query string need (the open paths aside).
    pub fn for_request(method: &Method, path: &str, query: Option<&str>) -> Needed {
        let Some(rest) = path.strip_prefix("/v2/") else {
            return Needed::Unmapped;
        };
        if rest.is_empty() {
            return Needed::AnyToken;
        }
        let mut set = ScopeSet::new();
        if rest == "_catalog" {
            set.insert(Scope::catalog());
            return Needed::Scopes(set);
        }
        let name = if let Some(n) = rest.strip_suffix("/tags/list") {
            Some(n)
        } else {
            ["/manifests/", "/blobs/", "/referrers/"]
                .iter()
                .filter_map(|m| rest.rfind(m))
                .max()
                .map(|i| &rest[..i])
        };
        let Some(name) = name.and_then(|n| RepositoryName::new(n).ok()) else {
            return Needed::Unmapped;
        };
        let actions = match *method {
            Method::GET | Method::HEAD => Actions::PULL,
            Method::POST | Method::PUT | Method::PATCH => Actions::PULL | Actions::PUSH,
            Method::DELETE => Actions::DELETE,
            _ => Actions::PULL | Actions::PUSH | Actions::DELETE,
        };
        set.insert(Scope::repository(name, actions));
        if *method == Method::POST {
            let pairs: Vec<(String, String)> =
                serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default();
            let has_mount = pairs.iter().any(|(k, _)| k == "mount");
            let from = pairs.iter().find(|(k, _)| k == "from").map(|(_, v)| v);
            if let (true, Some(from)) = (has_mount, from) {
                // A mount from a source that is no repository name cannot be checked.
                let Ok(src) = RepositoryName::new(from.as_str()) else {
                    return Needed::Unmapped;
                };
                set.insert(Scope::repository(src, Actions::PULL));
            }
        }
        Needed::Scopes(set)
    }
}

impl<B> ScopeResolver<B> for RegistryApiScopes {
    fn required(&self, req: &Request<B>) -> Needed {
        let path = req.uri().path();
        if self.open.iter().any(|p| p == path) {
            return Needed::Open;
        }
        RegistryApiScopes::for_request(req.method(), path, req.uri().query())
    }
}

/// Whether the token's `access` claim covers a scope. An action `*` in the token covers every
/// action.
pub fn covers(claims: &Claims, scope: &Scope) -> bool {
    let mut held = Actions::NONE;
    let mut star = false;
    for a in &claims.access {
        if a.kind == scope.resource().type_str() && a.name == scope.name() {
            for w in &a.actions {
                if w == "*" {
                    star = true;
                } else if let Ok(x) = Actions::parse_one(w) {
                    held |= x;
                }
            }
        }
    }
    if star {
        return true;
    }
    match scope.resource() {
        // distribution asks for the action `*` on the catalog.
        Resource::Catalog => false,
        Resource::Repository(_) => held.contains(scope.actions()),
    }
}

/// A tower [`Layer`] that requires a valid registry token; see the [module docs](self).
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

/// The service made by [`RequireRegistryTokenLayer`].
#[derive(Debug, Clone)]
pub struct RequireRegistryToken<S, R = RegistryApiScopes> {
    inner: S,
    verifier: Arc<Verifier>,
    challenge: Arc<Challenge>,
    resolver: R,
}

/// Why a request was refused by [`RequireRegistryToken`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No bearer token was sent.
    Missing,
    /// The token is malformed, untrusted, expired, or for another issuer or audience.
    InvalidToken,
    /// The token is valid but does not cover the scopes needed.
    InsufficientScope,
}

impl<S, R> RequireRegistryToken<S, R> {
    /// Check a request's token against the scopes it needs.
    pub fn check<B>(&self, req: &Request<B>, needed: &ScopeSet) -> Result<Claims, Refusal> {
        let value = req
            .headers()
            .get(header::AUTHORIZATION)
            .ok_or(Refusal::Missing)?;
        let value = value.to_str().map_err(|_| Refusal::InvalidToken)?;
        let (scheme, token) = value.trim().split_once(' ').ok_or(Refusal::InvalidToken)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Refusal::Missing);
        }
        let claims = self
            .verifier
            .verify(
                token.trim(),
                &self.challenge.issuer,
                &self.challenge.service,
            )
            .map_err(|_| Refusal::InvalidToken)?;
        if needed.iter().all(|s| covers(&claims, s)) {
            Ok(claims)
        } else {
            Err(Refusal::InsufficientScope)
        }
    }
}

/// The answer to a request that maps to no scope: distribution's "no such route".
fn unmapped_response<B: From<Bytes>>() -> Response<B> {
    let mut resp = Response::new(B::from(error_body(
        "NAME_UNKNOWN",
        "no such repository or API path",
    )));
    *resp.status_mut() = StatusCode::NOT_FOUND;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn refusal_response<B: From<Bytes>>(
    challenge: &Challenge,
    needed: &ScopeSet,
    refusal: &Refusal,
) -> Response<B> {
    let (error, message) = match refusal {
        Refusal::Missing => (None, "authentication required"),
        Refusal::InvalidToken => (Some("invalid_token"), "authentication required"),
        Refusal::InsufficientScope => (
            Some("insufficient_scope"),
            "access to the requested resource is not authorized",
        ),
    };
    let mut resp = Response::new(B::from(error_body("UNAUTHORIZED", message)));
    *resp.status_mut() = StatusCode::UNAUTHORIZED;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    if let Ok(v) = HeaderValue::from_str(&challenge.header_value(needed, error)) {
        h.insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

impl<S, R, ReqB, ResB> Service<Request<ReqB>> for RequireRegistryToken<S, R>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    R: ScopeResolver<ReqB>,
    ResB: From<Bytes>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        let needed = match self.resolver.required(&req) {
            Needed::Open => {
                return ResponseFuture::Inner {
                    future: self.inner.call(req),
                };
            }
            Needed::Unmapped => {
                return ResponseFuture::Refused {
                    response: Some(unmapped_response()),
                };
            }
            Needed::AnyToken => ScopeSet::new(),
            Needed::Scopes(s) => s,
        };
        match self.check(&req, &needed) {
            Ok(claims) => {
                req.extensions_mut().insert(VerifiedToken(claims));
                ResponseFuture::Inner {
                    future: self.inner.call(req),
                }
            }
            Err(refusal) => ResponseFuture::Refused {
                response: Some(refusal_response(&self.challenge, &needed, &refusal)),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`RequireRegistryToken`].
    #[project = ResponseFutureProj]
    #[allow(missing_docs)]
    pub enum ResponseFuture<F, B> {
        /// The request passed; the inner service answers.
        Inner { #[pin] future: F },
        /// The request was refused with this response.
        Refused { response: Option<Response<B>> },
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            ResponseFutureProj::Inner { future } => future.poll(cx),
            ResponseFutureProj::Refused { response } => Poll::Ready(Ok(response
                .take()
                .expect("ResponseFuture polled after completion"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(method: Method, path: &str, query: Option<&str>) -> String {
        match RegistryApiScopes::for_request(&method, path, query) {
            Needed::Scopes(s) => s.to_string(),
            Needed::AnyToken => "any token".to_owned(),
            Needed::Open => "open".to_owned(),
            Needed::Unmapped => "unmapped".to_owned(),
        }
    }

    #[test]
    fn distribution_scope_mapping() {
        assert_eq!(scopes(Method::GET, "/v2/", None), "any token");
        assert_eq!(
            scopes(Method::GET, "/v2/_catalog", None),
            "registry:catalog:*"
        );
        assert_eq!(
            scopes(Method::GET, "/v2/a/b/manifests/latest", None),
            "repository:a/b:pull"
        );
        assert_eq!(
            scopes(Method::HEAD, "/v2/a/blobs/sha256:00", None),
            "repository:a:pull"
        );
        assert_eq!(
            scopes(Method::PUT, "/v2/a/manifests/1", None),
            "repository:a:pull,push"
        );
        assert_eq!(
            scopes(Method::PATCH, "/v2/a/blobs/uploads/uuid", None),
            "repository:a:pull,push"
        );
        assert_eq!(
            scopes(Method::DELETE, "/v2/a/manifests/sha256:00", None),
            "repository:a:delete"
        );
        assert_eq!(
            scopes(Method::GET, "/v2/a/tags/list", None),
            "repository:a:pull"
        );
        // A repository may be called "manifests" or "blobs".
        assert_eq!(
            scopes(Method::GET, "/v2/x/blobs/y/manifests/t", None),
            "repository:x/blobs/y:pull"
        );
        assert_eq!(
            scopes(
                Method::POST,
                "/v2/dst/blobs/uploads/",
                Some("mount=sha256:00&from=src/app")
            ),
            "repository:dst:pull,push repository:src/app:pull"
        );
        // Fail closed: what maps to no scope is refused, never "any token".
        for path in [
            "/v2/Bad/manifests/x",
            "/other",
            "/v2//v2/bob/app/tags/list",
            "/v2/bob/app",
            "/v2/bob/app/unknown/x",
            "/v2/_catalog/x",
            "/v2",
        ] {
            assert_eq!(scopes(Method::GET, path, None), "unmapped", "{path}");
        }
        assert_eq!(
            scopes(
                Method::POST,
                "/v2/dst/blobs/uploads/",
                Some("mount=sha256:00&from=Bad")
            ),
            "unmapped"
        );
    }

    #[test]
    fn challenge_header() {
        let c = Challenge::new("http://a/token", "reg", "iss");
        let set = ScopeSet::parse_all(["repository:a:pull"]).unwrap();
        assert_eq!(
            c.header_value(&set, Some("insufficient_scope")),
            "Bearer realm=\"http://a/token\",service=\"reg\",scope=\"repository:a:pull\",error=\"insufficient_scope\""
        );
        assert_eq!(
            c.header_value(&ScopeSet::new(), None),
            "Bearer realm=\"http://a/token\",service=\"reg\""
        );
    }
}
