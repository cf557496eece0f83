//! The registry's `WWW-Authenticate: Bearer …` challenge, parsed into a type.
//!
//! ```
//! use registryo_core::client::BearerChallenge;
//!
//! let c = BearerChallenge::parse(
//!     r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push",error="insufficient_scope""#,
//! ).unwrap();
//! assert_eq!(c.realm, "https://auth.example/token");
//! assert_eq!(c.scope.as_deref(), Some("repository:a/b:pull,push"));
//! assert_eq!(c.scopes().unwrap().to_string(), "repository:a/b:pull,push");
//! ```

use crate::scope::{ScopeError, ScopeSet};

/// Why a `WWW-Authenticate` value is not a usable Bearer challenge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    /// The scheme is not `Bearer` (e.g. `Basic`).
    #[error("not a Bearer challenge (scheme {0:?})")]
    NotBearer(String),
    /// The parameters break the `name=value, name="quoted"` grammar.
    #[error("malformed challenge: {0}")]
    Malformed(&'static str),
    /// The challenge has no `realm`.
    #[error("challenge without a realm")]
    MissingRealm,
}

/// A parsed `Bearer` challenge: `realm`, `service`, `scope`, `error`, and any other parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerChallenge {
    /// The token endpoint's URL.
    pub realm: String,
    /// The registry's service name (the token's `aud`).
    pub service: Option<String>,
    /// The scopes the request needs, space-separated, as sent.
    pub scope: Option<String>,
    /// `invalid_token` (the token was refused) or `insufficient_scope`; absent without a token.
    pub error: Option<String>,
    /// Every other parameter, names lower-cased, in order.
    pub other: Vec<(String, String)>,
}

impl BearerChallenge {
    /// Parses one challenge. The scheme and parameter names are case-insensitive; values may be
    /// tokens or quoted strings (with `\` escapes, and commas or `=` inside the quotes); empty
    /// list elements and whitespace around `,` and `=` are tolerated; unknown parameters are
    /// kept in [`other`](BearerChallenge::other); a repeated parameter keeps its first value.
    pub fn parse(header: &str) -> Result<BearerChallenge, ChallengeError> {
        let header = header.trim();
        let (scheme, rest) = match header.find(|c: char| c.is_ascii_whitespace()) {
            Some(i) => (&header[..i], &header[i..]),
            None => (header, ""),
        };
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ChallengeError::NotBearer(scheme.chars().take(40).collect()));
        }
        let mut realm = None;
        let mut service = None;
        let mut scope = None;
        let mut error = None;
        let mut other = Vec::new();
        let mut params = Params { rest };
        while let Some(pair) = params.next_pair() {
            let (name, value) = pair?;
            let slot = match name.as_str() {
                "realm" => &mut realm,
                "service" => &mut service,
                "scope" => &mut scope,
                "error" => &mut error,
                _ => {
                    other.push((name, value));
                    continue;
                }
            };
            if slot.is_none() {
                *slot = Some(value);
            }
        }
        Ok(BearerChallenge {
            realm: realm.ok_or(ChallengeError::MissingRealm)?,
            service,
            scope,
            error,
            other,
        })
    }

    /// The scopes asked for, parsed; an empty set when there is no `scope`.
    pub fn scopes(&self) -> Result<ScopeSet, ScopeError> {
        ScopeSet::parse_all(self.scope.as_deref())
    }
}

/// The `name=value` pairs still to read.
struct Params<'a> {
    rest: &'a str,
}

