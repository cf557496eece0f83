//! Tests of `registryo_core::token` against fixed OpenSSL-made keys, vectors computed with
//! OpenSSL + Python, and `jsonwebtoken` as an independent JWT implementation.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken as jwt;
use registryo_core::testing::jwt::part as json_part;
use registryo_core::token::{
    Access, Algorithm, Claims, KeySet, KidStyle, LEEWAY_SECS, SigningKey, TokenError, Verifier,
};
use serde_json::Value;

const ES256_PKCS8: &str = include_str!("data/es256-pkcs8.key");
const ES256_SEC1: &str = include_str!("data/es256-sec1.key");
const ES256_ENCRYPTED: &str = include_str!("data/es256-encrypted.key");
const ES256_CRT: &str = include_str!("data/es256.crt");
const ES384_SEC1: &str = include_str!("data/es384-sec1.key");
const ES384_CRT: &str = include_str!("data/es384.crt");
const RS256_PKCS1: &str = include_str!("data/rs256-pkcs1.key");
const RS256_PKCS8: &str = include_str!("data/rs256-pkcs8.key");
const RS256_CRT: &str = include_str!("data/rs256.crt");
const ED25519_KEY: &str = include_str!("data/ed25519-pkcs8.key");
const ED25519_CRT: &str = include_str!("data/ed25519.crt");

// libtrust key IDs, computed independently of this crate:
//   openssl pkey -in KEY -pubout -outform DER | python3 -c 'import sys,hashlib,base64;
//     d=hashlib.sha256(sys.stdin.buffer.read()).digest()[:30]; s=base64.b32encode(d).decode();
//     print(":".join(s[i:i+4] for i in range(0,48,4)))'
const ES256_LIBTRUST: &str = "5JCM:L3V6:AOJ7:6JA7:4KUE:UFKR:J6Q6:QRXW:T4PD:VEZD:6JDG:EKGT";
const ES384_LIBTRUST: &str = "BDH3:HI3U:7S4U:HV7C:Y3JQ:MP5L:4RVK:6YZ6:GSC6:VUIR:PPRD:67N3";
const RS256_LIBTRUST: &str = "EV3Q:YBZI:XRZ2:BXHX:6QYL:XA3Z:VDLR:WK2Y:THHK:QEUV:BWSM:64JV";

// RFC 7638 thumbprints, computed independently of this crate. EC (N = 65 for P-256, 97 for
// P-384; C = 32 or 48; the uncompressed point ends the SPKI DER):
//   openssl pkey -in KEY -pubout -outform DER | tail -c N | python3 -c 'import sys,hashlib,
//     base64,json; p=sys.stdin.buffer.read(); b=lambda x: base64.urlsafe_b64encode(x)
//     .rstrip(b"=").decode(); j=json.dumps({"crv":"P-256","kty":"EC","x":b(p[1:1+C]),
//     "y":b(p[1+C:])},separators=(",",":"),sort_keys=True); print(b(hashlib.sha256(
//     j.encode()).digest()))'
// RSA (exponent 65537 checked with `openssl rsa -text`):
//   openssl rsa -in KEY -modulus -noout | cut -d= -f2 | python3 -c '… n=bytes.fromhex(
//     sys.stdin.read().strip()); j=json.dumps({"e":b((65537).to_bytes(3,"big")),"kty":"RSA",
//     "n":b(n)},separators=(",",":"),sort_keys=True); print(b(hashlib.sha256(j.encode())
//     .digest()))'
const ES256_RFC7638: &str = "-4t08YlfQL7tVH401Y9d-8VGEg-DOojwHBiGm8Ipjvs";
const ES384_RFC7638: &str = "P66jNgzsERkoWmYFmL9_fPlrfQuq0i5Cd_-bNsMubjM";
const RS256_RFC7638: &str = "x7rPhf5wMkm8hvn0CcT18LYaGDbyFkuVFxahAv4qLco";
// From the same script: the P-256 key's JWK coordinates.
const ES256_X: &str = "kJY8LHh17ZOM5YBP-ZuB8NZBPX7ArV9hZeCovAlpIU4";
const ES256_Y: &str = "PU3e6W4KY1d-itNLy3qICDdev5zT4SRU-LPIHR_lzPU";

