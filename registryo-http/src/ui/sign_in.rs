//! Signing in and out: the sign-in form (with its double-submit cookie) and the session
//! cookie; the password check and the session are [`sessions`]' operations.
//!
//! A visitor sent to sign in from a page comes back to it: [`remember_destination`] turns the
//! redirect to `/signin` of a `GET` into `/signin?next=PATH`, the form carries `next`, and a
//! successful sign-in goes there — only ever to a path of this site ([`safe_next`]).

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Chrome, UiError, render_status, with_retry_after};
use crate::app::AppState;
use crate::error::AppError;
use crate::session::{self, SESSION_COOKIE, SIGNIN_COOKIE};
use registryo_core::app::sessions::{self, SignIn};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/signin", get(signin_page).post(signin))
        .route("/signout", post(signout))
}

/// The longest `next` path kept.
const MAX_NEXT: usize = 1024;

/// `next` if it is a path of this site to return to after signing in: one leading `/` (not
/// `//host` or `/\host`, which browsers take for another site), printable ASCII without `\`,
/// and not the sign-in page itself.
pub(crate) fn safe_next(next: &str) -> Option<&str> {
    let b = next.as_bytes();
    (b.first() == Some(&b'/')
        && !matches!(b.get(1), Some(b'/' | b'\\'))
        && next.len() <= MAX_NEXT
        && b.iter().all(|c| c.is_ascii_graphic() && *c != b'\\')
        && next != "/signin"
        && !next.starts_with("/signin?")
        && !next.starts_with("/signout"))
    .then_some(next)
}

/// Middleware over the UI: the redirect to `/signin` answering a `GET` for a page names that
/// page (`/signin?next=…`), so that signing in returns to it.
pub(crate) async fn remember_destination(req: Request, next: Next) -> Response {
    let from = (req.method() == Method::GET)
        .then(|| req.uri().path_and_query().map(|p| p.as_str().to_owned()))
        .flatten()
        .filter(|p| p != "/" && safe_next(p).is_some());
    let mut resp = next.run(req).await;
    if let Some(from) = from
        && resp.status() == StatusCode::SEE_OTHER
        && resp.headers().get(header::LOCATION) == Some(&HeaderValue::from_static("/signin"))
    {
        let to = format!(
            "/signin?next={}",
            form_urlencoded::byte_serialize(from.as_bytes()).collect::<String>()
        );
        if let Ok(v) = HeaderValue::from_str(&to) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
    }
    resp
}

/// The `next` parameter of a query string.
fn next_of(query: Option<&str>) -> String {
    query
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "next"))
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Where to go after signing in.
fn destination(next: &str) -> &str {
    safe_next(next).unwrap_or("/")
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    chrome: Chrome,
    token: String,
    username: String,
    error: String,
    /// The page to return to (a [`safe_next`] path), or empty.
    next: String,
    /// E-mail is set up: show the "forgot password" link.
    forgot: bool,
}

async fn signin_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    let next = next_of(query.as_deref());
    if session::load_session(&state, &headers).await?.is_some() {
        return Ok(Redirect::to(destination(&next)).into_response());
    }
    signin_form(
        &state,
        &headers,
        String::new(),
        String::new(),
        &next,
        StatusCode::OK,
    )
}

fn signin_form(
    state: &AppState,
    headers: &HeaderMap,
    username: String,
    error: String,
    next: &str,
    status: StatusCode,
) -> Result<Response, UiError> {
    let secure = state.web.config.secure_cookies;
    let (token, set) = session::double_submit(headers, secure)?;
    let page = SignInPage {
        chrome: Chrome {
            section: "signin",
            ..Chrome::anonymous()
        },
        token: token.clone(),
        username,
        error,
        next: safe_next(next).unwrap_or_default().to_owned(),
        forgot: state.mail.is_some(),
    };
    let mut resp = render_status(status, &page);
    // Set again even when it came with the request, so it lives as long as the form.
    let set = set.unwrap_or_else(|| session::set_cookie(SIGNIN_COOKIE, &token, None, secure));
    resp.headers_mut().append(header::SET_COOKIE, set);
    Ok(resp)
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

async fn signin(
    State(state): State<AppState>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    Form(form): Form<SignInForm>,
) -> Result<Response, UiError> {
    let typed = form.username.trim().to_owned();
    let refused = |status| {
        signin_form(
            &state,
            &headers,
            typed.clone(),
            "Invalid username or password.".to_owned(),
            &form.next,
            status,
        )
    };
    let cfg = &state.web.config;
    let signed_in = sessions::sign_in(
        &state,
        &typed,
        &form.password,
        session::remote(&ext),
        cfg.session_ttl,
    )
    .await
    .map_err(AppError::from)?;
    let value = match signed_in {
        SignIn::Started { cookie, .. } => cookie,
        SignIn::Refused => return refused(StatusCode::UNAUTHORIZED),
        SignIn::Throttled(wait) => {
            let err = AppError::Throttled(wait);
            let page = signin_form(
                &state,
                &headers,
                typed.clone(),
                err.message(),
                &form.next,
                StatusCode::TOO_MANY_REQUESTS,
            )?;
            return Ok(with_retry_after(&err, page));
        }
    };
    let mut resp = Redirect::to(destination(&form.next)).into_response();
    let secure = cfg.secure_cookies;
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        session::set_cookie(
            SESSION_COOKIE,
            &value,
            Some(cfg.session_ttl.as_secs()),
            secure,
        ),
    );
    h.append(
        header::SET_COOKIE,
        session::set_cookie(SIGNIN_COOKIE, "", Some(0), secure),
    );
    Ok(resp)
}

async fn signout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, UiError> {
    session::end_session(&state, &headers).await?;
    let mut resp = Redirect::to("/signin").into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(SESSION_COOKIE, "", Some(0), state.web.config.secure_cookies),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_paths_of_this_site_are_returned_to() {
        for ok in [
            "/admin/users/3",
            "/repositories?filter=a%2Fb",
            "/r/team/app/tags/v1",
        ] {
            assert_eq!(safe_next(ok), Some(ok), "{ok}");
        }
        for bad in [
            "",
            "https://evil.example/",
            "//evil.example/x",
            "/\\evil.example",
            "/a\\b",
            "evil",
            "/a b",
            "/x\n",
            "/signin",
            "/signin?next=/x",
            "/signout",
            "\u{e9}",
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
        assert_eq!(safe_next(&format!("/{}", "a".repeat(2000))), None);
    }
}
