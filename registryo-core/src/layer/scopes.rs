//! What a request needs: the challenge, distribution's scope mapping, and whether a token's
//! `access` claim covers a scope.

use std::sync::Arc;

use http::{Method, Request};

use crate::scope::{Actions, RepositoryName, Resource, Scope, ScopeSet};
use crate::token::Claims;

/// What the `WWW-Authenticate: Bearer` challenge names, and what tokens must carry.
#[derive(Debug, Clone)]
pub struct Challenge {
    /// The token endpoint's URL (`realm`).
    pub realm: String,
    /// The registry's service name (`service`); tokens must have it as `aud`.
    pub service: String,
    /// The token issuer; tokens must have it as `iss`.
    pub issuer: String,
}

impl Challenge {
    /// A challenge for a realm, a service and an issuer.
    pub fn new(
        realm: impl Into<String>,
        service: impl Into<String>,
        issuer: impl Into<String>,
    ) -> Challenge {
        Challenge {
            realm: realm.into(),
            service: service.into(),
            issuer: issuer.into(),
        }
    }

    /// The header value for a request that needs `scopes`, with an optional `error`.
    pub fn header_value(&self, scopes: &ScopeSet, error: Option<&str>) -> String {
        let clean = |s: &str| s.replace(['"', '\\'], "");
        let mut v = format!(
            "Bearer realm=\"{}\",service=\"{}\"",
            clean(&self.realm),
            clean(&self.service)
        );
        if !scopes.is_empty() {
            v.push_str(&format!(",scope=\"{scopes}\""));
        }
        if let Some(e) = error {
            v.push_str(&format!(",error=\"{e}\""));
        }
        v
    }
}

/// The claims of a token that passed the check, put into the request's extensions.
#[derive(Debug, Clone)]
pub struct VerifiedToken(pub Claims);

/// What a request needs to pass [`RequireRegistryToken`](super::RequireRegistryToken).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Needed {
    /// A valid token covering these scopes.
    Scopes(ScopeSet),
    /// Any valid token, whatever its `access` (distribution's `GET /v2/`).
    AnyToken,
    /// No token: the embedder marked the path open.
    Open,
    /// The request cannot be mapped to a scope: refused (`404`), never passed on.
    Unmapped,
}

impl Needed {
    /// The scopes to name in a challenge (none unless [`Needed::Scopes`]).
    pub fn scopes(&self) -> ScopeSet {
        match self {
            Needed::Scopes(s) => s.clone(),
            _ => ScopeSet::new(),
        }
    }
}

/// Says what a request needs.
pub trait ScopeResolver<B>: Clone {
    /// What `req` needs; see [`Needed`].
    fn required(&self, req: &Request<B>) -> Needed;
}

impl<B, F> ScopeResolver<B> for F
where
    F: Fn(&Request<B>) -> Needed + Clone,
{
    fn required(&self, req: &Request<B>) -> Needed {
        self(req)
    }
}

/// What distribution requires for its `/v2/` API; every other path is [`Needed::Unmapped`],
/// but for the open paths the embedder lists.
#[derive(Debug, Clone, Default)]
pub struct RegistryApiScopes {
    open: Arc<[String]>,
}

impl RegistryApiScopes {
    /// distribution's mapping, with no open path.
    pub fn new() -> RegistryApiScopes {
        RegistryApiScopes::default()
    }

    /// The same mapping, with these exact paths open (no token needed), e.g. `/healthz`.
    pub fn with_open_paths<I, P>(paths: I) -> RegistryApiScopes
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        RegistryApiScopes {
            open: paths.into_iter().map(Into::into).collect(),
        }
    }

    /// What a method, a path and a query string need (the open paths aside).
    pub fn for_request(method: &Method, path: &str, query: Option<&str>) -> Needed {
        let Some(rest) = path.strip_prefix("/v2/") else {
            return Needed::Unmapped;
        };
        if rest.is_empty() {
            return Needed::AnyToken;
        }
        let mut set = ScopeSet::new();
        if rest == "_catalog" {
            set.insert(Scope::catalog());
            return Needed::Scopes(set);
        }
        let name = if let Some(n) = rest.strip_suffix("/tags/list") {
            Some(n)
        } else {
            ["/manifests/", "/blobs/", "/referrers/"]
                .iter()
                .filter_map(|m| rest.rfind(m))
                .max()
                .map(|i| &rest[..i])
        };
        let Some(name) = name.and_then(|n| RepositoryName::new(n).ok()) else {
            return Needed::Unmapped;
        };
        let actions = match *method {
            Method::GET | Method::HEAD => Actions::PULL,
            Method::POST | Method::PUT | Method::PATCH => Actions::PULL | Actions::PUSH,
            Method::DELETE => Actions::DELETE,
            _ => Actions::PULL | Actions::PUSH | Actions::DELETE,
        };
        set.insert(Scope::repository(name, actions));
        if *method == Method::POST {
            let pairs: Vec<(String, String)> =
                serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default();
            let has_mount = pairs.iter().any(|(k, _)| k == "mount");
            let from = pairs.iter().find(|(k, _)| k == "from").map(|(_, v)| v);
            if let (true, Some(from)) = (has_mount, from) {
                // A mount from a source that is no repository name cannot be checked.
                let Ok(src) = RepositoryName::new(from.as_str()) else {
                    return Needed::Unmapped;
                };
                set.insert(Scope::repository(src, Actions::PULL));
            }
        }
        Needed::Scopes(set)
    }
}

