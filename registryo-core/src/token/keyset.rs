//! Several keys: sign with the newest, publish all.

use serde_json::{Value, json};

use super::keys::{KidStyle, SigningKey};
use super::{Claims, TokenError, Verifier};

/// The signing keys of a token server.
///
/// Tokens are signed with the **first** key; [`jwks`](KeySet::jwks),
/// [`cert_bundle_pem`](KeySet::cert_bundle_pem) and [`verifier`](KeySet::verifier) cover
/// all of them. To rotate without downtime: publish a bundle with the new certificate added,
/// let the registry reload it, then put the new key first; drop the old key once the tokens it
/// signed have expired.
#[derive(Debug)]
pub struct KeySet {
    keys: Vec<SigningKey>,
    kid_style: KidStyle,
}

impl KeySet {
    /// A key set whose tokens name their key in `kid_style`. Refuses an empty list.
    pub fn new(keys: Vec<SigningKey>, kid_style: KidStyle) -> Result<KeySet, TokenError> {
        if keys.is_empty() {
            return Err(TokenError::EmptyKeySet);
        }
        Ok(KeySet { keys, kid_style })
    }

    /// Signs `claims` with the first key: a compact JWS whose header carries `typ`, `alg`,
    /// `kid` (in this set's style) and `x5c`.
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        self.signing_key().sign(self.kid_style, claims)
    }

    /// The key that signs: the first one.
    pub fn signing_key(&self) -> &SigningKey {
        // `new` refuses an empty list and the list never changes.
        &self.keys[0]
    }

    /// All keys, the signing key first.
    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    /// The `kid` style of this set's tokens and JWKS.
    pub fn kid_style(&self) -> KidStyle {
        self.kid_style
    }

    /// The public keys as a JWK Set: `{"keys":[…]}` (distribution v3's `jwks` file).
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .map(|k| k.public_jwk(self.kid_style))
            .collect();
        json!({ "keys": keys })
    }

    /// All certificates as one PEM bundle, for distribution's `auth.token.rootcertbundle`.
    pub fn cert_bundle_pem(&self) -> String {
        self.keys.iter().map(SigningKey::cert_pem).collect()
    }

    /// A verifier that trusts every key of this set.
    pub fn verifier(&self) -> Verifier {
        Verifier::from_signing_keys(&self.keys)
    }
}
