//! The token endpoint as a tower service, driven with `oneshot`-style calls and no socket.

use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use registryo_core::acl::{Acl, Rule, Subject};
use registryo_core::memory::MemoryBackend;
use registryo_core::scope::Actions;
use registryo_core::service::{TokenConfig, TokenService};
use registryo_core::testing::jwt;
use registryo_core::token::{Algorithm, Claims, KeySet, KidStyle, SigningKey};
use serde_json::Value;

const SERVICE: &str = "registry.test";
const ISSUER: &str = "registryo-test";

struct Fixture {
    backend: Arc<MemoryBackend>,
    keys: Arc<KeySet>,
    svc: TokenService<MemoryBackend, MemoryBackend, MemoryBackend, KeySet>,
}

fn rule(id: u64, subject: &str, pattern: &str, actions: &str) -> Rule {
    Rule::new(
        id,
        subject.parse::<Subject>().unwrap(),
        pattern.parse().unwrap(),
        actions.parse::<Actions>().unwrap(),
    )
    .unwrap()
}

fn fixture() -> Fixture {
    let backend = Arc::new(MemoryBackend::new());
    backend.add_user("alice", "alice-pw", &["devs"], false);
    backend.add_user("bob", "bob-pw", &[], false);
    backend.add_user("root", "root-pw", &[], true);
    backend.set_acl(Acl::new([
        rule(1, "user:alice", "alice/**", "*"),
        rule(2, "group:devs", "team/*", "pull,push"),
        rule(3, "authenticated", "shared/**", "pull"),
        rule(4, "anonymous", "public/*", "pull"),
        rule(5, "user:bob", "team/app", "pull,delete"),
    ]));
    let keys = Arc::new(
        KeySet::new(
            vec![SigningKey::generate(Algorithm::ES256, ISSUER).unwrap()],
            KidStyle::Libtrust,
        )
        .unwrap(),
    );
    let svc = TokenService::new(
        Arc::clone(&backend),
        Arc::clone(&keys),
        TokenConfig::new(ISSUER, SERVICE),
    );
    Fixture { backend, keys, svc }
}

fn basic(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    json: Value,
}

impl Fixture {
    async fn send(&self, req: Request<Full<Bytes>>) -> Reply {
        let resp = self.svc.handle(req).await;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {body:?}"));
        Reply {
            status,
            headers,
            json,
        }
    }

    async fn get(&self, query: &str, auth: Option<&str>) -> Reply {
        let mut b = Request::get(format!("/token?{query}"));
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        self.send(b.body(Full::default()).unwrap()).await
    }

    async fn post(&self, form: &str) -> Reply {
        let req = Request::post("/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(form.to_owned())))
            .unwrap();
        self.send(req).await
    }

    fn claims(&self, reply: &Reply) -> Claims {
        let token = reply.json["access_token"].as_str().expect("access_token");
        assert_eq!(reply.json["token"], reply.json["access_token"]);
        self.keys
            .verifier()
            .verify(token, ISSUER, SERVICE)
            .expect("token verifies")
    }
}

fn granted(claims: &Claims) -> Vec<(String, String, Vec<String>)> {
    claims
        .access
        .iter()
        .map(|a| (a.kind.clone(), a.name.clone(), a.actions.clone()))
        .collect()
}

fn entry(kind: &str, name: &str, actions: &[&str]) -> (String, String, Vec<String>) {
    (
        kind.to_owned(),
        name.to_owned(),
        actions.iter().map(|s| (*s).to_owned()).collect(),
    )
}

#[tokio::test]
async fn get_with_password_grants_the_intersection() {
    let f = fixture();
    let r = f
        .get(
            "service=registry.test&scope=repository:alice/app:pull,push&scope=repository:team/x:pull,push,delete&scope=repository:other:pull",
            Some(&basic("alice", "alice-pw")),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.headers["cache-control"], "no-store");
    let c = f.claims(&r);
    assert_eq!(c.sub, "alice");
    assert_eq!(c.iss, ISSUER);
    assert_eq!(c.aud, SERVICE);
    assert_eq!(
        granted(&c),
        vec![
            entry("repository", "alice/app", &["pull", "push"]),
            entry("repository", "team/x", &["pull", "push"]),
        ]
    );
    assert!(r.json["expires_in"].as_u64().unwrap() >= 60);
    let issued = r.json["issued_at"].as_str().unwrap();
    assert_eq!(issued.len(), 20, "{issued}");
    assert!(issued.ends_with('Z'));
    assert!(r.json.get("refresh_token").is_none());
    // aud is a JSON string in the token itself, not an array.
    let raw = jwt::claims(r.json["token"].as_str().unwrap());
    assert!(raw["aud"].is_string());
}

#[tokio::test]
async fn star_is_granted_the_explicit_actions_held() {
    let f = fixture();
    let r = f
        .get("scope=repository:team/app:*", Some(&basic("bob", "bob-pw")))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        granted(&f.claims(&r)),
        vec![entry("repository", "team/app", &["pull", "delete"])]
    );
}

