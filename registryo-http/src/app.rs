//! The axum application: `/token`, health, JWKS, the web UI and the JSON admin API, on one
//! router with security headers on every response (and `Strict-Transport-Security` when the
//! public URL is https), and the client's address resolved through trusted proxies
//! ([`crate::forwarded`]).

use registryo_core::storage::prelude::*;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use registryo_core::service::{ClientAddr, TokenConfig, TokenService};
use tower_http::trace::TraceLayer;

use crate::forwarded::TrustedProxies;
use crate::session::WebConfig;
use registryo_core::app::App;
use registryo_core::app::accounts::Accounts;
use registryo_core::app::keys::SharedKeys;
use registryo_core::app::registry::RegistryOptions;
use registryo_core::client::RegistryError;

/// The web UI's settings and in-memory state.
#[derive(Debug, Default)]
pub struct Web {
    /// Settings.
    pub config: WebConfig,
}

/// How the server meets the network.
#[derive(Debug, Clone, Default)]
pub struct EdgeConfig {
    /// Proxies whose `X-Forwarded-For` / `Forwarded` headers name the client.
    pub trusted_proxies: TrustedProxies,
    /// Send `Strict-Transport-Security` on every response (the public URL is https).
    pub hsts: bool,
    /// `/metrics`, when served ([`crate::metrics`]).
    pub metrics: Option<Arc<crate::metrics::MetricsEndpoint>>,
    /// The addresses the registry's notifications are taken from (`notifications_from`);
    /// none by default here (the server's default: loopback and the private ranges).
    pub notifications_from: TrustedProxies,
}

/// The `Strict-Transport-Security` value: one year, this host only.
pub const HSTS: &str = "max-age=31536000";

/// What every handler shares: the application ([`App`], which the state dereferences to)
/// and what only the web needs.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The application: accounts, keys, e-mail, the registry.
    pub app: App,
    /// The token endpoint.
    pub tokens: TokenService<Accounts, Accounts, Accounts, SharedKeys>,
    /// The web UI's settings.
    pub web: Arc<Web>,
    /// Trusted proxies and HSTS.
    pub edge: Arc<EdgeConfig>,
    /// The last store write probe of `/healthz`.
    pub health: Arc<Health>,
}

impl std::ops::Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.app
    }
}

impl AppState {
    /// The state for accounts, keys and token settings.
    pub fn new(accounts: Accounts, keys: Arc<SharedKeys>, config: TokenConfig) -> AppState {
        AppState::from_app(App::new(accounts, keys), config)
    }

    /// The state for an application and token settings.
    pub fn from_app(app: App, config: TokenConfig) -> AppState {
        let tokens = TokenService::new(
            Arc::new(app.accounts.clone()),
            Arc::clone(&app.keys),
            config,
        );
        AppState {
            app,
            tokens,
            web: Arc::new(Web::default()),
            edge: Arc::new(EdgeConfig::default()),
            health: Arc::new(Health::default()),
        }
    }

    /// The same state with these proxies trusted and HSTS on or off.
    pub fn with_edge(mut self, edge: EdgeConfig) -> AppState {
        self.edge = Arc::new(edge);
        self
    }

    /// The same state with e-mail: "forgot password" and invitations.
    pub fn with_mail(mut self, mail: registryo_core::app::mail::Mail) -> AppState {
        self.app = self.app.with_mail(mail);
        self
    }

    /// The same state browsing the registry at `url` (`http(s)://host[:port]`) in the UI,
    /// with tokens this server signs for itself for `issuer` and `service` (the registry's
    /// `auth.token` settings).
    pub fn with_registry(
        self,
        url: &str,
        issuer: &str,
        service: &str,
    ) -> Result<AppState, RegistryError> {
        self.with_registry_options(url, issuer, service, RegistryOptions::default())
    }

    /// [`AppState::with_registry`] with a time-out and catalog TTL of one's own.
    pub fn with_registry_options(
        mut self,
        url: &str,
        issuer: &str,
        service: &str,
        options: RegistryOptions,
    ) -> Result<AppState, RegistryError> {
        self.app = self.app.with_registry(url, issuer, service, options)?;
        Ok(self)
    }

    /// The same state with these web UI settings.
    pub fn with_web_config(mut self, config: WebConfig) -> AppState {
        self.web = Arc::new(Web { config });
        self
    }
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    let tokens = state.tokens.clone();
    let edge = Arc::clone(&state.edge);
    let ui = crate::ui::routes()
        .merge(crate::reset::routes())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::session::csrf_guard,
        ))
        .layer(middleware::from_fn(crate::ui::remember_destination));
    let mut routes = Router::new()
        .route("/healthz", get(healthz))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/static/style.css", get(crate::ui::style))
        .merge(crate::events::routes())
        .merge(ui)
        .nest("/api/v1", crate::api::routes());
    if let Some(endpoint) = &edge.metrics {
        routes = routes.route(
            "/metrics",
            get(crate::metrics::serve).with_state(Arc::clone(endpoint)),
        );
    }
    routes
        // Every route above is counted by its template; /token records its own metrics.
        .route_layer(middleware::from_fn(crate::metrics::mark_route))
        .route_service("/token", tokens)
        .fallback(not_found)
        .with_state(state)
        .layer(middleware::from_fn(crate::metrics::record_request))
        .layer(middleware::from_fn(retry_after))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&edge),
            client_addr,
        ))
        .layer(
            TraceLayer::new_for_http()
                // The path only: query strings may carry secrets (reset links). The user is
                // recorded once known (the token service, the session and API extractors).
                .make_span_with(|req: &Request| {
                    let id = req
                        .extensions()
                        .get::<RequestId>()
                        .map(|r| r.0.as_str())
                        .unwrap_or("");
                    tracing::info_span!(
                        "request",
                        id = %id,
                        method = %req.method(),
                        path = %req.uri().path(),
                        user = tracing::field::Empty,
                    )
                })
                .on_request(())
                .on_response(
                    |resp: &Response, latency: std::time::Duration, _span: &tracing::Span| {
                        tracing::info!(
                            status = resp.status().as_u16(),
                            micros = latency.as_micros() as u64,
                            "served"
                        );
                    },
                ),
        )
        .layer(middleware::from_fn(request_id))
        .layer(middleware::from_fn_with_state(edge, security_headers))
}

