//! Where the client's bearer tokens come from, and how long they are kept.
//!
//! The Registryo server signs tokens for itself: [`SelfSignedTokens`] mints a token with
//! exactly the scopes a request needs, with the server's own [`KeySet`]; no password is
//! stored anywhere. [`TokenCache`] keeps each token per scope set until shortly before its
//! `exp`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::scope::ScopeSet;
use crate::token::{Access, Claims, KeySet, TokenError};

/// A source of bearer tokens for the registry.
///
/// Implementations return a token granting (at least) `scopes`; an empty set asks for a token
/// that only proves identity (enough for `GET /v2/`).
pub trait TokenSource: Send + Sync {
    /// Why no token could be produced.
    type Error: std::error::Error + Send + Sync + 'static;

    /// A token for `scopes`.
    fn token(&self, scopes: &ScopeSet) -> impl Future<Output = Result<String, Self::Error>> + Send;
}

impl<T: TokenSource> TokenSource for Arc<T> {
    type Error = T::Error;

    fn token(&self, scopes: &ScopeSet) -> impl Future<Output = Result<String, Self::Error>> + Send {
        (**self).token(scopes)
    }
}

/// Tokens signed by the server's own keys, for the server's own use (e.g. the web UI).
#[derive(Debug, Clone)]
pub struct SelfSignedTokens {
    /// The signing keys (the registry trusts their certificates).
    pub keys: Arc<KeySet>,
    /// The registry's `auth.token.issuer`.
    pub issuer: String,
    /// The registry's `auth.token.service` (the token's `aud`).
    pub service: String,
    /// The token's `sub`, for the registry's logs.
    pub subject: String,
    /// How long each token lives.
    pub ttl: Duration,
}

impl SelfSignedTokens {
    /// The subject used by default: `registryo-ui`.
    pub const DEFAULT_SUBJECT: &'static str = "registryo-ui";

    /// Tokens for `service` from `issuer`, subject [`DEFAULT_SUBJECT`](Self::DEFAULT_SUBJECT),
    /// living five minutes.
    pub fn new(
        keys: Arc<KeySet>,
        issuer: impl Into<String>,
        service: impl Into<String>,
    ) -> SelfSignedTokens {
        SelfSignedTokens {
            keys,
            issuer: issuer.into(),
            service: service.into(),
            subject: Self::DEFAULT_SUBJECT.to_owned(),
            ttl: Duration::from_secs(300),
        }
    }

    /// Signs claims granting exactly `scopes`.
    pub fn sign(&self, scopes: &ScopeSet) -> Result<String, TokenError> {
        let access = scopes
            .iter()
            .map(|s| Access::new(s.resource().type_str(), s.name(), s.actions().words()))
            .collect();
        let claims = Claims::new(
            self.issuer.as_str(),
            self.subject.as_str(),
            self.service.as_str(),
            self.ttl,
            access,
        );
        self.keys.sign(&claims)
    }
}

impl TokenSource for SelfSignedTokens {
    type Error = TokenError;

    fn token(&self, scopes: &ScopeSet) -> impl Future<Output = Result<String, TokenError>> + Send {
        std::future::ready(self.sign(scopes))
    }
}

/// Tokens kept per scope set until shortly before they expire.
///
/// The lifetime comes from the JWT's `exp`; a token is dropped [`margin`](TokenCache::new)
/// before it (or at half its remaining life, if that is shorter), and a token without a
/// readable `exp` is not kept.
#[derive(Debug)]
pub struct TokenCache {
    entries: Mutex<HashMap<String, (String, Instant)>>,
    margin: Duration,
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache::new(Duration::from_secs(30))
    }
}

impl TokenCache {
    /// A cache that drops tokens `margin` before their `exp`.
    pub fn new(margin: Duration) -> TokenCache {
        TokenCache {
            entries: Mutex::new(HashMap::new()),
            margin,
        }
    }

    /// The cached token for `scopes`, if still fresh.
    pub fn get(&self, scopes: &ScopeSet) -> Option<String> {
        let key = cache_key(scopes);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(&key) {
            Some((token, until)) if Instant::now() < *until => Some(token.clone()),
            Some(_) => {
                entries.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Keeps `token` for `scopes` (unless it expires too soon to be worth it).
    pub fn put(&self, scopes: &ScopeSet, token: &str) {
        let Some(exp) = jwt_exp(token) else { return };
        let remaining = exp.saturating_sub(crate::token::unix_now());
        let Ok(remaining) = u64::try_from(remaining) else {
            return;
        };
        let remaining = Duration::from_secs(remaining);
        let keep = remaining.saturating_sub(self.margin.min(remaining / 2));
        if keep.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        entries.retain(|_, (_, until)| *until > now);
        entries.insert(cache_key(scopes), (token.to_owned(), now + keep));
    }

    /// Forgets the token for `scopes` (the registry refused it).
    pub fn invalidate(&self, scopes: &ScopeSet) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(&cache_key(scopes));
    }
}

/// The scopes in a canonical order, so `a b` and `b a` share an entry.
fn cache_key(scopes: &ScopeSet) -> String {
    let mut parts: Vec<String> = scopes.iter().map(ToString::to_string).collect();
    parts.sort();
    parts.join(" ")
}

/// The `exp` claim of a compact JWS, read without checking the signature.
fn jwt_exp(token: &str) -> Option<i64> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    #[derive(serde::Deserialize)]
    struct Exp {
        exp: i64,
    }
    serde_json::from_slice::<Exp>(&bytes).ok().map(|e| e.exp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::{Algorithm, KidStyle, SigningKey};

    fn tokens(ttl: u64) -> SelfSignedTokens {
        let key = SigningKey::generate(Algorithm::ES256, "t").unwrap();
        let keys = Arc::new(KeySet::new(vec![key], KidStyle::Libtrust).unwrap());
        let mut t = SelfSignedTokens::new(keys, "iss", "svc");
        t.ttl = Duration::from_secs(ttl);
        t
    }

    #[test]
    fn self_signed_tokens_carry_exactly_the_scopes() {
        let t = tokens(300);
        let scopes =
            ScopeSet::parse_all(["repository:a/b:pull,delete registry:catalog:*"]).unwrap();
        let token = t.sign(&scopes).unwrap();
        let claims = t.keys.verifier().verify(&token, "iss", "svc").unwrap();
        assert_eq!(claims.sub, "registryo-ui");
        assert_eq!(
            claims.access,
            vec![
                Access::new("repository", "a/b", ["pull", "delete"]),
                Access::new("registry", "catalog", ["*"]),
            ]
        );
    }

    #[test]
    fn cache_keeps_until_shortly_before_exp() {
        let t = tokens(300);
        let cache = TokenCache::default();
        let ab = ScopeSet::parse_all(["repository:a:pull repository:b:pull"]).unwrap();
        let ba = ScopeSet::parse_all(["repository:b:pull repository:a:pull"]).unwrap();
        assert_eq!(cache.get(&ab), None);
        let token = t.sign(&ab).unwrap();
        cache.put(&ab, &token);
        assert_eq!(cache.get(&ba).as_deref(), Some(token.as_str()));
        cache.invalidate(&ba);
        assert_eq!(cache.get(&ab), None);

        // A token about to expire is not kept; neither is something that is not a JWT.
        cache.put(&ab, &tokens(0).sign(&ab).unwrap());
        assert_eq!(cache.get(&ab), None);
        cache.put(&ab, "opaque");
        assert_eq!(cache.get(&ab), None);
    }
}