#[tokio::test]
async fn anonymous_gets_only_anonymous_rules() {
    let f = fixture();
    let r = f
        .get(
            "service=registry.test&scope=repository:public/img:pull,push&scope=repository:shared/x:pull",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let c = f.claims(&r);
    assert_eq!(c.sub, "");
    assert_eq!(
        granted(&c),
        vec![entry("repository", "public/img", &["pull"])]
    );
    // An empty grant is still a 200 with a token.
    let r = f.get("scope=repository:private/x:pull", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(f.claims(&r).access.is_empty());
}

#[tokio::test]
async fn authenticated_rule_applies_to_every_signed_in_user() {
    let f = fixture();
    let r = f
        .get(
            "scope=repository:shared/a/b:pull",
            Some(&basic("bob", "bob-pw")),
        )
        .await;
    assert_eq!(
        granted(&f.claims(&r)),
        vec![entry("repository", "shared/a/b", &["pull"])]
    );
}

#[tokio::test]
async fn catalog_only_for_admins() {
    let f = fixture();
    let r = f
        .get("scope=registry:catalog:*", Some(&basic("root", "root-pw")))
        .await;
    assert_eq!(
        granted(&f.claims(&r)),
        vec![entry("registry", "catalog", &["*"])]
    );
    let r = f
        .get(
            "scope=registry:catalog:*",
            Some(&basic("alice", "alice-pw")),
        )
        .await;
    assert!(f.claims(&r).access.is_empty());
}

#[tokio::test]
async fn duplicate_scopes_are_merged() {
    let f = fixture();
    let r = f
        .get(
            "scope=repository:alice/a:pull&scope=repository:alice/a:pull&scope=repository:alice/a:push",
            Some(&basic("alice", "alice-pw")),
        )
        .await;
    assert_eq!(
        granted(&f.claims(&r)),
        vec![entry("repository", "alice/a", &["pull", "push"])]
    );
}

#[tokio::test]
async fn wrong_or_unknown_credentials_get_401_with_basic_challenge() {
    let f = fixture();
    for auth in [
        basic("alice", "nope"),
        basic("nobody", "x"),
        basic("alice", ""),
    ] {
        let r = f.get("service=registry.test", Some(&auth)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{auth}");
        assert_eq!(r.headers["www-authenticate"], "Basic realm=\"Registryo\"");
        assert_eq!(r.json["errors"][0]["code"], "UNAUTHORIZED");
        assert_eq!(
            r.json["errors"][0]["message"],
            "invalid username or password"
        );
    }
}

#[tokio::test]
async fn disabled_user_gets_nothing() {
    let f = fixture();
    let r = f
        .get(
            "offline_token=true&client_id=docker",
            Some(&basic("alice", "alice-pw")),
        )
        .await;
    let refresh = r.json["refresh_token"].as_str().unwrap().to_owned();
    f.backend.set_disabled("alice", true);
    let r = f
        .get(
            "scope=repository:alice/a:pull",
            Some(&basic("alice", "alice-pw")),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = f
        .post(&format!(
            "grant_type=refresh_token&client_id=docker&service=registry.test&refresh_token={refresh}"
        ))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn docker_login_then_refresh_token_grants_reusable() {
    let f = fixture();
    // docker login
    let r = f
        .get(
            "account=alice&client_id=docker&offline_token=true&service=registry.test",
            Some(&basic("alice", "alice-pw")),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let refresh = r.json["refresh_token"].as_str().unwrap().to_owned();
    assert!(refresh.len() >= 43);
    // docker push, twice: the refresh token is never replaced and must keep working.
    for _ in 0..2 {
        let r = f
            .post(&format!(
                "grant_type=refresh_token&client_id=docker&service=registry.test&scope=repository%3Aalice%2Fapp%3Apush%2Cpull&refresh_token={refresh}"
            ))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        assert!(r.json.get("refresh_token").is_none());
        assert_eq!(r.json["scope"], "repository:alice/app:pull,push");
        let c = f.claims(&r);
        assert_eq!(c.sub, "alice");
        assert_eq!(
            granted(&c),
            vec![entry("repository", "alice/app", &["pull", "push"])]
        );
    }
    // Revoked: the next push fails with a message that says what to do.
    assert_eq!(f.backend.revoke_refresh_tokens("alice", Some("docker")), 1);
    let r = f
        .post(&format!(
            "grant_type=refresh_token&client_id=docker&service=registry.test&refresh_token={refresh}"
        ))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json["error"], "invalid_grant");
    assert!(
        r.json["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("sign in again")
    );
}

#[tokio::test]
async fn anonymous_offline_token_gets_no_refresh_token() {
    let f = fixture();
    let r = f.get("offline_token=true&client_id=docker", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.json.get("refresh_token").is_none());
}

#[tokio::test]
async fn containerd_password_grant() {
    let f = fixture();
    let r = f
        .post("grant_type=password&client_id=containerd-client&username=alice&password=alice-pw&scope=repository%3Aalice%2Fa%3Apull+repository%3Ateam%2Fb%3Apull%2Cpush&service=registry.test")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert!(r.json["access_token"].is_string());
    assert!(r.json.get("refresh_token").is_none());
    assert_eq!(
        r.json["scope"],
        "repository:alice/a:pull repository:team/b:pull,push"
    );
    // access_type=offline yields a refresh token.
    let r = f
        .post(
            "grant_type=password&client_id=x&username=alice&password=alice-pw&access_type=offline",
        )
        .await;
    assert!(r.json["refresh_token"].is_string());
    // A wrong password is a 401 (containerd then retries with GET).
    let r = f
        .post("grant_type=password&client_id=containerd-client&username=alice&password=bad")
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn malformed_requests_get_400_with_a_clear_message() {
    let f = fixture();
    let alice = basic("alice", "alice-pw");
    let cases: Vec<(&str, Option<&str>, &str)> = vec![
        (
            "scope=repository:Alice/App:pull",
            Some(&alice),
            "invalid scope",
        ),
        ("scope=repository:a", Some(&alice), "invalid scope"),
        ("scope=repository:a:fly", Some(&alice), "unknown action"),
        ("scope=nope:a:pull", None, "unknown resource type"),
        ("service=other", None, "issues tokens for service"),
        ("account=bob", Some(&alice), "does not match"),
        ("scope=%ZZ", None, "invalid scope"),
        ("scope=%FF%FE", None, "invalid scope"),
    ];
    for (query, auth, needle) in cases {
        let r = f.get(query, auth).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}");
        let msg = r.json["errors"][0]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{query}: {msg}");
    }
    let many: Vec<String> = (0..65)
        .map(|i| format!("scope=repository:r{i}:pull"))
        .collect();
    let r = f.get(&many.join("&"), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let long = format!("scope=repository:{}:pull", "a".repeat(20_000));
    let r = f.get(&long, None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = f
        .get(&format!("scope=repository:{}:pull", "a".repeat(300)), None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn malformed_authorization_headers() {
    let f = fixture();
    for (value, status) in [
        ("Basic !!!notbase64", StatusCode::BAD_REQUEST),
        ("Basic bm9jb2xvbg==", StatusCode::BAD_REQUEST), // "nocolon"
        ("Basic //79/g==", StatusCode::BAD_REQUEST),     // not UTF-8
        ("Bearer abc", StatusCode::UNAUTHORIZED),
        ("Basic Og==", StatusCode::UNAUTHORIZED), // ":" — empty username
    ] {
        let r = f.get("scope=repository:a:pull", Some(value)).await;
        assert_eq!(r.status, status, "{value}");
        assert!(r.json["errors"][0]["message"].is_string());
    }
    let huge = basic("alice", &"x".repeat(5000));
    let r = f.get("", Some(&huge)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn malformed_posts() {
    let f = fixture();
    let cases = [
        (
            "client_id=x",
            StatusCode::BAD_REQUEST,
            "grant_type is required",
        ),
        (
            "grant_type=magic&client_id=x",
            StatusCode::BAD_REQUEST,
            "unsupported grant_type",
        ),
        (
            "grant_type=password&username=a&password=b",
            StatusCode::BAD_REQUEST,
            "client_id",
        ),
        (
            "grant_type=password&client_id=x&password=b",
            StatusCode::BAD_REQUEST,
            "username",
        ),
        (
            "grant_type=refresh_token&client_id=x",
            StatusCode::BAD_REQUEST,
            "refresh_token is required",
        ),
        (
            "grant_type=refresh_token&client_id=x&refresh_token=forged",
            StatusCode::UNAUTHORIZED,
            "refresh token",
        ),
        (
            "grant_type=password&client_id=x&username=alice&password=alice-pw&scope=repository:A:pull",
            StatusCode::BAD_REQUEST,
            "invalid scope",
        ),
        // Undecodable bytes are kept as text: the form then lacks its fields.
        (
            "%%%&%FF=%FE",
            StatusCode::BAD_REQUEST,
            "client_id is required",
        ),
    ];
    for (form, status, needle) in cases {
        let r = f.post(form).await;
        assert_eq!(r.status, status, "{form}");
        let msg = r.json["errors"][0]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{form}: {msg}");
        assert_eq!(r.json["error_description"], msg);
    }
    // Wrong content type.
    let req = Request::post("/token")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from("{}")))
        .unwrap();
    assert_eq!(f.send(req).await.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Too large.
    let req = Request::post("/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(vec![b'a'; 100_000])))
        .unwrap();
    let r = f.send(req).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    // The body was left unread: the client must not send another request on this connection.
    assert_eq!(r.headers["connection"], "close");
}

#[tokio::test]
async fn other_methods_get_405() {
    let f = fixture();
    for m in ["PUT", "DELETE", "PATCH"] {
        let req = Request::builder()
            .method(m)
            .uri("/token")
            .body(Full::default())
            .unwrap();
        let r = f.send(req).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers["allow"], "GET, POST");
    }
}

#[tokio::test]
async fn the_service_trait_works_through_tower() {
    use tower_service::Service;
    let mut f = fixture();
    let req = Request::get("/token?scope=repository:public/a:pull")
        .body(Full::<Bytes>::default())
        .unwrap();
    let resp = f.svc.call(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn identical_grants_reuse_a_recent_token_until_the_policy_changes() {
    let f = fixture();
    let alice = basic("alice", "alice-pw");
    let q = "scope=repository:alice/a:pull";
    let first = f.get(q, Some(&alice)).await;
    let again = f.get(q, Some(&alice)).await;
    assert_eq!(first.json["token"], again.json["token"]);
    assert_eq!(first.json["issued_at"], again.json["issued_at"]);
    // Another grant, another subject: another token.
    let other = f
        .get("scope=repository:alice/a:pull,push", Some(&alice))
        .await;
    assert_ne!(first.json["token"], other.json["token"]);
    let anon = f.get("scope=repository:public/a:pull", None).await;
    let bob = f
        .get(
            "scope=repository:public/a:pull",
            Some(&basic("bob", "bob-pw")),
        )
        .await;
    assert_ne!(anon.json["token"], bob.json["token"]);
    // A policy change (here: a new user) ends the reuse.
    f.backend.add_user("carol", "carol-pw", &[], false);
    let after = f.get(q, Some(&alice)).await;
    assert_ne!(first.json["token"], after.json["token"]);
    assert_eq!(f.claims(&after).access, f.claims(&first).access);
}

#[tokio::test]
async fn reuse_can_be_turned_off() {
    let f = fixture();
    let mut config = TokenConfig::new(ISSUER, SERVICE);
    config.token_reuse = std::time::Duration::ZERO;
    let svc = TokenService::new(Arc::clone(&f.backend), Arc::clone(&f.keys), config);
    let req = || {
        Request::get("/token?scope=repository:public/a:pull")
            .body(Full::<Bytes>::default())
            .unwrap()
    };
    let a = svc
        .handle(req())
        .await
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    let b = svc
        .handle(req())
        .await
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    assert_ne!(a, b);
}
