//! `POST /registry/events`: the registry's notifications ([`registryo_core::notify`]),
//! received by [`Notifications::receive`](registryo_core::app::notifications::Notifications::receive).
//!
//! Only from the `notifications_from` addresses ([`EdgeConfig::notifications_from`]; others
//! get `403`), only with the secret (`Authorization: Bearer …`, else `401`), at most
//! [`MAX_BODY`] bytes (`413`). The answer comes once the events are committed: `200` with what
//! was recorded (also when some events were refused: they are logged, and the registry would
//! otherwise send them for ever), `400` for a body that is no envelope, `503` when the storage
//! is out or too many envelopes are being written (the registry sends it again later).
//!
//! [`EdgeConfig::notifications_from`]: crate::app::EdgeConfig::notifications_from

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use registryo_core::app::notifications::ReceiveError;
use registryo_core::notify::MAX_BODY;
use serde_json::json;

use crate::app::AppState;
use crate::error::AppError;

/// The path the registry posts to (`registry-config` writes it into the registry's config).
pub const EVENTS_PATH: &str = "/registry/events";

/// The route, outside the UI's CSRF guard (the registry is no browser: it sends a secret).
pub fn routes() -> Router<AppState> {
    Router::new().route(EVENTS_PATH, post(receive))
}

fn answer(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"status": status.as_u16(), "message": message}})),
    )
        .into_response()
}

async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    req: axum::extract::Request,
) -> Response {
    let Some(notifications) = state.notifications.clone() else {
        return answer(
            StatusCode::NOT_FOUND,
            "this server does not receive notifications",
        );
    };
    let remote = crate::session::remote(req.extensions());
    let from_allowed = remote.is_some_and(|a| state.edge.notifications_from.contains(a.ip()));
    if !from_allowed {
        let from = remote.map(|a| a.ip().to_string()).unwrap_or_default();
        tracing::warn!(%from, "registry notification refused: not from an address of notifications_from");
        return answer(
            StatusCode::FORBIDDEN,
            "notifications are not taken from this address (notifications_from)",
        );
    }
    let body = match axum::body::to_bytes(req.into_body(), MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return answer(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("an envelope is at most {MAX_BODY} bytes"),
            );
        }
    };
    received(&state, &notifications, &headers, &body).await
}

async fn received(
    state: &AppState,
    notifications: &registryo_core::app::notifications::Notifications,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match notifications.receive(state, authorization, body).await {
        Ok(r) => {
            tracing::debug!(
                recorded = r.recorded,
                duplicates = r.duplicates,
                invalid = r.invalid,
                skipped = r.skipped,
                "registry notification"
            );
            axum::Json(json!({
                "recorded": r.recorded, "duplicates": r.duplicates,
                "invalid": r.invalid, "skipped": r.skipped,
            }))
            .into_response()
        }
        Err(ReceiveError::Unauthorized) => {
            tracing::warn!("registry notification refused: no valid secret");
            let mut resp = answer(
                StatusCode::UNAUTHORIZED,
                "the notification secret is missing or wrong",
            );
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            resp
        }
        Err(ReceiveError::Envelope(e)) => {
            tracing::warn!(error = %e, "registry notification refused");
            answer(StatusCode::BAD_REQUEST, &e.to_string())
        }
        Err(ReceiveError::Busy) => answer(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many notifications at once: send it again later",
        ),
        Err(ReceiveError::Store(e)) => {
            let e = AppError::from(e);
            e.log();
            answer(e.status(), &e.message())
        }
    }
}
