//! Content digests: `sha256:<64 hex>` (and `sha512:<128 hex>`).

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::digest;
use data_encoding::HEXLOWER;

use super::RegistryError;

/// A content digest, validated: `sha256:` + 64 lower-case hex digits, or `sha512:` + 128.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl Digest {
    /// Parses a digest.
    pub fn parse(s: &str) -> Result<Digest, RegistryError> {
        let ok = match s.split_once(':') {
            Some(("sha256", hex)) => is_hex(hex, 64),
            Some(("sha512", hex)) => is_hex(hex, 128),
            _ => false,
        };
        if ok {
            Ok(Digest(s.to_owned()))
        } else {
            Err(RegistryError::InvalidInput(format!(
                "{:?} is not a sha256 or sha512 digest",
                s.chars().take(140).collect::<String>()
            )))
        }
    }

    /// The sha256 digest of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Digest {
        Digest(format!(
            "sha256:{}",
            HEXLOWER.encode(digest::digest(&digest::SHA256, bytes).as_ref())
        ))
    }

    /// The digest as written: `sha256:…`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Checks that `bytes` hash to this digest.
    pub fn verify(&self, bytes: &[u8]) -> Result<(), RegistryError> {
        let (alg, actual) = if self.0.starts_with("sha512:") {
            let hash = digest::digest(&digest::SHA512, bytes);
            ("sha512", HEXLOWER.encode(hash.as_ref()))
        } else {
            let hash = digest::digest(&digest::SHA256, bytes);
            ("sha256", HEXLOWER.encode(hash.as_ref()))
        };
        let actual = format!("{alg}:{actual}");
        if actual == self.0 {
            Ok(())
        } else {
            Err(RegistryError::DigestMismatch {
                expected: self.0.clone(),
                actual,
            })
        }
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.0)
    }
}

impl FromStr for Digest {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl TryFrom<String> for Digest {
    type Error = RegistryError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Digest::parse(&s)
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_and_verify() {
        let d = Digest::sha256(b"");
        assert_eq!(
            d.as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(d.verify(b"").is_ok());
        assert!(matches!(
            d.verify(b"x"),
            Err(RegistryError::DigestMismatch { .. })
        ));
        assert_eq!(Digest::parse(d.as_str()).unwrap(), d);
    }

    #[test]
    fn refusals() {
        for bad in [
            "",
            "sha256:",
            "sha256:ABC",
            "md5:00",
            "sha256:e3b0",
            "e3b0c442",
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad}");
        }
    }
}
