//! The parts of a JWT (`header.claims.signature`, each base64url without padding), read as
//! JSON without checking the signature: what a test looks at in a token it was given. The
//! signature is checked where it matters: by registryo-core's token tests (with jsonwebtoken)
//! and by the registry.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// Part `index` of `token` (0: the header, 1: the claims) as JSON; panics when the token has
/// no such part or it is not base64url-encoded JSON.
pub fn part(token: &str, index: usize) -> Value {
    let part = token
        .split('.')
        .nth(index)
        .unwrap_or_else(|| panic!("no part {index} in the token {token:?}"));
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .unwrap_or_else(|e| panic!("part {index} of {token:?} is not base64url: {e}"));
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("part {index} of {token:?} is not JSON: {e}"))
}

/// The header of `token`.
pub fn header(token: &str) -> Value {
    part(token, 0)
}

/// The claims of `token`.
pub fn claims(token: &str) -> Value {
    part(token, 1)
}
