//! Signing in to the UI over real HTTP (reqwest), as a browser does: the sign-in form's
//! double-submit cookie (`registryo_signin`, also its CSRF token), then the session cookie.

/// The value of the cookie `name` that `resp` sets, if it sets one.
pub fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap_or_default().to_owned())
}

/// A client that does not follow redirects (a sign-in answers `303` with the cookie).
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `GET base/signin` for the form's cookie, then the form posted with it and these extra
/// headers: the answer (`303` and a `registryo_session` cookie when signed in).
pub async fn sign_in(
    client: &reqwest::Client,
    base: &str,
    username: &str,
    password: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let page = client.get(format!("{base}/signin")).send().await.unwrap();
    let token = set_cookie(&page, "registryo_signin").expect("a sign-in cookie");
    let mut req = client
        .post(format!("{base}/signin"))
        .header(reqwest::header::COOKIE, format!("registryo_signin={token}"))
        .form(&[
            ("username", username),
            ("password", password),
            ("csrf", &token),
        ]);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}
