//! The names a token server chooses between: the signature algorithm, the key-id style and how
//! a token names its key.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::signature::{self as sig, EcdsaSigningAlgorithm};
use serde::{Deserialize, Serialize};

use super::TokenError;

/// A JWS signature algorithm that distribution 2.8 accepts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    /// ECDSA on P-256 with SHA-256: the fastest (~25 µs per token) and the default.
    #[default]
    ES256,
    /// ECDSA on P-384 with SHA-384 (~6× slower than ES256).
    ES384,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (~1 ms per token with a 2048-bit key).
    RS256,
}

impl Algorithm {
    /// The JWS `alg` name: `ES256`, `ES384` or `RS256`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::RS256 => "RS256",
        }
    }

    pub(crate) fn ecdsa_signing(self) -> Option<&'static EcdsaSigningAlgorithm> {
        match self {
            Algorithm::ES256 => Some(&sig::ECDSA_P256_SHA256_FIXED_SIGNING),
            Algorithm::ES384 => Some(&sig::ECDSA_P384_SHA384_FIXED_SIGNING),
            Algorithm::RS256 => None,
        }
    }

    /// The aws-lc-rs verification algorithm for this `alg`.
    pub(crate) fn verification(self) -> &'static dyn sig::VerificationAlgorithm {
        match self {
            Algorithm::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
            Algorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
            Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = TokenError;

    /// Parses a JWS `alg` name (exact, upper-case).
    fn from_str(s: &str) -> Result<Algorithm, TokenError> {
        match s {
            "ES256" => Ok(Algorithm::ES256),
            "ES384" => Ok(Algorithm::ES384),
            "RS256" => Ok(Algorithm::RS256),
            other => Err(TokenError::UnsupportedAlgorithm(truncate(other))),
        }
    }
}

/// How the `kid` header and the JWKS name a key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KidStyle {
    /// The libtrust key ID (`ABCD:EFGH:…`, 48 base32 characters in 12 groups) that
    /// distribution 2.8 requires.
    #[default]
    Libtrust,
    /// The RFC 7638 JWK thumbprint (base64url SHA-256) that distribution v3 understands.
    Rfc7638,
}

impl KidStyle {
    /// The configuration name: `libtrust` or `rfc7638`.
    pub const fn as_str(self) -> &'static str {
        match self {
            KidStyle::Libtrust => "libtrust",
            KidStyle::Rfc7638 => "rfc7638",
        }
    }
}

impl fmt::Display for KidStyle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of [`KidStyle::from_str`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown kid style {0:?} (expected \"libtrust\" or \"rfc7638\")")]
pub struct UnknownKidStyle(pub String);

impl FromStr for KidStyle {
    type Err = UnknownKidStyle;

    /// Parses `libtrust` or `rfc7638` (case-insensitive).
    fn from_str(s: &str) -> Result<KidStyle, UnknownKidStyle> {
        if s.eq_ignore_ascii_case("libtrust") {
            Ok(KidStyle::Libtrust)
        } else if s.eq_ignore_ascii_case("rfc7638") {
            Ok(KidStyle::Rfc7638)
        } else {
            Err(UnknownKidStyle(truncate(s)))
        }
    }
}

/// How a token names the key that signed it, which decides how the registry must know the key.
///
/// Measured with distribution 2.8.2 and v3.1.1: both look at `x5c` first and, when it is there,
/// never at the `kid`; a failing `x5c` is final. Without `x5c`, 2.8 finds only a libtrust `kid`
/// among its bundle's certificates, v3 a `kid` of its `jwks` file (compared as a string) or the
/// RFC 7638 thumbprint of a bundle certificate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyReference {
    /// `x5c` (the signing certificate) and `kid`: the registry checks the certificate against
    /// its `rootcertbundle` (a certificate in it, or a CA in it that issued the certificate).
    /// Works with 2.8 and v3.
    #[default]
    X5c,
    /// `kid` only: for distribution v3 configured with `auth.token.jwks` and no bundle.
    Kid,
}

/// Shortens attacker- or user-supplied strings before they go into an error.
pub(crate) fn truncate(s: &str) -> String {
    s.chars().take(100).collect()
}
