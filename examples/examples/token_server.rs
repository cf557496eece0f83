//! A token server in a plain hyper server, with the in-memory backend.
//!
//! Run it:
//!
//! ```text
//! cargo run -p registryo-examples --example token_server
//! curl -u alice:wonderland 'http://127.0.0.1:5001/token?service=registry.local&scope=repository:alice/app:pull,push'
//! curl 'http://127.0.0.1:5001/token?service=registry.local&scope=repository:public/app:pull'
//! ```
//!
//! The first answers a token granting `pull,push` on `alice/app` (alice's own namespace); the
//! second, with no credentials, a token granting `pull` on `public/app`. Point a registry at it
//! with `auth.token.realm: http://127.0.0.1:5001/token`, `service: registry.local`,
//! `issuer: example` and `rootcertbundle` set to the file this example writes
//! (`example-bundle.pem` in the current directory).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use registryo_core::acl::{Acl, Rule, Subject};
use registryo_core::memory::MemoryBackend;
use registryo_core::scope::Actions;
use registryo_core::service::{ClientAddr, TokenConfig, TokenService};
use registryo_core::token::{Algorithm, KeySet, KidStyle, SigningKey};
use tokio::net::TcpListener;
use tower_service::Service;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let backend = MemoryBackend::new();
    backend.add_user("alice", "wonderland", &["devs"], false);
    backend.set_acl(Acl::new([
        Rule::new(
            1,
            Subject::Authenticated,
            "${account}/**".parse()?,
            Actions::ALL,
        )?,
        Rule::new(2, Subject::Anonymous, "public/**".parse()?, Actions::PULL)?,
    ]));

    let key = SigningKey::generate(Algorithm::ES256, "example")?;
    std::fs::write("example-bundle.pem", key.cert_pem())?;
    let keys = KeySet::new(vec![key], KidStyle::Libtrust)?;
    let service = TokenService::new(
        Arc::new(backend),
        Arc::new(keys),
        TokenConfig::new("example", "registry.local"),
    );

    let addr: SocketAddr = "127.0.0.1:5001".parse()?;
    let listener = TcpListener::bind(addr).await?;
    println!("token server on http://{addr}/token");
    loop {
        let (stream, peer) = listener.accept().await?;
        let service = service.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
                let mut service = service.clone();
                req.extensions_mut().insert(ClientAddr(peer));
                async move {
                    if req.uri().path() == "/token" {
                        service.call(req).await
                    } else {
                        let mut not_found = http::Response::new(http_body_util::Full::default());
                        *not_found.status_mut() = http::StatusCode::NOT_FOUND;
                        Ok::<_, Infallible>(not_found)
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