/// The id of a request, in its log lines and its `X-Request-Id` response header: the one the
/// client (or a proxy) sent when it is short and plain, else a new one.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The header carrying [`RequestId`].
pub const REQUEST_ID_HEADER: &str = "x-request-id";

fn plain_request_id(v: &str) -> bool {
    (1..=64).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

async fn request_id(mut req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| plain_request_id(v))
        .map(str::to_owned);
    let id = match given {
        Some(id) => id,
        None => registryo_core::secret::random_hex::<8>().unwrap_or_default(),
    };
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    resp
}

/// Names the signed-in user in the request's log lines.
pub(crate) fn log_user(name: &str) {
    tracing::Span::current().record("user", name);
}

/// Put the client's address into the request as a [`ClientAddr`] for the token service, the
/// guessing limits and the audit log: the peer's, or the one a trusted proxy forwarded.
async fn client_addr(
    State(edge): State<Arc<EdgeConfig>>,
    mut req: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        let addr = edge.trusted_proxies.client_addr(peer, req.headers());
        req.extensions_mut().insert(ClientAddr(addr));
    }
    next.run(req).await
}

/// The content security policy of every response: no script at all, styles from this origin.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
                       form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(
    State(edge): State<Arc<EdgeConfig>>,
    req: Request,
    next: Next,
) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if edge.hsts {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        // Pages show private data; only the style sheet says otherwise.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

// ---------------------------------------------------------------- health and outages

/// How long `/healthz` waits for the store before it answers `503`.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a store write probe's result stands for later `/healthz` calls: the probe
/// commits a write, so a flood of health checks costs at most one write a second.
pub const HEALTH_PROBE_EVERY: Duration = Duration::from_secs(1);
/// The `Retry-After` (seconds) of every `503`: the storage is unavailable, or the token
/// service's backend failed.
pub const RETRY_AFTER_SECS: u64 = 5;

/// The state of `/healthz`: the last write probe of the store and when it ran.
#[derive(Debug, Default)]
pub struct Health {
    last: tokio::sync::Mutex<Option<(Instant, Result<(), Unhealthy>)>>,
}

/// Why the store failed its health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unhealthy {
    /// For the caller: no SQL, no driver text (e.g. "the database is unavailable: the
    /// storage is full").
    pub reason: String,
    /// For the log: the driver's error.
    pub detail: String,
}

impl Health {
    /// Whether the store takes a write ([`StoreHealth::check_writable`]) within
    /// [`HEALTH_TIMEOUT`]; a result younger than [`HEALTH_PROBE_EVERY`] is reused, and
    /// concurrent callers wait for one probe.
    pub async fn check(&self, store: &dyn Storage) -> Result<(), Unhealthy> {
        let mut last = self.last.lock().await;
        if let Some((at, result)) = &*last
            && at.elapsed() < HEALTH_PROBE_EVERY
        {
            return result.clone();
        }
        let result = match tokio::time::timeout(HEALTH_TIMEOUT, store.check_writable()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Unhealthy {
                reason: e.to_string(),
                detail: std::error::Error::source(&e)
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            }),
            Err(_) => Err(Unhealthy {
                reason: format!(
                    "the database is unavailable: it did not take a write within {} s",
                    HEALTH_TIMEOUT.as_secs()
                ),
                detail: String::new(),
            }),
        };
        *last = Some((Instant::now(), result.clone()));
        result
    }
}

/// `200` when the store takes a write, else `503` with the reason: a full disk or an
/// unreachable database make a server useless although it still answers.
async fn healthz(State(state): State<AppState>) -> Response {
    // The one handler that takes the store itself: a health check is a probe of the storage
    // (does it take a write?), not an operation of the application, and it changes nothing
    // anyone sees; what it answers is the web's business (the status, the reuse window).
    match state.health.check(state.store().as_ref()).await {
        Ok(()) => Json(serde_json::json!({"status": "ok"})).into_response(),
        Err(Unhealthy { reason, detail }) => {
            tracing::error!(%reason, error = %detail, "health check: the store cannot write");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"status": "unavailable", "reason": reason})),
            )
                .into_response()
        }
    }
}

/// Every `503` says when to try again: `Retry-After` unless the handler set one.
async fn retry_after(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    if resp.status() == StatusCode::SERVICE_UNAVAILABLE
        && !resp.headers().contains_key(header::RETRY_AFTER)
    {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    }
    resp
}

async fn jwks(State(state): State<AppState>) -> Response {
    Json(state.keys.current().jwks()).into_response()
}

async fn not_found(headers: axum::http::HeaderMap) -> Response {
    if crate::ui::wants_html(&headers) {
        return crate::ui::not_found_page();
    }
    let mut resp = Response::new(Body::from(registryo_core::envelope::error_body(
        "NOT_FOUND",
        "no such page",
    )));
    *resp.status_mut() = StatusCode::NOT_FOUND;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
