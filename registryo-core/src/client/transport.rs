//! The default HTTP client service: reqwest behind `Service<http::Request<Bytes>>`.
//!
//! It reads each response body into memory up to a limit: the request's [`ResponseLimit`]
//! extension, or [`ReqwestTransport::DEFAULT_LIMIT`]. A longer body (by `Content-Length` or as
//! it streams) is [`RegistryError::TooLarge`], never an unbounded allocation. Redirects
//! (blob downloads from a storage backend) are followed, up to 10; reqwest drops the
//! `Authorization` header when a redirect leaves the registry's host.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{Method, Request, Response};
use tower_service::Service;

use super::error::RegistryError;

/// The largest response body to accept for a request, in bytes (a request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseLimit(pub u64);

/// The future of [`ReqwestTransport`].
pub type TransportFuture =
    Pin<Box<dyn Future<Output = Result<Response<Bytes>, RegistryError>> + Send>>;

/// A reqwest client as a tower service over `http` types, with bodies read up to a limit.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    default_limit: u64,
}

impl ReqwestTransport {
    /// The body limit when a request has no [`ResponseLimit`]: 8 MiB.
    pub const DEFAULT_LIMIT: u64 = 8 << 20;

    /// A transport with a 10 s connect timeout and a 60 s request timeout.
    pub fn new() -> Result<ReqwestTransport, RegistryError> {
        ReqwestTransport::with_timeouts(Duration::from_secs(10), Duration::from_secs(60))
    }

    /// A transport with these timeouts.
    pub fn with_timeouts(
        connect: Duration,
        request: Duration,
    ) -> Result<ReqwestTransport, RegistryError> {
        let client = reqwest::Client::builder()
            .connect_timeout(connect)
            .timeout(request)
            .redirect(reqwest::redirect::Policy::limited(10))
            .user_agent(concat!("registryo/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RegistryError::Transport(Box::new(e)))?;
        Ok(ReqwestTransport::with_client(client))
    }

    /// A transport over a configured reqwest client.
    pub fn with_client(client: reqwest::Client) -> ReqwestTransport {
        ReqwestTransport {
            client,
            default_limit: Self::DEFAULT_LIMIT,
        }
    }

    /// The same transport with another default body limit.
    pub fn default_limit(mut self, limit: u64) -> ReqwestTransport {
        self.default_limit = limit;
        self
    }
}

impl Service<Request<Bytes>> for ReqwestTransport {
    type Response = Response<Bytes>;
    type Error = RegistryError;
    type Future = TransportFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Bytes>) -> Self::Future {
        let client = self.client.clone();
        let limit = req
            .extensions()
            .get::<ResponseLimit>()
            .map_or(self.default_limit, |l| l.0);
        Box::pin(async move {
            let started = std::time::Instant::now();
            let result = execute(client, req, limit).await;
            record(&result, started.elapsed());
            result
        })
    }
}

/// Every registry request in the metrics ([`crate::telemetry`]): by status class, or why
/// there was no answer.
fn record(result: &Result<Response<Bytes>, RegistryError>, took: std::time::Duration) {
    use crate::telemetry::{REGISTRY_DURATION, REGISTRY_REQUESTS, status_class};
    let label = match result {
        Ok(resp) => status_class(resp.status().as_u16()),
        Err(RegistryError::Timeout { .. }) => "timeout",
        Err(RegistryError::Unreachable { .. }) => "unreachable",
        Err(RegistryError::TooLarge { .. }) => "too_large",
        Err(_) => "error",
    };
    metrics::counter!(REGISTRY_REQUESTS, "result" => label).increment(1);
    metrics::histogram!(REGISTRY_DURATION).record(took.as_secs_f64());
}

async fn execute(
    client: reqwest::Client,
    req: Request<Bytes>,
    limit: u64,
) -> Result<Response<Bytes>, RegistryError> {
    let url = req.uri().to_string();
    let is_head = req.method() == Method::HEAD;
    let (parts, body) = req.into_parts();
    let request = client
        .request(parts.method, url.as_str())
        .headers(parts.headers)
        .body(body)
        .build()
        .map_err(|e| RegistryError::InvalidInput(format!("request to {url}: {e}")))?;
    let mut resp = client
        .execute(request)
        .await
        .map_err(|e| map_error(e, &url))?;
    if !is_head
        && let Some(len) = resp.content_length()
        && len > limit
    {
        return Err(RegistryError::TooLarge { limit });
    }
    let mut builder = Response::builder()
        .status(resp.status())
        .version(resp.version());
    if let Some(headers) = builder.headers_mut() {
        *headers = std::mem::take(resp.headers_mut());
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| map_error(e, &url))? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(RegistryError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    builder
        .body(body.freeze())
        .map_err(|e| RegistryError::Transport(Box::new(e)))
}

fn map_error(e: reqwest::Error, url: &str) -> RegistryError {
    if e.is_timeout() {
        RegistryError::Timeout {
            url: url.to_owned(),
        }
    } else if e.is_connect() {
        RegistryError::Unreachable {
            url: url.to_owned(),
            source: Box::new(e),
        }
    } else {
        RegistryError::Transport(Box::new(e))
    }
}