const ISS: &str = "registryo-test";
const AUD: &str = "registry.test";

fn fixture(alg: Algorithm) -> SigningKey {
    match alg {
        Algorithm::ES256 => SigningKey::from_pem(ES256_PKCS8, ES256_CRT).unwrap(),
        Algorithm::ES384 => SigningKey::from_pem(ES384_SEC1, ES384_CRT).unwrap(),
        Algorithm::RS256 => SigningKey::from_pem(RS256_PKCS1, RS256_CRT).unwrap(),
    }
}

fn cert_pem(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::ES256 => ES256_CRT,
        Algorithm::ES384 => ES384_CRT,
        Algorithm::RS256 => RS256_CRT,
    }
}

fn claims() -> Claims {
    Claims::new(
        ISS,
        "alice",
        AUD,
        Duration::from_secs(300),
        vec![
            Access::new("repository", "team/app", ["pull", "push"]),
            Access::new("registry", "catalog", ["*"]),
        ],
    )
}

fn jwt_alg(alg: Algorithm) -> jwt::Algorithm {
    match alg {
        Algorithm::ES256 => jwt::Algorithm::ES256,
        Algorithm::ES384 => jwt::Algorithm::ES384,
        Algorithm::RS256 => jwt::Algorithm::RS256,
    }
}

/// Verifies with jsonwebtoken, keyed by a certificate PEM.
fn jwt_decode(token: &str, alg: Algorithm, cert_pem: &str) -> jwt::errors::Result<Claims> {
    let key = match alg {
        Algorithm::RS256 => jwt::DecodingKey::from_rsa_pem(cert_pem.as_bytes())?,
        _ => jwt::DecodingKey::from_ec_pem(cert_pem.as_bytes())?,
    };
    let mut validation = jwt::Validation::new(jwt_alg(alg));
    validation.set_issuer(&[ISS]);
    validation.set_audience(&[AUD]);
    jwt::decode::<Claims>(token, &key, &validation).map(|d| d.claims)
}

/// The DER of the first certificate of a PEM file.
fn pem_der(pem_text: &str) -> Vec<u8> {
    let b64: String = pem_text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    STANDARD.decode(b64).unwrap()
}

const ALL: [Algorithm; 3] = [Algorithm::ES256, Algorithm::ES384, Algorithm::RS256];

// ---------------------------------------------------------------- key IDs and JWKs

#[test]
fn kids_match_independent_vectors() {
    let cases = [
        (Algorithm::ES256, ES256_LIBTRUST, ES256_RFC7638),
        (Algorithm::ES384, ES384_LIBTRUST, ES384_RFC7638),
        (Algorithm::RS256, RS256_LIBTRUST, RS256_RFC7638),
    ];
    for (alg, libtrust, rfc7638) in cases {
        let key = fixture(alg);
        assert_eq!(key.algorithm(), alg);
        assert_eq!(key.kid(KidStyle::Libtrust), libtrust, "{alg}");
        assert_eq!(key.kid(KidStyle::Rfc7638), rfc7638, "{alg}");
    }
}

#[test]
fn public_jwk_members() {
    let jwk = fixture(Algorithm::ES256).public_jwk(KidStyle::Libtrust);
    assert_eq!(jwk["kty"], "EC");
    assert_eq!(jwk["crv"], "P-256");
    assert_eq!(jwk["x"], ES256_X);
    assert_eq!(jwk["y"], ES256_Y);
    assert_eq!(jwk["kid"], ES256_LIBTRUST);
    assert_eq!(jwk["alg"], "ES256");
    assert_eq!(jwk["use"], "sig");

    let jwk = fixture(Algorithm::ES384).public_jwk(KidStyle::Rfc7638);
    assert_eq!(jwk["crv"], "P-384");
    assert_eq!(jwk["kid"], ES384_RFC7638);

    let jwk = fixture(Algorithm::RS256).public_jwk(KidStyle::Rfc7638);
    assert_eq!(jwk["kty"], "RSA");
    assert_eq!(jwk["e"], "AQAB");
    assert_eq!(jwk["alg"], "RS256");
    assert_eq!(jwk["kid"], RS256_RFC7638);
    // n of a 2048-bit modulus: 256 bytes, no leading zero → 342 base64url characters.
    assert_eq!(jwk["n"].as_str().unwrap().len(), 342);
}