impl<B> ScopeResolver<B> for RegistryApiScopes {
    fn required(&self, req: &Request<B>) -> Needed {
        let path = req.uri().path();
        if self.open.iter().any(|p| p == path) {
            return Needed::Open;
        }
        RegistryApiScopes::for_request(req.method(), path, req.uri().query())
    }
}

/// Whether the token's `access` claim covers a scope. An action `*` in the token covers every
/// action.
pub fn covers(claims: &Claims, scope: &Scope) -> bool {
    let mut held = Actions::NONE;
    let mut star = false;
    for a in &claims.access {
        if a.kind == scope.resource().type_str() && a.name == scope.name() {
            for w in &a.actions {
                if w == "*" {
                    star = true;
                } else if let Ok(x) = Actions::parse_one(w) {
                    held |= x;
                }
            }
        }
    }
    if star {
        return true;
    }
    match scope.resource() {
        // distribution asks for the action `*` on the catalog.
        Resource::Catalog => false,
        Resource::Repository(_) => held.contains(scope.actions()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(method: Method, path: &str, query: Option<&str>) -> String {
        match RegistryApiScopes::for_request(&method, path, query) {
            Needed::Scopes(s) => s.to_string(),
            Needed::AnyToken => "any token".to_owned(),
            Needed::Open => "open".to_owned(),
            Needed::Unmapped => "unmapped".to_owned(),
        }
    }

    #[test]
    fn distribution_scope_mapping() {
        assert_eq!(scopes(Method::GET, "/v2/", None), "any token");
        assert_eq!(
            scopes(Method::GET, "/v2/_catalog", None),
            "registry:catalog:*"
        );
        assert_eq!(
            scopes(Method::GET, "/v2/a/b/manifests/latest", None),
            "repository:a/b:pull"
        );
        assert_eq!(
            scopes(Method::HEAD, "/v2/a/blobs/sha256:00", None),
            "repository:a:pull"
        );
        assert_eq!(
            scopes(Method::PUT, "/v2/a/manifests/1", None),
            "repository:a:pull,push"
        );
        assert_eq!(
            scopes(Method::PATCH, "/v2/a/blobs/uploads/uuid", None),
            "repository:a:pull,push"
        );
        assert_eq!(
            scopes(Method::DELETE, "/v2/a/manifests/sha256:00", None),
            "repository:a:delete"
        );
        assert_eq!(
            scopes(Method::GET, "/v2/a/tags/list", None),
            "repository:a:pull"
        );
        // A repository may be called "manifests" or "blobs".
        assert_eq!(
            scopes(Method::GET, "/v2/x/blobs/y/manifests/t", None),
            "repository:x/blobs/y:pull"
        );
        assert_eq!(
            scopes(
                Method::POST,
                "/v2/dst/blobs/uploads/",
                Some("mount=sha256:00&from=src/app")
            ),
            "repository:dst:pull,push repository:src/app:pull"
        );
        // Fail closed: what maps to no scope is refused, never "any token".
        for path in [
            "/v2/Bad/manifests/x",
            "/other",
            "/v2//v2/bob/app/tags/list",
            "/v2/bob/app",
            "/v2/bob/app/unknown/x",
            "/v2/_catalog/x",
            "/v2",
        ] {
            assert_eq!(scopes(Method::GET, path, None), "unmapped", "{path}");
        }
        assert_eq!(
            scopes(
                Method::POST,
                "/v2/dst/blobs/uploads/",
                Some("mount=sha256:00&from=Bad")
            ),
            "unmapped"
        );
    }

    #[test]
    fn challenge_header() {
        let c = Challenge::new("http://a/token", "reg", "iss");
        let set = ScopeSet::parse_all(["repository:a:pull"]).unwrap();
        assert_eq!(
            c.header_value(&set, Some("insufficient_scope")),
            "Bearer realm=\"http://a/token\",service=\"reg\",scope=\"repository:a:pull\",error=\"insufficient_scope\""
        );
        assert_eq!(
            c.header_value(&ScopeSet::new(), None),
            "Bearer realm=\"http://a/token\",service=\"reg\""
        );
    }
}
