//! The one error type of the registry client.

use http::StatusCode;
use serde::Deserialize;

/// A boxed error from a token source or an HTTP client service.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// One entry of the registry's error envelope `{"errors":[{"code","message","detail"}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ErrorEntry {
    /// The registry's code: `NAME_UNKNOWN`, `MANIFEST_UNKNOWN`, `DENIED`, `UNSUPPORTED`…
    #[serde(default)]
    pub code: String,
    /// What a person reads.
    #[serde(default)]
    pub message: String,
}

/// Everything that can go wrong talking to a registry. Every registry reply maps to `Ok` or to
/// one of these; none panics.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The registry could not be reached: connection refused, DNS failure, reset.
    #[error("registry unreachable at {url}: {source}")]
    Unreachable {
        /// The URL that was asked.
        url: String,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// The registry did not answer in time.
    #[error("registry request to {url} timed out")]
    Timeout {
        /// The URL that was asked.
        url: String,
    },
    /// Any other failure of the HTTP client.
    #[error("HTTP transport error: {0}")]
    Transport(#[source] BoxError),
    /// The token source could not produce a token.
    #[error("could not obtain a registry token: {0}")]
    TokenSource(#[source] BoxError),
    /// 404: the repository, tag, manifest or blob does not exist.
    #[error("not found: {}", describe(.errors, "the registry answered 404"))]
    NotFound {
        /// The registry's error entries (`NAME_UNKNOWN`, `MANIFEST_UNKNOWN`, `BLOB_UNKNOWN`…).
        errors: Vec<ErrorEntry>,
    },
    /// 401 even with a fresh token: the registry refuses the token (untrusted key, wrong issuer
    /// or audience, expired) or it lacks the scopes.
    #[error("unauthorized: the registry refused our token{}{}", .challenge_error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default(), describe_suffix(.errors))]
    Unauthorized {
        /// The challenge's `error` parameter: `invalid_token` or `insufficient_scope`.
        challenge_error: Option<String>,
        /// The registry's error entries.
        errors: Vec<ErrorEntry>,
    },
    /// 403: the registry denies the request.
    #[error("denied: {}", describe(.errors, "the registry answered 403"))]
    Denied {
        /// The registry's error entries.
        errors: Vec<ErrorEntry>,
    },
    /// 405 (or `UNSUPPORTED`): deleting is disabled (`storage.delete.enabled: false`) or the
    /// operation is not supported by this registry.
    #[error("operation not supported by the registry (is storage.delete.enabled on?){}", describe_suffix(.errors))]
    Unsupported {
        /// The registry's error entries.
        errors: Vec<ErrorEntry>,
    },
    /// The registry refused to remove a tag alone (`400 DIGEST_INVALID` to a delete by tag):
    /// it is distribution 2.8, which deletes manifests by digest only.
    #[error("the registry cannot remove a tag alone (distribution 2.8 deletes manifests by digest only){}", describe_suffix(.errors))]
    CannotUntag {
        /// The registry's error entries.
        errors: Vec<ErrorEntry>,
    },
    /// Any other unexpected status.
    #[error("registry answered {status}: {}", describe(.errors, "no error details"))]
    Status {
        /// The HTTP status.
        status: StatusCode,
        /// The registry's error entries, if the body held an envelope.
        errors: Vec<ErrorEntry>,
    },
    /// The reply is larger than the limit for its kind.
    #[error("registry reply larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The reply is not what the API specifies (bad JSON, a missing header…).
    #[error("malformed registry reply: {0}")]
    Malformed(String),
    /// The content does not hash to the digest the registry or the caller named.
    #[error("digest mismatch: expected {expected}, content hashes to {actual}")]
    DigestMismatch {
        /// The digest that was expected.
        expected: String,
        /// The sha256 digest of the bytes received.
        actual: String,
    },
    /// A manifest media type this client does not read (e.g. Docker schema 1).
    #[error("unsupported manifest media type {0:?}")]
    UnsupportedMediaType(String),
    /// The caller's input is invalid (a bad base URL, repository name, reference or digest).
    #[error("invalid request: {0}")]
    InvalidInput(String),
}

impl RegistryError {
    /// The registry's error codes, if the reply carried an envelope.
    pub fn codes(&self) -> Vec<&str> {
        match self {
            RegistryError::NotFound { errors }
            | RegistryError::Unauthorized { errors, .. }
            | RegistryError::Denied { errors }
            | RegistryError::Unsupported { errors }
            | RegistryError::CannotUntag { errors }
            | RegistryError::Status { errors, .. } => {
                errors.iter().map(|e| e.code.as_str()).collect()
            }
            _ => Vec::new(),
        }
    }

    /// Whether this is a 404 of any kind.
    pub fn is_not_found(&self) -> bool {
        matches!(self, RegistryError::NotFound { .. })
    }

    /// The error for a non-success reply: its status and (lenient) envelope.
    pub(crate) fn from_reply(
        status: StatusCode,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> RegistryError {
        let errors = parse_envelope(body);
        match status {
            StatusCode::NOT_FOUND => RegistryError::NotFound { errors },
            StatusCode::UNAUTHORIZED => {
                let challenge_error = headers
                    .get(http::header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| super::BearerChallenge::parse(v).ok())
                    .and_then(|c| c.error);
                RegistryError::Unauthorized {
                    challenge_error,
                    errors,
                }
            }
            StatusCode::FORBIDDEN => RegistryError::Denied { errors },
            StatusCode::METHOD_NOT_ALLOWED => RegistryError::Unsupported { errors },
            _ if errors.iter().any(|e| e.code == "UNSUPPORTED") => {
                RegistryError::Unsupported { errors }
            }
            _ => RegistryError::Status { status, errors },
        }
    }
}

/// The `errors` of an envelope; an empty list for anything else (HTML, plain text, nothing).
pub(crate) fn parse_envelope(body: &[u8]) -> Vec<ErrorEntry> {
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(default)]
        errors: Vec<ErrorEntry>,
    }
    serde_json::from_slice::<Envelope>(body)
        .map(|e| e.errors)
        .unwrap_or_default()
}

fn describe(errors: &[ErrorEntry], fallback: &str) -> String {
    if errors.is_empty() {
        return fallback.to_owned();
    }
    errors
        .iter()
        .map(|e| format!("{} ({})", e.message, e.code))
        .collect::<Vec<_>>()
        .join("; ")
}

fn describe_suffix(errors: &[ErrorEntry]) -> String {
    if errors.is_empty() {
        String::new()
    } else {
        format!(": {}", describe(errors, ""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_is_parsed_leniently() {
        let e = parse_envelope(
            br#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry","detail":{"name":"x"}}]}"#,
        );
        assert_eq!(e[0].code, "NAME_UNKNOWN");
        assert!(parse_envelope(b"<html>").is_empty());
        assert!(parse_envelope(b"").is_empty());
        assert!(parse_envelope(br#"{"errors":"nope"}"#).is_empty());
    }

    #[test]
    fn statuses_map_to_variants() {
        let h = http::HeaderMap::new();
        let nf = RegistryError::from_reply(StatusCode::NOT_FOUND, &h, b"");
        assert!(nf.is_not_found());
        assert_eq!(nf.to_string(), "not found: the registry answered 404");
        assert!(matches!(
            RegistryError::from_reply(StatusCode::METHOD_NOT_ALLOWED, &h, b""),
            RegistryError::Unsupported { .. }
        ));
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static(r#"Bearer realm="r",service="s",error="invalid_token""#),
        );
        let e = RegistryError::from_reply(StatusCode::UNAUTHORIZED, &h, b"");
        assert!(e.to_string().contains("invalid_token"), "{e}");
    }
}
