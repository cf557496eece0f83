//! Several keys: sign with the newest, publish all.

use serde_json::{Value, json};

use super::keys::{KeyReference, KidStyle, SigningKey, pem_encode};
use super::{Claims, TokenError, Verifier};

/// The signing keys of a token server.
///
/// Tokens are signed with the **first** key; [`jwks`](KeySet::jwks) and
/// [`verifier`](KeySet::verifier) cover all of them. With a CA
/// ([`with_authority`](KeySet::with_authority)) whose certificate issued the keys'
/// certificates, the registry's bundle ([`cert_bundle_pem`](KeySet::cert_bundle_pem)) holds
/// the CA and a key can start signing at any time. Without one, each key's self-signed
/// certificate must be in the bundle the registry read at its start before the key signs.
#[derive(Debug)]
pub struct KeySet {
    keys: Vec<SigningKey>,
    kid_style: KidStyle,
    reference: KeyReference,
    /// The CA certificate (DER), if the keys' certificates chain to one.
    authority: Option<Vec<u8>>,
}

impl KeySet {
    /// A key set whose tokens name their key in `kid_style`. Refuses an empty list.
    pub fn new(keys: Vec<SigningKey>, kid_style: KidStyle) -> Result<KeySet, TokenError> {
        if keys.is_empty() {
            return Err(TokenError::EmptyKeySet);
        }
        Ok(KeySet {
            keys,
            kid_style,
            reference: KeyReference::X5c,
            authority: None,
        })
    }

    /// The same set, its tokens naming their key as `reference` says.
    pub fn with_reference(mut self, reference: KeyReference) -> KeySet {
        self.reference = reference;
        self
    }

    /// The same set with the CA certificate (DER) that issued its keys' certificates: it goes
    /// into the bundle, and the verifier trusts what it issued.
    pub fn with_authority(mut self, ca_cert_der: Vec<u8>) -> KeySet {
        self.authority = Some(ca_cert_der);
        self
    }

    /// Signs `claims` with the first key: a compact JWS whose header carries `typ`, `alg`,
    /// `kid` (in this set's style) and, with [`KeyReference::X5c`], `x5c`.
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        self.signing_key()
            .sign(self.kid_style, self.reference, claims)
    }

    /// How this set's tokens name their key.
    pub fn reference(&self) -> KeyReference {
        self.reference
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

    /// The registry's `auth.token.rootcertbundle`, as PEM: the CA's certificate, then the
    /// self-signed certificates of keys that the CA did not issue (older keys), so that every
    /// key of the set is trusted by a registry that read this bundle.
    pub fn cert_bundle_pem(&self) -> String {
        let ca = self
            .authority
            .iter()
            .map(|der| pem_encode("CERTIFICATE", der));
        let own = self
            .keys
            .iter()
            .filter(|k| self.authority.is_none() || k.is_self_signed())
            .map(SigningKey::cert_pem);
        ca.chain(own).collect()
    }

    /// A verifier that trusts every key of this set and what its CA issues.
    pub fn verifier(&self) -> Verifier {
        let verifier = Verifier::from_signing_keys(&self.keys);
        match &self.authority {
            // The CA certificate was checked when the CA was loaded.
            Some(der) => verifier
                .with_authority(der)
                .unwrap_or_else(|_| Verifier::from_signing_keys(&self.keys)),
            None => verifier,
        }
    }
}
