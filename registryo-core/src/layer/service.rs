//! [`RequireRegistryToken`]: the check of every request, and the refusals distribution sends.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use tower_service::Service;

use super::{
    Challenge, Needed, RegistryApiScopes, ResponseFuture, ScopeResolver, VerifiedToken, covers,
};
use crate::envelope::error_body;
use crate::scope::ScopeSet;
use crate::token::{Claims, Verifier};

/// The service made by [`RequireRegistryTokenLayer`](super::RequireRegistryTokenLayer).
#[derive(Debug, Clone)]
pub struct RequireRegistryToken<S, R = RegistryApiScopes> {
    pub(super) inner: S,
    pub(super) verifier: Arc<Verifier>,
    pub(super) challenge: Arc<Challenge>,
    pub(super) resolver: R,
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