#[test]
fn jwks_keys_verify_with_jsonwebtoken() {
    // The JWK this crate publishes is enough for an independent verifier.
    for alg in ALL {
        let keys = KeySet::new(vec![fixture(alg)], KidStyle::Rfc7638).unwrap();
        let token = keys.sign(&claims()).unwrap();
        let jwk: jwt::jwk::Jwk = serde_json::from_value(keys.jwks()["keys"][0].clone()).unwrap();
        let key = jwt::DecodingKey::from_jwk(&jwk).unwrap();
        let mut validation = jwt::Validation::new(jwt_alg(alg));
        validation.set_audience(&[AUD]);
        jwt::decode::<Claims>(&token, &key, &validation).unwrap();
    }
}

// ---------------------------------------------------------------- loading PEM

#[test]
fn pkcs8_and_sec1_load_the_same_ec_key() {
    let a = SigningKey::from_pem(ES256_PKCS8, ES256_CRT).unwrap();
    let b = SigningKey::from_pem(ES256_SEC1, ES256_CRT).unwrap();
    assert_eq!(b.kid(KidStyle::Libtrust), ES256_LIBTRUST);
    // key_pem is always PKCS#8: the SEC1 key comes out as the same PKCS#8 document.
    assert!(b.key_pem().starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert_eq!(a.key_pem(), b.key_pem());
    let again = SigningKey::from_pem(&b.key_pem(), &b.cert_pem()).unwrap();
    assert_eq!(again.kid(KidStyle::Rfc7638), ES256_RFC7638);
}

#[test]
fn pkcs1_and_pkcs8_load_the_same_rsa_key() {
    let a = SigningKey::from_pem(RS256_PKCS1, RS256_CRT).unwrap();
    let b = SigningKey::from_pem(RS256_PKCS8, RS256_CRT).unwrap();
    assert_eq!(a.algorithm(), Algorithm::RS256);
    assert_eq!(b.kid(KidStyle::Libtrust), RS256_LIBTRUST);
    assert_eq!(a.key_pem(), b.key_pem());
}

#[test]
fn cert_pem_roundtrips_the_certificate() {
    let key = fixture(Algorithm::ES384);
    assert_eq!(pem_der(&key.cert_pem()), pem_der(ES384_CRT));
    assert_eq!(key.cert_der(), pem_der(ES384_CRT).as_slice());
}

#[test]
fn mismatched_key_and_certificate_are_refused() {
    let other_p256 = SigningKey::generate(Algorithm::ES256, "other").unwrap();
    let cases = [
        (ES256_PKCS8, other_p256.cert_pem()),
        (ES256_PKCS8, ES384_CRT.to_owned()),
        (ES384_SEC1, ES256_CRT.to_owned()),
        (RS256_PKCS1, ES256_CRT.to_owned()),
        (ES256_SEC1, RS256_CRT.to_owned()),
    ];
    for (key, cert) in cases {
        let err = SigningKey::from_pem(key, &cert).unwrap_err();
        assert!(matches!(err, TokenError::KeyCertificateMismatch), "{err:?}");
    }
}

#[test]
fn bad_pem_inputs_have_precise_errors() {
    let err = SigningKey::from_pem(ES256_ENCRYPTED, ES256_CRT).unwrap_err();
    assert!(matches!(err, TokenError::EncryptedKey), "{err:?}");

    let err = SigningKey::from_pem(ED25519_KEY, ED25519_CRT).unwrap_err();
    assert!(
        matches!(&err, TokenError::UnsupportedKey(k) if k == "Ed25519"),
        "{err:?}"
    );

    let err = SigningKey::from_pem(ES256_CRT, ES256_CRT).unwrap_err();
    assert!(matches!(err, TokenError::MissingPem(_)), "{err:?}");

    let err = SigningKey::from_pem(ES256_PKCS8, ES256_PKCS8).unwrap_err();
    assert!(
        matches!(err, TokenError::MissingPem("CERTIFICATE block")),
        "{err:?}"
    );

    let err = SigningKey::from_pem("", ES256_CRT).unwrap_err();
    assert!(matches!(err, TokenError::MissingPem(_)), "{err:?}");

    // A PKCS#8 shell with the Ed25519 OID: refused for its type before any parsing.
    let ed_shell = "-----BEGIN PRIVATE KEY-----\nMAwCAQAwBQYDK2VwBAA=\n-----END PRIVATE KEY-----\n";
    let err = SigningKey::from_pem(ed_shell, ES256_CRT).unwrap_err();
    assert!(matches!(err, TokenError::UnsupportedKey(_)), "{err:?}");

    let junk = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    let err = SigningKey::from_pem(junk, ES256_CRT).unwrap_err();
    assert!(matches!(err, TokenError::InvalidKey(_)), "{err:?}");

    let junk_cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let err = SigningKey::from_pem(ES256_PKCS8, junk_cert).unwrap_err();
    assert!(matches!(err, TokenError::InvalidCertificate(_)), "{err:?}");

    let err = Verifier::from_cert_bundle_pem(ED25519_CRT).unwrap_err();
    assert!(matches!(err, TokenError::UnsupportedKey(_)), "{err:?}");
    let err = Verifier::from_cert_bundle_pem("no pem here").unwrap_err();
    assert!(matches!(err, TokenError::MissingPem(_)), "{err:?}");
}

#[test]
fn debug_does_not_print_the_key() {
    let key = fixture(Algorithm::ES256);
    let debug = format!("{key:?}");
    assert!(debug.contains(ES256_LIBTRUST));
    let body: String = ES256_PKCS8.lines().skip(1).collect::<String>();
    // No 8-character window of the key's base64 appears in the Debug output.
    for i in 0..body.len().saturating_sub(8) {
        assert!(!debug.contains(&body[i..i + 8]));
    }
}

// ---------------------------------------------------------------- generation

#[test]
fn generated_keys_sign_tokens_that_jsonwebtoken_accepts() {
    for alg in ALL {
        let key = SigningKey::generate(alg, "registryo generated").unwrap();
        assert_eq!(key.algorithm(), alg);
        let cert = key.cert_pem();
        // The PEM pair reloads to the same key.
        let reloaded = SigningKey::from_pem(&key.key_pem(), &cert).unwrap();
        assert_eq!(
            reloaded.kid(KidStyle::Libtrust),
            key.kid(KidStyle::Libtrust)
        );

        let keys = KeySet::new(vec![key], KidStyle::Libtrust).unwrap();
        let c = claims();
        let token = keys.sign(&c).unwrap();
        assert_eq!(jwt_decode(&token, alg, &cert).unwrap(), c, "{alg}");
    }
}

#[test]
fn generated_certificate_is_self_signed_and_valid_ten_years() {
    use x509_cert::der::Decode;
    let key = SigningKey::generate(Algorithm::ES256, "registryo token signer").unwrap();
    let cert = x509_cert::Certificate::from_der(key.cert_der()).unwrap();
    let tbs = cert.tbs_certificate();
    assert_eq!(tbs.subject().to_string(), "CN=registryo token signer");
    assert_eq!(tbs.issuer(), tbs.subject());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let nb = tbs.validity().not_before.to_unix_duration().as_secs();
    let na = tbs.validity().not_after.to_unix_duration().as_secs();
    assert!(
        nb <= now - 3500 && nb >= now - 3700,
        "not_before {nb} now {now}"
    );
    let ten_years = 3652 * 86_400;
    assert!(na >= now + ten_years - 3600, "not_after {na} now {now}");
    // Its self-signature checks out with an independent verifier (aws-lc-rs via the SPKI).
    let spki = tbs.subject_public_key_info();
    let point = spki.subject_public_key.as_bytes().unwrap();
    let tbs_der = x509_cert::der::Encode::to_der(tbs).unwrap();
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
        point,
    )
    .verify(&tbs_der, cert.signature().as_bytes().unwrap())
    .unwrap();
}

