//! The token's claims set.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// One grant in a token: a resource and the actions allowed on it
/// (`{"type":"repository","name":"team/app","actions":["pull","push"]}`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Access {
    /// The resource type: `repository` or `registry`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The resource name: a repository name, or `catalog`.
    pub name: String,
    /// The granted actions: `pull`, `push`, `delete`, `*`.
    pub actions: Vec<String>,
}

impl Access {
    /// A grant of `actions` on the resource `kind:name`.
    pub fn new<I, S>(kind: impl Into<String>, name: impl Into<String>, actions: I) -> Access
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Access {
            kind: kind.into(),
            name: name.into(),
            actions: actions.into_iter().map(Into::into).collect(),
        }
    }
}

/// The claims of a registry token, in the shape distribution expects.
///
/// `aud` is a single string (distribution 2.8 rejects an array); times are seconds since the
/// Unix epoch.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// Issuer: the registry's `auth.token.issuer`.
    pub iss: String,
    /// Subject: the account name, empty for anonymous.
    pub sub: String,
    /// Audience: the registry's `service` name.
    pub aud: String,
    /// Expiry time.
    pub exp: i64,
    /// Not-before time.
    pub nbf: i64,
    /// Issued-at time.
    pub iat: i64,
    /// Unique token ID.
    pub jti: String,
    /// What the token grants; empty still lets the holder call `GET /v2/`.
    #[serde(default)]
    pub access: Vec<Access>,
}

impl Claims {
    /// Claims issued now: `iat = nbf = now`, `exp = now + ttl`, and a random 128-bit `jti`
    /// (base64url, 22 characters).
    pub fn new(
        issuer: impl Into<String>,
        subject: impl Into<String>,
        audience: impl Into<String>,
        ttl: Duration,
        access: Vec<Access>,
    ) -> Claims {
        let now = unix_now();
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        Claims {
            iss: issuer.into(),
            sub: subject.into(),
            aud: audience.into(),
            exp: now.saturating_add(ttl),
            nbf: now,
            iat: now,
            jti: new_jti(),
            access,
        }
    }
}

pub(crate) use crate::time::unix_now;

/// 128 random bits, base64url. Should the system RNG ever fail, falls back to a hash of the
/// clock, the process ID and a counter: still unique, which is all `jti` needs.
fn new_jti() -> String {
    let mut bytes = [0u8; 16];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(&nanos.to_le_bytes());
        ctx.update(&std::process::id().to_le_bytes());
        ctx.update(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
        let hash = ctx.finish();
        for (b, h) in bytes.iter_mut().zip(hash.as_ref()) {
            *b = *h;
        }
    }
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_sets_times_and_a_random_jti() {
        let before = unix_now();
        let c = Claims::new("i", "s", "a", Duration::from_secs(300), vec![]);
        let after = unix_now();
        assert!(c.iat >= before && c.iat <= after);
        assert_eq!(c.nbf, c.iat);
        assert_eq!(c.exp, c.iat + 300);
        assert_eq!(c.jti.len(), 22);
        let other = Claims::new("i", "s", "a", Duration::from_secs(300), vec![]);
        assert_ne!(c.jti, other.jti);
    }

    #[test]
    fn huge_ttl_saturates() {
        let c = Claims::new("i", "s", "a", Duration::MAX, vec![]);
        assert_eq!(c.exp, i64::MAX);
    }

    #[test]
    fn access_serializes_type() {
        let a = Access::new("repository", "a/b", ["pull"]);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(
            json,
            r#"{"type":"repository","name":"a/b","actions":["pull"]}"#
        );
    }

    #[test]
    fn access_defaults_to_empty() {
        let c: Claims = serde_json::from_str(
            r#"{"iss":"i","sub":"","aud":"a","exp":2,"nbf":1,"iat":1,"jti":"j"}"#,
        )
        .unwrap();
        assert!(c.access.is_empty());
    }
}
