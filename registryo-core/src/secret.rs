//! Secrets, written once: random tokens, the hashes the store keeps of them, and comparing
//! them in constant time (all over aws-lc-rs).

use aws_lc_rs::{constant_time, digest, rand};
use base64::Engine as _;
use data_encoding::HEXLOWER;

use crate::service::BackendError;

/// 256 random bits, base64url without padding: session ids, refresh tokens, reset links,
/// service-account secrets.
pub fn random_token() -> Result<String, BackendError> {
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

/// `N` random bytes as lower-case hex (e.g. the registry's `http.secret`).
pub fn random_hex<const N: usize>() -> Result<String, BackendError> {
    Ok(HEXLOWER.encode(&random_bytes::<N>()?))
}

/// A password of 24 characters from an alphabet without look-alikes (no `l`, `1`, `O`,
/// `0`): the first administrator's, when none is given. Each character is drawn without
/// bias (bytes past the last whole multiple of the alphabet are drawn again), about 139 bits.
pub fn random_password() -> Result<String, BackendError> {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let limit = 256 - 256 % ALPHABET.len();
    let mut out = String::with_capacity(24);
    while out.len() < 24 {
        for b in random_bytes::<32>()? {
            if usize::from(b) < limit && out.len() < 24 {
                out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
            }
        }
    }
    Ok(out)
}

fn random_bytes<const N: usize>() -> Result<[u8; N], BackendError> {
    let mut buf = [0u8; N];
    rand::fill(&mut buf).map_err(|_| BackendError("no randomness".to_owned()))?;
    Ok(buf)
}

/// SHA-256 as 64 lower-case hex digits.
pub fn sha256_hex(data: &[u8]) -> String {
    HEXLOWER.encode(digest::digest(&digest::SHA256, data).as_ref())
}

/// What the store keeps of a token (session id, refresh token, reset link): its SHA-256 in
/// hex, so a copy of the database opens nothing.
pub fn token_hash(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

/// Whether two secrets are equal, in time that depends only on their lengths.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    constant_time::verify_slices_are_equal(a, b).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparing_secrets() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(same_secret(b"", b""));
    }

    #[test]
    fn random_tokens_are_long_and_distinct() {
        let (a, b) = (random_token().unwrap(), random_token().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43, "256 bits in unpadded base64url");
        let h = random_hex::<32>().unwrap();
        assert_eq!(h.len(), 64);
        assert!(
            h.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }

    #[test]
    fn generated_passwords_use_the_unambiguous_alphabet() {
        let p = random_password().unwrap();
        assert_eq!(p.len(), 24);
        assert!(
            p.chars()
                .all(|c| c.is_ascii_alphanumeric() && !"lIO01".contains(c)),
            "{p}"
        );
        assert_ne!(p, random_password().unwrap());
    }

    #[test]
    fn token_hashes_are_sha256_hex() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