// ---------------------------------------------------------------- token format

#[test]
fn fixture_tokens_verify_with_jsonwebtoken_and_have_the_registry_header() {
    for alg in ALL {
        for style in [KidStyle::Libtrust, KidStyle::Rfc7638] {
            let key = fixture(alg);
            let kid = key.kid(style).to_owned();
            let keys = KeySet::new(vec![key], style).unwrap();
            let c = claims();
            let token = keys.sign(&c).unwrap();

            // Independent verification.
            assert_eq!(jwt_decode(&token, alg, cert_pem(alg)).unwrap(), c, "{alg}");

            // Header: exactly typ, alg, kid, x5c (the certificate as standard base64 DER).
            let header = json_part(&token, 0);
            let obj = header.as_object().unwrap();
            assert_eq!(obj.len(), 4, "{header}");
            assert_eq!(header["typ"], "JWT");
            assert_eq!(header["alg"], alg.as_str());
            assert_eq!(header["kid"], kid.as_str());
            let x5c = header["x5c"].as_array().unwrap();
            assert_eq!(x5c.len(), 1);
            let leaf = STANDARD.decode(x5c[0].as_str().unwrap()).unwrap();
            assert_eq!(leaf, pem_der(cert_pem(alg)));

            // jsonwebtoken reads the same header.
            let h = jwt::decode_header(&token).unwrap();
            assert_eq!(h.alg, jwt_alg(alg));
            assert_eq!(h.kid.as_deref(), Some(kid.as_str()));

            // Payload: aud is a JSON string, access entries use "type".
            let payload = json_part(&token, 1);
            assert_eq!(payload["aud"], Value::String(AUD.into()));
            assert_eq!(payload["access"][0]["type"], "repository");
            assert_eq!(payload["access"][0]["actions"][1], "push");
            for claim in ["iss", "sub", "aud", "exp", "nbf", "iat", "jti", "access"] {
                assert!(payload.get(claim).is_some(), "{claim}");
            }
        }
    }
}

