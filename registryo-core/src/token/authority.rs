//! A certificate authority for the signing keys: its certificate is what the registry's bundle
//! holds, so the keys that sign can change without the registry re-reading anything.
//!
//! Both distribution 2.8 and v3 verify a token's `x5c` as a certificate chain whose roots are
//! the `rootcertbundle` (Go's `x509.Certificate.Verify` with any extended key usage): a leaf
//! certificate issued by a CA in the bundle is accepted, and the bundle is read only at start.

use std::fmt;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use x509_cert::der::Decode;

use super::TokenError;
use super::claims::unix_now;
use super::keys::{Algorithm, SigningKey, generate_pkcs8, pem_encode};

/// How long a generated CA certificate is valid: ten years (the bundle outlives many keys).
pub const CA_LIFETIME_SECS: i64 = 3653 * 86_400;
/// Certificates are valid from this long before they are made (clock skew between machines).
const BACKDATE_SECS: i64 = 3600;

/// A CA key with its self-signed CA certificate (`CA:TRUE`, path length 0, key usage
/// `keyCertSign`), which issues the certificates of the signing keys. `Debug` shows its name
/// and algorithm, never the key.
pub struct CertificateAuthority {
    pkcs8: Vec<u8>,
    key: rcgen::KeyPair,
    cert_der: Vec<u8>,
    common_name: String,
    not_after: i64,
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("common_name", &self.common_name)
            .field("not_after", &self.not_after)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

fn generation(e: impl fmt::Display) -> TokenError {
    TokenError::Generation(e.to_string())
}

fn offset_time(t: i64) -> Result<time::OffsetDateTime, TokenError> {
    time::OffsetDateTime::from_unix_timestamp(t)
        .map_err(|e| TokenError::Generation(format!("certificate validity: {e}")))
}

/// A positive 16-byte serial number, random so that re-issued certificates differ.
fn random_serial() -> Result<rcgen::SerialNumber, TokenError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| TokenError::Generation("no random serial number".into()))?;
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    Ok(rcgen::SerialNumber::from_slice(&bytes))
}

fn name(common_name: &str) -> rcgen::DistinguishedName {
    let mut name = rcgen::DistinguishedName::new();
    name.push(rcgen::DnType::CommonName, common_name);
    name
}

/// The parameters of the CA's own certificate; issuing needs the same name and key usages.
fn ca_params(common_name: &str) -> rcgen::CertificateParams {
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = name(common_name);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    params
}

/// The subject common name of a DER certificate.
fn common_name_of(cert: &x509_cert::Certificate) -> Option<String> {
    const CN: x509_cert::der::asn1::ObjectIdentifier =
        x509_cert::der::asn1::ObjectIdentifier::new_unwrap("2.5.4.3");
    cert.tbs_certificate()
        .subject()
        .iter()
        .find(|atv| atv.oid == CN)
        .and_then(|atv| {
            atv.value
                .decode_as::<x509_cert::der::asn1::Utf8StringRef<'_>>()
                .map(|s| s.as_str().to_owned())
                .ok()
                .or_else(|| {
                    atv.value
                        .decode_as::<x509_cert::der::asn1::PrintableStringRef<'_>>()
                        .map(|s| s.as_str().to_owned())
                        .ok()
                })
        })
}

impl CertificateAuthority {
    /// Generates a CA key of `alg` and its certificate (`CN = common_name`, valid from one hour
    /// ago for ten years).
    pub fn generate(alg: Algorithm, common_name: &str) -> Result<CertificateAuthority, TokenError> {
        let pkcs8 = generate_pkcs8(alg)?;
        let key = rcgen::KeyPair::try_from(pkcs8.as_slice()).map_err(generation)?;
        let mut params = ca_params(common_name);
        let now = unix_now();
        params.not_before = offset_time(now.saturating_sub(BACKDATE_SECS))?;
        params.not_after = offset_time(now.saturating_add(CA_LIFETIME_SECS))?;
        params.serial_number = Some(random_serial()?);
        let cert = params.self_signed(&key).map_err(generation)?;
        CertificateAuthority::from_der_parts(&pkcs8, cert.der().to_vec())
    }

