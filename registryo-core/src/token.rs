//! Registry bearer tokens: the JWTs that distribution's `token` auth accepts.
//!
//! - [`SigningKey`]: a private key (ECDSA P-256 / P-384 or RSA) with its X.509 certificate,
//!   parsed **once** and cached with its key IDs and JWS headers.
//! - [`CertificateAuthority`]: a CA whose certificate is the registry's `rootcertbundle`; it
//!   issues the signing keys' certificates, so the key that signs can change without the
//!   registry re-reading its bundle (distribution 2.8 and v3 verify `x5c` as a chain to it).
//! - [`KeySet`]: the keys of a server. It signs with the first key and publishes all of them
//!   ([`KeySet::jwks`], [`KeySet::cert_bundle_pem`]).
//! - [`Claims`] / [`Access`]: the token's payload.
//! - [`Verifier`]: checks a token as the registry does (for Rust services that want to sit
//!   behind the same tokens).
//!
//! A token's header carries `typ`, `alg`, `kid` and, with [`KeyReference::X5c`] (the default),
//! `x5c` (the certificate, standard base64 DER), which both distribution 2.8 and v3 look up
//! first and, when present, alone. [`KeyReference::Kid`] leaves `x5c` out, for a v3 that knows
//! the keys from its `jwks` file only. The `kid` is either the libtrust key ID
//! ([`KidStyle::Libtrust`], the default) or the RFC 7638 thumbprint ([`KidStyle::Rfc7638`]).
//! `aud` is always a JSON string.
//!
//! # Example
//! ```
//! use std::time::Duration;
//! use registryo_core::token::{Access, Algorithm, Claims, KeySet, KidStyle, SigningKey};
//!
//! # fn main() -> Result<(), registryo_core::token::TokenError> {
//! let key = SigningKey::generate(Algorithm::ES256, "registryo token signer")?;
//! let keys = KeySet::new(vec![key], KidStyle::Libtrust)?;
//! let access = vec![Access::new("repository", "team/app", ["pull", "push"])];
//! let claims = Claims::new("registryo", "alice", "registry.example", Duration::from_secs(300), access);
//! let token = keys.sign(&claims)?;
//!
//! let verified = keys.verifier().verify(&token, "registryo", "registry.example")?;
//! assert_eq!(verified, claims);
//! # Ok(())
//! # }
//! ```

mod algorithm;
mod authority;
mod claims;
mod error;
mod keys;
mod keyset;
mod verify;

pub use authority::{CA_LIFETIME_SECS, CertificateAuthority};
#[cfg(feature = "client")]
pub(crate) use claims::unix_now;
pub use claims::{Access, Claims};
pub use error::TokenError;
pub use keys::{Algorithm, KeyReference, KidStyle, SigningKey, UnknownKidStyle};
pub use keyset::KeySet;
pub use verify::Verifier;

/// Clock skew tolerated on `exp` and `nbf`, in seconds: the registry's own leeway.
pub const LEEWAY_SECS: i64 = 60;
