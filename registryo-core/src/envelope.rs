//! The Docker error envelope: `{"errors":[{"code":"…","message":"…"}]}`.
//!
//! Docker, skopeo, podman and containerd print the `message` of the first error when the token
//! server or the registry refuses a request.

use bytes::Bytes;
use serde::Serialize;

/// One entry of the `errors` list.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ErrorEntry<'a> {
    /// A machine-readable code such as `UNAUTHORIZED` or `DENIED`.
    pub code: &'a str,
    /// What a person reads.
    pub message: &'a str,
}

#[derive(Serialize)]
struct Envelope<'a> {
    errors: [ErrorEntry<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_description: Option<&'a str>,
}

/// The JSON body `{"errors":[{"code":code,"message":message}]}`.
pub fn error_body(code: &str, message: &str) -> Bytes {
    to_bytes(&Envelope {
        errors: [ErrorEntry { code, message }],
        error: None,
        error_description: None,
    })
}

/// The Docker envelope plus the OAuth2 fields `error` and `error_description` (RFC 6749 §5.2),
/// for replies to `POST /token`.
pub fn oauth_error_body(code: &str, oauth_error: &str, message: &str) -> Bytes {
    to_bytes(&Envelope {
        errors: [ErrorEntry { code, message }],
        error: Some(oauth_error),
        error_description: Some(message),
    })
}

fn to_bytes<T: Serialize>(v: &T) -> Bytes {
    // Serialising these plain structs of strings cannot fail.
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_shape_and_escaping() {
        let b = error_body("UNAUTHORIZED", "bad \"password\" <x>");
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["errors"][0]["code"], "UNAUTHORIZED");
        assert_eq!(v["errors"][0]["message"], "bad \"password\" <x>");
        assert!(v.get("error").is_none());
        let b = oauth_error_body("UNAUTHORIZED", "invalid_grant", "m");
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["error"], "invalid_grant");
        assert_eq!(v["error_description"], "m");
    }
}
