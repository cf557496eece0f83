//! [`TokenRequestError`]: why a token request was refused, and **the one place that maps those
//! reasons to HTTP statuses**, Docker error envelopes (GET) and OAuth2 errors (POST).

use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::Full;

use super::BackendError;
use crate::envelope::{error_body, oauth_error_body};
use crate::scope::ScopeError;
use crate::token::TokenError;

/// Why a token request was refused. [`TokenRequestError::status`] is the one place that maps
/// these to HTTP statuses.
#[derive(Debug, thiserror::Error)]
pub enum TokenRequestError {
    /// `400`: the query, form, header or scope is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// `400`: a scope does not parse.
    #[error("invalid scope: {0}")]
    Scope(#[from] ScopeError),
    /// `401`: wrong credentials, unknown or disabled user, or a dead refresh token.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// `405`: a method other than GET and POST.
    #[error("method not allowed: use GET or POST")]
    MethodNotAllowed,
    /// `413`: the form body is too large.
    #[error("request body too large (limit {0} bytes)")]
    TooLarge(usize),
    /// `415`: a POST body that is not `application/x-www-form-urlencoded`.
    #[error("POST /token takes an application/x-www-form-urlencoded body")]
    UnsupportedMediaType,
    /// `429`: too many failed sign-ins for this account from this client.
    #[error(
        "too many failed sign-ins for this account: try again in {} seconds",
        .0.as_secs()
    )]
    Throttled(Duration),
    /// `400`: the request names another service than this server's (the registry's
    /// `auth.token.service` differs from it). Warned once per name per minute when refused,
    /// not logged per request.
    #[error(
        "this token server issues tokens for service {ours:?}, not {asked:?}: the registry's \
         auth.token.service must equal this server's service setting"
    )]
    WrongService {
        /// This server's service.
        ours: String,
        /// The service the request named (clipped).
        asked: String,
    },
    /// `503`: the backend failed.
    #[error("the token service is temporarily unavailable")]
    Unavailable(#[source] BackendError),
    /// `500`: signing failed (a server fault, never caused by the request).
    #[error("internal error")]
    Signing(#[source] TokenError),
}

impl TokenRequestError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            TokenRequestError::BadRequest(_)
            | TokenRequestError::Scope(_)
            | TokenRequestError::WrongService { .. } => StatusCode::BAD_REQUEST,
            TokenRequestError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            TokenRequestError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            TokenRequestError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            TokenRequestError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            TokenRequestError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            TokenRequestError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            TokenRequestError::Signing(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `outcome` label of the token request metrics ([`crate::telemetry`]).
    pub(crate) fn outcome(&self) -> crate::telemetry::Outcome {
        use crate::telemetry::Outcome;
        match self {
            TokenRequestError::BadRequest(_)
            | TokenRequestError::Scope(_)
            | TokenRequestError::MethodNotAllowed
            | TokenRequestError::TooLarge(_)
            | TokenRequestError::UnsupportedMediaType => Outcome::BadRequest,
            TokenRequestError::WrongService { .. } => Outcome::WrongService,
            TokenRequestError::Unauthorized(_) => Outcome::Unauthorized,
            TokenRequestError::Throttled(_) => Outcome::Throttled,
            TokenRequestError::Unavailable(_) => Outcome::Unavailable,
            TokenRequestError::Signing(_) => Outcome::Error,
        }
    }

    /// The Docker error code.
    pub fn code(&self) -> &'static str {
        match self {
            TokenRequestError::Unauthorized(_) => "UNAUTHORIZED",
            TokenRequestError::Throttled(_) => "TOOMANYREQUESTS",
            TokenRequestError::MethodNotAllowed => "UNSUPPORTED",
            TokenRequestError::Unavailable(_) => "UNAVAILABLE",
            TokenRequestError::Signing(_) => "UNKNOWN",
            _ => "INVALID_REQUEST",
        }
    }

    fn oauth_error(&self) -> &'static str {
        match self {
            TokenRequestError::Unauthorized(_) => "invalid_grant",
            TokenRequestError::Scope(_) => "invalid_scope",
            TokenRequestError::Unavailable(_) | TokenRequestError::Throttled(_) => {
                "temporarily_unavailable"
            }
            TokenRequestError::Signing(_) => "server_error",
            _ => "invalid_request",
        }
    }

    pub(super) fn into_response(self, realm: &str, oauth: bool) -> Response<Full<Bytes>> {
        let status = self.status();
        let message = self.to_string();
        if status.is_server_error() {
            tracing::error!(error = ?self, "token request failed");
        } else if let TokenRequestError::WrongService { .. } = self {
            // Warned about where it was refused, once per name per minute: a flood stays quiet.
            tracing::debug!(reason = %message, "token request refused");
        } else {
            // Clients show only the status ("400 (Bad Request)"): the reason reaches the person
            // through this log. Messages never hold a secret (no password, no token).
            tracing::info!(status = status.as_u16(), reason = %message, "token request refused");
        }
        let body = if oauth {
            oauth_error_body(self.code(), self.oauth_error(), &message)
        } else {
            error_body(self.code(), &message)
        };
        let mut resp = json_response(status, body);
        match self {
            TokenRequestError::Unauthorized(_) => {
                let challenge = format!("Basic realm=\"{}\"", realm.replace('"', ""));
                if let Ok(v) = HeaderValue::from_str(&challenge) {
                    resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
            }
            TokenRequestError::MethodNotAllowed => {
                resp.headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
            }
            TokenRequestError::Throttled(wait) => {
                resp.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(wait.as_secs().max(1)),
                );
            }
            // The body is left unread, so the connection cannot carry another request: say
            // so, or a keep-alive client sends its next request into a closing socket.
            TokenRequestError::TooLarge(_) => {
                resp.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        resp
    }
}

pub(super) fn json_response(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}
