//! Verifying registry tokens, as the registry does.

use aws_lc_rs::signature::{ParsedPublicKey, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Deserialize;

use super::claims::unix_now;
use super::keys::{Algorithm, KidStyle, PublicKeyInfo, SigningKey, truncate};
use super::{Claims, LEEWAY_SECS, TokenError};

/// Longest token accepted, in bytes: far above any real token (a few KiB), low enough to bound
/// the work done on garbage.
const MAX_TOKEN_LEN: usize = 64 * 1024;

/// A key the verifier trusts.
#[derive(Clone, Debug)]
struct TrustedKey {
    cert_der: Vec<u8>,
    info: PublicKeyInfo,
    /// Pre-parsed public key (`None` only if aws-lc-rs refused a key we could sign with).
    parsed: Option<ParsedPublicKey>,
}

impl TrustedKey {
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.parsed {
            Some(key) => key.verify_sig(message, signature).is_ok(),
            None => UnparsedPublicKey::new(self.info.alg.verification(), &self.info.key_bytes)
                .verify(message, signature)
                .is_ok(),
        }
    }
}

/// The JOSE header members the verifier reads.
#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    x5c: Option<Vec<String>>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

/// Checks registry tokens against a set of trusted certificates: the "registry token
/// required" side, for Rust services behind the same token server.
///
/// A token is accepted when it is signed by a trusted key — found by its `x5c` leaf
/// certificate (byte-equal to a trusted one), else by its `kid` in either style — with the
/// `alg` of that key (ES256 / ES384 / RS256; `none`, `HS*` and all others are refused), and its
/// `iss`, `aud` (a string) and `exp` / `nbf` (± [`LEEWAY_SECS`]) check out.
#[derive(Clone, Debug)]
pub struct Verifier {
    keys: Vec<TrustedKey>,
}

impl Verifier {
    /// Trusts every certificate of a PEM bundle (the registry's `rootcertbundle`). Blocks
    /// other than `CERTIFICATE` are ignored; a bundle without certificates, or with a key
    /// distribution cannot use, is refused.
    pub fn from_cert_bundle_pem(pem: &str) -> Result<Verifier, TokenError> {
        let blocks = pem::parse_many(pem).map_err(|e| TokenError::Pem(e.to_string()))?;
        let mut keys = Vec::new();
        for block in blocks.into_iter().filter(|b| b.tag() == "CERTIFICATE") {
            let cert_der = block.into_contents();
            let info = PublicKeyInfo::from_cert_der(&cert_der)?;
            let parsed = ParsedPublicKey::new(info.alg.verification(), &info.key_bytes)
                .map_err(|e| TokenError::InvalidCertificate(format!("public key: {e}")))?;
            keys.push(TrustedKey {
                cert_der,
                info,
                parsed: Some(parsed),
            });
        }
        if keys.is_empty() {
            return Err(TokenError::MissingPem("CERTIFICATE block"));
        }
        Ok(Verifier { keys })
    }

    pub(crate) fn from_signing_keys(signing_keys: &[SigningKey]) -> Verifier {
        let keys = signing_keys
            .iter()
            .map(|k| {
                let info = k.public_info().clone();
                let parsed = ParsedPublicKey::new(info.alg.verification(), &info.key_bytes).ok();
                TrustedKey {
                    cert_der: k.cert_der().to_vec(),
                    info,
                    parsed,
                }
            })
            .collect();
        Verifier { keys }
    }

    /// The number of trusted keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is trusted (never true for a verifier built by this crate).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Verifies `token` for this `issuer` and `audience` at the current time.
    pub fn verify(&self, token: &str, issuer: &str, audience: &str) -> Result<Claims, TokenError> {
        self.verify_at(token, issuer, audience, unix_now())
    }

    /// Verifies `token` as [`verify`](Verifier::verify) does, at time `now` (seconds since
    /// the epoch).
    pub fn verify_at(
        &self,
        token: &str,
        issuer: &str,
        audience: &str,
        now: i64,
    ) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed("token too long"));
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed("expected three dot-separated parts"));
        };
        let header_json = URL_SAFE_NO_PAD
            .decode(header_b64)
            .map_err(|_| TokenError::Malformed("header is not base64url"))?;
        let header: Header = serde_json::from_slice(&header_json)
            .map_err(|_| TokenError::Malformed("header is not a JSON object with an alg"))?;
        if header.crit.is_some() {
            return Err(TokenError::Malformed("unsupported crit header"));
        }
        let alg: Algorithm = header.alg.parse()?;
        let key = self.find_key(&header)?;
        if key.info.alg != alg {
            return Err(TokenError::AlgorithmMismatch {
                token: alg,
                key: key.info.alg,
            });
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature_b64)
            .map_err(|_| TokenError::Malformed("signature is not base64url"))?;
        // The signing input is the token up to the second dot.
        let signed = &token[..header_b64.len() + 1 + payload_b64.len()];
        if !key.verify(signed.as_bytes(), &signature) {
            return Err(TokenError::InvalidSignature);
        }
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| TokenError::Malformed("payload is not base64url"))?;
        let claims: Claims = serde_json::from_slice(&payload)
            .map_err(|e| TokenError::InvalidClaims(e.to_string()))?;
        if claims.iss != issuer {
            return Err(TokenError::WrongIssuer {
                expected: issuer.to_owned(),
                found: truncate(&claims.iss),
            });
        }
        if claims.aud != audience {
            return Err(TokenError::WrongAudience {
                expected: audience.to_owned(),
                found: truncate(&claims.aud),
            });
        }
        if now > claims.exp.saturating_add(LEEWAY_SECS) {
            return Err(TokenError::Expired {
                exp: claims.exp,
                now,
            });
        }
        if now < claims.nbf.saturating_sub(LEEWAY_SECS) {
            return Err(TokenError::NotYetValid {
                nbf: claims.nbf,
                now,
            });
        }
        Ok(claims)
    }

    /// The trusted key named by the `x5c` leaf, else by the `kid` (either style).
    fn find_key(&self, header: &Header) -> Result<&TrustedKey, TokenError> {
        let leaf = header
            .x5c
            .as_ref()
            .and_then(|chain| chain.first())
            .and_then(|b64| STANDARD.decode(b64).ok());
        if let Some(key) = leaf.and_then(|leaf| self.keys.iter().find(|k| k.cert_der == leaf)) {
            return Ok(key);
        }
        if let Some(kid) = &header.kid {
            let by_kid = self.keys.iter().find(|k| {
                k.info.kid(KidStyle::Libtrust) == kid || k.info.kid(KidStyle::Rfc7638) == kid
            });
            if let Some(key) = by_kid {
                return Ok(key);
            }
        }
        Err(TokenError::UntrustedKey {
            kid: header.kid.as_deref().map(truncate),
        })
    }
}
