//! `/metrics`, and the web layer's request metrics.
//!
//! - [`MetricsEndpoint`]: the route serving what a recorder renders (the Prometheus text
//!   format in `registryo serve`), to allowed client addresses only (the address the client
//!   layer resolved, through trusted proxies: [`ClientAddr`]) and, when a token is set, to
//!   requests carrying it as `Authorization: Bearer …` (compared in constant time). Any other
//!   address is a `403`, a missing or wrong token a `401`: a refused scrape is never a `500`.
//!   This crate renders nothing itself: the program passes the exporter's render function.
//! - [`record_request`]: every request but `/token` (whose service records its own, richer
//!   series: [`registryo_core::telemetry`]) counted by **route template** (axum's
//!   [`MatchedPath`], e.g. `/admin/users/{name}`, never the raw path), method and status
//!   class, so no request can add a series; a request no route matched is `unmatched`.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use registryo_core::service::ClientAddr;
use registryo_core::telemetry::{HTTP_DURATION, HTTP_REQUESTS, status_class};

use crate::forwarded::{ProxyListError, TrustedProxies};

/// Renders the current metrics as the body of a `/metrics` reply.
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// The `/metrics` route's settings: what renders the metrics, who may read them.
#[derive(Clone)]
pub struct MetricsEndpoint {
    render: Render,
    /// The client addresses served (parsed as `trusted_proxies` is: addresses and CIDR
    /// ranges).
    allow: TrustedProxies,
    token: Option<Arc<str>>,
}

impl fmt::Debug for MetricsEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsEndpoint")
            .field("allow", &self.allow)
            .field("token", &self.token.as_ref().map(|_| "<hidden>"))
            .finish_non_exhaustive()
    }
}

/// The addresses `/metrics` answers by default: this machine only.
pub const LOOPBACK: [&str; 2] = ["127.0.0.0/8", "::1/128"];

impl MetricsEndpoint {
    /// An endpoint serving what `render` returns to this machine only ([`LOOPBACK`]), without
    /// a token.
    pub fn new(render: impl Fn() -> String + Send + Sync + 'static) -> MetricsEndpoint {
        MetricsEndpoint {
            render: Arc::new(render),
            allow: TrustedProxies::parse(&LOOPBACK).unwrap_or_default(),
            token: None,
        }
    }

    /// The same endpoint serving these client addresses and CIDR ranges (`0.0.0.0/0` and
    /// `::/0` for any).
    pub fn allow<S: AsRef<str>>(mut self, list: &[S]) -> Result<MetricsEndpoint, ProxyListError> {
        self.allow = TrustedProxies::parse(list)?;
        Ok(self)
    }

    /// The same endpoint asking for this bearer token (none: no token asked; an empty one is
    /// none).
    pub fn token(mut self, token: Option<&str>) -> MetricsEndpoint {
        self.token = token.filter(|t| !t.is_empty()).map(Arc::from);
        self
    }

    fn refusal(&self, req: &Request) -> Option<Response> {
        let allowed = req
            .extensions()
            .get::<ClientAddr>()
            .is_some_and(|ClientAddr(a)| self.allow.contains(a.ip()));
        if !allowed {
            return Some(
                (
                    StatusCode::FORBIDDEN,
                    "metrics are not served to this address (metrics_allow)\n",
                )
                    .into_response(),
            );
        }
        let token = self.token.as_deref()?;
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            });
        match given {
            Some(given)
                if registryo_core::secret::same_secret(given.as_bytes(), token.as_bytes()) =>
            {
                None
            }
            _ => {
                let mut resp = (
                    StatusCode::UNAUTHORIZED,
                    "metrics need the bearer token (metrics_token)\n",
                )
                    .into_response();
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"registryo metrics\""),
                );
                Some(resp)
            }
        }
    }
}

/// `GET /metrics`.
pub(crate) async fn serve(State(endpoint): State<Arc<MetricsEndpoint>>, req: Request) -> Response {
    if let Some(refused) = endpoint.refusal(&req) {
        return refused;
    }
    let body = (endpoint.render)();
    let mut resp = body.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// The route a response came from, put there by [`mark_route`] (inner, where axum knows it)
/// for [`record_request`] (outer, which also sees what no route matched).
#[derive(Clone)]
struct Route(MatchedPath);

/// Puts the matched route's template into the response for [`record_request`].
pub(crate) async fn mark_route(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().cloned();
    let mut resp = next.run(req).await;
    if let Some(route) = route {
        resp.extensions_mut().insert(Route(route));
    }
    resp
}

/// Counts and times every request but `/token` by route template, method and status class.
pub(crate) async fn record_request(req: Request, next: Next) -> Response {
    if req.uri().path() == "/token" {
        return next.run(req).await;
    }
    let method = match *req.method() {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        _ => "other",
    };
    let started = Instant::now();
    let resp = next.run(req).await;
    let route = resp
        .extensions()
        .get::<Route>()
        .map_or("unmatched", |r| r.0.as_str())
        .to_owned();
    let status = status_class(resp.status().as_u16());
    ::metrics::histogram!(HTTP_DURATION, "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    ::metrics::counter!(HTTP_REQUESTS, "route" => route, "method" => method, "status" => status)
        .increment(1);
    resp
}