    /// Loads a CA from its PKCS#8 PEM key (`PRIVATE KEY`) and its certificate, which must be a
    /// CA certificate for that key whose subject has a common name.
    pub fn from_pem(key_pem: &str, cert_pem: &str) -> Result<CertificateAuthority, TokenError> {
        let pem_err = |e: pem::PemError| TokenError::Pem(e.to_string());
        let key = pem::parse_many(key_pem)
            .map_err(pem_err)?
            .into_iter()
            .find(|b| b.tag() == "PRIVATE KEY")
            .ok_or(TokenError::MissingPem("PRIVATE KEY block"))?;
        let cert = pem::parse_many(cert_pem)
            .map_err(pem_err)?
            .into_iter()
            .find(|b| b.tag() == "CERTIFICATE")
            .ok_or(TokenError::MissingPem("CERTIFICATE block"))?;
        CertificateAuthority::from_der_parts(key.contents(), cert.into_contents())
    }

    fn from_der_parts(pkcs8: &[u8], cert_der: Vec<u8>) -> Result<CertificateAuthority, TokenError> {
        let bad = |e: x509_cert::der::Error| TokenError::InvalidCertificate(e.to_string());
        let cert = x509_cert::Certificate::from_der(&cert_der).map_err(bad)?;
        let common_name = common_name_of(&cert).ok_or_else(|| {
            TokenError::InvalidCertificate("the CA certificate has no common name".into())
        })?;
        // The key must be the certificate's: a signing key loaded the same way checks that.
        let as_key = SigningKey::from_pkcs8_and_cert(pkcs8, cert_der.clone())?;
        let key = rcgen::KeyPair::try_from(pkcs8).map_err(generation)?;
        if !super::verify::is_ca_certificate(&cert) {
            return Err(TokenError::InvalidCertificate(
                "the certificate is not a CA certificate (basicConstraints CA:TRUE)".into(),
            ));
        }
        Ok(CertificateAuthority {
            pkcs8: pkcs8.to_vec(),
            key,
            not_after: as_key.not_after(),
            cert_der,
            common_name,
        })
    }

    /// Issues a certificate for a new key of `alg`: `CN = common_name`, valid from one hour ago
    /// for `lifetime_secs`.
    pub fn issue(
        &self,
        alg: Algorithm,
        common_name: &str,
        lifetime_secs: i64,
    ) -> Result<SigningKey, TokenError> {
        let pkcs8 = generate_pkcs8(alg)?;
        self.certify(&pkcs8, common_name, lifetime_secs)
    }

    /// The same key with a new certificate from this CA, valid from one hour ago for
    /// `lifetime_secs` (its key IDs do not change).
    pub fn reissue(
        &self,
        key: &SigningKey,
        common_name: &str,
        lifetime_secs: i64,
    ) -> Result<SigningKey, TokenError> {
        self.certify(key.pkcs8_der(), common_name, lifetime_secs)
    }

    fn certify(
        &self,
        pkcs8: &[u8],
        common_name: &str,
        lifetime_secs: i64,
    ) -> Result<SigningKey, TokenError> {
        let subject = rcgen::KeyPair::try_from(pkcs8).map_err(generation)?;
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = name(common_name);
        params.is_ca = rcgen::IsCa::ExplicitNoCa;
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        let now = unix_now();
        params.not_before = offset_time(now.saturating_sub(BACKDATE_SECS))?;
        params.not_after = offset_time(now.saturating_add(lifetime_secs).min(self.not_after))?;
        params.serial_number = Some(random_serial()?);
        let issuer = rcgen::Issuer::new(ca_params(&self.common_name), &self.key);
        let cert = params.signed_by(&subject, &issuer).map_err(generation)?;
        SigningKey::from_pkcs8_and_cert(pkcs8, cert.der().to_vec())
    }

    /// The private key as PKCS#8 PEM.
    pub fn key_pem(&self) -> String {
        pem_encode("PRIVATE KEY", &self.pkcs8)
    }

    /// The CA certificate as PEM: what the registry's bundle holds.
    pub fn cert_pem(&self) -> String {
        pem_encode("CERTIFICATE", &self.cert_der)
    }