#[test]
fn ecdsa_signatures_are_fixed_size() {
    // JWS ES256/ES384 signatures are r||s, not DER.
    for (alg, len) in [(Algorithm::ES256, 64), (Algorithm::ES384, 96)] {
        let keys = KeySet::new(vec![fixture(alg)], KidStyle::Libtrust).unwrap();
        let token = keys.sign(&claims()).unwrap();
        let sig = URL_SAFE_NO_PAD
            .decode(token.split('.').nth(2).unwrap())
            .unwrap();
        assert_eq!(sig.len(), len);
    }
}

// ---------------------------------------------------------------- Verifier

fn es256_set() -> KeySet {
    KeySet::new(vec![fixture(Algorithm::ES256)], KidStyle::Libtrust).unwrap()
}

fn now() -> i64 {
    claims().iat
}

#[test]
fn verifier_accepts_good_tokens_of_every_algorithm() {
    let bundle = format!("{ES256_CRT}{ES384_CRT}{RS256_CRT}");
    let verifier = Verifier::from_cert_bundle_pem(&bundle).unwrap();
    assert_eq!(verifier.len(), 3);
    for alg in ALL {
        let keys = KeySet::new(vec![fixture(alg)], KidStyle::Libtrust).unwrap();
        let c = claims();
        let token = keys.sign(&c).unwrap();
        assert_eq!(verifier.verify(&token, ISS, AUD).unwrap(), c);
    }
}

#[test]
fn verifier_refuses_wrong_issuer_and_audience() {
    let keys = es256_set();
    let token = keys.sign(&claims()).unwrap();
    let verifier = keys.verifier();
    let err = verifier.verify(&token, "someone-else", AUD).unwrap_err();
    assert!(
        matches!(&err, TokenError::WrongIssuer { found, .. } if found == ISS),
        "{err:?}"
    );
    let err = verifier.verify(&token, ISS, "other.registry").unwrap_err();
    assert!(
        matches!(&err, TokenError::WrongAudience { found, .. } if found == AUD),
        "{err:?}"
    );
}

