//! Secret settings: the value is read like any other setting, but `Debug` never shows it, so
//! `Settings` can derive `Debug` and be logged whole.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret (a password): `Debug` shows `"<hidden>"`, or `""` when it is not set.
///
/// It (de)serialises as the plain string, as figment's layering needs; read it with
/// [`Secret::expose`] where it is used.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The value itself, for where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is unset.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = if self.0.is_empty() { "" } else { "<hidden>" };
        fmt::Debug::fmt(shown, f)
    }
}

/// A URL that may hold a password (the database URL): `Debug` shows it with the password
/// replaced by `***` (see [`redact_url`]).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretUrl(String);

impl SecretUrl {
    /// The URL itself, password included, for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is unset.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for SecretUrl {
    fn from(value: &str) -> SecretUrl {
        SecretUrl(value.to_owned())
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&redact_url(&self.0), f)
    }
}

/// A URL with its password replaced by `***`: the one in the user information
/// (`postgres://user:***@host/db`) and a `password=` query parameter.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(s), Some(at)) if at > s => match base[s + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &base[..s + 3], &base[at..]),
            None => base.to_owned(),
        },
        _ => base.to_owned(),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => param.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret() {
        assert_eq!(format!("{:?}", Secret::from("hunter2")), "\"<hidden>\"");
        assert_eq!(format!("{:?}", Secret::default()), "\"\"");
        assert_eq!(Secret::from("hunter2").expose(), "hunter2");
        let url = SecretUrl::from("postgres://u:topsecret@h/db");
        assert_eq!(format!("{url:?}"), "\"postgres://u:***@h/db\"");
        assert_eq!(url.expose(), "postgres://u:topsecret@h/db");
    }

    #[test]
    fn urls_lose_their_passwords() {
        for (url, want) in [
            ("postgres://u:secret@db/x", "postgres://u:***@db/x"),
            ("postgres://u@db/x", "postgres://u@db/x"),
            ("postgres://u:p@ss@db/x", "postgres://u:***@db/x"),
            (
                "postgres://u:secret@db/x?sslmode=require",
                "postgres://u:***@db/x?sslmode=require",
            ),
            (
                "postgres://db/x?user=u&password=secret",
                "postgres://db/x?user=u&password=***",
            ),
            (
                "sqlite:///data/registryo.db?mode=rwc",
                "sqlite:///data/registryo.db?mode=rwc",
            ),
            ("", ""),
        ] {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }
}