    /// The CA certificate as DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// When the CA certificate expires (Unix seconds).
    pub fn not_after(&self) -> i64 {
        self.not_after
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::token::{Claims, KeyReference, KeySet, KidStyle, TokenError, Verifier};

    fn claims() -> Claims {
        Claims::new("iss", "alice", "svc", Duration::from_secs(300), vec![])
    }

    #[test]
    fn a_bundle_holding_the_ca_trusts_what_it_issues_and_nothing_else() {
        for alg in [Algorithm::ES256, Algorithm::ES384, Algorithm::RS256] {
            let ca = CertificateAuthority::generate(alg, "test CA").unwrap();
            let leaf = ca.issue(alg, "signer", 3600).unwrap();
            assert!(!leaf.is_self_signed());
            let bundle = Verifier::from_cert_bundle_pem(&ca.cert_pem()).unwrap();
            let set = KeySet::new(vec![leaf], KidStyle::Rfc7638)
                .unwrap()
                .with_authority(ca.cert_der().to_vec());
            assert_eq!(set.cert_bundle_pem(), ca.cert_pem(), "the bundle is the CA");
            let c = claims();
            let token = set.sign(&c).unwrap();
            assert_eq!(bundle.verify(&token, "iss", "svc").unwrap(), c, "{alg}");
            assert_eq!(set.verifier().verify(&token, "iss", "svc").unwrap(), c);

            // Another CA of the same name did not issue it.
            let other = CertificateAuthority::generate(alg, "test CA").unwrap();
            let stranger = Verifier::from_cert_bundle_pem(&other.cert_pem()).unwrap();
            assert!(matches!(
                stranger.verify(&token, "iss", "svc"),
                Err(TokenError::UntrustedKey { .. })
            ));
        }
    }

    #[test]
    fn an_expired_or_not_yet_valid_leaf_is_not_trusted() {
        let ca = CertificateAuthority::generate(Algorithm::ES256, "CA").unwrap();
        let leaf = ca.issue(Algorithm::ES256, "signer", 3600).unwrap();
        let not_after = leaf.not_after();
        let token = KeySet::new(vec![leaf], KidStyle::Libtrust)
            .unwrap()
            .sign(&Claims::new(
                "iss",
                "",
                "svc",
                Duration::from_secs(86_400 * 3),
                vec![],
            ))
            .unwrap();
        let bundle = Verifier::from_cert_bundle_pem(&ca.cert_pem()).unwrap();
        assert!(
            bundle
                .verify_at(&token, "iss", "svc", not_after - 10)
                .is_ok()
        );
        assert!(matches!(
            bundle.verify_at(&token, "iss", "svc", not_after + 10),
            Err(TokenError::UntrustedKey { .. })
        ));
    }

    #[test]
    fn a_self_signed_key_is_not_a_ca_and_a_reissued_key_keeps_its_ids() {
        let own = SigningKey::generate(Algorithm::ES256, "old").unwrap();
        assert!(own.is_self_signed());
        // A self-signed leaf cannot act as a CA.
        let err = CertificateAuthority::from_pem(&own.key_pem(), &own.cert_pem()).unwrap_err();
        assert!(err.to_string().contains("not a CA"), "{err}");
        let ca = CertificateAuthority::generate(Algorithm::ES256, "CA").unwrap();
        let again = CertificateAuthority::from_pem(&ca.key_pem(), &ca.cert_pem()).unwrap();
        let leaf = again.issue(Algorithm::RS256, "signer", 60).unwrap();
        let renewed = ca.reissue(&leaf, "signer", 7200).unwrap();
        assert_eq!(renewed.kid(KidStyle::Rfc7638), leaf.kid(KidStyle::Rfc7638));
        assert_ne!(renewed.cert_der(), leaf.cert_der());
        assert!(renewed.not_after() > leaf.not_after());
        // A leaf certificate never outlives its CA.
        let long = ca.issue(Algorithm::ES256, "x", i64::MAX / 2).unwrap();
        assert!(long.not_after() <= ca.not_after());
    }

    #[test]
    fn kid_only_tokens_carry_no_x5c() {
        let ca = CertificateAuthority::generate(Algorithm::ES256, "CA").unwrap();
        let leaf = ca.issue(Algorithm::ES256, "signer", 3600).unwrap();
        let kid = leaf.kid(KidStyle::Rfc7638).to_owned();
        let set = KeySet::new(vec![leaf], KidStyle::Rfc7638)
            .unwrap()
            .with_reference(KeyReference::Kid);
        let token = set.sign(&claims()).unwrap();
        let header = crate::testing::jwt::header(&token);
        assert!(header.get("x5c").is_none(), "{header}");
        assert_eq!(header["kid"], kid.as_str());
        assert_eq!(set.jwks()["keys"][0]["kid"], kid.as_str());
        assert!(set.verifier().verify(&token, "iss", "svc").is_ok());
    }

    #[test]
    fn debug_hides_the_ca_key() {
        let ca = CertificateAuthority::generate(Algorithm::ES256, "CA").unwrap();
        let body: String = ca
            .key_pem()
            .lines()
            .nth(1)
            .unwrap()
            .chars()
            .take(20)
            .collect();
        let debug = format!("{ca:?}");
        assert!(
            debug.contains("<redacted>") && !debug.contains(&body),
            "{debug}"
        );
    }
}
