//! Account and group names: [`Username`] and [`GroupName`], parsed once at the edges.
//!
//! A name is 1 to 64 ASCII letters, digits, `.`, `_` and `-`, starting with a letter or a
//! digit. Nothing else gets in: no Unicode look-alikes (a Cyrillic `а` in `аdmin`), no
//! zero-width or right-to-left-override characters, no spaces, no `:` or `/` (which would
//! be read as a subject or a repository separator), so a name shown on a page is the name
//! the server compares.
//!
//! Names are **unique without regard to case**: `Admin` cannot sit beside `admin`. The store
//! enforces it; [`Username::eq_ignore_case`] and [`Username::folded`] are the comparisons to
//! use. A name keeps the case it was created with for display.
//!
//! ```
//! use registryo_core::names::Username;
//!
//! let alice: Username = "Alice.Smith".parse()?;
//! assert!(alice.eq_ignore_case("alice.smith"));
//! assert_eq!(alice.folded(), "alice.smith");
//! assert!("аdmin".parse::<Username>().is_err()); // a Cyrillic а
//! assert!("bob\u{200b}".parse::<Username>().is_err()); // a zero-width space
//! # Ok::<(), registryo_core::names::NameError>(())
//! ```

use std::fmt;
use std::str::FromStr;

/// The longest name, in characters (all ASCII, so also in bytes).
pub const MAX_NAME_LEN: usize = 64;

/// Why a text is not a valid name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Nothing at all.
    #[error("must not be empty")]
    Empty,
    /// More than [`MAX_NAME_LEN`] characters.
    #[error("must be at most {MAX_NAME_LEN} characters long")]
    TooLong,
    /// The first character is `.`, `_` or `-`.
    #[error("must start with a letter or a digit")]
    BadStart,
    /// A character outside ASCII letters, digits, `.`, `_` and `-`.
    #[error(
        "may hold only ASCII letters, digits, '.', '_' and '-' (found {})",
        describe(*.0)
    )]
    BadCharacter(char),
}

/// A character as a person can read it, invisible ones as `U+XXXX`.
fn describe(c: char) -> String {
    if c.is_ascii_graphic() {
        format!("'{c}'")
    } else if c == ' ' {
        "a space".to_owned()
    } else {
        format!("U+{:04X}", u32::from(c))
    }
}

fn check(s: &str) -> Result<(), NameError> {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return Err(NameError::Empty);
    };
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(NameError::BadCharacter(c));
    }
    if s.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong);
    }
    if !first.is_ascii_alphanumeric() {
        return Err(NameError::BadStart);
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        /// Shown as the quoted name, as a `String` is.
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl $name {
            /// Parse a name; see the [module docs](self) for the grammar.
            pub fn new(s: impl Into<String>) -> Result<$name, NameError> {
                let s = s.into();
                check(&s)?;
                Ok($name(s))
            }

            /// The name as written.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The name in lower case: equal for names that are the same name.
            pub fn folded(&self) -> String {
                self.0.to_ascii_lowercase()
            }

            /// Whether `other` is this name, without regard to case.
            pub fn eq_ignore_case(&self, other: &str) -> bool {
                self.0.eq_ignore_ascii_case(other)
            }

            /// The name as a `String`.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = NameError;
            fn from_str(s: &str) -> Result<$name, NameError> {
                $name::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(s: String) -> Result<$name, NameError> {
                $name::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = NameError;
            fn try_from(s: &str) -> Result<$name, NameError> {
                $name::new(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let s = String::deserialize(d)?;
                $name::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

name_type!(
    /// An account's name (a person's or a service account's): the one type every part of the
    /// server parses usernames into — the CLI, the UI, the API, the store and the token path.
    Username
);

name_type!(
    /// A group's name, with the same grammar as a [`Username`].
    GroupName
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names() {
        for ok in [
            "a",
            "admin",
            "Admin",
            "alice.smith",
            "ci_bot-2",
            "0day",
            "a-",
            "x.",
            &"a".repeat(64),
        ] {
            assert!(Username::new(ok).is_ok(), "{ok:?}");
            assert!(GroupName::new(ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn invalid_names_are_refused_precisely() {
        use NameError::*;
        let cases: &[(&str, NameError)] = &[
            ("", Empty),
            (&"a".repeat(65), TooLong),
            (".hidden", BadStart),
            ("-x", BadStart),
            ("_x", BadStart),
            ("аdmin", BadCharacter('а')), // Cyrillic a
            ("admin\u{200b}", BadCharacter('\u{200b}')),
            ("ad\u{202e}nim", BadCharacter('\u{202e}')),
            ("bob smith", BadCharacter(' ')),
            ("user:x", BadCharacter(':')),
            ("a/b", BadCharacter('/')),
            ("a@b", BadCharacter('@')),
            ("tab\t", BadCharacter('\t')),
            ("ｆｕｌｌ", BadCharacter('ｆ')),
            ("é", BadCharacter('é')),
        ];
        for (s, want) in cases {
            assert_eq!(Username::new(*s).as_ref(), Err(want), "{s:?}");
        }
    }

    #[test]
    fn messages_name_invisible_characters() {
        let e = Username::new("admin\u{200b}").unwrap_err();
        assert!(e.to_string().contains("U+200B"), "{e}");
        let e = Username::new("a b").unwrap_err();
        assert!(e.to_string().contains("a space"), "{e}");
    }

    #[test]
    fn case_is_kept_and_ignored_when_comparing() {
        let n = Username::new("Admin").unwrap();
        assert_eq!(n.as_str(), "Admin");
        assert_eq!(n.folded(), "admin");
        assert!(n.eq_ignore_case("ADMIN"));
        assert!(!n.eq_ignore_case("admin2"));
    }

    #[test]
    fn serde_validates() {
        let n: Username = serde_json::from_str("\"bob\"").unwrap();
        assert_eq!(n, "bob");
        assert!(serde_json::from_str::<Username>("\"b b\"").is_err());
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"bob\"");
    }
}
