//! The parts of a JWT, read without checking the signature (registryo-core's tests and the
//! registry do that).

use base64::Engine as _;
use serde_json::Value;

/// Part `index` of a token (0: the header, 1: the claims) as JSON; panics when it is not
/// base64url-encoded JSON.
pub fn part(token: &str, index: usize) -> Value {
    let part = token
        .split('.')
        .nth(index)
        .unwrap_or_else(|| panic!("no part {index} in the token {token:?}"));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap_or_else(|e| panic!("part {index} of {token:?} is not base64url: {e}"));
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("part {index} of {token:?} is not JSON: {e}"))
}

/// A token's header.
pub fn header(token: &str) -> Value {
    part(token, 0)
}

/// A token's claims.
pub fn claims(token: &str) -> Value {
    part(token, 1)
}
