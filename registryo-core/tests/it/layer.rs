//! The "registry token required" layer in front of a toy registry route.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use registryo_core::layer::{
    Challenge, Needed, RegistryApiScopes, RequireRegistryTokenLayer, VerifiedToken,
};
use registryo_core::token::{Access, Algorithm, Claims, KeySet, KidStyle, SigningKey};
use tower_layer::Layer;
use tower_service::Service;

const REALM: &str = "http://127.0.0.1:1/token";

fn keys() -> KeySet {
    KeySet::new(
        vec![SigningKey::generate(Algorithm::ES256, "iss").unwrap()],
        KidStyle::Libtrust,
    )
    .unwrap()
}

#[derive(Clone)]
struct Toy;

impl Service<Request<Full<Bytes>>> for Toy {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;
    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: Request<Full<Bytes>>) -> Self::Future {
        let who = req
            .extensions()
            .get::<VerifiedToken>()
            .map(|t| t.0.sub.clone())
            .unwrap_or_default();
        std::future::ready(Ok(Response::new(Full::new(Bytes::from(format!(
            "hello {who}"
        ))))))
    }
}

fn token(keys: &KeySet, aud: &str, access: &[(&str, &str, &[&str])], ttl: i64) -> String {
    let mut c = Claims::new(
        "iss",
        "alice",
        aud,
        Duration::from_secs(300),
        access
            .iter()
            .map(|(k, n, a)| Access {
                kind: (*k).to_owned(),
                name: (*n).to_owned(),
                actions: a.iter().map(|s| (*s).to_owned()).collect(),
            })
            .collect(),
    );
    c.exp = c.iat + ttl;
    keys.sign(&c).unwrap()
}

async fn call(
    svc: &mut impl Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>, Error = Infallible>,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, Option<String>, String) {
    let mut b = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let resp = svc.call(b.body(Full::default()).unwrap()).await.unwrap();
    let status = resp.status();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    (status, challenge, body)
}

