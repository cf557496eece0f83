//! The one error type of the token module.

use super::Algorithm;

/// What went wrong while loading keys, signing or verifying a token.
///
/// Key and certificate variants happen at start-up (configuration errors). Every variant that
/// [`Verifier::verify`](super::Verifier::verify) returns means "401 with
/// `error="invalid_token"`" to an HTTP layer; the variant is for the log, not for the client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The input is not PEM, or a PEM block is corrupt.
    #[error("invalid PEM: {0}")]
    Pem(String),
    /// The PEM input holds no block of the kind needed (`PRIVATE KEY`, `CERTIFICATE`…).
    #[error("no {0} found in the PEM input")]
    MissingPem(&'static str),
    /// The private key is encrypted (`ENCRYPTED PRIVATE KEY`); decrypt it first.
    #[error("encrypted private keys are not supported (decrypt it with `openssl pkey`)")]
    EncryptedKey,
    /// The private key could not be parsed or was rejected (too short, inconsistent…).
    #[error("invalid private key: {0}")]
    InvalidKey(String),
    /// A key of a type distribution 2.8 cannot use (Ed25519, P-521, DSA…).
    #[error("unsupported key type {0}: only ECDSA P-256, ECDSA P-384 and RSA keys can be used")]
    UnsupportedKey(String),
    /// The certificate could not be parsed, or its public key could not be.
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),
    /// The certificate does not certify this private key.
    #[error("the certificate's public key does not match the private key")]
    KeyCertificateMismatch,
    /// Generating a key pair or its self-signed certificate failed.
    #[error("key or certificate generation failed: {0}")]
    Generation(String),
    /// A [`KeySet`](super::KeySet) needs at least one key.
    #[error("a key set needs at least one key")]
    EmptyKeySet,
    /// The cryptographic library refused to sign (should not happen with a valid key).
    #[error("signing failed: {0}")]
    Signing(String),
    /// The token is not a well-formed compact JWS (parts, base64url, header JSON).
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The token's `alg` is not one this server accepts (`none`, `HS256`, `PS256`, `EdDSA`…).
    #[error("unsupported token algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// Neither the token's `x5c` leaf nor its `kid` names a trusted key.
    #[error("token signed by an untrusted key (kid {kid:?})")]
    UntrustedKey {
        /// The token's `kid`, if any (truncated to 100 characters).
        kid: Option<String>,
    },
    /// The token's `alg` does not fit the key it names (e.g. `ES384` with a P-256 key).
    #[error("token algorithm {token} does not match the {key} key that signed it")]
    AlgorithmMismatch {
        /// The `alg` of the token header.
        token: Algorithm,
        /// The algorithm of the trusted key the token points to.
        key: Algorithm,
    },
    /// The signature does not verify.
    #[error("invalid token signature")]
    InvalidSignature,
    /// The payload is not the JSON claims set expected (missing `exp`, `aud` as an array…).
    #[error("invalid token claims: {0}")]
    InvalidClaims(String),
    /// `iss` is not the expected issuer.
    #[error("token issuer {found:?} is not the expected {expected:?}")]
    WrongIssuer {
        /// The issuer the verifier expects.
        expected: String,
        /// The token's `iss`.
        found: String,
    },
    /// `aud` is not the expected audience (the registry's `service`).
    #[error("token audience {found:?} is not the expected {expected:?}")]
    WrongAudience {
        /// The audience the verifier expects.
        expected: String,
        /// The token's `aud`.
        found: String,
    },
    /// `exp` is more than the leeway in the past.
    #[error("token expired at {exp} (now {now}, leeway {leeway} s)", leeway = super::LEEWAY_SECS)]
    Expired {
        /// The token's `exp` (seconds since the epoch).
        exp: i64,
        /// The verifier's clock.
        now: i64,
    },
    /// `nbf` is more than the leeway in the future.
    #[error("token not valid before {nbf} (now {now}, leeway {leeway} s)", leeway = super::LEEWAY_SECS)]
    NotYetValid {
        /// The token's `nbf` (seconds since the epoch).
        nbf: i64,
        /// The verifier's clock.
        now: i64,
    },
}