#[test]
fn verifier_applies_the_leeway_on_exp_and_nbf() {
    let keys = es256_set();
    let verifier = keys.verifier();
    let c = claims();
    let token = keys.sign(&c).unwrap();

    // exp: accepted up to exp + 60 s, refused after.
    assert!(
        verifier
            .verify_at(&token, ISS, AUD, c.exp + LEEWAY_SECS)
            .is_ok()
    );
    let err = verifier
        .verify_at(&token, ISS, AUD, c.exp + LEEWAY_SECS + 1)
        .unwrap_err();
    assert!(matches!(err, TokenError::Expired { .. }), "{err:?}");

    // nbf: accepted from nbf - 60 s, refused before.
    assert!(
        verifier
            .verify_at(&token, ISS, AUD, c.nbf - LEEWAY_SECS)
            .is_ok()
    );
    let err = verifier
        .verify_at(&token, ISS, AUD, c.nbf - LEEWAY_SECS - 1)
        .unwrap_err();
    assert!(matches!(err, TokenError::NotYetValid { .. }), "{err:?}");

    // With the real clock: a token that expired 2 minutes ago, one valid in 2 minutes.
    let mut expired = claims();
    expired.exp = now() - 120;
    let err = verifier
        .verify(&keys.sign(&expired).unwrap(), ISS, AUD)
        .unwrap_err();
    assert!(matches!(err, TokenError::Expired { .. }), "{err:?}");
    let mut early = claims();
    early.nbf = now() + 120;
    let err = verifier
        .verify(&keys.sign(&early).unwrap(), ISS, AUD)
        .unwrap_err();
    assert!(matches!(err, TokenError::NotYetValid { .. }), "{err:?}");
    let mut skewed = claims();
    skewed.nbf = now() + 30;
    skewed.exp = now() - 30;
    assert!(
        verifier
            .verify(&keys.sign(&skewed).unwrap(), ISS, AUD)
            .is_ok()
    );
}

#[test]
fn verifier_refuses_untrusted_keys() {
    let token = KeySet::new(
        vec![SigningKey::generate(Algorithm::ES256, "stranger").unwrap()],
        KidStyle::Libtrust,
    )
    .unwrap()
    .sign(&claims())
    .unwrap();
    let err = es256_set().verifier().verify(&token, ISS, AUD).unwrap_err();
    assert!(
        matches!(err, TokenError::UntrustedKey { kid: Some(_) }),
        "{err:?}"
    );
}

#[test]
fn verifier_refuses_a_tampered_payload() {
    let keys = es256_set();
    let token = keys.sign(&claims()).unwrap();
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut evil = claims();
    evil.access = vec![Access::new("repository", "*", ["*"])];
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&evil).unwrap());
    let err = keys
        .verifier()
        .verify(&parts.join("."), ISS, AUD)
        .unwrap_err();
    assert!(matches!(err, TokenError::InvalidSignature), "{err:?}");
}

