//! Signing keys, their certificates and their key IDs.

use std::fmt;

use aws_lc_rs::digest;
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, KeyPair as _, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use x509_cert::der::asn1::UintRef;
use x509_cert::der::{Decode, Encode, Reader, SliceReader};
use x509_cert::spki::{AlgorithmIdentifierRef, ObjectIdentifier, SubjectPublicKeyInfoRef};

use super::TokenError;
pub(crate) use super::algorithm::truncate;
pub use super::algorithm::{Algorithm, KeyReference, KidStyle, UnknownKidStyle};
use super::claims::{Claims, unix_now};

const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_ED448: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.113");

/// Validity of a generated certificate: from one hour ago (clock skew) for ten years.
const CERT_BACKDATE_SECS: i64 = 3600;
const CERT_LIFETIME_SECS: i64 = 3653 * 86_400;

/// The JWK members that identify a public key.
#[derive(Clone, Debug, PartialEq, Eq)]
enum JwkMembers {
    Ec {
        crv: &'static str,
        x: String,
        y: String,
    },
    Rsa {
        n: String,
        e: String,
    },
}

/// The public half of a key, as read from a certificate, with its key IDs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PublicKeyInfo {
    pub(crate) alg: Algorithm,
    /// EC: the uncompressed point; RSA: the PKCS#1 `RSAPublicKey` DER.
    pub(crate) key_bytes: Vec<u8>,
    pub(crate) kid_libtrust: String,
    pub(crate) kid_rfc7638: String,
    members: JwkMembers,
}

impl PublicKeyInfo {
    /// Reads the public key of a DER certificate.
    pub(crate) fn from_cert_der(cert_der: &[u8]) -> Result<PublicKeyInfo, TokenError> {
        let cert = x509_cert::Certificate::from_der(cert_der)
            .map_err(|e| TokenError::InvalidCertificate(e.to_string()))?;
        let spki_der = cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| TokenError::InvalidCertificate(e.to_string()))?;
        PublicKeyInfo::from_spki_der(&spki_der)
    }

    /// Reads a DER `SubjectPublicKeyInfo`.
    pub(crate) fn from_spki_der(spki_der: &[u8]) -> Result<PublicKeyInfo, TokenError> {
        let bad = |e: x509_cert::der::Error| TokenError::InvalidCertificate(e.to_string());
        let spki = SubjectPublicKeyInfoRef::from_der(spki_der).map_err(bad)?;
        let alg = algorithm_of(&spki.algorithm)?;
        let key_bytes = spki.subject_public_key.as_bytes().ok_or_else(|| {
            TokenError::InvalidCertificate("public key bit string is not byte-aligned".into())
        })?;
        let members = match alg {
            Algorithm::ES256 | Algorithm::ES384 => {
                let n = if alg == Algorithm::ES256 { 32 } else { 48 };
                match key_bytes.split_first() {
                    Some((4, xy)) if xy.len() == 2 * n => {
                        let (x, y) = xy.split_at(n);
                        JwkMembers::Ec {
                            crv: if alg == Algorithm::ES256 {
                                "P-256"
                            } else {
                                "P-384"
                            },
                            x: URL_SAFE_NO_PAD.encode(x),
                            y: URL_SAFE_NO_PAD.encode(y),
                        }
                    }
                    _ => {
                        return Err(TokenError::InvalidCertificate(
                            "EC public key is not an uncompressed point of its curve".into(),
                        ));
                    }
                }
            }
            Algorithm::RS256 => {
                let (n, e) = rsa_public_components(key_bytes).map_err(bad)?;
                JwkMembers::Rsa {
                    n: URL_SAFE_NO_PAD.encode(n),
                    e: URL_SAFE_NO_PAD.encode(e),
                }
            }
        };
        let kid_rfc7638 = rfc7638_thumbprint(&members);
        Ok(PublicKeyInfo {
            alg,
            key_bytes: key_bytes.to_vec(),
            kid_libtrust: libtrust_kid(spki_der),
            kid_rfc7638,
            members,
        })
    }

    pub(crate) fn kid(&self, style: KidStyle) -> &str {
        match style {
            KidStyle::Libtrust => &self.kid_libtrust,
            KidStyle::Rfc7638 => &self.kid_rfc7638,
        }
    }

    fn jwk(&self, style: KidStyle) -> Value {
        let kid = self.kid(style);
        let alg = self.alg.as_str();
        match &self.members {
            JwkMembers::Ec { crv, x, y } => json!({
                "kty": "EC", "crv": crv, "x": x, "y": y,
                "kid": kid, "alg": alg, "use": "sig",
            }),
            JwkMembers::Rsa { n, e } => json!({
                "kty": "RSA", "n": n, "e": e,
                "kid": kid, "alg": alg, "use": "sig",
            }),
        }
    }
}

