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
        RegistryApiScopes::for_request(req.method(), req.uri().path(), req.uri().query()).scopes();
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tower_layer::Layer;

    use super::*;
    use crate::client::RegistryAuthLayer;
    use crate::client::fake::{Fake, reply};
    use crate::scope::ScopeSet;

    /// Hands out `t1`, `t2`… (not JWTs, so never cached) and logs the scopes asked for.
    #[derive(Default)]
    struct Numbered(Mutex<Vec<String>>);

    impl TokenSource for Numbered {
        type Error = std::convert::Infallible;

        async fn token(&self, scopes: &ScopeSet) -> Result<String, Self::Error> {
            let mut asked = self.0.lock().unwrap();
            asked.push(scopes.to_string());
            Ok(format!("t{}", asked.len()))
        }
    }

    fn get(path: &str) -> Request<Bytes> {
        Request::get(format!("http://r{path}"))
            .body(Bytes::new())
            .unwrap()
    }

    #[tokio::test]
    async fn a_challenge_gets_a_fresh_token_for_its_scopes_once() {
        let fake = Fake::new(|req| {
            let auth = req
                .headers()
                .get(AUTHORIZATION)
                .map(|v| v.to_str().unwrap());
            if auth == Some("Bearer t2") {
                reply(200, &[], "ok")
            } else {
                let challenge = r#"Bearer realm="x",service="s",scope="repository:a:pull repository:b:pull",error="insufficient_scope""#;
                reply(401, &[("www-authenticate", challenge)], "")
            }
        });
        let source = Arc::new(Numbered::default());
        let mut svc = RegistryAuthLayer::new(Arc::clone(&source)).layer(fake.clone());
        let resp = svc.call(get("/v2/a/manifests/t")).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            *source.0.lock().unwrap(),
            ["repository:a:pull", "repository:a:pull repository:b:pull"]
        );
        let sent: Vec<_> = fake
            .seen
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.headers()[AUTHORIZATION].clone())
            .collect();
        assert_eq!(sent, ["Bearer t1", "Bearer t2"]);
    }

    #[tokio::test]
    async fn a_second_refusal_is_returned_and_preset_authorization_passes_through() {
        let fake = Fake::new(|req| {
            if req.headers().get(AUTHORIZATION).map(|v| v.as_bytes()) == Some(b"Basic x") {
                return reply(200, &[], "");
            }
            reply(
                401,
                &[(
                    "www-authenticate",
                    r#"Bearer realm="x",error="invalid_token""#,
                )],
                "",
            )
        });
        let source = Arc::new(Numbered::default());
        let mut svc = RegistryAuthLayer::new(Arc::clone(&source)).layer(fake.clone());
        let resp = svc.call(get("/v2/_catalog")).await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(source.0.lock().unwrap().len(), 2);
        assert_eq!(fake.seen.lock().unwrap().len(), 2);

        let mut req = get("/v2/");
        req.headers_mut()
            .insert(AUTHORIZATION, HeaderValue::from_static("Basic x"));
        assert_eq!(svc.call(req).await.unwrap().status(), StatusCode::OK);
        assert_eq!(source.0.lock().unwrap().len(), 2);
    }
}