#[test]
fn verifier_refuses_alg_none_hmac_and_mismatched_alg() {
    let keys = es256_set();
    let verifier = keys.verifier();
    let token = keys.sign(&claims()).unwrap();
    let mut header = json_part(&token, 0);
    let payload = token.split('.').nth(1).unwrap();
    let signature = token.split('.').nth(2).unwrap();

    for (alg, sig) in [("none", ""), ("HS256", signature), ("PS256", signature)] {
        header["alg"] = Value::String(alg.into());
        let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap());
        let err = verifier
            .verify(&format!("{h}.{payload}.{sig}"), ISS, AUD)
            .unwrap_err();
        assert!(
            matches!(&err, TokenError::UnsupportedAlgorithm(a) if a == alg),
            "{err:?}"
        );
    }

    // An HS256 token made by jsonwebtoken with the certificate as the "secret".
    let mut h = jwt::Header::new(jwt::Algorithm::HS256);
    h.kid = Some(ES256_LIBTRUST.into());
    let hs = jwt::encode(
        &h,
        &claims(),
        &jwt::EncodingKey::from_secret(keys.signing_key().cert_der()).unwrap(),
    )
    .unwrap();
    let err = verifier.verify(&hs, ISS, AUD).unwrap_err();
    assert!(
        matches!(err, TokenError::UnsupportedAlgorithm(_)),
        "{err:?}"
    );

    // ES384 claimed for a P-256 key.
    header["alg"] = Value::String("ES384".into());
    let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap());
    let err = verifier
        .verify(&format!("{h}.{payload}.{signature}"), ISS, AUD)
        .unwrap_err();
    assert!(
        matches!(
            err,
            TokenError::AlgorithmMismatch {
                token: Algorithm::ES384,
                key: Algorithm::ES256
            }
        ),
        "{err:?}"
    );
}

#[test]
fn verifier_finds_keys_by_kid_of_either_style_without_x5c() {
    // Tokens made by jsonwebtoken: no x5c, only a kid.
    let verifier = Verifier::from_cert_bundle_pem(&format!("{ES384_CRT}{ES256_CRT}")).unwrap();
    let key = jwt::EncodingKey::from_ec_pem(ES256_PKCS8.as_bytes()).unwrap();
    for kid in [ES256_LIBTRUST, ES256_RFC7638] {
        let mut h = jwt::Header::new(jwt::Algorithm::ES256);
        h.kid = Some(kid.into());
        let c = claims();
        let token = jwt::encode(&h, &c, &key).unwrap();
        assert_eq!(verifier.verify(&token, ISS, AUD).unwrap(), c);
    }
    // Neither x5c nor a known kid.
    let mut h = jwt::Header::new(jwt::Algorithm::ES256);
    h.kid = Some("AAAA:BBBB".into());
    let token = jwt::encode(&h, &claims(), &key).unwrap();
    let err = verifier.verify(&token, ISS, AUD).unwrap_err();
    assert!(matches!(err, TokenError::UntrustedKey { .. }), "{err:?}");
}

#[test]
fn verifier_refuses_an_audience_array() {
    let key = jwt::EncodingKey::from_ec_pem(ES256_PKCS8.as_bytes()).unwrap();
    let mut h = jwt::Header::new(jwt::Algorithm::ES256);
    h.kid = Some(ES256_LIBTRUST.into());
    let c = claims();
    let body = serde_json::json!({
        "iss": ISS, "sub": "alice", "aud": [AUD], "exp": c.exp, "nbf": c.nbf,
        "iat": c.iat, "jti": c.jti, "access": [],
    });
    let token = jwt::encode(&h, &body, &key).unwrap();
    let err = es256_set().verifier().verify(&token, ISS, AUD).unwrap_err();
    assert!(matches!(err, TokenError::InvalidClaims(_)), "{err:?}");
}

/// xorshift64*: deterministic garbage without a rand dependency.
struct Garbage(u64);