/// The [`Algorithm`] a key of this `AlgorithmIdentifier` signs with.
fn algorithm_of(id: &AlgorithmIdentifierRef<'_>) -> Result<Algorithm, TokenError> {
    let curve = || -> Option<ObjectIdentifier> { id.parameters.and_then(|p| p.decode_as().ok()) };
    match id.oid {
        OID_EC_PUBLIC_KEY => match curve() {
            Some(OID_P256) => Ok(Algorithm::ES256),
            Some(OID_P384) => Ok(Algorithm::ES384),
            Some(OID_P521) => Err(TokenError::UnsupportedKey("ECDSA P-521".into())),
            Some(other) => Err(TokenError::UnsupportedKey(format!("EC curve {other}"))),
            None => Err(TokenError::UnsupportedKey(
                "EC key without a named curve".into(),
            )),
        },
        OID_RSA => Ok(Algorithm::RS256),
        OID_ED25519 => Err(TokenError::UnsupportedKey("Ed25519".into())),
        OID_ED448 => Err(TokenError::UnsupportedKey("Ed448".into())),
        other => Err(TokenError::UnsupportedKey(format!("OID {other}"))),
    }
}

/// `n` and `e` of a PKCS#1 `RSAPublicKey`, big-endian without leading zeros.
fn rsa_public_components(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>), x509_cert::der::Error> {
    let mut reader = SliceReader::new(der)?;
    let parts = reader.sequence(|r| {
        let n = UintRef::decode(r)?;
        let e = UintRef::decode(r)?;
        Ok::<_, x509_cert::der::Error>((n.as_bytes().to_vec(), e.as_bytes().to_vec()))
    })?;
    reader.finish()?;
    Ok(parts)
}

/// The `AlgorithmIdentifier` of a PKCS#8 `PrivateKeyInfo`.
fn pkcs8_algorithm(der: &[u8]) -> Result<Algorithm, TokenError> {
    let bad = |e: x509_cert::der::Error| TokenError::InvalidKey(format!("PKCS#8: {e}"));
    let mut reader = SliceReader::new(der).map_err(bad)?;
    let alg = reader
        .sequence(|r| {
            let _version = UintRef::decode(r)?;
            let alg = AlgorithmIdentifierRef::decode(r)?;
            // The private key and optional attributes follow; the crypto library checks them.
            let rest = r.remaining_len();
            r.drain(rest)?;
            Ok::<_, x509_cert::der::Error>(alg)
        })
        .map_err(bad)?;
    algorithm_of(&alg)
}

/// libtrust key ID: SHA-256 of the DER `SubjectPublicKeyInfo`, first 240 bits, base32
/// (RFC 4648, upper-case, unpadded: 48 characters), in 12 groups of 4 joined by `:`.
pub(crate) fn libtrust_kid(spki_der: &[u8]) -> String {
    let hash = digest::digest(&digest::SHA256, spki_der);
    let b32 = data_encoding::BASE32_NOPAD.encode(&hash.as_ref()[..30]);
    let mut kid = String::with_capacity(59);
    for (i, c) in b32.chars().enumerate() {
        if i > 0 && i % 4 == 0 {
            kid.push(':');
        }
        kid.push(c);
    }
    kid
}

