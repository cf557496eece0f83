//! A toy registry route protected by the "registry token required" layer, with the token
//! endpoint on the same server.
//!
//! Run it:
//!
//! ```text
//! cargo run -p registryo-examples --example protected_registry
//! curl -i http://127.0.0.1:5002/v2/alice/app/tags/list
//!     # 401, WWW-Authenticate: Bearer realm="http://127.0.0.1:5002/token",service="toy",scope="repository:alice/app:pull"
//! TOKEN=$(curl -s -u alice:wonderland 'http://127.0.0.1:5002/token?service=toy&scope=repository:alice/app:pull' \
//!         | sed 's/.*"token":"\([^"]*\)".*/\1/')
//! curl -i -H "Authorization: Bearer $TOKEN" http://127.0.0.1:5002/v2/alice/app/tags/list
//!     # 200 {"name":"alice/app","tags":["latest"]}
//! ```

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use registryo_core::acl::{Acl, Rule, Subject};
use registryo_core::layer::{Challenge, RequireRegistryTokenLayer, VerifiedToken};
use registryo_core::memory::MemoryBackend;
use registryo_core::scope::Actions;
use registryo_core::service::{TokenConfig, TokenService};
use registryo_core::token::{Algorithm, KeySet, KidStyle, SigningKey};
use tokio::net::TcpListener;
use tower_layer::Layer;
use tower_service::Service;

/// The toy registry: answers a tag list for any repository the token lets the caller pull.
#[derive(Clone)]
struct ToyRegistry;

impl Service<Request<Incoming>> for ToyRegistry {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        let user = req
            .extensions()
            .get::<VerifiedToken>()
            .map(|t| t.0.sub.clone())
            .unwrap_or_default();
        let name = req
            .uri()
            .path()
            .trim_start_matches("/v2/")
            .trim_end_matches("/tags/list")
            .to_owned();
        let body = format!("{{\"name\":\"{name}\",\"tags\":[\"latest\"],\"caller\":\"{user}\"}}");
        std::future::ready(Ok(Response::new(Full::new(Bytes::from(body)))))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let backend = MemoryBackend::new();
    backend.add_user("alice", "wonderland", &[], false);
    backend.set_acl(Acl::new([Rule::new(
        1,
        Subject::Authenticated,
        "${account}/**".parse()?,
        Actions::ALL,
    )?]));
    let keys = Arc::new(KeySet::new(
        vec![SigningKey::generate(Algorithm::ES256, "toy")?],
        KidStyle::Libtrust,
    )?);
    let tokens = TokenService::new(
        Arc::new(backend),
        Arc::clone(&keys),
        TokenConfig::new("toy", "toy"),
    );
    let registry = RequireRegistryTokenLayer::new(
        Arc::new(keys.verifier()),
        Challenge::new("http://127.0.0.1:5002/token", "toy", "toy"),
    )
    .layer(ToyRegistry);

    let listener = TcpListener::bind("127.0.0.1:5002").await?;
    println!("toy registry on http://127.0.0.1:5002/v2/");
    loop {
        let (stream, _) = listener.accept().await?;
        let (tokens, registry) = (tokens.clone(), registry.clone());
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let (mut tokens, mut registry) = (tokens.clone(), registry.clone());
                async move {
                    if req.uri().path() == "/token" {
                        tokens.call(req).await
                    } else {
                        registry.call(req).await
                    }
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
