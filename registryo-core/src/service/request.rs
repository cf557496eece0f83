//! Reading a token request, GET or POST alike: the query or the form, the `Authorization`
//! header, the scopes. Everything malformed is a [`TokenRequestError`] (a `400` that says
//! what is wrong), never a panic.

use std::borrow::Cow;

use base64::Engine as _;
use http::header::{self, HeaderMap};
use http_body::Body;
use http_body_util::{BodyExt, Limited};

use super::{BoxError, MAX_SECRET_BYTES, MAX_USERNAME_BYTES, TokenConfig, TokenRequestError};
use crate::names::Username;
use crate::scope::ScopeSet;

/// Who is asking, once credentials are checked.
pub(super) enum Caller {
    Anonymous,
    Password {
        username: Username,
        password: String,
    },
}

/// The parsed request, GET or POST alike.
pub(super) struct Ask {
    pub(super) service: Option<String>,
    pub(super) scopes: ScopeSet,
    pub(super) client_id: Option<String>,
    pub(super) want_refresh: bool,
    pub(super) grant: Grant,
}

pub(super) enum Grant {
    Caller(Caller),
    Refresh(String),
}

/// The `key=value` pairs of a query or form, decoded (invalid UTF-8 replaced, as browsers
/// do), borrowed where nothing needed decoding.
pub(super) type Pairs<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

pub(super) fn pairs(text: &[u8]) -> Pairs<'_> {
    form_urlencoded::parse(text).collect()
}

pub(super) fn parse_get(
    config: &TokenConfig,
    query: &str,
    headers: &HeaderMap,
) -> Result<Ask, TokenRequestError> {
    let pairs = pairs(query.as_bytes());
    let caller = basic_credentials(headers)?;
    let account = first(&pairs, "account");
    if let (Some(account), Caller::Password { username, .. }) = (account, &caller)
        && !username.eq_ignore_case(account)
    {
        return Err(TokenRequestError::BadRequest(
            "the account parameter does not match the username of the credentials".to_owned(),
        ));
    }
    let scopes = scopes(
        config,
        pairs.iter().filter(|(k, _)| k == "scope").map(|(_, v)| v),
    )?;
    Ok(Ask {
        service: first(&pairs, "service").map(str::to_owned),
        scopes,
        client_id: first(&pairs, "client_id").map(|s| clip(s).to_owned()),
        want_refresh: matches!(first(&pairs, "offline_token"), Some("true")),
        grant: Grant::Caller(caller),
    })
}

pub(super) fn parse_post(config: &TokenConfig, form: &Pairs<'_>) -> Result<Ask, TokenRequestError> {
    let bad = |m: &str| TokenRequestError::BadRequest(m.to_owned());
    let scopes = scopes(
        config,
        form.iter().filter(|(k, _)| k == "scope").map(|(_, v)| v),
    )?;
    let client_id = first(form, "client_id")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| bad("client_id is required"))?;
    let grant = match first(form, "grant_type") {
        Some("password") => {
            let username = first(form, "username")
                .filter(|u| !u.is_empty())
                .ok_or_else(|| bad("username is required with grant_type=password"))?;
            let password = first(form, "password")
                .ok_or_else(|| bad("password is required with grant_type=password"))?;
            check_lengths(username, password)?;
            Grant::Caller(Caller::Password {
                username: parse_username(username)?,
                password: password.to_owned(),
            })
        }
        Some("refresh_token") => {
            let token = first(form, "refresh_token")
                .filter(|t| !t.is_empty())
                .ok_or_else(|| bad("refresh_token is required with grant_type=refresh_token"))?;
            if token.len() > MAX_SECRET_BYTES {
                return Err(TokenRequestError::Unauthorized(
                    "the refresh token is unknown or revoked, or its account is disabled: \
                     sign in again",
                ));
            }
            Grant::Refresh(token.to_owned())
        }
        Some(other) => {
            return Err(TokenRequestError::BadRequest(format!(
                "unsupported grant_type {:?} (expected password or refresh_token)",
                clip(other)
            )));
        }
        None => return Err(bad("grant_type is required")),
    };
    Ok(Ask {
        service: first(form, "service").map(str::to_owned),
        scopes,
        client_id: Some(clip(client_id).to_owned()),
        want_refresh: matches!(first(form, "access_type"), Some("offline")),
        grant,
    })
}