/// RFC 7638 thumbprint: base64url SHA-256 of the required members in lexicographic order.
fn rfc7638_thumbprint(members: &JwkMembers) -> String {
    // The member values are base64url or fixed names: nothing needs JSON escaping.
    let canonical = match members {
        JwkMembers::Ec { crv, x, y } => {
            format!(r#"{{"crv":"{crv}","kty":"EC","x":"{x}","y":"{y}"}}"#)
        }
        JwkMembers::Rsa { n, e } => format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#),
    };
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
}

/// The parsed private key, ready to sign.
enum KeyPair {
    Ecdsa(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

impl KeyPair {
    fn algorithm(&self) -> Algorithm {
        match self {
            KeyPair::Ecdsa(kp) if kp.algorithm() == &sig::ECDSA_P384_SHA384_FIXED_SIGNING => {
                Algorithm::ES384
            }
            KeyPair::Ecdsa(_) => Algorithm::ES256,
            KeyPair::Rsa(_) => Algorithm::RS256,
        }
    }

    fn public_key_bytes(&self) -> &[u8] {
        match self {
            KeyPair::Ecdsa(kp) => kp.public_key().as_ref(),
            KeyPair::Rsa(kp) => kp.public_key().as_ref(),
        }
    }

    fn to_pkcs8(&self) -> Result<Vec<u8>, TokenError> {
        let der = match self {
            KeyPair::Ecdsa(kp) => kp.to_pkcs8v1().map(|d| d.as_ref().to_vec()),
            KeyPair::Rsa(kp) => AsDer::<Pkcs8V1Der<'_>>::as_der(kp).map(|d| d.as_ref().to_vec()),
        };
        der.map_err(|_| TokenError::InvalidKey("cannot serialize the key as PKCS#8".into()))
    }
}

/// The encodings of a private key that [`SigningKey::from_pem`] reads.
#[derive(Clone, Copy)]
enum KeyFormat {
    /// `PRIVATE KEY`
    Pkcs8,
    /// `EC PRIVATE KEY` (RFC 5915)
    Sec1,
    /// `RSA PRIVATE KEY` (RFC 8017)
    Pkcs1,
}

fn parse_private_key(format: KeyFormat, der: &[u8]) -> Result<KeyPair, TokenError> {
    let rejected = |e: aws_lc_rs::error::KeyRejected| TokenError::InvalidKey(e.to_string());
    match format {
        KeyFormat::Pkcs8 => match pkcs8_algorithm(der)? {
            alg @ (Algorithm::ES256 | Algorithm::ES384) => {
                let signing = alg
                    .ecdsa_signing()
                    .ok_or(TokenError::KeyCertificateMismatch)?;
                EcdsaKeyPair::from_pkcs8(signing, der)
                    .map(KeyPair::Ecdsa)
                    .map_err(rejected)
            }
            Algorithm::RS256 => RsaKeyPair::from_pkcs8(der)
                .map(KeyPair::Rsa)
                .map_err(rejected),
        },
        KeyFormat::Sec1 => {
            EcdsaKeyPair::from_private_key_der(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, der)
                .or_else(|_| {
                    EcdsaKeyPair::from_private_key_der(&sig::ECDSA_P384_SHA384_FIXED_SIGNING, der)
                })
                .map(KeyPair::Ecdsa)
                .map_err(|_| {
                    TokenError::InvalidKey("not a valid P-256 or P-384 EC PRIVATE KEY".into())
                })
        }
        KeyFormat::Pkcs1 => RsaKeyPair::from_der(der)
            .map(KeyPair::Rsa)
            .map_err(rejected),
    }
}

/// A private signing key with its X.509 certificate, parsed once.
///
/// Holds the parsed key pair (aws-lc-rs), the certificate DER, both key IDs and the encoded
/// JWS headers, so signing a token costs one signature and two base64 encodings. `Debug` shows
/// the algorithm and key IDs, never the key.
pub struct SigningKey {
    pair: KeyPair,
    rng: SystemRandom,
    pkcs8: Vec<u8>,
    cert_der: Vec<u8>,
    public: PublicKeyInfo,
    /// base64url of the JWS header, per [`KidStyle`] and [`KeyReference`]:
    /// `[libtrust x5c, rfc7638 x5c, libtrust kid-only, rfc7638 kid-only]`.
    headers: [String; 4],
    /// The certificate's issuer is its subject (made by [`SigningKey::generate`]), rather than
    /// a [`CertificateAuthority`](super::CertificateAuthority).
    self_signed: bool,
    /// The certificate's `notAfter`, in Unix seconds.
    not_after: i64,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm())
            .field("kid_libtrust", &self.public.kid_libtrust)
            .field("kid_rfc7638", &self.public.kid_rfc7638)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

impl SigningKey {
    /// Generates a key and a self-signed certificate for it (`CN = common_name`, valid from one
    /// hour ago for ten years), fit for distribution's `rootcertbundle`.
    ///
    /// `RS256` generates a 2048-bit RSA key (slow: up to a second or more).
    pub fn generate(alg: Algorithm, common_name: &str) -> Result<SigningKey, TokenError> {
        let pkcs8 = generate_pkcs8(alg)?;
        let cert_der = self_signed_certificate(&pkcs8, common_name)?;
        SigningKey::from_der_parts(KeyFormat::Pkcs8, &pkcs8, cert_der)
    }

    /// Loads a private key and its certificate from PEM.
    ///
    /// The key may be PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) or PKCS#1
    /// (`RSA PRIVATE KEY`); other blocks (such as `EC PARAMETERS`) are skipped. The first
    /// `CERTIFICATE` block of `cert_pem` must certify this key.
    pub fn from_pem(key_pem: &str, cert_pem: &str) -> Result<SigningKey, TokenError> {
        let pem_err = |e: pem::PemError| TokenError::Pem(e.to_string());
        let blocks = pem::parse_many(key_pem).map_err(pem_err)?;
        let mut key = None;
        for block in &blocks {
            let format = match block.tag() {
                "PRIVATE KEY" => KeyFormat::Pkcs8,
                "EC PRIVATE KEY" => KeyFormat::Sec1,
                "RSA PRIVATE KEY" => KeyFormat::Pkcs1,
                "ENCRYPTED PRIVATE KEY" => return Err(TokenError::EncryptedKey),
                _ => continue,
            };
            if block.headers().get("Proc-Type").is_some() {
                return Err(TokenError::EncryptedKey);
            }
            key = Some((format, block.contents()));
            break;
        }
        let (format, key_der) = key.ok_or(TokenError::MissingPem(
            "private key (PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY block)",
        ))?;
        let certs = pem::parse_many(cert_pem).map_err(pem_err)?;
        let cert = certs
            .into_iter()
            .find(|b| b.tag() == "CERTIFICATE")
            .ok_or(TokenError::MissingPem("CERTIFICATE block"))?;
        SigningKey::from_der_parts(format, key_der, cert.into_contents())
    }

    fn from_der_parts(
        format: KeyFormat,
        key_der: &[u8],
        cert_der: Vec<u8>,
    ) -> Result<SigningKey, TokenError> {
        let pair = parse_private_key(format, key_der)?;
        let public = PublicKeyInfo::from_cert_der(&cert_der)?;
        if public.alg != pair.algorithm() || public.key_bytes != pair.public_key_bytes() {
            return Err(TokenError::KeyCertificateMismatch);
        }
        let pkcs8 = pair.to_pkcs8()?;
        let (self_signed, not_after) = issuer_and_expiry(&cert_der)?;
        let header = |style: KidStyle, reference: KeyReference| -> Result<String, TokenError> {
            let mut header = json!({
                "typ": "JWT",
                "alg": public.alg.as_str(),
                "kid": public.kid(style),
            });
            if reference == KeyReference::X5c {
                header["x5c"] = json!([STANDARD.encode(&cert_der)]);
            }
            let bytes =
                serde_json::to_vec(&header).map_err(|e| TokenError::Signing(e.to_string()))?;
            Ok(URL_SAFE_NO_PAD.encode(bytes))
        };
        Ok(SigningKey {
            headers: [
                header(KidStyle::Libtrust, KeyReference::X5c)?,
                header(KidStyle::Rfc7638, KeyReference::X5c)?,
                header(KidStyle::Libtrust, KeyReference::Kid)?,
                header(KidStyle::Rfc7638, KeyReference::Kid)?,
            ],
            self_signed,
            not_after,
            pair,
            rng: SystemRandom::new(),
            pkcs8,
            cert_der,
            public,
        })
    }

    /// The private key as PKCS#8 PEM (`PRIVATE KEY`), whatever form it was loaded from.
    pub fn key_pem(&self) -> String {
        pem_encode("PRIVATE KEY", &self.pkcs8)
    }

    /// The certificate as PEM (`CERTIFICATE`).
    pub fn cert_pem(&self) -> String {
        pem_encode("CERTIFICATE", &self.cert_der)
    }

    /// The certificate as DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The algorithm this key signs with (fixed by the key's type and curve).
    pub fn algorithm(&self) -> Algorithm {
        self.public.alg
    }

    /// The key ID in the given style.
    pub fn kid(&self, style: KidStyle) -> &str {
        self.public.kid(style)
    }

    /// Whether the certificate is self-signed (an older key, or one made by [`generate`]) rather
    /// than issued by a [`CertificateAuthority`](super::CertificateAuthority). A self-signed
    /// certificate must itself be in the registry's bundle.
    ///
    /// [`generate`]: SigningKey::generate
    pub fn is_self_signed(&self) -> bool {
        self.self_signed
    }

    /// When the certificate expires (Unix seconds): the registry refuses tokens whose `x5c`
    /// certificate has expired.
    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// The private key as PKCS#8 DER, for issuing it a new certificate.
    pub(crate) fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    pub(crate) fn from_pkcs8_and_cert(
        pkcs8: &[u8],
        cert_der: Vec<u8>,
    ) -> Result<SigningKey, TokenError> {
        SigningKey::from_der_parts(KeyFormat::Pkcs8, pkcs8, cert_der)
    }

    /// The public key as a JWK: `kty`, `crv`/`x`/`y` or `n`/`e`, `kid`, `alg` and `use: sig`.
    pub fn public_jwk(&self, style: KidStyle) -> Value {
        self.public.jwk(style)
    }

    pub(crate) fn public_info(&self) -> &PublicKeyInfo {
        &self.public
    }

    /// Signs `claims` into a compact JWS: `header.payload.signature`.
    pub(crate) fn sign(
        &self,
        style: KidStyle,
        reference: KeyReference,
        claims: &Claims,
    ) -> Result<String, TokenError> {
        let header = match (reference, style) {
            (KeyReference::X5c, KidStyle::Libtrust) => &self.headers[0],
            (KeyReference::X5c, KidStyle::Rfc7638) => &self.headers[1],
            (KeyReference::Kid, KidStyle::Libtrust) => &self.headers[2],
            (KeyReference::Kid, KidStyle::Rfc7638) => &self.headers[3],
        };
        let payload = serde_json::to_vec(claims).map_err(|e| TokenError::Signing(e.to_string()))?;
        // header + '.' + payload (4/3) + '.' + signature (≤ 512 bytes → ≤ 683 chars)
        let mut token = String::with_capacity(header.len() + payload.len() * 4 / 3 + 700);
        token.push_str(header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let failed = |_| TokenError::Signing(format!("{} signature failed", self.algorithm()));
        match &self.pair {
            KeyPair::Ecdsa(kp) => {
                let signature = kp.sign(&self.rng, token.as_bytes()).map_err(failed)?;
                token.push('.');
                URL_SAFE_NO_PAD.encode_string(signature.as_ref(), &mut token);
            }
            KeyPair::Rsa(kp) => {
                let mut signature = vec![0u8; kp.public_modulus_len()];
                kp.sign(
                    &sig::RSA_PKCS1_SHA256,
                    &self.rng,
                    token.as_bytes(),
                    &mut signature,
                )
                .map_err(failed)?;
                token.push('.');
                URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
            }
        }
        Ok(token)
    }
}

/// A new private key for `alg`, as PKCS#8 DER (RSA: 2048 bits, slow).
pub(crate) fn generate_pkcs8(alg: Algorithm) -> Result<Vec<u8>, TokenError> {
    let generation = |_| TokenError::Generation(format!("cannot generate a {alg} key"));
    match alg.ecdsa_signing() {
        Some(signing) => Ok(EcdsaKeyPair::generate_pkcs8(signing, &SystemRandom::new())
            .map_err(generation)?
            .as_ref()
            .to_vec()),
        None => {
            let kp = RsaKeyPair::generate(KeySize::Rsa2048).map_err(generation)?;
            Ok(AsDer::<Pkcs8V1Der<'_>>::as_der(&kp)
                .map_err(generation)?
                .as_ref()
                .to_vec())
        }
    }
}

pub(crate) fn pem_encode(tag: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(tag, der),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// Whether a DER certificate is self-issued (issuer = subject), and its `notAfter`.
pub(crate) fn issuer_and_expiry(cert_der: &[u8]) -> Result<(bool, i64), TokenError> {
    let cert = x509_cert::Certificate::from_der(cert_der)
        .map_err(|e| TokenError::InvalidCertificate(e.to_string()))?;
    let tbs = cert.tbs_certificate();
    let not_after = tbs.validity().not_after.to_unix_duration().as_secs();
    Ok((
        tbs.issuer() == tbs.subject(),
        i64::try_from(not_after).unwrap_or(i64::MAX),
    ))
}

/// A self-signed certificate for a PKCS#8 key (ECDSA P-256/P-384 or RSA).
fn self_signed_certificate(pkcs8: &[u8], common_name: &str) -> Result<Vec<u8>, TokenError> {
    let failed = |e: rcgen::Error| TokenError::Generation(format!("certificate: {e}"));
    let key = rcgen::KeyPair::try_from(pkcs8).map_err(failed)?;
    let mut params = rcgen::CertificateParams::default();
    let mut name = rcgen::DistinguishedName::new();
    name.push(rcgen::DnType::CommonName, common_name);
    params.distinguished_name = name;
    let now = unix_now();
    let time = |t: i64| {
        time::OffsetDateTime::from_unix_timestamp(t)
            .map_err(|e| TokenError::Generation(format!("certificate validity: {e}")))
    };
    params.not_before = time(now.saturating_sub(CERT_BACKDATE_SECS))?;
    params.not_after = time(now.saturating_add(CERT_LIFETIME_SECS))?;
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    let cert = params.self_signed(&key).map_err(failed)?;
    Ok(cert.der().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtrust_kid_shape() {
        let kid = libtrust_kid(b"anything");
        assert_eq!(kid.len(), 48 + 11);
        assert_eq!(kid.split(':').count(), 12);
        assert!(kid.split(':').all(|g| g.len() == 4));
        assert!(
            kid.chars()
                .all(|c| c == ':' || c.is_ascii_uppercase() || ('2'..='7').contains(&c))
        );
    }

    #[test]
    fn names_roundtrip() {
        for alg in [Algorithm::ES256, Algorithm::ES384, Algorithm::RS256] {
            assert_eq!(alg.as_str().parse::<Algorithm>().unwrap(), alg);
        }
        assert!(matches!(
            "none".parse::<Algorithm>(),
            Err(TokenError::UnsupportedAlgorithm(_))
        ));
        assert_eq!("RFC7638".parse::<KidStyle>().unwrap(), KidStyle::Rfc7638);
        assert_eq!(KidStyle::default().to_string(), "libtrust");
        assert!("x".parse::<KidStyle>().is_err());
    }

    #[test]
    fn debug_hides_the_key() {
        let key = SigningKey::generate(Algorithm::ES256, "t").unwrap();
        let debug = format!("{key:?}");
        let pem = key.key_pem();
        let body: String = pem.lines().nth(1).unwrap().chars().take(20).collect();
        assert!(debug.contains("<redacted>"));
        assert!(!debug.contains(&body));
    }
}
