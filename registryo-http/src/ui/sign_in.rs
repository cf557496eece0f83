//! Signing in and out: the sign-in form (with its double-submit cookie) and the session
//! cookie; the password check and the session are [`sessions`]' operations.

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
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

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    chrome: Chrome,
    token: String,
    username: String,
    error: String,
    /// E-mail is set up: show the "forgot password" link.
    forgot: bool,
}

async fn signin_page(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    if session::load_session(&state, &headers).await?.is_some() {
        return Ok(Redirect::to("/").into_response());
    }
    signin_form(
        &state,
        &headers,
        String::new(),
        String::new(),
        StatusCode::OK,
    )
}

fn signin_form(
    state: &AppState,
    headers: &HeaderMap,
    username: String,
    error: String,
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
                StatusCode::TOO_MANY_REQUESTS,
            )?;
            return Ok(with_retry_after(&err, page));
        }
    };
    let mut resp = Redirect::to("/").into_response();
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
