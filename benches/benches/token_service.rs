//! The cost of one `/token` request inside the tower service, without a socket: anonymous
//! (with and without handing out a recent token again), and with credentials the backend knows
//! (the in-memory backend, so no argon2), against the cost of signing alone.
//!
//! Run it: `cargo bench -p registryo-benches --bench token_service`

use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::Full;
use registryo_core::acl::{Acl, Rule, Subject};
use registryo_core::memory::MemoryBackend;
use registryo_core::scope::Actions;
use registryo_core::service::{TokenConfig, TokenService};
use registryo_core::token::{Algorithm, Claims, KeySet, KidStyle, SigningKey};

fn bench(c: &mut Criterion) {
    let backend = MemoryBackend::new();
    backend.add_user("bench", "bench-password", &["devs"], false);
    let rule = |id, s: Subject, p: &str, a| {
        Rule::new(id, s, p.parse().expect("pattern"), a).expect("rule")
    };
    backend.set_acl(Acl::new([
        rule(
            1,
            Subject::User("bench".parse().expect("name")),
            "bench/**",
            Actions::ALL,
        ),
        rule(2, Subject::Anonymous, "public/**", Actions::PULL),
    ]));
    let keys = Arc::new(
        KeySet::new(
            vec![SigningKey::generate(Algorithm::ES256, "bench").expect("key")],
            KidStyle::Libtrust,
        )
        .expect("keys"),
    );
    let backend = Arc::new(backend);
    let svc = TokenService::new(
        Arc::clone(&backend),
        Arc::clone(&keys),
        TokenConfig::new("bench", "bench"),
    );
    let mut fresh = TokenConfig::new("bench", "bench");
    fresh.token_reuse = std::time::Duration::ZERO;
    let svc_fresh = TokenService::new(backend, Arc::clone(&keys), fresh);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut g = c.benchmark_group("token_service");
    g.bench_function("sign_only_es256", |b| {
        b.iter(|| {
            let claims = Claims::new(
                "bench",
                "",
                "bench",
                std::time::Duration::from_secs(300),
                vec![],
            );
            black_box(keys.sign(&claims).expect("sign"))
        })
    });
    g.bench_function("get_anonymous_1_scope", |b| {
        b.iter(|| {
            let req = http::Request::get("/token?service=bench&scope=repository:public/x:pull")
                .body(Full::<Bytes>::default())
                .expect("request");
            black_box(rt.block_on(svc.handle(req)))
        })
    });
    g.bench_function("get_anonymous_1_scope_no_reuse", |b| {
        b.iter(|| {
            let req = http::Request::get("/token?service=bench&scope=repository:public/x:pull")
                .body(Full::<Bytes>::default())
                .expect("request");
            black_box(rt.block_on(svc_fresh.handle(req)))
        })
    });
    g.bench_function("get_basic_1_scope", |b| {
        b.iter(|| {
            let req =
                http::Request::get("/token?service=bench&scope=repository:bench/app:pull,push")
                    .header("authorization", "Basic YmVuY2g6YmVuY2gtcGFzc3dvcmQ=")
                    .body(Full::<Bytes>::default())
                    .expect("request");
            black_box(rt.block_on(svc.handle(req)))
        })
    });
    // docker's request after `docker login`: the same grant, asked for with a refresh token
    // in a form body (POST) instead of Basic credentials (GET).
    let refresh = rt
        .block_on(svc.handle(
            http::Request::post("/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Full::<Bytes>::from(
                    "grant_type=password&username=bench&password=bench-password&client_id=docker\
                     &service=bench&access_type=offline",
                ))
                .expect("request"),
        ))
        .into_body();
    let refresh = refresh_token_of(refresh);
    let form = format!(
        "grant_type=refresh_token&refresh_token={refresh}&client_id=docker&service=bench\
         &scope=repository%3Abench%2Fapp%3Apull%2Cpush"
    );
    g.bench_function("post_refresh_1_scope", |b| {
        b.iter(|| {
            let req = http::Request::post("/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Full::<Bytes>::from(form.clone()))
                .expect("request");
            black_box(rt.block_on(svc.handle(req)))
        })
    });
    g.finish();
}

/// The `refresh_token` of a token reply.
fn refresh_token_of(body: Full<Bytes>) -> String {
    use http_body_util::BodyExt;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let bytes = rt.block_on(body.collect()).expect("body").to_bytes();
    let reply: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    reply["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned()
}

criterion_group!(benches, bench);
criterion_main!(benches);