impl Garbage {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[test]
fn verifier_survives_garbage() {
    let keys = es256_set();
    let verifier = keys.verifier();
    let token = keys.sign(&claims()).unwrap();
    let fixed = [
        "",
        ".",
        "..",
        "...",
        "a.b.c",
        "a.b.c.d",
        "eyJ.eyJ.",
        "e30.e30.",
        "bnVsbA.bnVsbA.",
        "eyJhbGciOiJFUzI1NiJ9..",
        "eyJhbGciOiJFUzI1NiIsIng1YyI6WzFdfQ.e30.AA",
        "eyJhbGciOiJFUzI1NiIsIng1YyI6WyIhISEiXX0.e30.AA",
        "eyJhbGciOiJFUzI1NiIsImtpZCI6MX0.e30.AA",
        "eyJhbGciOiJFUzI1NiIsImNyaXQiOlsieCJdfQ.e30.AA",
        "\u{0}\u{ffff}.é.💥",
    ];
    for t in fixed {
        assert!(verifier.verify(t, ISS, AUD).is_err(), "{t:?}");
    }
    // Every truncation and every single-character change of a good token.
    let alphabet = b"AZaz09-_.=+/ ";
    for i in 0..token.len() {
        assert!(verifier.verify(&token[..i], ISS, AUD).is_err());
        let mut bytes = token.clone().into_bytes();
        let replacement = alphabet[i % alphabet.len()];
        if bytes[i] == replacement {
            continue;
        }
        bytes[i] = replacement;
        let mutated = String::from_utf8(bytes).unwrap();
        // A change in the last base64 character may only touch padding bits: either way no
        // panic, and a change anywhere else must be refused.
        let result = verifier.verify(&mutated, ISS, AUD);
        if i + 1 < token.len() && token.as_bytes()[i] != b'.' {
            assert!(result.is_err(), "mutation at {i} accepted");
        }
    }
    // Random bytes, random base64url parts.
    let mut rng = Garbage(0x9E37_79B9_7F4A_7C15);
    for _ in 0..2000 {
        let len = (rng.next() % 300) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let s = String::from_utf8_lossy(&bytes);
        assert!(verifier.verify(&s, ISS, AUD).is_err());
        let parts: Vec<String> = (0..3)
            .map(|_| {
                let n = (rng.next() % 80) as usize;
                let raw: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                URL_SAFE_NO_PAD.encode(raw)
            })
            .collect();
        assert!(verifier.verify(&parts.join("."), ISS, AUD).is_err());
    }
    // Oversized.
    let huge = format!("{}.{}.{}", "A".repeat(40_000), "A".repeat(40_000), "A");
    let err = verifier.verify(&huge, ISS, AUD).unwrap_err();
    assert!(matches!(err, TokenError::Malformed(_)), "{err:?}");
}

// ---------------------------------------------------------------- KeySet

#[test]
fn key_set_signs_with_the_first_key_and_publishes_all() {
    let err = KeySet::new(vec![], KidStyle::Libtrust).unwrap_err();
    assert!(matches!(err, TokenError::EmptyKeySet), "{err:?}");

    let new_keys = KeySet::new(
        vec![fixture(Algorithm::ES256), fixture(Algorithm::RS256)],
        KidStyle::Libtrust,
    )
    .unwrap();
    let old_keys = KeySet::new(vec![fixture(Algorithm::RS256)], KidStyle::Libtrust).unwrap();

    let token = new_keys.sign(&claims()).unwrap();
    let header = json_part(&token, 0);
    assert_eq!(header["kid"], ES256_LIBTRUST);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(
        new_keys.signing_key().kid(KidStyle::Libtrust),
        ES256_LIBTRUST
    );

    let jwks = new_keys.jwks();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [ES256_LIBTRUST, RS256_LIBTRUST]);

    // The verifier of the set, and one built from its bundle, accept tokens of both keys.
    let old_token = old_keys.sign(&claims()).unwrap();
    let from_bundle = Verifier::from_cert_bundle_pem(&new_keys.cert_bundle_pem()).unwrap();
    assert_eq!(from_bundle.len(), 2);
    for verifier in [new_keys.verifier(), from_bundle] {
        verifier.verify(&token, ISS, AUD).unwrap();
        verifier.verify(&old_token, ISS, AUD).unwrap();
    }
    // The old set alone does not trust the new key.
    let err = old_keys.verifier().verify(&token, ISS, AUD).unwrap_err();
    assert!(matches!(err, TokenError::UntrustedKey { .. }), "{err:?}");
}

#[test]
fn rfc7638_key_set_names_keys_by_thumbprint() {
    let keys = KeySet::new(
        vec![fixture(Algorithm::ES384), fixture(Algorithm::ES256)],
        KidStyle::Rfc7638,
    )
    .unwrap();
    let token = keys.sign(&claims()).unwrap();
    assert_eq!(json_part(&token, 0)["kid"], ES384_RFC7638);
    assert_eq!(keys.jwks()["keys"][1]["kid"], ES256_RFC7638);
    keys.verifier().verify(&token, ISS, AUD).unwrap();
}
