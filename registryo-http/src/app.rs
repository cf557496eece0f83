//! The axum application: `/token`, health, JWKS, and (later) the UI and admin API.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use registryo_core::service::{ClientAddr, TokenConfig, TokenService};
use tower_http::trace::TraceLayer;

use crate::accounts::Accounts;
use crate::keys::SharedKeys;

/// What every handler shares.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Users, passwords, refresh tokens and the policy.
    pub accounts: Accounts,
    /// The signing keys.
    pub keys: Arc<SharedKeys>,
    /// The token endpoint.
    pub tokens: TokenService<Accounts, SharedKeys>,
}

impl AppState {
    /// The state for accounts, keys and token settings.
    pub fn new(accounts: Accounts, keys: Arc<SharedKeys>, config: TokenConfig) -> AppState {
        let tokens = TokenService::new(Arc::new(accounts.clone()), Arc::clone(&keys), config);
        AppState {
            accounts,
            keys,
            tokens,
        }
    }
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    let tokens = state.tokens.clone();
    Router::new()
        .route_service("/token", tokens)
        .route("/healthz", get(healthz))
        .route("/.well-known/jwks.json", get(jwks))
        .fallback(not_found)
        .with_state(state)
        .layer(middleware::from_fn(client_addr))
        .layer(
            TraceLayer::new_for_http()
                // The path only: query strings may carry secrets (reset links).
                .make_span_with(|req: &Request| {
                    tracing::info_span!(
                        "request",
                        method = %req.method(),
                        path = %req.uri().path(),
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
        .layer(middleware::from_fn(security_headers))
}

/// Put the peer's address into the request as a [`ClientAddr`] for the token service.
async fn client_addr(mut req: Request, next: Next) -> Response {
    if let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        req.extensions_mut().insert(ClientAddr(addr));
    }
    next.run(req).await
}

async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
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

async fn healthz(State(state): State<AppState>) -> Response {
    match state.accounts.store().ping().await {
        Ok(()) => Json(serde_json::json!({"status": "ok"})).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: store unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"status": "unavailable"})),
            )
                .into_response()
        }
    }
}

async fn jwks(State(state): State<AppState>) -> Response {
    Json(state.keys.current().jwks()).into_response()
}

async fn not_found() -> Response {
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