#[tokio::test]
async fn layer_checks_tokens_like_distribution() {
    let keys = keys();
    let layer = RequireRegistryTokenLayer::new(
        Arc::new(keys.verifier()),
        Challenge::new(REALM, "reg", "iss"),
    );
    let mut svc = layer.layer(Toy);

    // No token: a challenge without error, naming the scope needed.
    let (s, ch, body) = call(&mut svc, "GET", "/v2/a/b/manifests/1", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(
        ch.unwrap(),
        format!("Bearer realm=\"{REALM}\",service=\"reg\",scope=\"repository:a/b:pull\"")
    );
    assert!(body.contains("UNAUTHORIZED"));

    // A pull token lets GET through and carries the claims to the inner service.
    let pull = token(&keys, "reg", &[("repository", "a/b", &["pull"])], 300);
    let (s, _, body) = call(&mut svc, "GET", "/v2/a/b/manifests/1", Some(&pull)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body, "hello alice");

    // ... but not a push.
    let (s, ch, _) = call(&mut svc, "PUT", "/v2/a/b/manifests/1", Some(&pull)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(
        ch.unwrap(),
        format!(
            "Bearer realm=\"{REALM}\",service=\"reg\",scope=\"repository:a/b:pull,push\",error=\"insufficient_scope\""
        )
    );

    // `*` covers every action.
    let star = token(&keys, "reg", &[("repository", "a/b", &["*"])], 300);
    let (s, _, _) = call(
        &mut svc,
        "DELETE",
        "/v2/a/b/manifests/sha256:00",
        Some(&star),
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    // /v2/ accepts any valid token, even with no access.
    let empty = token(&keys, "reg", &[], 300);
    let (s, _, _) = call(&mut svc, "GET", "/v2/", Some(&empty)).await;
    assert_eq!(s, StatusCode::OK);
    let (s, ch, _) = call(&mut svc, "GET", "/v2/_catalog", Some(&empty)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(ch.unwrap().contains("scope=\"registry:catalog:*\""));
    let cat = token(&keys, "reg", &[("registry", "catalog", &["*"])], 300);
    let (s, _, _) = call(&mut svc, "GET", "/v2/_catalog", Some(&cat)).await;
    assert_eq!(s, StatusCode::OK);

    // A blob mount needs pull on the source too.
    let push_only = token(
        &keys,
        "reg",
        &[("repository", "dst", &["pull", "push"])],
        300,
    );
    let mount = "/v2/dst/blobs/uploads/?mount=sha256:00&from=src";
    let (s, _, _) = call(&mut svc, "POST", mount, Some(&push_only)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let both = token(
        &keys,
        "reg",
        &[
            ("repository", "dst", &["pull", "push"]),
            ("repository", "src", &["pull"]),
        ],
        300,
    );
    let (s, _, _) = call(&mut svc, "POST", mount, Some(&both)).await;
    assert_eq!(s, StatusCode::OK);
}

/// The layer fails closed: a path it cannot map to a scope is refused (404) whatever the token,
/// and never reaches the inner service; only paths the embedder marks open pass without one.
#[tokio::test]
async fn unmappable_paths_are_refused_unless_marked_open() {
    let keys = keys();
    let layer = RequireRegistryTokenLayer::new(
        Arc::new(keys.verifier()),
        Challenge::new(REALM, "reg", "iss"),
    );
    let mut svc = layer.layer(Toy);
    // A valid, anonymous token with no access at all (what the token endpoint gives anyone).
    let empty = token(&keys, "reg", &[], 300);
    let everything = token(&keys, "reg", &[("repository", "bob/app", &["*"])], 300);
    for path in [
        "/v2//v2/bob/app/tags/list",
        "/v2/bob/app",
        "/v2/Bob/app/tags/list",
        "/healthz",
        "/v2/bob/app/nope/x",
    ] {
        for t in [None, Some(empty.as_str()), Some(everything.as_str())] {
            let (s, _, body) = call(&mut svc, "GET", path, t).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{path} {t:?}");
            assert!(!body.contains("hello"), "{path}: reached the inner service");
        }
    }
    // The real path still needs the right token.
    let (s, _, _) = call(&mut svc, "GET", "/v2/bob/app/tags/list", Some(&empty)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // An embedder's open path passes without a token.
    let layer = RequireRegistryTokenLayer::new(
        Arc::new(keys.verifier()),
        Challenge::new(REALM, "reg", "iss"),
    )
    .with_resolver(RegistryApiScopes::with_open_paths(["/healthz"]));
    let mut svc = layer.layer(Toy);
    let (s, _, _) = call(&mut svc, "GET", "/healthz", None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = call(&mut svc, "GET", "/v2//v2/bob/app/tags/list", Some(&empty)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn layer_refuses_bad_tokens_as_invalid_token() {
    let keys = keys();
    let layer = RequireRegistryTokenLayer::new(
        Arc::new(keys.verifier()),
        Challenge::new(REALM, "reg", "iss"),
    );
    let mut svc = layer.layer(Toy);
    let access: &[(&str, &str, &[&str])] = &[("repository", "a", &["pull"])];
    let other_keys = self::keys();
    let bad = [
        "garbage".to_owned(),
        "a.b.c".to_owned(),
        token(&keys, "another-service", access, 300),
        token(&keys, "reg", access, -120), // expired beyond the 60 s leeway
        token(&other_keys, "reg", access, 300),
    ];
    for t in &bad {
        let (s, ch, _) = call(&mut svc, "GET", "/v2/a/manifests/1", Some(t)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{t}");
        assert!(ch.unwrap().ends_with(",error=\"invalid_token\""), "{t}");
    }
    // Expired, but within the leeway: still accepted.
    let t = token(&keys, "reg", access, -30);
    let (s, _, _) = call(&mut svc, "GET", "/v2/a/manifests/1", Some(&t)).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn custom_resolver() {
    let keys = keys();
    let layer = RequireRegistryTokenLayer::new(
        Arc::new(keys.verifier()),
        Challenge::new(REALM, "reg", "iss"),
    )
    .with_resolver(|_req: &Request<Full<Bytes>>| {
        Needed::Scopes(
            registryo_core::scope::ScopeSet::parse_all(["repository:fixed:push"]).unwrap(),
        )
    });
    let mut svc = layer.layer(Toy);
    let t = token(&keys, "reg", &[("repository", "fixed", &["push"])], 300);
    let (s, _, _) = call(&mut svc, "GET", "/anything", Some(&t)).await;
    assert_eq!(s, StatusCode::OK);
    let t = token(&keys, "reg", &[("repository", "fixed", &["pull"])], 300);
    let (s, _, _) = call(&mut svc, "GET", "/anything", Some(&t)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}
