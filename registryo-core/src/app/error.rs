//! [`OpError`]: why an operation of the application failed, typed, for every front end (the
//! web UI, the JSON API, the command line) to word and map to its own statuses.

use std::time::Duration;

use super::accounts::AccountError;
use super::keys::KeyError;
use crate::client::RegistryError;
use crate::storage::StoreError;

/// Why an operation failed. Front ends map each variant once: registryo-http to HTTP statuses,
/// the CLI to messages and exit codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpError {
    /// Bad input, with the field at fault when there is one (HTTP 400).
    Invalid {
        /// The field at fault (`username`, `pattern`…).
        field: Option<String>,
        /// What is wrong, for the person.
        message: String,
    },
    /// Not allowed (HTTP 403).
    Forbidden(String),
    /// No such record (HTTP 404); the text names it (`user "bob"`).
    NotFound(String),
    /// The change conflicts with what exists (HTTP 409).
    Conflict(String),
    /// The change needs an explicit confirmation (`force`); the text says what it would do
    /// (HTTP 409).
    NeedsConfirmation(String),
    /// Too many failed password checks: try again after the wait (HTTP 429).
    Throttled(Duration),
    /// The registry failed or refused (HTTP 502); the text is for the person.
    Upstream(String),
    /// The storage cannot serve now (HTTP 503 with `Retry-After`): the reason for the person,
    /// the driver's detail for the log.
    Unavailable {
        /// What is wrong (e.g. "the storage is full").
        reason: String,
        /// The driver's error, for the log.
        detail: String,
    },
    /// A server fault (HTTP 500): logged, never shown.
    Internal(String),
}

impl OpError {
    /// A validation error on a field.
    pub fn invalid(field: &str, message: impl Into<String>) -> OpError {
        OpError::Invalid {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    /// The message a person may see (a server fault's detail is hidden).
    pub fn message(&self) -> String {
        match self {
            OpError::Invalid { message, .. } => message.clone(),
            OpError::Forbidden(m)
            | OpError::Conflict(m)
            | OpError::Upstream(m)
            | OpError::NeedsConfirmation(m) => m.clone(),
            OpError::NotFound(what) => format!("{what} not found"),
            OpError::Throttled(wait) => format!(
                "too many failed sign-ins for this account: try again in {} seconds",
                wait.as_secs().max(1)
            ),
            OpError::Unavailable { reason, .. } => {
                format!("{reason}: try again in a moment")
            }
            OpError::Internal(_) => "internal error".to_owned(),
        }
    }

    /// Log a server fault or an outage (once, where the failure is reported).
    pub fn log(&self) {
        match self {
            OpError::Internal(detail) => tracing::error!(error = %detail, "operation failed"),
            OpError::Unavailable { reason, detail } => {
                tracing::error!(%reason, error = %detail, "operation failed: storage unavailable");
            }
            _ => {}
        }
    }

    /// The field at fault, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            OpError::Invalid { field, .. } => field.as_deref(),
            _ => None,
        }
    }

    /// A failure of the registry as a person is told it: [`OpError::NotFound`] naming `what`
    /// (the thing looked for) when the registry has no such thing, else
    /// [`OpError::Upstream`] saying what to check (the detail is logged).
    pub fn registry(e: &RegistryError, what: &str) -> OpError {
        let message = match e {
            RegistryError::NotFound { .. } => return OpError::NotFound(what.to_owned()),
            RegistryError::Unreachable { url, .. } => {
                format!("The registry cannot be reached ({url}): is it running?")
            }
            RegistryError::Timeout { .. } => "The registry did not answer in time.".to_owned(),
            RegistryError::Unauthorized { .. } => {
                "The registry refused Registryo's token: check that its auth.token issuer, \
                 service and rootcertbundle are those `registryo registry-config` prints."
                    .to_owned()
            }
            RegistryError::Denied { .. } => "The registry denied the request.".to_owned(),
            RegistryError::Unsupported { .. } => {
                "The registry does not allow this: deleting is disabled \
                 (storage.delete.enabled: false in its configuration)."
                    .to_owned()
            }
            RegistryError::CannotUntag { .. } => {
                "The registry cannot remove a tag alone: it deletes manifests by digest only \
                 (distribution 2.8), so the other tags of the manifest would go too. Look again \
                 before deleting (and set registry_version to auto or 2 if it says 3)."
                    .to_owned()
            }
            RegistryError::UnsupportedMediaType(mt) => {
                format!("This manifest's media type ({mt}) cannot be shown.")
            }
            _ => "The registry's answer could not be used.".to_owned(),
        };
        tracing::warn!(error = %e, "registry request failed");
        OpError::Upstream(message)
    }
}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> OpError {
        match e {
            StoreError::NotFound(what) => OpError::NotFound(what),
            StoreError::Conflict(what) => OpError::Conflict(format!("{what} already exists")),
            StoreError::Invalid(m) => OpError::Invalid {
                field: None,
                message: m,
            },
            StoreError::Unavailable { kind, source } => OpError::Unavailable {
                reason: kind.to_string(),
                detail: source.to_string(),
            },
            other => {
                let detail = match std::error::Error::source(&other) {
                    Some(s) => format!("{other}: {s}"),
                    None => other.to_string(),
                };
                OpError::Internal(detail)
            }
        }
    }
}

impl From<AccountError> for OpError {
    fn from(e: AccountError) -> OpError {
        match e {
            AccountError::Store(s) => s.into(),
            AccountError::Hash(h) => OpError::Internal(h),
        }
    }
}

impl From<KeyError> for OpError {
    fn from(e: KeyError) -> OpError {
        match e {
            KeyError::Store(s) => s.into(),
            KeyError::Rotation(m) => OpError::Conflict(m),
            other => OpError::Internal(other.to_string()),
        }
    }
}
