//! registryo-http's router driven with `ServiceExt::oneshot`, no socket (axum's
//! `examples/testing`): the server's accounts and keys, responses read whole, signing in
//! through the form, and form posts carrying the CSRF token, as a browser sends them.
//!
//! A test's own fixture (its router, store and whatever else it needs) implements [`Oneshot`]
//! by naming its router, and gets the requests.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use registryo_core::app::accounts::Accounts;
use registryo_core::app::keys::SharedKeys;
use registryo_core::token::{Algorithm, KidStyle, SigningKey};
use registryo_store::Store;
use serde_json::Value;
use tower::ServiceExt;

/// The server's accounts over `store`, remembering credentials for a minute.
pub async fn accounts(store: &Store) -> Accounts {
    Accounts::new(Arc::new(store.clone()), Duration::from_secs(60))
        .await
        .unwrap()
}

/// One fresh ES256 signing key (its certificate's name `name`), as the server keeps them.
pub fn signing_keys(name: &str) -> Arc<SharedKeys> {
    let key = SigningKey::generate(Algorithm::ES256, name).unwrap();
    Arc::new(SharedKeys::from_signing_keys(vec![key], KidStyle::Libtrust).unwrap())
}

/// A response, read whole.
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Resp {
    /// Reads `resp` to its end.
    pub async fn read(resp: axum::response::Response) -> Resp {
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        Resp {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// `Location`, or "".
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The value of the cookie `name` this response sets.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .find_map(|c| c.strip_prefix(&format!("{name}=")))
            .map(|c| c.split(';').next().unwrap().to_owned())
    }
}

/// A signed-in browser: its session cookie and CSRF token.
#[derive(Clone)]
pub struct Browser {
    pub cookie: String,
    pub csrf: String,
}

/// The CSRF token in a page's form.
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a CSRF field") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// Requests to a test's router, as a browser makes them.
pub trait Oneshot {
    /// The router under test.
    fn router(&self) -> &Router;

    async fn send(&self, req: Request<Body>) -> Resp {
        Resp::read(self.router().clone().oneshot(req).await.unwrap()).await
    }

    /// A page, as `b` (signed in) or as an anonymous visitor.
    async fn get(&self, path: &str, b: Option<&Browser>) -> Resp {
        let mut req = Request::get(path).header(header::ACCEPT, "text/html");
        if let Some(b) = b {
            req = req.header(header::COOKIE, format!("registryo_session={}", b.cookie));
        }
        self.send(req.body(Body::empty()).unwrap()).await
    }

    /// A form POST as `b`; the browser's CSRF token is added unless the form has a `csrf`.
    async fn post(&self, path: &str, b: Option<&Browser>, form: &[(&str, &str)]) -> Resp {
        let mut pairs: Vec<(&str, &str)> = form.to_vec();
        if let Some(b) = b
            && !form.iter().any(|(k, _)| *k == "csrf")
        {
            pairs.push(("csrf", &b.csrf));
        }
        let cookie = b.map(|b| format!("registryo_session={}", b.cookie));
        self.post_form(path, cookie, &pairs).await
    }

    /// A form POST by a visitor who is not signed in, with the sign-in form's double-submit
    /// cookie `registryo_signin` when given (the form carries its own `csrf`, or none).
    async fn post_anonymous(
        &self,
        path: &str,
        signin: Option<&str>,
        form: &[(&str, &str)],
    ) -> Resp {
        let cookie = signin.map(|c| format!("registryo_signin={c}"));
        self.post_form(path, cookie, form).await
    }

    /// A form POST with this `Cookie` header.
    async fn post_form(&self, path: &str, cookie: Option<String>, form: &[(&str, &str)]) -> Resp {
        let mut req = Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "text/html");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        let body = serde_urlencoded::to_string(form).unwrap();
        self.send(req.body(Body::from(body)).unwrap()).await
    }

    /// The sign-in form, fetched for its cookie and posted with it: the answer.
    async fn try_signin(&self, user: &str, pw: &str) -> Resp {
        let page = self.get("/signin", None).await;
        assert_eq!(page.status, StatusCode::OK);
        let token = page.cookie("registryo_signin").unwrap();
        self.post_anonymous(
            "/signin",
            Some(&token),
            &[("username", user), ("password", pw), ("csrf", &token)],
        )
        .await
    }

    /// Signs in (it must work): the browser, its cookie `HttpOnly` and `SameSite=Lax`, its CSRF
    /// token read from the home page.
    async fn signin(&self, user: &str, pw: &str) -> Browser {
        let r = self.try_signin(user, pw).await;
        assert_eq!(
            r.status,
            StatusCode::SEE_OTHER,
            "sign-in of {user}: {}",
            r.body
        );
        let cookie = r.cookie("registryo_session").unwrap();
        let set = r
            .headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|c| c.starts_with("registryo_session="))
            .unwrap();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Lax"),
            "{set}"
        );
        let mut b = Browser {
            cookie,
            csrf: String::new(),
        };
        let home = self.get("/", Some(&b)).await;
        assert_eq!(home.status, StatusCode::OK);
        b.csrf = csrf_of(&home.body);
        b
    }
}
