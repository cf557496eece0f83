//! The service: one request, at most two round trips.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use tower_service::Service;

use super::future::ResponseFuture;
use super::layer::Shared;
use crate::client::challenge::BearerChallenge;
use crate::client::error::RegistryError;
use crate::client::tokens::TokenSource;
use crate::layer::RegistryApiScopes;

/// An HTTP client service that authenticates to the registry with bearer tokens. Built by
/// [`RegistryAuthLayer`](super::RegistryAuthLayer).
#[derive(Debug)]
pub struct RegistryAuth<S, T> {
    inner: S,
    shared: Arc<Shared<T>>,
}

impl<S: Clone, T> Clone for RegistryAuth<S, T> {
    fn clone(&self) -> Self {
        RegistryAuth {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S, T> RegistryAuth<S, T> {
    pub(crate) fn new(inner: S, shared: Arc<Shared<T>>) -> RegistryAuth<S, T> {
        RegistryAuth { inner, shared }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, T> Service<Request<Bytes>> for RegistryAuth<S, T>
where
    S: Service<Request<Bytes>, Response = Response<Bytes>> + Clone + Send + 'static,
    S::Error: Into<RegistryError>,
    S::Future: Send,
    T: TokenSource + 'static,
{
    type Response = Response<Bytes>;
    type Error = RegistryError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<Bytes>) -> Self::Future {
        // The ready service goes into the future; this one keeps a fresh clone.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let shared = Arc::clone(&self.shared);
        ResponseFuture::new(authorize(inner, shared, req))
    }
}

async fn authorize<S, T>(
    mut inner: S,
    shared: Arc<Shared<T>>,
    req: Request<Bytes>,
) -> Result<Response<Bytes>, RegistryError>
where
    S: Service<Request<Bytes>, Response = Response<Bytes>>,
    S::Error: Into<RegistryError>,
    T: TokenSource,
{
    if req.headers().contains_key(AUTHORIZATION) {
        return inner.call(req).await.map_err(Into::into);
    }
    let predicted =
        RegistryApiScopes::for_request(req.method(), req.uri().path(), req.uri().query());
    let retry = req.clone();
    let token = shared.token(&predicted).await?;
    let resp = inner
        .call(with_bearer(req, &token)?)
        .await
        .map_err(Into::into)?;
    if resp.status() != StatusCode::UNAUTHORIZED {
        return Ok(resp);
    }
    let Some(challenge) = resp
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| BearerChallenge::parse(v).ok())
    else {
        return Ok(resp);
    };
    shared.cache.invalidate(&predicted);
    let scopes = match challenge.scopes() {
        Ok(s) if !s.is_empty() => s,
        _ => predicted,
    };
    shared.cache.invalidate(&scopes);
    let token = shared.fresh_token(&scopes).await?;
    poll_fn(|cx| inner.poll_ready(cx))
        .await
        .map_err(Into::into)?;
    inner
        .call(with_bearer(retry, &token)?)
        .await
        .map_err(Into::into)
}

fn with_bearer(mut req: Request<Bytes>, token: &str) -> Result<Request<Bytes>, RegistryError> {
    let mut value = HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| {
        RegistryError::TokenSource("the token holds characters not allowed in a header".into())
    })?;
    value.set_sensitive(true);
    req.headers_mut().insert(AUTHORIZATION, value);
    Ok(req)
}