impl Params<'_> {
    /// The next pair, lower-cased name first; `None` at the end.
    fn next_pair(&mut self) -> Option<Result<(String, String), ChallengeError>> {
        let s = self
            .rest
            .trim_start_matches(|c: char| c == ',' || c.is_ascii_whitespace());
        if s.is_empty() {
            return None;
        }
        let name_end = s
            .find(|c: char| c == '=' || c == ',' || c.is_ascii_whitespace())
            .unwrap_or(s.len());
        let name = &s[..name_end];
        let after = s[name_end..].trim_start();
        let Some(after) = after.strip_prefix('=') else {
            return Some(Err(ChallengeError::Malformed("parameter without '='")));
        };
        if name.is_empty() {
            return Some(Err(ChallengeError::Malformed("parameter without a name")));
        }
        let after = after.trim_start();
        let (value, rest) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, escaped)) => value.push(escaped),
                        None => break,
                    },
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            let Some(end) = end else {
                return Some(Err(ChallengeError::Malformed("unterminated quoted string")));
            };
            (value, &quoted[end..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim_end().to_owned(), &after[end..])
        };
        let rest = rest.trim_start();
        if !rest.is_empty() && !rest.starts_with(',') {
            return Some(Err(ChallengeError::Malformed(
                "expected ',' between parameters",
            )));
        }
        self.rest = rest;
        Some(Ok((name.to_ascii_lowercase(), value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> BearerChallenge {
        BearerChallenge::parse(s).unwrap()
    }

    #[test]
    fn registry_challenge() {
        let c = p(
            r#"Bearer realm="http://127.0.0.1:1/token",service="registryo-test",scope="repository:a/b:pull repository:c:push,pull",error="invalid_token""#,
        );
        assert_eq!(c.realm, "http://127.0.0.1:1/token");
        assert_eq!(c.service.as_deref(), Some("registryo-test"));
        assert_eq!(c.error.as_deref(), Some("invalid_token"));
        assert_eq!(c.scopes().unwrap().len(), 2);
        assert!(c.other.is_empty());
    }

    #[test]
    fn commas_escapes_and_unknown_params() {
        let c = p(
            r#"bearer  realm = "http://x/t?a=1,b=2" , , service=svc,scope="registry:catalog:*",Foo="a \"q\" b",x=y"#,
        );
        assert_eq!(c.realm, "http://x/t?a=1,b=2");
        assert_eq!(c.service.as_deref(), Some("svc"));
        assert_eq!(c.scope.as_deref(), Some("registry:catalog:*"));
        assert_eq!(
            c.other,
            vec![
                ("foo".to_owned(), r#"a "q" b"#.to_owned()),
                ("x".to_owned(), "y".to_owned())
            ]
        );
    }

    #[test]
    fn no_scope_is_an_empty_set() {
        let c = p(r#"Bearer realm="r",service="s""#);
        assert!(c.scope.is_none());
        assert!(c.scopes().unwrap().is_empty());
    }

    #[test]
    fn first_value_wins() {
        assert_eq!(p(r#"Bearer realm="a",realm="b""#).realm, "a");
    }

    #[test]
    fn refusals() {
        use ChallengeError::*;
        let e = |s: &str| BearerChallenge::parse(s).unwrap_err();
        assert_eq!(e(r#"Basic realm="x""#), NotBearer("Basic".into()));
        assert_eq!(e("Bearer"), MissingRealm);
        assert_eq!(e(r#"Bearer service="s""#), MissingRealm);
        assert!(matches!(e(r#"Bearer realm="x"#), Malformed(_)));
        assert!(matches!(e(r#"Bearer realm"#), Malformed(_)));
        assert!(matches!(e(r#"Bearer realm="x" service="y""#), Malformed(_)));
        assert!(matches!(e(r#"Bearer =x"#), Malformed(_)));
        assert!(matches!(e("Bearer realm=\"x\\"), Malformed(_)));
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in [
            "",
            " ",
            "Bearer ,",
            "Bearer realm=",
            "Bearer realm=,",
            "Bearer \"",
            "Bearer é=ü",
            "Bearer realm=\"é\",scope=\"repository:Bad:pull\"",
        ] {
            let _ = BearerChallenge::parse(s).map(|c| c.scopes());
        }
        assert_eq!(p("Bearer realm=").realm, "");
    }
}