fn scopes<'a>(
    config: &TokenConfig,
    fields: impl Iterator<Item = &'a Cow<'a, str>>,
) -> Result<ScopeSet, TokenRequestError> {
    let set = ScopeSet::parse_all(fields.map(|f| &**f))?;
    if set.len() > config.max_scopes {
        return Err(TokenRequestError::BadRequest(format!(
            "too many scopes (limit {})",
            config.max_scopes
        )));
    }
    Ok(set)
}

pub(super) async fn read_form<ReqBody>(
    config: &TokenConfig,
    headers: &HeaderMap,
    body: ReqBody,
) -> Result<bytes::Bytes, TokenRequestError>
where
    ReqBody: Body + Send,
    ReqBody::Data: Send,
    ReqBody::Error: Into<BoxError>,
{
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(TokenRequestError::UnsupportedMediaType);
    }
    let limit = config.max_body_bytes;
    let declared_too_large = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > limit as u64);
    if declared_too_large {
        return Err(TokenRequestError::TooLarge(limit));
    }
    let collected = Limited::new(body, limit).collect().await.map_err(|e| {
        if e.is::<http_body_util::LengthLimitError>() {
            TokenRequestError::TooLarge(limit)
        } else {
            TokenRequestError::BadRequest("could not read the request body".to_owned())
        }
    })?;
    Ok(collected.to_bytes())
}

fn first<'a>(pairs: &'a Pairs<'_>, key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| &**v)
}

/// At most 128 characters of client-supplied text, for messages and logs.
pub(super) fn clip(s: &str) -> &str {
    match s.char_indices().nth(128) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn check_lengths(username: &str, password: &str) -> Result<(), TokenRequestError> {
    if username.len() > MAX_USERNAME_BYTES {
        return Err(TokenRequestError::BadRequest(format!(
            "username too long (limit {MAX_USERNAME_BYTES} bytes)"
        )));
    }
    if password.len() > MAX_SECRET_BYTES {
        return Err(TokenRequestError::BadRequest(format!(
            "password too long (limit {MAX_SECRET_BYTES} bytes)"
        )));
    }
    Ok(())
}

/// HTTP Basic credentials from the `Authorization` header: `Ok(None)` when there is none. The
/// parser and the limits of the token endpoint, for any server that takes Basic credentials
/// (a name that is no valid [`Username`] is refused as wrong credentials are).
pub fn parse_basic(headers: &HeaderMap) -> Result<Option<(Username, String)>, TokenRequestError> {
    match basic_credentials(headers)? {
        Caller::Anonymous => Ok(None),
        Caller::Password { username, password } => Ok(Some((username, password))),
    }
}

/// HTTP Basic credentials from the `Authorization` header, or anonymous when there is none.
fn basic_credentials(headers: &HeaderMap) -> Result<Caller, TokenRequestError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(Caller::Anonymous);
    };
    let bad = |m: &str| TokenRequestError::BadRequest(m.to_owned());
    if values.next().is_some() {
        return Err(bad("more than one Authorization header"));
    }
    let value = value
        .to_str()
        .map_err(|_| bad("malformed Authorization header"))?;
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(TokenRequestError::Unauthorized(
            "the token endpoint takes HTTP Basic credentials",
        ));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .map_err(|_| bad("malformed Basic credentials: not base64"))?;
    let text =
        String::from_utf8(decoded).map_err(|_| bad("malformed Basic credentials: not UTF-8"))?;
    let (username, password) = text
        .split_once(':')
        .ok_or_else(|| bad("malformed Basic credentials: no ':' between user and password"))?;
    if username.is_empty() {
        return Err(TokenRequestError::Unauthorized("the username is empty"));
    }
    check_lengths(username, password)?;
    Ok(Caller::Password {
        username: parse_username(username)?,
        password: password.to_owned(),
    })
}

/// A username that is no valid name names no account: the same answer as a wrong password.
fn parse_username(username: &str) -> Result<Username, TokenRequestError> {
    Username::new(username)
        .map_err(|_| TokenRequestError::Unauthorized("invalid username or password"))
}
