//! The token service over an embedder's own parts: its own user store as the
//! [`Authenticator`], a static [`Acl`] as the policy, and no refresh tokens — no wrapper type.
//!
//! Run it:
//!
//! ```text
//! cargo run -p registryo-examples --example own_user_store
//! curl -u carol:correct-horse 'http://127.0.0.1:5003/token?service=registry.local&scope=repository:team/app:pull,push'
//! curl -u carol:correct-horse 'http://127.0.0.1:5003/token?service=registry.local&offline_token=true&client_id=docker'
//! ```
//!
//! The first answers a token granting `pull,push` on `team/app` (carol is in the team); the
//! second has no `refresh_token` (none is offered here, so `docker login` keeps the password).
//! A real embedder would check an LDAP bind or its own database in `authenticate`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use registryo_core::acl::{Acl, Principal, Rule, Subject};
use registryo_core::names::Username;
use registryo_core::scope::Actions;
use registryo_core::service::{
    AuthError, Authenticator, NoRefreshTokens, RequestContext, TokenConfig, TokenService,
};
use registryo_core::token::{Algorithm, KeySet, KidStyle, SigningKey};
use tokio::net::TcpListener;
use tower_service::Service;

/// The embedder's own users: name (lower case) → (password, groups). A real one would hold
/// password hashes, or ask a directory.
struct TeamDirectory {
    users: HashMap<String, (String, Vec<String>)>,
}

impl Authenticator for TeamDirectory {
    async fn authenticate(
        &self,
        username: &Username,
        password: &str,
        _ctx: &RequestContext,
    ) -> Result<Option<Principal>, AuthError> {
        let Some((expected, groups)) = self.users.get(&username.folded()) else {
            return Ok(None);
        };
        // Compare without an early exit (a real store compares hashes).
        let same = expected.len() == password.len()
            && expected
                .bytes()
                .zip(password.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        Ok(same.then(|| Principal::user(username.folded()).with_groups(groups.iter().cloned())))
    }
}

/// The service: the directory, no refresh tokens, a static ACL, one ES256 key.
fn token_service()
-> Result<TokenService<TeamDirectory, NoRefreshTokens, Acl, KeySet>, Box<dyn std::error::Error>> {
    let directory = TeamDirectory {
        users: HashMap::from([(
            "carol".to_owned(),
            ("correct-horse".to_owned(), vec!["team".to_owned()]),
        )]),
    };
    let acl = Acl::new([Rule::new(
        1,
        Subject::Group("team".parse()?),
        "team/**".parse()?,
        Actions::PULL | Actions::PUSH,
    )?]);
    let keys = KeySet::new(
        vec![SigningKey::generate(Algorithm::ES256, "example")?],
        KidStyle::Libtrust,
    )?;
    Ok(TokenService::from_parts(
        Arc::new(directory),
        Arc::new(NoRefreshTokens),
        Arc::new(acl),
        Arc::new(keys),
        TokenConfig::new("example", "registry.local"),
    ))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let service = token_service()?;
    let listener = TcpListener::bind("127.0.0.1:5003").await?;
    println!("token server on http://127.0.0.1:5003/token");
    loop {
        let (stream, _) = listener.accept().await?;
        let service = service.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                let mut service = service.clone();
                async move {
                    Ok::<_, Infallible>(service.call(req).await.unwrap_or_else(|e| match e {}))
                }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await
            {
                eprintln!("connection error: {e}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Empty};

    async fn get(query: &str, basic: &str) -> (http::StatusCode, String) {
        let mut svc = token_service().unwrap();
        let req = http::Request::get(format!("/token?{query}"))
            .header("authorization", format!("Basic {basic}"))
            .body(Empty::<bytes::Bytes>::new())
            .unwrap();
        let resp = svc.call(req).await.unwrap();
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn the_directory_the_static_acl_and_no_refresh_tokens() {
        // carol:correct-horse
        let carol = "Y2Fyb2w6Y29ycmVjdC1ob3JzZQ==";
        let (s, body) = get(
            "service=registry.local&scope=repository:team/app:pull,push,delete",
            carol,
        )
        .await;
        assert_eq!(s, 200, "{body}");
        let (s, body) = get(
            "service=registry.local&offline_token=true&client_id=docker",
            carol,
        )
        .await;
        assert_eq!(s, 200, "{body}");
        assert!(!body.contains("refresh_token"), "{body}");
        // carol:wrong
        let (s, _) = get("service=registry.local", "Y2Fyb2w6d3Jvbmc=").await;
        assert_eq!(s, 401);
        // The grant, as the OAuth2 reply says it: the static ACL's pull and push, no delete.
        let mut svc = token_service().unwrap();
        let form = "grant_type=password&client_id=ci&username=carol&password=correct-horse\
                    &service=registry.local&scope=repository:team/app:pull,push,delete";
        let req = http::Request::post("/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(http_body_util::Full::new(bytes::Bytes::from(form)))
            .unwrap();
        let resp = svc.call(req).await.unwrap();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8_lossy(&body);
        assert!(
            body.contains("\"scope\":\"repository:team/app:pull,push\""),
            "{body}"
        );
    }
}
