//! The one place where the web layer's errors become HTTP statuses.

use axum::http::StatusCode;

use registryo_core::app::OpError;

/// Why a page or an API call failed. [`AppError::status`] maps each variant to its status;
/// the UI renders it as a page, the API as `{"error": {"message", "field"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppError {
    /// Bad input: `400`, with the form or JSON field at fault when there is one.
    Invalid {
        /// The field at fault.
        field: Option<String>,
        /// What is wrong, for the user.
        message: String,
    },
    /// Not signed in: `401` (the UI redirects to the sign-in page instead).
    Unauthenticated,
    /// Signed in but not allowed: `403`.
    Forbidden(String),
    /// A missing or wrong CSRF token: `403`.
    Csrf,
    /// No such record: `404`.
    NotFound(String),
    /// The change conflicts with what exists: `409`.
    Conflict(String),
    /// Too many failed sign-ins: `429`, with `Retry-After` (the wait).
    Throttled(std::time::Duration),
    /// The change needs an explicit confirmation (`force`), with what it would do: `409`.
    NeedsConfirmation(String),
    /// The registry failed or refused (down, timeout, refused token, deleting disabled):
    /// `502`, with a message for the user.
    Upstream(String),
    /// The storage cannot serve now (the database unreachable or not answering in time, the
    /// disk full, an I/O error): `503` with `Retry-After` ([`crate::app::RETRY_AFTER_SECS`];
    /// `app::router` also adds it to any other 503), and a message that says so; the detail
    /// is logged, never shown.
    Unavailable {
        /// What is wrong, for the user (e.g. "the storage is full").
        reason: String,
        /// The driver's error, for the log.
        detail: String,
    },
    /// A server fault: `500`; the detail is logged, never shown.
    Internal(String),
}

impl AppError {
    /// A validation error on a field.
    pub fn invalid(field: &str, message: impl Into<String>) -> AppError {
        AppError::Invalid {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Invalid { .. } => StatusCode::BAD_REQUEST,
            AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) | AppError::Csrf => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) | AppError::NeedsConfirmation(_) => StatusCode::CONFLICT,
            AppError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Upstream(_) => StatusCode::BAD_GATEWAY,
            AppError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message a user may see (a server fault's detail is hidden).
    pub fn message(&self) -> String {
        match self {
            AppError::Invalid { message, .. } => message.clone(),
            AppError::Unauthenticated => "sign in first".to_owned(),
            AppError::Forbidden(m) => m.clone(),
            AppError::Csrf => {
                "the form's security token is missing or stale: reload the page and try again"
                    .to_owned()
            }
            AppError::NotFound(what) => format!("{what} not found"),
            AppError::Conflict(m) | AppError::Upstream(m) | AppError::NeedsConfirmation(m) => {
                m.clone()
            }
            AppError::Throttled(wait) => format!(
                "too many failed sign-ins for this account: try again in {} seconds",
                wait.as_secs().max(1)
            ),
            AppError::Unavailable { reason, .. } => {
                format!("temporarily unavailable: {reason}. Try again later.")
            }
            AppError::Internal(_) => "internal error".to_owned(),
        }
    }

    /// How long the client should wait before trying again (`Retry-After`), if at all.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            AppError::Throttled(wait) => Some(*wait),
            AppError::Unavailable { .. } => {
                Some(std::time::Duration::from_secs(crate::app::RETRY_AFTER_SECS))
            }
            _ => None,
        }
    }

    /// The field at fault, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            AppError::Invalid { field, .. } => field.as_deref(),
            _ => None,
        }
    }

    /// Log a server fault (once, where the response is made).
    pub fn log(&self) {
        match self {
            AppError::Internal(detail) => tracing::error!(error = %detail, "request failed"),
            AppError::Unavailable { reason, detail } => {
                tracing::error!(%reason, error = %detail, "request failed: storage unavailable");
            }
            _ => {}
        }
    }
}

impl From<OpError> for AppError {
    fn from(e: OpError) -> AppError {
        match e {
            OpError::Invalid { field, message } => AppError::Invalid { field, message },
            OpError::Forbidden(m) => AppError::Forbidden(m),
            OpError::NotFound(m) => AppError::NotFound(m),
            OpError::Conflict(m) => AppError::Conflict(m),
            OpError::NeedsConfirmation(m) => AppError::NeedsConfirmation(m),
            OpError::Throttled(wait) => AppError::Throttled(wait),
            OpError::Upstream(m) => AppError::Upstream(m),
            OpError::Unavailable { reason, detail } => AppError::Unavailable { reason, detail },
            OpError::Internal(m) => AppError::Internal(m),
        }
    }
}
