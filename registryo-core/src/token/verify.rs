//! Verifying registry tokens, as the registry does.

use std::borrow::Cow;

use aws_lc_rs::signature::{self as sig, ParsedPublicKey, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Deserialize;
use x509_cert::der::{Decode, Encode};
use x509_cert::spki::ObjectIdentifier;

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
    /// The DER subject name of a CA certificate (`CA:TRUE`): it may issue signing certificates.
    ca_subject: Option<Vec<u8>>,
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
                ca_subject: ca_subject(&cert_der),
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
                    ca_subject: None,
                    info,
                    parsed,
                }
            })
            .collect();
        Verifier { keys }
    }

    /// Also trusts the certificates a CA (DER, `CA:TRUE`) issues, as the registry does with a
    /// CA in its bundle. Refuses a certificate that is not a CA's.
    pub(crate) fn with_authority(mut self, ca_der: &[u8]) -> Result<Verifier, TokenError> {
        let subject = ca_subject(ca_der).ok_or_else(|| {
            TokenError::InvalidCertificate("not a CA certificate (basicConstraints)".into())
        })?;
        let info = PublicKeyInfo::from_cert_der(ca_der)?;
        let parsed = ParsedPublicKey::new(info.alg.verification(), &info.key_bytes).ok();
        self.keys.push(TrustedKey {
            cert_der: ca_der.to_vec(),
            ca_subject: Some(subject),
            info,
            parsed,
        });
        Ok(self)
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
        let key = self.find_key(&header, now)?;
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

    /// The trusted key named by the `x5c` leaf (a trusted certificate, or one a trusted CA
    /// issued that is valid at `now`), else by the `kid` (either style).
    fn find_key(&self, header: &Header, now: i64) -> Result<Cow<'_, TrustedKey>, TokenError> {
        let leaf = header
            .x5c
            .as_ref()
            .and_then(|chain| chain.first())
            .and_then(|b64| STANDARD.decode(b64).ok());
        if let Some(leaf) = leaf {
            if let Some(key) = self.keys.iter().find(|k| k.cert_der == leaf) {
                return Ok(Cow::Borrowed(key));
            }
            if let Some(key) = self.issued_by_a_trusted_ca(&leaf, now) {
                return Ok(Cow::Owned(key));
            }
        }
        if let Some(kid) = &header.kid {
            let by_kid = self.keys.iter().find(|k| {
                k.info.kid(KidStyle::Libtrust) == kid || k.info.kid(KidStyle::Rfc7638) == kid
            });
            if let Some(key) = by_kid {
                return Ok(Cow::Borrowed(key));
            }
        }
        Err(TokenError::UntrustedKey {
            kid: header.kid.as_deref().map(truncate),
        })
    }
}

impl Verifier {
    /// The leaf's key when a trusted CA signed the leaf, which is not a CA itself and is valid
    /// at `now`.
    fn issued_by_a_trusted_ca(&self, leaf_der: &[u8], now: i64) -> Option<TrustedKey> {
        let leaf = x509_cert::Certificate::from_der(leaf_der).ok()?;
        let tbs = leaf.tbs_certificate();
        let issuer = tbs.issuer().to_der().ok()?;
        let ca = self
            .keys
            .iter()
            .find(|k| k.ca_subject.as_deref() == Some(issuer.as_slice()))?;
        let validity = tbs.validity();
        let not_before = validity.not_before.to_unix_duration().as_secs();
        let not_after = validity.not_after.to_unix_duration().as_secs();
        let now = u64::try_from(now).ok()?;
        if now < not_before || now > not_after || is_ca_certificate(&leaf) {
            return None;
        }
        let algorithm = certificate_signature(leaf.signature_algorithm().oid, ca.info.alg)?;
        let signed = tbs.to_der().ok()?;
        let signature = leaf.signature().as_bytes()?;
        UnparsedPublicKey::new(algorithm, &ca.info.key_bytes)
            .verify(&signed, signature)
            .ok()?;
        let info = PublicKeyInfo::from_cert_der(leaf_der).ok()?;
        let parsed = ParsedPublicKey::new(info.alg.verification(), &info.key_bytes).ok();
        Some(TrustedKey {
            cert_der: leaf_der.to_vec(),
            ca_subject: None,
            info,
            parsed,
        })
    }
}

/// The verification algorithm of a certificate signature (`signatureAlgorithm`) made by a key
/// of `issuer_alg`; `None` for any other combination.
fn certificate_signature(
    oid: ObjectIdentifier,
    issuer_alg: Algorithm,
) -> Option<&'static dyn sig::VerificationAlgorithm> {
    const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
    const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
    const RSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
    const RSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
    match (oid, issuer_alg) {
        (ECDSA_SHA256, Algorithm::ES256) => Some(&sig::ECDSA_P256_SHA256_ASN1),
        (ECDSA_SHA384, Algorithm::ES256) => Some(&sig::ECDSA_P256_SHA384_ASN1),
        (ECDSA_SHA256, Algorithm::ES384) => Some(&sig::ECDSA_P384_SHA256_ASN1),
        (ECDSA_SHA384, Algorithm::ES384) => Some(&sig::ECDSA_P384_SHA384_ASN1),
        (RSA_SHA256, Algorithm::RS256) => Some(&sig::RSA_PKCS1_2048_8192_SHA256),
        (RSA_SHA384, Algorithm::RS256) => Some(&sig::RSA_PKCS1_2048_8192_SHA384),
        _ => None,
    }
}

/// Whether a certificate says `CA:TRUE` in its basic constraints.
pub(crate) fn is_ca_certificate(cert: &x509_cert::Certificate) -> bool {
    use x509_cert::der::oid::AssociatedOid as _;
    use x509_cert::ext::pkix::BasicConstraints;
    cert.tbs_certificate()
        .extensions()
        .into_iter()
        .flatten()
        .filter(|e| e.extn_id == BasicConstraints::OID)
        .any(|e| BasicConstraints::from_der(e.extn_value.as_bytes()).is_ok_and(|bc| bc.ca))
}

/// The DER subject of a CA certificate; `None` for any other certificate.
fn ca_subject(cert_der: &[u8]) -> Option<Vec<u8>> {
    let cert = x509_cert::Certificate::from_der(cert_der).ok()?;
    if !is_ca_certificate(&cert) {
        return None;
    }
    cert.tbs_certificate().subject().to_der().ok()
}
